//! Mirror indexes: pull-through of an upstream simple index.
//!
//! - A project page is fetched on demand ([`refresh`]), JSON preferred, and its
//!   files recorded as rows without bytes (`blob_digest` NULL, `remote_url`
//!   set). It is fresh for the index's TTL, then revalidated with
//!   `If-None-Match`. When the upstream fails, the page last fetched is served
//!   and the log says so; an upstream 404 is a 404.
//! - A file is fetched on its first request ([`fetch_file`]), one fetch per
//!   file (the others wait on its `Inflight` lock, then find it stored). The
//!   client's body follows the staged file as it arrives and its last bytes are
//!   held back until the sha256 the upstream's page gave matches: on a mismatch
//!   or a cut transfer, nothing is stored and the client's connection is cut.
//!   A wheel's `METADATA` is extracted then, for PEP 658.
//! - Offline, nothing is fetched: pages list only stored files.

use crate::error::PypiError;
use crate::index::{self, StoredBlob};
use crate::{dist, name, upstream_page, IndexSettings, Pypi};
use airlock_core::follow::follow;
use airlock_core::store::{BlobBody, BlobStore as _};
use airlock_core::upstream::{UpstreamError, UpstreamRequest};
use airlock_core::{Digest, Mode};
use reqwest::Url;
use std::sync::Arc;

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
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static(upstream_page::ACCEPT),
    );
    if let Some(value) = etag
        .as_deref()
        .and_then(|e| reqwest::header::HeaderValue::from_str(e).ok())
    {
        headers.insert(reqwest::header::IF_NONE_MATCH, value);
    }
    let shown = airlock_core::upstream::redact(&page_url);
    let request = UpstreamRequest {
        url: page_url.as_str(),
        head: false,
        headers,
    };
    let fetched = async {
        let body = match pypi.upstream.send(&request).await {
            // The upstream still has the page we have: no body to read.
            Err(UpstreamError::Status { status: 304, .. }) => return Ok(None),
            other => other?,
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

/// `url` with the upstream's credentials when it is on the upstream's host
/// (stored URLs never hold credentials).
fn with_credentials(index: &IndexSettings, url: &str) -> Result<String, PypiError> {
    let mut url = Url::parse(url).map_err(|_| PypiError::Internal("bad stored file URL".into()))?;
    let base = upstream_url(index)?;
    if !base.username().is_empty() && url.host_str() == base.host_str() && url.port() == base.port()
    {
        let _ = url.set_username(base.username());
        let _ = url.set_password(base.password());
    }
    Ok(url.into())
}

/// Fetches a listed file of a mirror, stores it, and returns the body to send
/// (following the file as it arrives). `None` when it is not listed, offline,
/// or stored meanwhile (the caller serves it from the store).
pub async fn fetch_file(
    pypi: &Arc<Pypi>,
    index: &IndexSettings,
    filename: &str,
) -> Result<Option<BlobBody>, PypiError> {
    if pypi.mode == Mode::Offline {
        return Ok(None);
    }
    if index::remote_file(&pypi.db, &index.name, filename)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let guard = lock_file(pypi, index, filename).await;
    // Re-read: the fetch we may have waited for stored it (or it failed).
    let Some(remote) = index::remote_file(&pypi.db, &index.name, filename).await? else {
        return Ok(None);
    };
    let expected: Digest = format!("sha256:{}", remote.sha256)
        .parse()
        .map_err(|_| PypiError::Internal("bad stored sha256".into()))?;
    let mut body = pypi
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
    let mut writer = pypi.staging.writer(None).await?;
    let Some(len) = body.content_length else {
        // Unknown length: receive it whole, then serve it from the store.
        while let Some(chunk) = body
            .chunk()
            .await
            .map_err(|e| PypiError::Upstream(e.to_string()))?
        {
            writer.write(chunk).await?;
        }
        let staged = writer.finish(Some(&expected)).await.map_err(|e| {
            tracing::error!(index = %index.name, filename, error = %e, "pypi upstream file refused");
            PypiError::Upstream(format!("{filename}: {e}"))
        })?;
        store_fetched(pypi, index, filename, staged).await?;
        drop(guard);
        return Ok(None);
    };
    let reader = tokio::fs::File::open(writer.path()?)
        .await?
        .into_std()
        .await;
    let (verdict, served) = follow(reader, len, HELD_BACK, writer.in_file());
    let (pypi, index, filename) = (Arc::clone(pypi), index.clone(), filename.to_owned());
    let background = pypi.background.clone();
    pypi.tasks.clone().spawn_on(async move {
        let _guard = guard;
        let received = async {
            while let Some(chunk) = body.chunk().await.map_err(|e| e.to_string())? {
                writer.write(chunk).await.map_err(|e| e.to_string())?;
            }
            writer
                .finish(Some(&expected))
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        match received {
            Ok(staged) => {
                verdict.verified();
                if let Err(e) = store_fetched(&pypi, &index, &filename, staged).await {
                    tracing::error!(index = %index.name, filename, error = %e, "a mirrored pypi file was not stored");
                }
            }
            // Dropping the verdict cuts the client's body.
            Err(e) => {
                tracing::error!(index = %index.name, filename, error = %e, "pypi upstream file refused; nothing stored")
            }
        }
    }, &background);
    Ok(Some(served))
}

/// The single-flight lock of a mirror's file: its fetch holds it until the
/// file is recorded (or has failed).
pub async fn lock_file(
    pypi: &Pypi,
    index: &IndexSettings,
    filename: &str,
) -> tokio::sync::OwnedMutexGuard<()> {
    pypi.inflight
        .lock(&format!("pypi-file:{}/{filename}", index.name))
        .await
}

/// Extracts a wheel's METADATA (a file that does not read as its kind is kept
/// without one: its bytes are the upstream's, checked by sha256), commits the
/// blobs, then records them.
async fn store_fetched(
    pypi: &Pypi,
    index: &IndexSettings,
    filename: &str,
    staged: airlock_core::store::StagedBlob,
) -> Result<(), PypiError> {
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
    Ok(())
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
            upstream_url(&index).expect("url").path(),
            "/simple/",
            "a slash is added so project pages join under it"
        );
    }
}
