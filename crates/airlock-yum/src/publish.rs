//! Publishing a hosted repository: `primary.xml.gz`, `filelists.xml.gz` and
//! `other.xml.gz` from the packages' stored fragments (streamed from the
//! index; the compressed files, a few hundred KB per thousand packages, are
//! put together in memory, where the stored pieces they reuse already are, and
//! staged in one write each), then `repomd.xml`, then one transaction that
//! records the snapshot, switches the repository to it and updates the cache
//! of compressed pieces.
//!
//! Each metadata file is one gzip member whose deflate stream is made of
//! independent pieces: the head (it holds the package count), one piece per
//! *chunk* of packages, and the tail. A chunk is a run of packages in repodata
//! order that ends at a package whose pkgid starts with `0`: one in 16, chosen
//! by content, so that adding or deleting a package changes only the chunk it
//! falls in. A piece is compressed with nothing before it to refer to and ends
//! in a sync flush (byte-aligned, not final), so pieces concatenate into one
//! valid stream. The pieces of each chunk are kept in the index
//! (`yum_deflate_chunk`) under a key over the chunk's packages, and a publish
//! compresses only the chunks it does not find there: adding one RPM to 500
//! recompresses about 16 packages' XML instead of all of it (which was three
//! quarters of the publish). The CRC-32 of the gzip trailer and repomd's
//! `open-checksum` are computed over the fragments on a thread of their own,
//! while the next rows are read; the rows themselves are what a chunk's
//! compression reads, without copying their XML first.

use crate::error::YumError;
use crate::index::{self, DeflateChanges, DeflatePieces, NewFile, PackageXml};
use crate::Yum;
use airlock_core::db::DbError;
use airlock_core::{Digest, StagedBlob, Staging};
use bytes::Bytes;
use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};
use futures_util::TryStreamExt as _;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Write as _};
use std::sync::Arc;

/// A gzip member header: deflate, no flags, no mtime, Unix.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

/// Chunks being compressed at once on the blocking pool, ahead of the one
/// being written.
const IN_FLIGHT: usize = 4;

/// Whether a package ends its chunk: its pkgid starts with `0` (1 in 16).
fn ends_chunk(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .unwrap_or(digest)
        .starts_with('0')
}

/// Raw deflate of `parts` one after the other, ending in a sync flush:
/// byte-aligned, not final, and referring to nothing before it, so that
/// pieces can be concatenated.
fn deflate_piece<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> io::Result<Bytes> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    for part in parts {
        encoder.write_all(part)?;
    }
    encoder.flush()?;
    Ok(Bytes::from(std::mem::take(encoder.get_mut())))
}

/// A chunk's piece of metadata file `file` (0 primary, 1 filelists, 2
/// other): each package's fragment and a newline.
fn chunk_piece(rows: &[Arc<PackageXml>], file: usize) -> io::Result<Bytes> {
    let mut parts = Vec::with_capacity(rows.len() * 2);
    for row in rows {
        parts.push(row.fragments().map_err(io::Error::other)?[file].as_bytes());
        parts.push(b"\n");
    }
    deflate_piece(parts)
}

/// The last piece of a stream: `xml` in final blocks.
fn final_piece(xml: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(xml)?;
    encoder.finish()
}

/// What repomd and the gzip trailer say of a metadata file's uncompressed
/// bytes: CRC-32, sha256 and size.
struct OpenHash {
    crc: Crc,
    sha256: Sha256,
    size: u64,
}

impl OpenHash {
    fn new() -> Self {
        OpenHash {
            crc: Crc::new(),
            sha256: Sha256::new(),
            size: 0,
        }
    }

    /// Accounts for uncompressed XML, in file order.
    fn update(&mut self, xml: &[u8]) {
        self.crc.update(xml);
        self.sha256.update(xml);
        self.size += xml.len() as u64;
    }
}

