//! Mirror indexes: pull-through of an upstream simple index.
//!
//! - A project page is fetched on demand ([`refresh`]), JSON preferred, and its
//!   files recorded as rows without bytes (`blob_digest` NULL, `remote_url`
//!   set). It is fresh for the index's TTL, then revalidated with
//!   `If-None-Match`. When the upstream fails, the page last fetched is served
//!   and the log says so; an upstream 404 is a 404.
//! - A file is fetched on its first request ([`fetch_file`]), one upstream
//!   fetch per file however many clients ask: the fetch is received into a
//!   staged file in the background, and every request while it arrives follows
//!   that file ([`airlock_core::follow::shared`]), all but the last bytes as
//!   they land. The tail is released once the sha256 the upstream's page gave
//!   matches: on a mismatch or a cut transfer, nothing is stored and every
//!   follower's connection is cut. A wheel's `METADATA` is extracted then, for
//!   PEP 658.
//! - Offline, nothing is fetched: pages list only stored files.

use crate::error::PypiError;
use crate::index::{self, StoredBlob};
use crate::{dist, name, upstream_page, IndexSettings, Pypi};
use airlock_core::follow::{self, Shared};
use airlock_core::store::{BlobBody, BlobStore as _, StoreError};
use airlock_core::upstream::{UpstreamBody, UpstreamError, UpstreamRequest};
use airlock_core::{Digest, Mode};
use reqwest::Url;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of a followed file held back until its sha256 is checked.
const HELD_BACK: u64 = 64 << 10;

/// How long a page fetch may take when a stored page can answer instead: a
/// slow upstream must not hold every client for the whole fetch deadline.
const STALE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// The largest upstream project page read.
const PAGE_LIMIT: u64 = 64 << 20;

/// Brings the mirror's page of `project` up to date when it is older than the
/// TTL (online only). Faults with a page stored are logged and the stored page
/// stays; without one they are an error.
pub async fn refresh(pypi: &Pypi, index: &IndexSettings, project: &str) -> Result<(), PypiError> {
    if pypi.mode == Mode::Offline {
        return Ok(());
    }
    let fresh = |state: &Option<(i64, Option<String>)>| {
        state.as_ref().is_some_and(|(at, _)| {
            airlock_core::unix_now().saturating_sub(*at) < pypi.mirror_ttl.as_secs() as i64
        })
    };
    if fresh(&index::mirror_page_state(&pypi.db, &index.name, project).await?) {
        return Ok(());
    }
    let _fetching = pypi
        .inflight
        .lock(&format!("pypi-page:{}/{project}", index.name))
        .await;
    let state = index::mirror_page_state(&pypi.db, &index.name, project).await?;
    if fresh(&state) {
        return Ok(()); // fetched by the request we waited for
    }
    let base = upstream_url(index)?;
    let page_url = base
        .join(&format!("{project}/"))
        .map_err(|e| PypiError::Internal(format!("upstream page URL: {e}")))?;
    let etag = state.as_ref().and_then(|(_, etag)| etag.clone());
    let shown = airlock_core::upstream::redact(&page_url);
    let fetched = async {
        // None: the upstream still has the page we have (304).
        let Some(body) = conditional_get(pypi, &page_url, etag.as_deref()).await? else {
            return Ok(None);
        };
        let text = |name| {
            body.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = text(reqwest::header::CONTENT_TYPE);
        let new_etag = text(reqwest::header::ETAG);
        let bytes = body.bytes(PAGE_LIMIT).await?;
        Ok::<_, UpstreamError>(Some((content_type, new_etag, bytes)))
    };
    let fetched = if state.is_some() {
        match tokio::time::timeout(STALE_PATIENCE, fetched).await {
            Ok(fetched) => fetched,
            Err(_) => Err(UpstreamError::Timeout {
                url: shown.clone(),
                secs: STALE_PATIENCE.as_secs(),
            }),
        }
    } else {
        fetched.await
    };
    match fetched {
        Ok(None) => {
            index::touch_mirror_page(&pypi.db, &index.name, project).await?;
            tracing::debug!(index = %index.name, project, "pypi upstream page unchanged");
        }
        Ok(Some((content_type, new_etag, bytes))) => {
            let files = upstream_page::parse(project, &page_url, content_type.as_deref(), &bytes)
                .map_err(|e| upstream_fault(state.is_some(), &shown, &e))?;
            index::record_mirror_page(
                &pypi.db,
                &index.name,
                project,
                &files,
                new_etag.as_deref(),
                &shown,
            )
            .await?;
            tracing::info!(index = %index.name, project, files = files.len(), "pypi upstream page fetched");
        }
        Err(e) if e.is_not_found() => {
            index::forget_mirror_page(&pypi.db, &index.name, project).await?;
        }
        Err(e) => {
            upstream_fault(state.is_some(), &shown, &e.to_string());
            if state.is_none() {
                return Err(PypiError::Upstream(e.to_string()));
            }
        }
    }
    Ok(())
}

/// A GET of an upstream page or list, JSON preferred, revalidating `etag`:
/// `None` when the upstream answers 304.
async fn conditional_get(
    pypi: &Pypi,
    url: &Url,
    etag: Option<&str>,
) -> Result<Option<UpstreamBody>, UpstreamError> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static(upstream_page::ACCEPT),
    );
    if let Some(value) = etag.and_then(|e| reqwest::header::HeaderValue::from_str(e).ok()) {
        headers.insert(reqwest::header::IF_NONE_MATCH, value);
    }
    let request = UpstreamRequest {
        url: url.as_str(),
        head: false,
        headers,
    };
    match pypi.upstream.send(&request).await {
        Err(UpstreamError::Status { status: 304, .. }) => Ok(None),
        other => other.map(Some),
    }
}

