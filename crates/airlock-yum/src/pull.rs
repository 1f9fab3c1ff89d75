//! Online mode: a GET for a package a mirror's snapshot lists but has not
//! stored (`on_demand = true`) is fetched from upstream, streamed to the
//! client while it is stored, and recorded in that snapshot. One fetch per
//! file: other clients wait for it, then find it stored. The client's body
//! follows the staged file and its last bytes are held back until the size
//! and the checksum upstream's primary declares have matched; on a mismatch,
//! a cut transfer or any other fault nothing is stored and the client's
//! download ends short. Offline, nothing is fetched: the file is a 404.

use crate::error::YumError;
use crate::index::{self, StoredFile, SyncedFile};
use crate::sync::{file_url, mirror};
use crate::{RepoKind, Yum};
use airlock_core::follow::follow;
use airlock_core::store::{BlobBody, StoreError};
use airlock_core::upstream::redact;
use airlock_core::Mode;
use std::sync::Arc;

/// Bytes of a followed file held back until its checks pass.
const HELD_BACK: u64 = 64 << 10;

/// What an on-demand fetch gives the request.
pub enum Pulled {
    /// The file is stored (another request fetched it meanwhile).
    Stored(StoredFile),
    /// The file as it arrives, `len` bytes.
    Streaming(BlobBody),
}

/// Fetches `path` of mirror `repo` when its snapshot (or one superseded at or
/// after `superseded_since`) lists it unstored; `None` when it does not,
/// offline, or for a hosted repository.
pub async fn pull(
    yum: &Arc<Yum>,
    repo: &str,
    path: &str,
    superseded_since: i64,
) -> Result<Option<Pulled>, YumError> {
    if yum.mode == Mode::Offline || yum.repo(repo)?.kind != RepoKind::Mirror {
        return Ok(None);
    }
    if index::find_remote(&yum.db, repo, path, superseded_since)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let guard = yum.inflight.lock(&format!("yum-file:{repo}/{path}")).await;
    // The fetch we may have waited for stored it (or failed: then try again).
    if let Some(file) = index::find_file(&yum.db, repo, path, superseded_since).await? {
        return Ok(Some(Pulled::Stored(file)));
    }
    let Some(remote) = index::find_remote(&yum.db, repo, path, superseded_since).await? else {
        return Ok(None);
    };
    let (_, base) = mirror(yum, repo)?;
    let url = file_url(&base, path)?;
    let shown = redact(&url);
    let mut body = yum.upstream.get(url.as_str()).await.map_err(|e| {
        tracing::warn!(repo, path, error = %e, "yum upstream file unavailable");
        if e.is_not_found() {
            YumError::NotFound(format!("the upstream has no {path}"))
        } else {
            YumError::Upstream(e.to_string())
        }
    })?;
    if body.content_length.is_some_and(|len| len != remote.size) {
        return Err(YumError::Upstream(format!(
            "{shown}: upstream sends another size than its metadata declares"
        )));
    }
    let mut writer = yum.staging.writer(Some(remote.size)).await?;
    let reader = tokio::fs::File::open(writer.path()?)
        .await?
        .into_std()
        .await;
    let (verdict, served) = follow(reader, remote.size, HELD_BACK, writer.in_file());
    let (yum2, repo, path) = (Arc::clone(yum), repo.to_owned(), path.to_owned());
    yum.tasks.spawn_on(
        async move {
            let _guard = guard;
            let yum = yum2;
            let received = async {
                let mut other = (remote.checksum.algorithm != crate::checksum::Algorithm::Sha256)
                    .then(|| remote.checksum.algorithm.hasher());
                while let Some(chunk) = body.chunk().await.map_err(|e| e.to_string())? {
                    if let Some(h) = other.as_mut() {
                        h.update(&chunk);
                    }
                    writer.write(chunk).await.map_err(|e| match e {
                        StoreError::TooLarge { .. } => "more bytes than declared".to_owned(),
                        e => e.to_string(),
                    })?;
                }
                let staged = writer
                    .finish(remote.checksum.as_store_digest().as_ref())
                    .await
                    .map_err(|e| e.to_string())?;
                if staged.size != remote.size {
                    return Err(format!("{} bytes, declared {}", staged.size, remote.size));
                }
                if let Some(h) = other {
                    let actual = h.finish_hex();
                    if actual != remote.checksum.hex {
                        return Err(format!(
                            "checksum mismatch: declared {}, got {actual}",
                            remote.checksum
                        ));
                    }
                }
                Ok(staged)
            }
            .await;
            match received {
                Ok(staged) => {
                    verdict.verified();
                    let file = SyncedFile {
                        digest: staged.digest.clone(),
                        size: staged.size,
                        modified_at: airlock_core::unix_now(),
                    };
                    let stored = async {
                        yum.store.commit(staged).await?;
                        index::record_files(&yum.db, remote.snapshot, &[(path.clone(), file)])
                            .await?;
                        Ok::<_, YumError>(())
                    };
                    match stored.await {
                        Ok(()) => tracing::info!(repo, path, size = remote.size, "yum mirror file stored on demand"),
                        Err(e) => tracing::error!(repo, path, error = %e, "a yum mirror file served on demand was not stored"),
                    }
                }
                // Dropping the verdict cuts the client's body.
                Err(e) => tracing::error!(repo, path, url = %shown, error = %e, "yum upstream file refused; nothing stored"),
            }
        },
        &yum.background,
    );
    Ok(Some(Pulled::Streaming(served)))
}