/// Hashes the three metadata files' uncompressed bytes on a thread of its
/// own, chunk by chunk in file order, while the next rows are read: hashing
/// 1.5 MB of XML where the rows arrive took as long as reading them.
struct Hashing {
    chunks: std::sync::mpsc::Sender<Arc<Vec<Arc<PackageXml>>>>,
    done: tokio::task::JoinHandle<Result<[OpenHash; 3], DbError>>,
}

impl Hashing {
    /// Starts with the files' heads.
    fn start(heads: [String; 3]) -> Self {
        let (chunks, arriving) = std::sync::mpsc::channel::<Arc<Vec<Arc<PackageXml>>>>();
        let done = tokio::task::spawn_blocking(move || {
            let mut files = [OpenHash::new(), OpenHash::new(), OpenHash::new()];
            for (file, head) in files.iter_mut().zip(&heads) {
                file.update(head.as_bytes());
            }
            for rows in arriving {
                for row in rows.iter() {
                    for (file, fragment) in files.iter_mut().zip(row.fragments()?) {
                        file.update(fragment.as_bytes());
                        file.update(b"\n");
                    }
                }
            }
            Ok(files)
        });
        Hashing { chunks, done }
    }

    fn push(&self, rows: Arc<Vec<Arc<PackageXml>>>) -> Result<(), YumError> {
        self.chunks
            .send(rows)
            .map_err(|_| YumError::Internal("metadata hashing stopped".into()))
    }

    /// The files' hashes, once every chunk sent is hashed.
    async fn finish(self) -> Result<[OpenHash; 3], YumError> {
        drop(self.chunks);
        Ok(self
            .done
            .await
            .map_err(|e| YumError::Internal(format!("metadata hashing failed: {e}")))??)
    }
}

/// One metadata file being put together: gzip header, pieces, trailer.
struct MetadataFile {
    kind: &'static str,
    gz: Vec<u8>,
}

impl MetadataFile {
    fn start(kind: &'static str, head: &str) -> Result<Self, YumError> {
        let mut gz = GZIP_HEADER.to_vec();
        gz.extend_from_slice(&deflate_piece([head.as_bytes()]).map_err(YumError::io)?);
        Ok(MetadataFile { kind, gz })
    }

    async fn finish(
        mut self,
        mut open: OpenHash,
        tail: &str,
        staging: &Staging,
    ) -> Result<Written, YumError> {
        open.update(tail.as_bytes());
        let tail = final_piece(tail.as_bytes()).map_err(YumError::io)?;
        self.gz.extend_from_slice(&tail);
        self.gz.extend_from_slice(&open.crc.sum().to_le_bytes());
        self.gz.extend_from_slice(&open.crc.amount().to_le_bytes());
        let staged = staging
            .stage_bytes(Bytes::from(self.gz))
            .await
            .map_err(YumError::io)?;
        Ok(Written {
            kind: self.kind,
            open_digest: Digest::from_sha256_bytes(&open.sha256.finalize()),
            open_size: open.size,
            staged,
        })
    }
}

/// The packages of a chunk being gathered: their rows, and the hash of what
/// identifies them (a fragment is derived once, when its package is added,
/// from the RPM, its path and that time, and never changes).
#[derive(Default)]
struct Chunk {
    rows: Vec<Arc<PackageXml>>,
    identity: Sha256,
}

impl Chunk {
    /// Appends a package; returns whether it ends the chunk.
    fn push(&mut self, p: Arc<PackageXml>) -> Result<bool, YumError> {
        let (digest, href, added_at) = p.identity()?;
        for part in [digest.as_bytes(), href.as_bytes()] {
            self.identity.update((part.len() as u64).to_le_bytes());
            self.identity.update(part);
        }
        self.identity.update(added_at.to_le_bytes());
        let ends = ends_chunk(digest);
        self.rows.push(p);
        Ok(ends)
    }
}

/// A chunk's pieces, in file order: found stored, or being compressed.
enum Pieces {
    Stored(DeflatePieces),
    Compressing(String, tokio::task::JoinHandle<io::Result<DeflatePieces>>),
}

/// The metadata files being written and the chunks on their way into them.
struct Output {
    files: [MetadataFile; 3],
    hashing: Hashing,
    stored: std::collections::HashMap<String, DeflatePieces>,
    queue: VecDeque<Pieces>,
    compressed: Vec<(String, DeflatePieces)>,
}