/// The largest upstream project list stored (PyPI's is about 30 MB).
const ROOT_LIST_LIMIT: u64 = 1 << 30;

/// Brings mirror `index`'s copy of its upstream's project list up to date
/// when it is older than the TTL (online only), and returns the stored copy.
/// Upstream faults are logged and the stored copy (or none) stays.
pub async fn refresh_root(
    pypi: &Pypi,
    index: &IndexSettings,
) -> Result<Option<index::RootList>, PypiError> {
    let stored = index::root_list(&pypi.db, &index.name).await?;
    let fresh = |list: &Option<index::RootList>| {
        list.as_ref().is_some_and(|l| {
            airlock_core::unix_now().saturating_sub(l.fetched_at) < pypi.mirror_ttl.as_secs() as i64
        })
    };
    if pypi.mode == Mode::Offline || fresh(&stored) {
        return Ok(stored);
    }
    let _fetching = pypi
        .inflight
        .lock(&format!("pypi-root:{}", index.name))
        .await;
    let stored = index::root_list(&pypi.db, &index.name).await?;
    if fresh(&stored) {
        return Ok(stored); // fetched by the request we waited for
    }
    let url = upstream_url(index)?;
    let shown = airlock_core::upstream::redact(&url);
    let etag = stored.as_ref().and_then(|l| l.etag.clone());
    // The headers must come soon when a stored copy can answer instead; the
    // body (tens of MB for PyPI) then has the whole fetch deadline.
    let asked = conditional_get(pypi, &url, etag.as_deref());
    let answer = match stored {
        Some(_) => tokio::time::timeout(STALE_PATIENCE, asked)
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Timeout {
                    url: shown.clone(),
                    secs: STALE_PATIENCE.as_secs(),
                })
            }),
        None => asked.await,
    };
    let fetched = match answer {
        Ok(None) => {
            index::touch_root_list(&pypi.db, &index.name).await?;
            return index::root_list(&pypi.db, &index.name)
                .await
                .map_err(Into::into);
        }
        Ok(Some(body)) => receive_root_list(pypi, &index.name, body).await,
        Err(e) => Err(e.to_string()),
    };
    match fetched {
        Ok(()) => {
            tracing::info!(index = %index.name, "pypi upstream project list fetched");
            Ok(index::root_list(&pypi.db, &index.name).await?)
        }
        Err(error) => {
            let stale = stored.is_some();
            tracing::warn!(url = %shown, error, stale, "pypi upstream project list unavailable; serving the stored list or the projects held");
            Ok(stored)
        }
    }
}

/// Streams an upstream project list into the store and records it.
async fn receive_root_list(pypi: &Pypi, index: &str, mut body: UpstreamBody) -> Result<(), String> {
    let content_type = body
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/html")
        .to_owned();
    let mut writer = pypi
        .staging
        .writer(Some(ROOT_LIST_LIMIT))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(chunk) = body.chunk().await.map_err(|e| e.to_string())? {
        writer.write(chunk).await.map_err(|e| e.to_string())?;
    }
    let staged = writer.finish(None).await.map_err(|e| e.to_string())?;
    let blob = StoredBlob {
        digest: staged.digest.clone(),
        size: staged.size,
    };
    let etag = body
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    pypi.store.commit(staged).await.map_err(|e| e.to_string())?;
    index::record_root_list(&pypi.db, index, &blob, &content_type, etag.as_deref())
        .await
        .map_err(|e| e.to_string())
}

