//! Publishing a hosted repository: `primary.xml.gz`, `filelists.xml.gz` and
//! `other.xml.gz` concatenated from the packages' stored fragments (streamed
//! from the index through gzip into the blob store, never whole in memory),
//! then `repomd.xml`, then one transaction that records the snapshot and
//! switches the repository to it.

use crate::error::YumError;
use crate::index::{self, NewFile};
use crate::Yum;
use airlock_core::store::BlobWriter;
use airlock_core::{Digest, StagedBlob};
use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures_util::TryStreamExt as _;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;

/// Uncompressed XML gathered before it is compressed (on the blocking pool:
/// gzip of a large repository's metadata takes seconds of CPU, which must not
/// hold up an HTTP worker).
const BATCH: usize = 1 << 20;

/// The compressor and the uncompressed bytes' hash, moved to the blocking
/// pool and back for each batch.
struct Compressor {
    gzip: GzEncoder<Vec<u8>>,
    open_hash: Sha256,
}

/// One metadata file being written: XML in, gzip out into a blob writer, with
/// the uncompressed bytes' sha256 and size for repomd's `open-*` fields.
struct MetadataFile {
    kind: &'static str,
    compressor: Option<Compressor>,
    pending: Vec<u8>,
    open_size: u64,
    writer: BlobWriter,
}

impl MetadataFile {
    async fn start(yum: &Yum, kind: &'static str, head: String) -> Result<Self, YumError> {
        let mut file = MetadataFile {
            kind,
            compressor: Some(Compressor {
                gzip: GzEncoder::new(Vec::new(), Compression::default()),
                open_hash: Sha256::new(),
            }),
            pending: Vec::with_capacity(BATCH),
            open_size: 0,
            writer: yum.staging.writer(None).await?,
        };
        file.push(&head).await?;
        Ok(file)
    }

    async fn push(&mut self, xml: &str) -> Result<(), YumError> {
        self.open_size += xml.len() as u64;
        self.pending.extend_from_slice(xml.as_bytes());
        if self.pending.len() >= BATCH {
            self.compress_pending().await?;
        }
        Ok(())
    }

    fn take_compressor(&mut self) -> Result<Compressor, YumError> {
        self.compressor
            .take()
            .ok_or_else(|| YumError::Internal("a metadata compression failed before".into()))
    }

    /// Compresses the pending XML on the blocking pool and hands the
    /// compressed bytes to the blob writer.
    async fn compress_pending(&mut self) -> Result<(), YumError> {
        let mut compressor = self.take_compressor()?;
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH));
        let (compressor, out) = blocking(move || {
            compressor.open_hash.update(&batch);
            compressor.gzip.write_all(&batch)?;
            let out = std::mem::take(compressor.gzip.get_mut());
            Ok((compressor, out))
        })
        .await?;
        self.compressor = Some(compressor);
        self.writer.write(Bytes::from(out)).await?;
        Ok(())
    }

    async fn finish(mut self, tail: &str) -> Result<Written, YumError> {
        self.push(tail).await?;
        self.compress_pending().await?;
        let compressor = self.take_compressor()?;
        let (open_hash, out) =
            blocking(move || Ok((compressor.open_hash, compressor.gzip.finish()?))).await?;
        self.writer.write(Bytes::from(out)).await?;
        let staged = self.writer.finish(None).await?;
        Ok(Written {
            kind: self.kind,
            open_digest: Digest::from_sha256_bytes(&open_hash.finalize()),
            open_size: self.open_size,
            staged,
        })
    }
}

/// Runs CPU-bound work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, YumError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| YumError::Internal(format!("metadata compression failed: {e}")))?
        .map_err(YumError::io)
}

/// A finished metadata file, staged.
struct Written {
    kind: &'static str,
    open_digest: Digest,
    open_size: u64,
    staged: StagedBlob,
}

/// A metadata file's `<data>` record.
struct Record {
    kind: &'static str,
    digest: Digest,
    size: u64,
    open_digest: Digest,
    open_size: u64,
    href: String,
}