impl Output {
    /// Queues a complete chunk: its stored pieces, else a compression.
    async fn push(&mut self, chunk: Chunk) -> Result<(), YumError> {
        let key = hex::encode(chunk.identity.finalize());
        let rows = Arc::new(chunk.rows);
        self.hashing.push(rows.clone())?;
        let pieces = match self.stored.remove(&key) {
            Some(pieces) => Pieces::Stored(pieces),
            None => Pieces::Compressing(
                key,
                tokio::task::spawn_blocking(move || -> io::Result<DeflatePieces> {
                    Ok([
                        chunk_piece(&rows, 0)?,
                        chunk_piece(&rows, 1)?,
                        chunk_piece(&rows, 2)?,
                    ])
                }),
            ),
        };
        self.queue.push_back(pieces);
        while self.queue.len() > IN_FLIGHT {
            self.write_next().await?;
        }
        Ok(())
    }

    /// Writes the oldest queued chunk's pieces.
    async fn write_next(&mut self) -> Result<(), YumError> {
        let pieces = match self.queue.pop_front() {
            None => return Ok(()),
            Some(Pieces::Stored(pieces)) => pieces,
            Some(Pieces::Compressing(key, compressing)) => {
                let pieces = compressing
                    .await
                    .map_err(|e| YumError::Internal(format!("metadata compression failed: {e}")))?
                    .map_err(YumError::io)?;
                self.compressed.push((key, pieces.clone()));
                pieces
            }
        };
        for (file, piece) in self.files.iter_mut().zip(pieces) {
            file.gz.extend_from_slice(&piece);
        }
        Ok(())
    }
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

/// The packages of each hosted repository as this process last published
/// them, in repodata order, so that the next publish reads only the rows
/// that changed since: reading all 500 rows of 500 packages was half of
/// publishing one more (sqlx hands rows over one at a time).
#[derive(Default)]
pub struct Published(HashMap<String, PackageSet>);

/// A repository's packages at a published generation.
struct PackageSet {
    generation: i64,
    packages: BTreeMap<(String, String), Arc<PackageXml>>,
}

/// The largest package set kept between publishes, in bytes of metadata
/// fragments (some 3 MB per 1,000 packages); a larger one is read again from
/// the index each time.
const KEPT_SET_BYTES: usize = 64 << 20;

/// The bytes of a package's fragments.
fn fragment_bytes(p: &PackageXml) -> Result<usize, YumError> {
    Ok(p.fragments()?.iter().map(|f| f.len()).sum())
}

/// Publishes `repo` if its package set changed since the last publish. Returns
/// whether a new snapshot became current. Callers hold `Yum::publishing`,
/// whose package sets this updates.
pub async fn publish(yum: &Yum, published: &mut Published, repo: &str) -> Result<bool, YumError> {
    let started = std::time::Instant::now();
    // Taken out, and put back only when this publish succeeds.
    let kept = published.0.remove(repo);
    // The stored chunks are read beside the generation, on another
    // connection: a publish that finds nothing to do reads them for nothing.
    let ((generation, published_generation), stored) = tokio::try_join!(
        index::generations(&yum.db, repo),
        index::deflate_chunks(&yum.db, repo),
    )?;
    if published_generation >= generation {
        if let Some(kept) = kept {
            published.0.insert(repo.to_owned(), kept);
        }
        return Ok(false);
    }
    // The set this process published is current unless another process
    // (`airlock yum add`) published since.
    let kept = match kept {
        Some(mut set) if set.generation == published_generation => {
            for row in index::package_changes(&yum.db, repo, set.generation).await? {
                let key = row.sort_key()?;
                if row.present_at(generation)? {
                    set.packages.insert(key, Arc::new(row));
                } else {
                    set.packages.remove(&key);
                }
            }
            set.generation = generation;
            Some(set)
        }
        _ => None,
    };
    let count = match &kept {
        Some(set) => set.packages.len() as u64,
        None => index::package_count(&yum.db, repo, generation).await?,
    };
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    let heads = [
        format!(
            "{decl}<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
             xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">\n"
        ),
        format!(
            "{decl}<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{count}\">\n"
        ),
        format!(
            "{decl}<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{count}\">\n"
        ),
    ];
    let mut out = Output {
        files: [
            MetadataFile::start("primary", &heads[0])?,
            MetadataFile::start("filelists", &heads[1])?,
            MetadataFile::start("other", &heads[2])?,
        ],
        hashing: Hashing::start(heads),
        stored,
        queue: VecDeque::new(),
        compressed: Vec::new(),
    };
    let mut chunk = Chunk::default();
    let set = match kept {
        Some(set) => {
            for p in set.packages.values() {
                if chunk.push(p.clone())? {
                    out.push(std::mem::take(&mut chunk)).await?;
                }
            }
            Some(set)
        }
        None => {
            // Read from the index, and kept while it stays small enough.
            let mut set = Some(PackageSet {
                generation,
                packages: BTreeMap::new(),
            });
            let mut bytes = 0;
            let mut conn = yum.db.reader().await?;
            let mut rows = std::pin::pin!(index::package_xml(&mut conn, repo, generation));
            while let Some(row) = rows.try_next().await? {
                let p = Arc::new(row);
                bytes += fragment_bytes(&p)?;
                if bytes > KEPT_SET_BYTES {
                    set = None;
                }
                if let Some(set) = &mut set {
                    set.packages.insert(p.sort_key()?, p.clone());
                }
                if chunk.push(p)? {
                    out.push(std::mem::take(&mut chunk)).await?;
                }
            }
            set
        }
    };
    if !chunk.rows.is_empty() {
        out.push(chunk).await?;
    }
    while !out.queue.is_empty() {
        out.write_next().await?;
    }
    let Output {
        files: [primary, filelists, other],
        hashing,
        stored: unused,
        compressed,
        ..
    } = out;
    let [primary_open, filelists_open, other_open] = hashing.finish().await?;
    let staging = &yum.staging;
    let written = tokio::try_join!(
        primary.finish(primary_open, "</metadata>", staging),
        filelists.finish(filelists_open, "</filelists>", staging),
        other.finish(other_open, "</otherdata>", staging),
    )?;
    let written = [written.0, written.1, written.2];
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
    // One commit for the four files (repomd.xml committed on its own cost an
    // fsync of the file and one of its directory more), while the snapshot's
    // rows are written. Every file is durable before the snapshot lists it.
    staged.push(repomd);
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
    // The chunks' cache follows the packages whether or not this publish wins.
    let unused: Vec<String> = unused.into_keys().collect();
    let chunks = DeflateChanges {
        new: &compressed,
        unused: &unused,
    };
    let durable = yum.store.commit_batch(staged);
    let switched = index::publish_snapshot(
        &yum.db,
        repo,
        generation,
        &files,
        expired_before,
        chunks,
        durable,
    )
    .await??;
    yum.kept_files.invalidate();
    if switched {
        if let Some(set) = set {
            published.0.insert(repo.to_owned(), set);
        }
        tracing::info!(
            repo,
            packages = count,
            chunks_compressed = compressed.len(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn pieces_concatenate_into_one_gzip_member() {
        let parts: [&[u8]; 4] = [
            b"<?xml version=\"1.0\"?>\n<metadata packages=\"2\">\n",
            b"<package>a</package>\n<package>a</package>\n",
            b"",
            b"<package>b</package>\n",
        ];
        let tail = b"</metadata>";
        let mut gz = GZIP_HEADER.to_vec();
        let mut crc = Crc::new();
        for part in parts {
            gz.extend_from_slice(&deflate_piece([part]).expect("piece"));
            crc.update(part);
        }
        gz.extend(final_piece(tail).expect("tail"));
        crc.update(tail);
        gz.extend_from_slice(&crc.sum().to_le_bytes());
        gz.extend_from_slice(&crc.amount().to_le_bytes());

        let mut xml = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut xml)
            .expect("one valid member, CRC and size checked");
        assert_eq!(xml, [&parts.concat()[..], tail].concat());
    }

    /// A package whose pkgid starts with `0` when `byte < 16`.
    fn package(name: &str, byte: u8) -> (String, Digest, crate::fragments::PackageEntry) {
        let entry = crate::fragments::PackageEntry {
            name: name.into(),
            epoch: 0,
            version: "1".into(),
            release: "1".into(),
            arch: "noarch".into(),
            primary: format!("<package type=\"rpm\"><name>{name}</name></package>"),
            filelists: format!("<package pkgid=\"{byte}\" name=\"{name}\"/>"),
            other: format!("<package pkgid=\"{byte}\" name=\"{name}\"><changelog/></package>"),
        };
        (
            format!("{name}-1-1.noarch.rpm"),
            Digest::from_sha256_bytes(&[byte; 32]),
            entry,
        )
    }

    async fn add(yum: &Yum, packages: &[(String, Digest, crate::fragments::PackageEntry)]) {
        let new: Vec<index::NewPackage<'_>> = packages
            .iter()
            .map(|(href, digest, entry)| index::NewPackage {
                repo: "r",
                href,
                digest,
                size: 1,
                entry,
                added_at: 7,
            })
            .collect();
        let durable = std::future::ready(Ok::<(), std::convert::Infallible>(()));
        index::insert_packages(&yum.db, &new, durable)
            .await
            .expect("insert")
            .expect("durable");
        assert!(yum.publish("r").await.expect("publish"));
    }

    /// The published primary.xml.gz, decompressed, and repomd.xml.
    async fn published(yum: &Yum) -> (String, String) {
        let read = |digest: Digest| async move {
            let body = yum.store.open(&digest, None).await.expect("open");
            body.into_bytes().await.expect("read")
        };
        let files = index::list_files(&yum.db, "r", "repodata/")
            .await
            .expect("list");
        let file = |suffix: &str| {
            files
                .iter()
                .find(|f| f.path.ends_with(suffix))
                .map(|f| f.digest.clone())
                .expect("listed")
        };
        let gz = read(file("-primary.xml.gz")).await;
        let mut xml = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut xml)
            .expect("gzip");
        let repomd = read(file("repomd.xml")).await;
        (xml, String::from_utf8_lossy(&repomd).into_owned())
    }

    /// The index of a data directory `dir`.
    async fn index_in(dir: &std::path::Path) -> airlock_core::Db {
        airlock_core::Db::open(&dir.join("airlock.db"))
            .await
            .expect("db")
    }

    /// A `Yum` with the hosted repository `r` on `db`, its blobs under `dir`.
    async fn hosted_yum(dir: &std::path::Path, db: airlock_core::Db) -> Yum {
        let settings = crate::YumSettings {
            repositories: vec![crate::RepoSettings::hosted("r")],
            ..crate::YumSettings::default()
        };
        Yum::open(
            &settings,
            airlock_core::Mode::Offline,
            airlock_core::upstream::Upstream::new(&Default::default()).expect("client"),
            db,
            std::sync::Arc::new(airlock_core::LocalStore::open(dir.join("blobs")).expect("store")),
            std::sync::Arc::new(airlock_core::Staging::open(dir.join("tmp")).expect("staging")),
        )
        .await
        .expect("open")
    }

    /// primary.xml as createrepo_c writes it for `packages`.
    fn expected_primary(packages: &[(String, Digest, crate::fragments::PackageEntry)]) -> String {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
             xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n",
            packages.len()
        );
        let mut sorted: Vec<_> = packages.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, _, entry) in sorted {
            xml.push_str(&entry.primary);
            xml.push('\n');
        }
        xml + "</metadata>"
    }