/// Logs a failed page fetch (saying whether the stored page is served) and
/// returns the error for the case without one.
fn upstream_fault(stale_served: bool, url: &str, error: &str) -> PypiError {
    if stale_served {
        tracing::warn!(
            url,
            error,
            "pypi upstream page unavailable; serving the stored page"
        );
    } else {
        tracing::warn!(url, error, "pypi upstream page unavailable");
    }
    PypiError::Upstream(error.to_owned())
}

/// The mirror's upstream simple index URL, with a trailing slash.
fn upstream_url(index: &IndexSettings) -> Result<Url, PypiError> {
    let raw = index.upstream.as_deref().unwrap_or(crate::DEFAULT_UPSTREAM);
    let with_slash = if raw.ends_with('/') {
        raw.to_owned()
    } else {
        format!("{raw}/")
    };
    Url::parse(&with_slash).map_err(|_| PypiError::Internal("bad upstream URL".into()))
}

/// `url` with the upstream's credentials when it is on the upstream's origin:
/// scheme, host and port (stored URLs never hold credentials). The scheme
/// counts: an `http://` link on an `https://` upstream's host must not get
/// them in clear text.
fn with_credentials(index: &IndexSettings, url: &str) -> Result<String, PypiError> {
    let mut url = Url::parse(url).map_err(|_| PypiError::Internal("bad stored file URL".into()))?;
    let base = upstream_url(index)?;
    let same_origin = url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default();
    if !base.username().is_empty() && same_origin {
        let _ = url.set_username(base.username());
        let _ = url.set_password(base.password());
    }
    Ok(url.into())
}

/// A mirror's file that [`fetch_file`] found or started.
pub enum MirrorFile {
    /// Stored (meanwhile): serve it from the store.
    Stored(StoredBlob),
    /// Arriving from the upstream: this body follows it.
    Arriving(BlobBody),
}

/// A file being fetched, which requests follow.
#[derive(Clone, Debug)]
pub struct Arrival {
    shared: Shared,
}

/// The files of mirrors being fetched, by [`file_key`]: while one is here,
/// every request for it follows the one upstream fetch.
#[derive(Debug, Default)]
pub struct Arriving(Mutex<HashMap<String, Arrival>>);

impl Arriving {
    fn get(&self, key: &str) -> Option<Arrival> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    }

    fn set(&self, key: &str, arrival: Option<Arrival>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match arrival {
            Some(arrival) => map.insert(key.to_owned(), arrival),
            None => map.remove(key),
        };
    }
}

fn file_key(index: &IndexSettings, filename: &str) -> String {
    format!("pypi-file:{}/{filename}", index.name)
}

