//! The registry's state, and the upkeep of upload sessions.

use crate::index::StoredManifest;
use crate::{index, OciSettings};
use airlock_core::inflight::Inflight;
use airlock_core::memo::Memo;
use airlock_core::upload::UploadArea;
use airlock_core::{BlobStore, Db, Staging};
use std::sync::Arc;

/// Everything the registry's handlers use.
pub struct Registry {
    /// The index.
    pub db: Db,
    /// The blob store.
    pub store: Arc<dyn BlobStore>,
    /// This process's staging area (manifests are staged here).
    pub staging: Arc<Staging>,
    /// Upload sessions' bytes, kept across restarts.
    pub uploads: UploadArea,
    /// One request at a time per upload session.
    pub locks: Inflight,
    /// The `[oci]` settings.
    pub settings: OciSettings,
    /// Credentials, tokens and namespace rules.
    pub auth: crate::auth::Auth,
    /// The upstream registries pulled through, and the mode.
    pub mirrors: crate::mirror::Mirrors,
    /// Blob fetches that outlive their request (others follow them, then
    /// they are stored); the server waits for them when it stops.
    pub background: airlock_core::background::Background,
    /// Hosted repositories' answers kept in memory.
    pub kept: Kept,
}

/// Answers about hosted repositories kept in memory (see
/// [`airlock_core::memo`]): what a manifest GET and a tag list would
/// otherwise ask the index on every request. Every manifest or tag write of
/// this process calls [`Kept::changed`] after it commits.
#[derive(Debug)]
pub struct Kept {
    /// (repository, tag or digest) → the manifest.
    pub manifests: Memo<(String, String), StoredManifest>,
    /// (repository, `last`, `n`) → a tag list page: its body and `Link`.
    pub tag_pages: Memo<(String, Option<String>, u32), TagPage>,
}

/// A rendered page of a tag list.
#[derive(Clone, Debug)]
pub struct TagPage {
    /// The JSON body.
    pub body: bytes::Bytes,
    /// The `Link` to the next page, if there is one.
    pub link: Option<String>,
}

/// Manifests kept, at most.
const KEPT_MANIFESTS: usize = 100_000;
/// Bytes of tag list pages kept, at most.
const KEPT_TAG_PAGE_BYTES: usize = 16 << 20;

impl Kept {
    /// Memos of answers read from `db` (which `airlock sync oci` and gc also
    /// write, from other processes).
    pub fn new(db: &Db) -> Self {
        Kept {
            manifests: Memo::watching(db, KEPT_MANIFESTS),
            tag_pages: Memo::watching(db, KEPT_TAG_PAGE_BYTES),
        }
    }

    /// A manifest or tag was written or deleted (call after the commit).
    pub fn changed(&self) {
        self.manifests.invalidate();
        self.tag_pages.invalidate();
    }
}

impl Registry {
    /// Removes upload sessions idle past `upload_expiry`, and upload files that
    /// no session row knows (a crash between creating the file and the row).
    /// Returns how many were removed.
    pub async fn sweep_uploads(&self) -> Result<usize, crate::OciError> {
        let expiry = i64::try_from(self.settings.upload_expiry.as_secs()).unwrap_or(i64::MAX);
        let before = airlock_core::unix_now().saturating_sub(expiry);
        let mut removed = 0;
        for id in index::idle_uploads(&self.db, before).await? {
            let _guard = self.locks.lock(&id).await;
            self.uploads.remove(&id).await?;
            index::delete_upload(&self.db, &id).await?;
            removed += 1;
        }
        for id in self.uploads.ids()? {
            let _guard = self.locks.lock(&id).await;
            if index::find_upload(&self.db, &id).await?.is_none() {
                self.uploads.remove(&id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