    #[tokio::test]
    async fn a_publish_compresses_only_the_chunks_that_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = index_in(dir.path()).await;
        let yum = hosted_yum(dir.path(), db).await;
        // Twelve packages; every third ends a chunk: four chunks.
        let mut packages: Vec<_> = (0..12u8)
            .map(|i| package(&format!("p{i:02}"), if i % 3 == 2 { i } else { 0x40 + i }))
            .collect();
        add(&yum, &packages).await;
        let expect = expected_primary;
        let (xml, repomd) = published(&yum).await;
        assert_eq!(xml, expect(&packages));
        let open = hex::encode(Sha256::digest(xml.as_bytes()));
        assert!(
            repomd.contains(&open),
            "open-checksum of primary in {repomd}"
        );
        let before = index::deflate_chunks(&yum.db, "r").await.expect("chunks");
        assert_eq!(before.len(), 4);

        // One more in the second chunk: that chunk alone is compressed again.
        packages.push(package("p04a", 0x80));
        add(&yum, &packages[12..]).await;
        let (xml, repomd) = published(&yum).await;
        assert_eq!(xml, expect(&packages));
        assert!(repomd.contains(&hex::encode(Sha256::digest(xml.as_bytes()))));
        let after = index::deflate_chunks(&yum.db, "r").await.expect("chunks");
        assert_eq!(after.len(), 4);
        let kept = after.keys().filter(|k| before.contains_key(*k)).count();
        assert_eq!(kept, 3, "three chunks reused, one replaced");
    }

    #[test]
    fn one_package_in_sixteen_ends_a_chunk() {
        assert!(ends_chunk(&format!("sha256:0{}", "a".repeat(63))));
        assert!(!ends_chunk(&format!("sha256:a0{}", "a".repeat(62))));
    }

    /// Publishes after adds, deletes, a re-add and another process's publish
    /// (each `Yum` keeps the package set it published, read again when
    /// another one published since) serve what the package set says.
    #[tokio::test]
    async fn publishes_follow_adds_deletes_and_other_processes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = index_in(dir.path()).await;
        let yum = hosted_yum(dir.path(), db.clone()).await;
        let other = hosted_yum(dir.path(), db).await;
        let mut present: Vec<(String, Digest, crate::fragments::PackageEntry)> = (0..20u8)
            .map(|i| package(&format!("p{i:02}"), i.wrapping_mul(37)))
            .collect();
        add(&yum, &present).await;
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        let mut deleted = Vec::new();
        for round in 0..40 {
            let publisher = if round % 10 == 9 { &other } else { &yum };
            match next() % 4 {
                0 if !deleted.is_empty() => {
                    let again = deleted.remove(next() % deleted.len());
                    add(publisher, std::slice::from_ref(&again)).await;
                    present.push(again);
                }
                1 if present.len() > 1 => {
                    let gone = present.remove(next() % present.len());
                    assert!(index::delete_package(&publisher.db, "r", &gone.0)
                        .await
                        .expect("delete"));
                    assert!(publisher.publish("r").await.expect("publish"));
                    deleted.push(gone);
                }
                _ => {
                    let new: Vec<_> = (0..1 + next() % 3)
                        .map(|k| package(&format!("q{round:02}{k}"), next() as u8))
                        .collect();
                    add(publisher, &new).await;
                    present.extend(new);
                }
            }
            let (xml, repomd) = published(&yum).await;
            assert_eq!(xml, expected_primary(&present), "round {round}");
            assert!(repomd.contains(&hex::encode(Sha256::digest(xml.as_bytes()))));
        }

        // Another process deletes a package and publishes, and the row goes
        // (as when the snapshots that list it expire): the set `yum` kept
        // still lists it, and no row says it was deleted.
        let gone = present.remove(0);
        assert!(index::delete_package(&other.db, "r", &gone.0)
            .await
            .expect("delete"));
        assert!(other.publish("r").await.expect("publish"));
        sqlx::query("DELETE FROM yum_package WHERE deleted_generation IS NOT NULL")
            .execute(&mut *other.db.writer().await)
            .await
            .expect("expire");
        let new = package("z", 0x42);
        add(&yum, std::slice::from_ref(&new)).await;
        present.push(new);
        let (xml, _) = published(&yum).await;
        assert_eq!(xml, expected_primary(&present));
    }
}
