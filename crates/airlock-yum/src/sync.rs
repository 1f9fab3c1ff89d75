//! Mirroring an upstream repository (`airlock sync yum <repo>`, and the
//! periodic refresh of `airlock serve`).
//!
//! 1. Fetch `repodata/repomd.xml`. Without filters, when its bytes are those
//!    the current snapshot serves, nothing changed: stop.
//! 2. Copy every `<data>` record byte for byte under its upstream href,
//!    checking its size and its declared checksum while it streams.
//! 3. Stream-parse primary ([`crate::primary`]) for the package list, check
//!    its `open-size`/`open-checksum`, and pick the packages to keep.
//! 4. Fetch the packages not already stored (by sha256, from any repository),
//!    several at once, each checked against its size and checksum.
//! 5. Publish: one transaction records the new snapshot and switches the
//!    repository to it; the previous one stays servable for the grace period.
//!
//! Every durable file is recorded at once in the sync's unpublished
//! snapshot, which clients never see and which keeps its blobs alive: a
//! sync that fails (an upstream fault, a checksum mismatch, kill -9) changes
//! nothing visible, and the next run resumes with what is stored. A file
//! that fails its checks stores nothing.

use crate::blobio::read_blob;
use crate::checksum::{Algorithm, Checksum};
use crate::error::YumError;
use crate::index::{self, SyncedFile};
use crate::primary::{self, UpstreamPackage};
use crate::publish::REPOMD;
use crate::repomd;
use crate::{filter, RepoKind, RepoSettings, Yum};
use airlock_core::store::{StagedBlob, StoreError};
use airlock_core::upstream::redact;
use airlock_core::Digest;
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::Url;
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

/// The largest repomd.xml read.
const REPOMD_LIMIT: u64 = 16 << 20;
/// Files made durable and recorded together (two filesystem syncs and one
/// transaction per batch instead of per file).
const BATCH_FILES: usize = 64;
/// Staged bytes that close a batch early, so temp space stays bounded.
const BATCH_BYTES: u64 = 256 << 20;
/// A batch older than this is committed anyway, so that a `kill -9` of a
/// slow sync loses at most this much of its work.
const BATCH_AGE: std::time::Duration = std::time::Duration::from_secs(5);

/// What a sync reports as it goes.
#[derive(Debug)]
pub enum SyncEvent<'a> {
    /// A metadata file is stored (`fetched`: from upstream, else already stored).
    Metadata {
        /// Its href.
        href: &'a str,
        /// Its size.
        size: u64,
        /// Fetched now.
        fetched: bool,
    },
    /// The packages to keep are known.
    Packages {
        /// Packages kept.
        count: usize,
        /// Of which not stored yet.
        to_fetch: usize,
        /// Their bytes.
        bytes: u64,
    },
    /// A package is stored.
    Package {
        /// Its href.
        href: &'a str,
        /// Its size.
        size: u64,
        /// Fetched now (else already stored).
        fetched: bool,
    },
}

/// What a sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// The upstream's repomd.xml is the one served: nothing was fetched.
    pub unchanged: bool,
    /// A new snapshot became current.
    pub published: bool,
    /// Packages in the snapshot (from upstream's metadata, after filters).
    pub packages: usize,
    /// Packages fetched now.
    pub fetched: usize,
    /// Bytes fetched now (metadata and packages).
    pub fetched_bytes: u64,
    /// Metadata records served (upstream's, or airlock's after filters).
    pub records: usize,
}

/// A mirror's upstream base URL with a trailing `/`, checked.
pub fn base_url(upstream: &str) -> Result<Url, String> {
    let with_slash = if upstream.ends_with('/') {
        upstream.to_owned()
    } else {
        format!("{upstream}/")
    };
    let url = Url::parse(&with_slash).map_err(|e| format!("bad upstream URL: {e}"))?;
    match url.scheme() {
        "http" | "https" | "file" => Ok(url),
        other => Err(format!(
            "upstream URL scheme {other:?}: use http, https or file"
        )),
    }
}

/// Characters escaped when an href becomes a URL path: those a listing
/// escapes, and the other characters a URL path may not hold as they are.
const HREF_ESCAPE: &percent_encoding::AsciiSet =
    &crate::routes::LISTING_ESCAPE.add(b'`').add(b'{').add(b'}');

