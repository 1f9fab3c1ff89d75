//! The registry's state, and the upkeep of upload sessions.

use crate::{index, OciSettings};
use airlock_core::inflight::Inflight;
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