/// A listed file of a mirror that is not stored: followed while another
/// request fetches it, or fetched now (one upstream fetch however many
/// clients ask). The fetch goes on in the background when its client leaves;
/// its body is checked against the upstream's sha256, and a mismatch or a cut
/// transfer stores nothing and ends every follower's body with an error.
/// `None` when the file is not listed, the index is offline, or it was stored
/// meanwhile and its row is read by the caller.
pub async fn fetch_file(
    pypi: &Arc<Pypi>,
    index: &IndexSettings,
    filename: &str,
) -> Result<Option<MirrorFile>, PypiError> {
    if pypi.mode == Mode::Offline {
        return Ok(None);
    }
    let key = file_key(index, filename);
    if let Some(file) = join(pypi, &key) {
        return Ok(Some(file));
    }
    if index::remote_file(&pypi.db, &index.name, filename)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let turn = pypi.inflight.lock(&key).await;
    if let Some(file) = join(pypi, &key) {
        return Ok(Some(file)); // started while this request waited
    }
    // Re-read: a fetch that ended while this request waited stored it (or failed).
    let Some(remote) = index::remote_file(&pypi.db, &index.name, filename).await? else {
        return Ok(None);
    };
    let expected: Digest = format!("sha256:{}", remote.sha256)
        .parse()
        .map_err(|_| PypiError::Internal("bad stored sha256".into()))?;
    let body = pypi
        .upstream
        .get(&with_credentials(index, &remote.url)?)
        .await
        .map_err(|e| {
            tracing::warn!(index = %index.name, filename, error = %e, "pypi upstream file unavailable");
            if e.is_not_found() {
                PypiError::NotFound(format!("the upstream has no file {filename:?}"))
            } else {
                PypiError::Upstream(e.to_string())
            }
        })?;
    // The largest file an index takes, from an upstream too: without a cap a
    // hostile upstream streams until the disk is full.
    if let Some(len) = body.content_length.filter(|&len| len > pypi.max_upload) {
        return Err(PypiError::Upstream(format!(
            "{filename}: the upstream announces {len} bytes, over max_upload_bytes ({})",
            pypi.max_upload
        )));
    }
    let writer = pypi.staging.writer(Some(pypi.max_upload)).await?;
    let Some(len) = body.content_length else {
        // No length to promise a follower: receive it whole (under the lock),
        // then serve it from the store.
        let staged = receive(body, writer, &expected).await.map_err(|e| {
            tracing::error!(index = %index.name, filename, error = %e, "pypi upstream file refused; nothing stored");
            PypiError::Upstream(format!("{filename}: {e}"))
        })?;
        let blob = store_fetched(pypi, index, filename, staged).await?;
        return Ok(Some(MirrorFile::Stored(blob)));
    };
    let (verdict, shared) = follow::shared(writer.path()?, len, HELD_BACK, writer.in_file())?;
    let served = shared.follow();
    // From here on the map is the single flight: later requests follow this
    // fetch instead of waiting for the lock until the file is stored.
    let arrival = Arrival { shared };
    let storing = pypi.inflight.lock(&storing_key(&key)).await;
    pypi.arriving.set(&key, Some(arrival));
    drop(turn);
    let (pypi, index, filename) = (Arc::clone(pypi), index.clone(), filename.to_owned());
    let background = pypi.background.clone();
    background.spawn(async move {
        let _storing = storing;
        let mut verdict = Some(verdict);
        let result = async {
            let staged = receive(body, writer, &expected).await?;
            if staged.size != len {
                return Err(format!("{} bytes received, {len} announced", staged.size));
            }
            // Followers get the held-back tail now, not after the fsync.
            if let Some(verdict) = verdict.take() {
                verdict.verified();
            }
            store_fetched(&pypi, &index, &filename, staged).await.map_err(|e| e.to_string())
        }
        .await;
        // Logged first, so the line is there when the followers see the
        // failure. Stored and recorded, or failed: new requests read the
        // index (and fetch again); then the followers of a failed fetch are cut.
        if let Err(error) = result {
            tracing::error!(index = %index.name, filename, error, "pypi upstream file refused; nothing stored");
        }
        pypi.arriving.set(&key, None);
        drop(verdict);
    });
    Ok(Some(MirrorFile::Arriving(served)))
}

/// Follows a file another request is fetching, if one is. The fetch stays
/// followable until its row is written (or it failed).
fn join(pypi: &Pypi, key: &str) -> Option<MirrorFile> {
    let arrival = pypi.arriving.get(key)?;
    Some(MirrorFile::Arriving(arrival.shared.follow()))
}

/// Receives an upstream body into `writer` and checks its sha256.
async fn receive(
    mut body: airlock_core::upstream::UpstreamBody,
    mut writer: airlock_core::store::BlobWriter,
    expected: &Digest,
) -> Result<airlock_core::store::StagedBlob, String> {
    while let Some(chunk) = body.chunk().await.map_err(|e| e.to_string())? {
        writer.write(chunk).await.map_err(|e| e.to_string())?;
    }
    writer.finish(Some(expected)).await.map_err(|e| match e {
        StoreError::DigestMismatch { actual, .. } => format!(
            "{}: the file hashes to {actual}, not the upstream's {expected}",
            body.url()
        ),
        e => e.to_string(),
    })
}

/// The lock a fetch's background task holds until its file is recorded (or failed).
fn storing_key(key: &str) -> String {
    format!("{key} storing")
}

/// Waits until the fetch of a mirror's file that [`fetch_file`] started or
/// joined has recorded it (or failed); `airlock sync` reads the row then.
pub async fn wait_for_file(pypi: &Pypi, index: &IndexSettings, filename: &str) {
    drop(
        pypi.inflight
            .lock(&storing_key(&file_key(index, filename)))
            .await,
    );
}