/// The upstream URL of `href` (already checked by [`repomd::check_href`]):
/// always under `base`. The escaping keeps an href such as `file:/etc/passwd`
/// or `https:elsewhere/x.rpm` a relative path (a `:` in its first segment
/// would make it a scheme), and the URL is checked to stay under the base
/// anyway: metadata from upstream never decides which host or file is read.
pub fn file_url(base: &Url, href: &str) -> Result<Url, YumError> {
    let encoded = percent_encoding::utf8_percent_encode(href, HREF_ESCAPE).to_string();
    let url = base
        .join(&encoded)
        .map_err(|e| YumError::Internal(format!("joining {href:?} onto the upstream URL: {e}")))?;
    let under_base = url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default()
        && url.path().starts_with(base.path());
    if !under_base {
        return Err(YumError::Upstream(format!(
            "location href {href:?} points outside the upstream repository"
        )));
    }
    Ok(url)
}

/// The mirror named `repo` and its upstream base URL.
pub fn mirror(yum: &Yum, repo: &str) -> Result<(RepoSettings, Url), YumError> {
    let settings = yum.repo(repo)?.clone();
    if settings.kind != RepoKind::Mirror {
        return Err(YumError::NotHosted(format!(
            "{repo} is a hosted repository; only mirrors sync"
        )));
    }
    let base =
        base_url(settings.upstream.as_deref().unwrap_or_default()).map_err(YumError::Internal)?;
    Ok((settings, base))
}