/// Publishes `repo` if its package set changed since the last publish. Returns
/// whether a new snapshot became current. Callers hold `Yum::publishing`.
pub async fn publish(yum: &Yum, repo: &str) -> Result<bool, YumError> {
    let started = std::time::Instant::now();
    let (generation, published) = index::generation(&yum.db, repo).await?;
    if published {
        return Ok(false);
    }
    let count = index::package_count(&yum.db, repo).await?;
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    let mut primary = MetadataFile::start(
        yum,
        "primary",
        format!(
            "{decl}<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
             xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">\n"
        ),
    )
    .await?;
    let mut filelists = MetadataFile::start(
        yum,
        "filelists",
        format!(
            "{decl}<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{count}\">\n"
        ),
    )
    .await?;
    let mut other = MetadataFile::start(
        yum,
        "other",
        format!(
            "{decl}<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{count}\">\n"
        ),
    )
    .await?;
    {
        let mut conn = yum.db.reader().await?;
        let mut packages = std::pin::pin!(index::package_xml(&mut conn, repo));
        while let Some(p) = packages.try_next().await? {
            primary.push(&p.primary).await?;
            primary.push("\n").await?;
            filelists.push(&p.filelists).await?;
            filelists.push("\n").await?;
            other.push(&p.other).await?;
            other.push("\n").await?;
        }
    }
    let written = [
        primary.finish("</metadata>").await?,
        filelists.finish("</filelists>").await?,
        other.finish("</otherdata>").await?,
    ];
    let mut records = Vec::new();
    let mut staged = Vec::new();
    for w in written {
        records.push(Record {
            kind: w.kind,
            digest: w.staged.digest.clone(),
            size: w.staged.size,
            open_digest: w.open_digest,
            open_size: w.open_size,
            href: format!("repodata/{}-{}.xml.gz", w.staged.digest.hex(), w.kind),
        });
        staged.push(w.staged);
    }
    let now = airlock_core::unix_now();
    let repomd = yum
        .staging
        .stage_bytes(Bytes::from(repomd_xml(&records, now)?))
        .await
        .map_err(YumError::io)?;
    let (repomd_digest, repomd_size) = (repomd.digest.clone(), repomd.size);
    // One commit for the four files (two filesystem syncs in all; repomd.xml
    // committed on its own cost an fsync of the file and one of its
    // directory more). Every file is durable before the snapshot lists it.
    staged.push(repomd);
    yum.store.commit_batch(staged).await?;
    let mut files: Vec<NewFile> = records
        .into_iter()
        .map(|r| NewFile {
            path: r.href,
            digest: r.digest,
            size: r.size,
        })
        .collect();
    files.push(NewFile {
        path: REPOMD.to_owned(),
        digest: repomd_digest,
        size: repomd_size,
    });
    let expired_before = now - yum.grace_period.as_secs() as i64;
    let switched =
        index::publish_snapshot(&yum.db, repo, generation, &files, expired_before).await?;
    yum.kept_files.invalidate();
    if switched {
        tracing::info!(
            repo,
            packages = count,
            generation,
            duration_ms = started.elapsed().as_secs_f64() * 1e3,
            "yum repository published"
        );
    }
    Ok(switched)
}

/// Where dnf looks first.
pub const REPOMD: &str = "repodata/repomd.xml";

/// repomd.xml as createrepo_c writes it (without the sqlite databases, which
/// dnf never reads).
fn repomd_xml(records: &[Record], now: i64) -> Result<Vec<u8>, YumError> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let now = now.to_string();
    w.create_element("repomd")
        .with_attributes([
            ("xmlns", "http://linux.duke.edu/metadata/repo"),
            ("xmlns:rpm", "http://linux.duke.edu/metadata/rpm"),
        ])
        .write_inner_content(|w| {
            w.create_element("revision")
                .write_text_content(BytesText::new(&now))?;
            for r in records {
                w.create_element("data")
                    .with_attribute(("type", r.kind))
                    .write_inner_content(|w| {
                        w.create_element("checksum")
                            .with_attribute(("type", "sha256"))
                            .write_text_content(BytesText::new(r.digest.hex()))?;
                        w.create_element("open-checksum")
                            .with_attribute(("type", "sha256"))
                            .write_text_content(BytesText::new(r.open_digest.hex()))?;
                        w.create_element("location")
                            .with_attribute(("href", r.href.as_str()))
                            .write_empty()?;
                        for (tag, value) in [
                            ("timestamp", now.clone()),
                            ("size", r.size.to_string()),
                            ("open-size", r.open_size.to_string()),
                        ] {
                            w.create_element(tag)
                                .write_text_content(BytesText::new(&value))?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}