/// The `.metadata` (PEP 658) of a mirror's file, fetched from the upstream on
/// demand when its page offered one (the wheel itself need not be fetched):
/// checked against the hash the page gave (without one: it must name the
/// file's project and version), stored, recorded. `None` offline, or when the
/// upstream offered none.
pub async fn fetch_metadata(
    pypi: &Pypi,
    index: &IndexSettings,
    filename: &str,
) -> Result<Option<StoredBlob>, PypiError> {
    if pypi.mode == Mode::Offline {
        return Ok(None);
    }
    let _turn = pypi
        .inflight
        .lock(&format!("pypi-metadata:{}/{filename}", index.name))
        .await;
    // Fetched by the request this one waited for, or extracted from the wheel.
    if let Some(stored) = index::file_blob(&pypi.db, &index.name, filename, true).await? {
        return Ok(Some(stored));
    }
    let Some(remote) = index::remote_metadata(&pypi.db, &index.name, filename).await? else {
        return Ok(None);
    };
    let mut url = Url::parse(&with_credentials(index, &remote.file_url)?)
        .map_err(|_| PypiError::Internal("bad stored file URL".into()))?;
    url.set_path(&format!("{}.metadata", url.path()));
    let refused = |error: String| {
        tracing::warn!(index = %index.name, filename, error, "pypi upstream metadata refused; nothing stored");
        PypiError::Upstream(format!("{filename}.metadata: {error}"))
    };
    let body = pypi.upstream.get(url.as_str()).await.map_err(|e| {
        if e.is_not_found() {
            PypiError::NotFound(format!("the upstream has no {filename}.metadata"))
        } else {
            refused(e.to_string())
        }
    })?;
    let bytes = body
        .bytes(dist::METADATA_LIMIT)
        .await
        .map_err(|e| refused(e.to_string()))?;
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if remote.sha256.is_empty() {
        let parsed = name::parse_filename(filename).map_err(|e| refused(e.0))?;
        dist::check_metadata(&bytes, &parsed).map_err(|e| refused(e.0))?;
    } else if actual != remote.sha256 {
        return Err(refused(format!(
            "it hashes to sha256:{actual}, not the upstream's sha256:{}",
            remote.sha256
        )));
    }
    let size = bytes.len() as u64;
    let digest = pypi.store.put_bytes(&pypi.staging, bytes.into()).await?;
    let blob = StoredBlob { digest, size };
    index::record_metadata(&pypi.db, &index.name, filename, &blob).await?;
    tracing::info!(index = %index.name, filename, size, "pypi upstream metadata stored");
    Ok(Some(blob))
}

/// Extracts a wheel's METADATA (a file that does not read as its kind is kept
/// without one: its bytes are the upstream's, checked by sha256), commits the
/// blobs, then records them.
async fn store_fetched(
    pypi: &Pypi,
    index: &IndexSettings,
    filename: &str,
    staged: airlock_core::store::StagedBlob,
) -> Result<StoredBlob, PypiError> {
    let info = match name::parse_filename(filename) {
        Ok(parsed) => {
            let path = staged.path().to_owned();
            tokio::task::spawn_blocking(move || dist::check(&path, &parsed))
                .await
                .map_err(|e| PypiError::Internal(e.to_string()))?
                .unwrap_or_else(|e| {
                    tracing::warn!(index = %index.name, filename, error = %e, "mirrored file without readable metadata");
                    dist::DistInfo::default()
                })
        }
        Err(_) => dist::DistInfo::default(),
    };
    let metadata = match info.metadata {
        Some(bytes) => {
            let size = bytes.len() as u64;
            let digest = pypi.store.put_bytes(&pypi.staging, bytes.into()).await?;
            Some(StoredBlob { digest, size })
        }
        None => None,
    };
    let blob = StoredBlob {
        digest: staged.digest.clone(),
        size: staged.size,
    };
    pypi.store.commit(staged).await?;
    index::record_fetched(
        &pypi.db,
        &index.name,
        filename,
        &blob,
        metadata.as_ref(),
        info.requires_python.as_deref(),
    )
    .await?;
    tracing::info!(index = %index.name, filename, size = blob.size, "pypi mirrored file stored");
    Ok(blob)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_the_upstreams_host() {
        let index = IndexSettings {
            name: "root/pypi".into(),
            kind: crate::IndexKind::Mirror,
            upstream: Some("https://u:p%40ss@pkgs.example.com/simple".into()),
            bases: vec![],
            mirror_whitelist: vec![],
        };
        assert_eq!(
            with_credentials(&index, "https://pkgs.example.com/files/a.whl").expect("url"),
            "https://u:p%40ss@pkgs.example.com/files/a.whl"
        );
        assert_eq!(
            with_credentials(&index, "https://files.example.net/a.whl").expect("url"),
            "https://files.example.net/a.whl"
        );
        assert_eq!(
            with_credentials(&index, "http://pkgs.example.com/files/a.whl").expect("url"),
            "http://pkgs.example.com/files/a.whl",
            "never in clear text"
        );
        assert_eq!(
            with_credentials(&index, "https://pkgs.example.com:443/files/a.whl").expect("url"),
            "https://u:p%40ss@pkgs.example.com/files/a.whl"
        );
        assert_eq!(
            upstream_url(&index).expect("url").path(),
            "/simple/",
            "a slash is added so project pages join under it"
        );
    }
}