/// Syncs mirror `repo` from its upstream; see the module documentation.
pub async fn sync(
    yum: &Arc<Yum>,
    repo: &str,
    on: &(dyn Fn(SyncEvent<'_>) + Send + Sync),
) -> Result<SyncReport, YumError> {
    let (settings, base) = mirror(yum, repo)?;
    let _one_at_a_time = yum.inflight.lock(&format!("yum-sync:{repo}")).await;
    let mut report = SyncReport::default();
    let repomd_url = file_url(&base, REPOMD)?;
    let repomd_bytes = yum
        .upstream
        .get(repomd_url.as_str())
        .await
        .map_err(upstream)?
        .bytes(REPOMD_LIMIT)
        .await
        .map_err(upstream)?;
    let parsed = repomd::parse(&repomd_bytes)
        .map_err(|e| YumError::Upstream(format!("{}: {e}", redact(&repomd_url))))?;
    let repomd_digest = Digest::from_sha256_bytes(&sha2::Sha256::digest(&repomd_bytes));
    let current = index::current_files(&yum.db, repo).await?;
    if !settings.filtered() && current.get(REPOMD).map(|f| &f.digest) == Some(&repomd_digest) {
        report.unchanged = true;
        // What the unchanged snapshot serves, for the summary line.
        report.packages = current.keys().filter(|path| path.ends_with(".rpm")).count();
        return Ok(report);
    }
    let (generation, pending) = index::begin_sync(&yum.db, repo).await?;
    let mut files: BTreeMap<String, SyncedFile> = BTreeMap::new();

    // Every record, byte for byte.
    for record in &parsed.records {
        let (file, fetched) = fetch_or_reuse(
            yum,
            repo,
            &base,
            &record.href,
            &record.checksum,
            record.size,
            pending,
        )
        .await?;
        if fetched {
            report.fetched_bytes += file.size;
        }
        on(SyncEvent::Metadata {
            href: &record.href,
            size: file.size,
            fetched,
        });
        files.insert(record.href.clone(), file);
    }

    let primary_record = parsed
        .record("primary")
        .ok_or_else(|| YumError::Upstream(format!("{}: no primary record", redact(&repomd_url))))?;
    let primary_file = files
        .get(&primary_record.href)
        .ok_or_else(|| YumError::Internal("primary not stored".into()))?;
    let listed = read_primary(yum, &primary_file.digest, primary_record).await?;
    let packages = unique_by_href(listed)?;
    let kept = filter::keep(&settings, packages);
    report.packages = kept.len();

    // Packages already stored (from any repository) are not fetched again;
    // with on_demand, the others are listed for clients to ask for.
    let mut to_fetch = Vec::new();
    let mut remote = Vec::new();
    for package in kept.iter() {
        match stored(yum, repo, &package.href, &package.checksum, package.size).await? {
            Some(digest) => {
                files.insert(
                    package.href.clone(),
                    SyncedFile {
                        digest,
                        size: package.size,
                        modified_at: airlock_core::unix_now(),
                    },
                );
                on(SyncEvent::Package {
                    href: &package.href,
                    size: package.size,
                    fetched: false,
                });
            }
            None if settings.on_demand => {
                remote.push((package.href.clone(), package.checksum.clone(), package.size))
            }
            None => to_fetch.push(package.clone()),
        }
    }
    on(SyncEvent::Packages {
        count: kept.len(),
        to_fetch: to_fetch.len(),
        bytes: to_fetch.iter().map(|p| p.size).sum(),
    });
    let fetched = fetch_packages(yum, &base, to_fetch, pending, on).await?;
    report.fetched = fetched.len();
    for (href, file) in fetched {
        report.fetched_bytes += file.size;
        files.insert(href, file);
    }

    // The metadata clients get: upstream's as is, or airlock's for the kept subset.
    let repomd_final = if settings.filtered() {
        let rewritten = filter::rewrite_metadata(yum, &parsed, &files, &kept).await?;
        for record in &parsed.records {
            files.remove(&record.href);
        }
        report.records = rewritten.files.len();
        files.extend(rewritten.files);
        rewritten.repomd
    } else {
        report.records = parsed.records.len();
        repomd_bytes
    };
    let repomd_size = repomd_final.len() as u64;
    let digest = yum
        .store
        .put_bytes(&yum.staging, Bytes::from(repomd_final))
        .await?;
    files.insert(
        REPOMD.to_owned(),
        SyncedFile {
            digest,
            size: repomd_size,
            modified_at: airlock_core::unix_now(),
        },
    );

    // Files unchanged since the current snapshot keep their Last-Modified.
    for (path, file) in files.iter_mut() {
        if let Some(old) = current.get(path) {
            if old.digest == file.digest {
                file.modified_at = old.modified_at;
            }
        }
    }
    if remote.is_empty() && same_snapshot(&current, &files, !settings.prune) {
        index::drop_pending(&yum.db, repo, pending).await?;
        report.unchanged = true;
        return Ok(report);
    }
    let expired_before = airlock_core::unix_now() - yum.grace_period.as_secs() as i64;
    let publication = index::Publication {
        files: &files,
        remote: &remote,
        keep_dropped: !settings.prune,
    };
    report.published = index::publish_synced(
        &yum.db,
        repo,
        generation,
        pending,
        publication,
        expired_before,
    )
    .await?;
    yum.kept_files.invalidate();
    if report.published {
        tracing::info!(
            repo,
            packages = report.packages,
            fetched = report.fetched,
            fetched_bytes = report.fetched_bytes,
            "yum mirror synced"
        );
    } else {
        tracing::warn!(
            repo,
            "a sync that started later published first; this one's result is dropped"
        );
    }
    Ok(report)
}

/// Whether publishing `files` would serve what `current` serves.
fn same_snapshot(
    current: &BTreeMap<String, SyncedFile>,
    files: &BTreeMap<String, SyncedFile>,
    keep_dropped: bool,
) -> bool {
    files.iter().all(|(path, f)| current.get(path) == Some(f))
        && current.keys().all(|path| {
            files.contains_key(path) || (keep_dropped && !path.starts_with("repodata/"))
        })
}

fn upstream(e: airlock_core::upstream::UpstreamError) -> YumError {
    YumError::Upstream(e.to_string())
}

/// Packages by href, once each; the same href listed with two checksums is
/// upstream metadata that cannot be served consistently.
fn unique_by_href(packages: Vec<UpstreamPackage>) -> Result<Vec<UpstreamPackage>, YumError> {
    let mut seen: BTreeMap<String, UpstreamPackage> = BTreeMap::new();
    for p in packages {
        if let Some(other) = seen.get(&p.href) {
            if other.checksum != p.checksum {
                return Err(YumError::Upstream(format!(
                    "primary lists {} twice with different checksums",
                    p.href
                )));
            }
            continue;
        }
        seen.insert(p.href.clone(), p);
    }
    Ok(seen.into_values().collect())
}

/// The stored blob with this checksum and size, if any. A sha256 checksum is
/// the store's own address (any repository's blob will do); another
/// algorithm's can only be checked against the bytes, so the blob this
/// repository already holds at `href` (in any of its snapshots, the
/// unpublished one included) is hashed with it.
async fn stored(
    yum: &Yum,
    repo: &str,
    href: &str,
    checksum: &Checksum,
    size: u64,
) -> Result<Option<Digest>, YumError> {
    let digest = match checksum.as_store_digest() {
        Some(digest) => digest,
        None => match index::repo_file_blob(&yum.db, repo, href, size).await? {
            Some(digest) => {
                let algorithm = checksum.algorithm;
                let actual = read_blob(yum, &digest, move |bytes| {
                    let mut hasher = algorithm.hasher();
                    let mut buf = vec![0u8; 256 << 10];
                    loop {
                        let n = bytes.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        hasher.update(&buf[..n]);
                    }
                    Ok(hasher.finish_hex())
                })
                .await;
                match actual {
                    Ok(hex) if hex == checksum.hex => digest,
                    _ => return Ok(None),
                }
            }
            None => return Ok(None),
        },
    };
    if yum.db.blob_size(&digest).await? != Some(size) {
        return Ok(None);
    }
    // The row says durable; the file must still be there (fsck --repair may
    // have dropped a corrupt one since).
    Ok((yum.store.size(&digest).await? == Some(size)).then_some(digest))
}

/// A metadata file: reused when stored, else fetched, checked, committed
/// and recorded in the unpublished snapshot.
async fn fetch_or_reuse(
    yum: &Yum,
    repo: &str,
    base: &Url,
    href: &str,
    checksum: &Checksum,
    size: Option<u64>,
    pending: i64,
) -> Result<(SyncedFile, bool), YumError> {
    if let Some(size) = size {
        if let Some(digest) = stored(yum, repo, href, checksum, size).await? {
            let file = SyncedFile {
                digest,
                size,
                modified_at: airlock_core::unix_now(),
            };
            index::record_files(&yum.db, pending, &[(href.to_owned(), file.clone())]).await?;
            return Ok((file, false));
        }
    }
    let (staged, modified_at) = fetch_verified(yum, &file_url(base, href)?, checksum, size).await?;
    let file = SyncedFile {
        digest: staged.digest.clone(),
        size: staged.size,
        modified_at,
    };
    yum.store.commit(staged).await?;
    index::record_files(&yum.db, pending, &[(href.to_owned(), file.clone())]).await?;
    Ok((file, true))
}

/// The most a file whose metadata declares no size may hold (only a repodata
/// record may leave `<size>` out): 1 GiB, beyond the largest filelists.
const UNDECLARED_SIZE_LIMIT: u64 = 1 << 30;

/// Fetches `url` into staging, checking its size (when declared) and its
/// declared checksum as it streams. Returns the staged blob and its
/// Last-Modified (now when upstream sends none). Any fault leaves nothing.
pub async fn fetch_verified(
    yum: &Yum,
    url: &Url,
    expected: &Checksum,
    size: Option<u64>,
) -> Result<(StagedBlob, i64), YumError> {
    let shown = redact(url);
    let mut body = yum.upstream.get(url.as_str()).await.map_err(upstream)?;
    if let (Some(declared), Some(sent)) = (size, body.content_length) {
        if declared != sent {
            return Err(YumError::Upstream(format!(
                "{shown}: upstream sends {sent} bytes, its metadata declares {declared}"
            )));
        }
    }
    let modified_at = last_modified(body.headers()).unwrap_or_else(airlock_core::unix_now);
    // A metadata record may leave its size out; an endless body still ends.
    let mut writer = yum
        .staging
        .writer(Some(size.unwrap_or(UNDECLARED_SIZE_LIMIT)))
        .await?;
    let mut other = (expected.algorithm != Algorithm::Sha256).then(|| expected.algorithm.hasher());
    let too_large = |e: StoreError| match e {
        StoreError::TooLarge { limit } if size.is_some() => YumError::Upstream(format!(
            "{shown}: more than the {limit} bytes its metadata declares"
        )),
        StoreError::TooLarge { limit } => YumError::Upstream(format!(
            "{shown}: more than {limit} bytes, and its metadata declares no size"
        )),
        e => e.into(),
    };
    while let Some(chunk) = body.chunk().await.map_err(upstream)? {
        if let Some(h) = other.as_mut() {
            h.update(&chunk);
        }
        writer.write(chunk).await.map_err(too_large)?;
    }
    let staged = writer
        .finish(expected.as_store_digest().as_ref())
        .await
        .map_err(|e| match e {
            StoreError::DigestMismatch { expected, actual } => YumError::Upstream(format!(
                "{shown}: checksum mismatch: its metadata declares {expected}, the bytes are {actual}; nothing stored"
            )),
            e => e.into(),
        })?;
    if let Some(size) = size {
        if staged.size != size {
            return Err(YumError::Upstream(format!(
                "{shown}: {} bytes, its metadata declares {size}; nothing stored",
                staged.size
            )));
        }
    }
    if let Some(h) = other {
        let actual = h.finish_hex();
        if actual != expected.hex {
            return Err(YumError::Upstream(format!(
                "{shown}: checksum mismatch: its metadata declares {expected}, the bytes are {actual}; nothing stored"
            )));
        }
    }
    Ok((staged, modified_at))
}

/// `Last-Modified` as unix seconds.
fn last_modified(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let value = headers.get(reqwest::header::LAST_MODIFIED)?.to_str().ok()?;
    let date: actix_web::http::header::HttpDate = value.parse().ok()?;
    std::time::SystemTime::from(date)
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// Fetches packages several at once, committing and recording them in
/// batches. On the first failure the rest stop; what was stored stays
/// recorded in the unpublished snapshot, for the next run.
async fn fetch_packages(
    yum: &Arc<Yum>,
    base: &Url,
    packages: Vec<UpstreamPackage>,
    pending: i64,
    on: &(dyn Fn(SyncEvent<'_>) + Send + Sync),
) -> Result<Vec<(String, SyncedFile)>, YumError> {
    let mut fetches = futures_util::stream::iter(packages)
        .map(|package| {
            let (yum, base) = (Arc::clone(yum), base.clone());
            tokio::spawn(async move {
                let url = file_url(&base, &package.href)?;
                let (staged, modified_at) =
                    fetch_verified(&yum, &url, &package.checksum, Some(package.size)).await?;
                Ok::<_, YumError>((package.href, staged, modified_at))
            })
        })
        .buffer_unordered(yum.sync_concurrency);
    let mut done = Vec::new();
    let mut batch: Vec<(String, StagedBlob, i64)> = Vec::new();
    let mut batch_bytes = 0;
    // When the batch's first package arrived: it is committed BATCH_AGE
    // later at the latest, even while a slow package keeps the others waiting.
    let mut oldest: Option<tokio::time::Instant> = None;
    let mut failure = None;
    loop {
        let next = match oldest {
            Some(since) => tokio::select! {
                next = fetches.next() => next,
                () = tokio::time::sleep_until(since + BATCH_AGE) => {
                    done.extend(commit_batch(yum, std::mem::take(&mut batch), pending).await?);
                    (batch_bytes, oldest) = (0, None);
                    continue;
                }
            },
            None => fetches.next().await,
        };
        let Some(joined) = next else {
            break;
        };
        let fetched = joined
            .map_err(|e| YumError::Internal(format!("a fetch task failed: {e}")))
            .and_then(|r| r);
        match fetched {
            Ok((href, staged, modified_at)) => {
                on(SyncEvent::Package {
                    href: &href,
                    size: staged.size,
                    fetched: true,
                });
                batch_bytes += staged.size;
                batch.push((href, staged, modified_at));
                let since = *oldest.get_or_insert_with(tokio::time::Instant::now);
                if batch.len() >= BATCH_FILES
                    || batch_bytes >= BATCH_BYTES
                    || since.elapsed() >= BATCH_AGE
                {
                    done.extend(commit_batch(yum, std::mem::take(&mut batch), pending).await?);
                    (batch_bytes, oldest) = (0, None);
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(fetches); // stops the fetches still running; their staged files go
    done.extend(commit_batch(yum, batch, pending).await?);
    match failure {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// Makes staged packages durable and records them in the unpublished snapshot.
async fn commit_batch(
    yum: &Yum,
    batch: Vec<(String, StagedBlob, i64)>,
    pending: i64,
) -> Result<Vec<(String, SyncedFile)>, YumError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut files = Vec::with_capacity(batch.len());
    let mut staged = Vec::with_capacity(batch.len());
    for (href, blob, modified_at) in batch {
        files.push((
            href,
            SyncedFile {
                digest: blob.digest.clone(),
                size: blob.size,
                modified_at,
            },
        ));
        staged.push(blob);
    }
    yum.store.commit_batch(staged).await?;
    index::record_files(&yum.db, pending, &files).await?;
    Ok(files)
}

/// The packages a stored primary lists, its decompressed size and checksum
/// checked against the record's `open-size`/`open-checksum`.
async fn read_primary(
    yum: &Yum,
    digest: &Digest,
    record: &repomd::Record,
) -> Result<Vec<UpstreamPackage>, YumError> {
    let record = record.clone();
    read_blob(yum, digest, move |raw| {
        let decoded = primary::decompressor(&record.href, raw)?;
        let hasher = record.open_checksum.as_ref().map(|c| c.algorithm.hasher());
        let mut counted = primary::Counted::new(decoded, hasher).limited(record.open_size);
        let packages = primary::read_packages(&mut counted)?;
        // Whatever follows the document still counts for open-size.
        io::copy(&mut counted, &mut io::sink())?;
        let (open_size, open_hex) = counted.finish();
        check_open(&record, open_size, open_hex.as_deref())?;
        Ok(packages)
    })
    .await
}

/// Checks a decompressed metadata file against its record's open-* fields.
pub fn check_open(record: &repomd::Record, size: u64, hex: Option<&str>) -> io::Result<()> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if let Some(declared) = record.open_size {
        if declared != size {
            return Err(bad(format!(
                "{}: {size} bytes decompressed, repomd.xml declares {declared}",
                record.href
            )));
        }
    }
    if let (Some(declared), Some(actual)) = (&record.open_checksum, hex) {
        if declared.hex != actual {
            return Err(bad(format!(
                "{}: decompressed checksum {actual}, repomd.xml declares {}",
                record.href, declared.hex
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_become_upstream_urls() {
        let base = base_url("https://u:p@mirror.example/rocky/10/BaseOS/x86_64/os").expect("url");
        let url = file_url(&base, "Packages/a/a b#1%.rpm").expect("join");
        assert_eq!(
            url.as_str(),
            "https://u:p@mirror.example/rocky/10/BaseOS/x86_64/os/Packages/a/a%20b%231%25.rpm"
        );
        assert_eq!(
            file_url(&base, "Packages/l/libstdc++-1^2~3.rpm")
                .expect("join")
                .path(),
            "/rocky/10/BaseOS/x86_64/os/Packages/l/libstdc++-1^2~3.rpm"
        );
        assert!(base_url("ftp://x/").is_err());
        assert!(base_url("not a url").is_err());
        // Never another scheme, host or directory, whatever the href.
        for href in [
            "file:/etc/os-release",
            "https:elsewhere.example/x.rpm",
            "http:/rocky/x.rpm",
            "a:b/c.rpm",
        ] {
            let url = file_url(&base, href).expect("join");
            assert!(
                url.as_str()
                    .starts_with("https://u:p@mirror.example/rocky/10/BaseOS/x86_64/os/"),
                "{href}: {url}"
            );
        }
        assert!(file_url(&base, "%2e%2e/x.rpm")
            .expect("join")
            .path()
            .starts_with("/rocky/10/BaseOS/x86_64/os/"));
    }

    #[test]
    fn an_unchanged_file_set_is_not_republished() {
        let file = |b: u8| SyncedFile {
            digest: Digest::from_sha256_bytes(&[b; 32]),
            size: 1,
            modified_at: 0,
        };
        let current: BTreeMap<String, SyncedFile> = [
            ("repodata/repomd.xml".to_owned(), file(1)),
            ("old.rpm".to_owned(), file(2)),
        ]
        .into();
        let new: BTreeMap<String, SyncedFile> =
            [("repodata/repomd.xml".to_owned(), file(1))].into();
        assert!(same_snapshot(&current, &new, true));
        assert!(!same_snapshot(&current, &new, false));
        let changed: BTreeMap<String, SyncedFile> =
            [("repodata/repomd.xml".to_owned(), file(3))].into();
        assert!(!same_snapshot(&current, &changed, true));
    }
}
