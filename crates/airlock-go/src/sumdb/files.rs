//! Reading a checksum database's files for a verification: lookups and hash
//! tiles, from memory, the store, or (online) the database itself. What is
//! fetched is returned at once and stored in the background, like a small
//! module file, so no fsync sits on a cold fetch's path; clients asking for it
//! meanwhile get the pending bytes (`GoProxy::sumdb_file`).

use super::tlog::{self, TileRead, Tree, TILE_HEIGHT};
use super::verify::VerifyError;
use crate::error::GoError;
use crate::index;
use crate::proxy::{receive_sumdb_file, sumdb_inflight_key, GoProxy, PROTOCOL};
use airlock_core::Mode;
use bytes::Bytes;
use std::sync::Arc;

impl GoProxy {
    /// Reads stored hashes of `tree` through its tiles, fetched in parallel.
    pub(super) async fn read_hashes(
        &self,
        name: &str,
        tree: Tree,
        indexes: &[u64],
        fetch: bool,
    ) -> Result<Vec<tlog::Hash>, VerifyError> {
        let plan = TileRead::plan(tree, TILE_HEIGHT, indexes)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        let tiles = futures_util::future::try_join_all(
            plan.tiles()
                .iter()
                .map(|tile| self.tile_bytes(name, *tile, fetch)),
        )
        .await?;
        plan.finish(&tiles)
            .map_err(|e| VerifyError::Invalid(format!("{name}: {e}")))
    }

    /// A hash tile; for a partial one missing, the prefix of the complete
    /// tile (as `go` does: the database stops serving partial tiles once full).
    async fn tile_bytes(
        &self,
        name: &str,
        tile: tlog::Tile,
        fetch: bool,
    ) -> Result<Bytes, VerifyError> {
        let path = tile.path();
        if let Some(bytes) = self.sumdb_check.tile(&path) {
            return Ok(bytes);
        }
        let missing = |e| match e {
            VerifyError::NoRecord(m) => VerifyError::Unreachable(m),
            e => e,
        };
        let bytes = match self.sumdb_bytes(name, &path, fetch).await {
            Err(VerifyError::NoRecord(_) | VerifyError::Unreachable(_)) if tile != tile.full() => {
                let full = self
                    .sumdb_bytes(name, &tile.full().path(), fetch)
                    .await
                    .map_err(missing)?;
                let want = tile.width as usize * 32;
                if full.len() < want {
                    return Err(VerifyError::Invalid(format!(
                        "{name}/{}: short tile",
                        tile.full().path()
                    )));
                }
                full.slice(..want)
            }
            other => other.map_err(missing)?,
        };
        self.sumdb_check.keep_tile(path, bytes.clone());
        Ok(bytes)
    }

    /// A checksum-database file's bytes: pending, stored, or (when `fetch`,
    /// online) fetched. A fetched file is returned at once and stored in the
    /// background, off the verification's critical path (like a small module
    /// file: the write-behind turn, then blob, then row); clients asking for
    /// it meanwhile get the pending bytes.
    pub(super) async fn sumdb_bytes(
        &self,
        name: &str,
        path: &str,
        fetch: bool,
    ) -> Result<Bytes, VerifyError> {
        let internal = |e: GoError| VerifyError::Internal(e);
        let stored = || async {
            if let Some(bytes) = self.sumdb_check.pending_file(name, path) {
                return Ok(Some(bytes));
            }
            match index::find_sumdb(&self.db, name, path).await {
                Ok(Some(file)) => self.read_small(&file).await.map(|b| Some(Bytes::from(b))),
                Ok(None) => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        if let Some(bytes) = stored().await.map_err(internal)? {
            return Ok(bytes);
        }
        let upstream = self.sumdbs.iter().find(|s| s.name == name);
        let (true, Mode::Online, Some(upstream)) = (fetch, self.mode, upstream) else {
            return Err(VerifyError::Unreachable(format!(
                "{name}/{path} is not stored"
            )));
        };
        let _guard = self.inflight.lock(&sumdb_inflight_key(name, path)).await;
        if let Some(bytes) = stored().await.map_err(internal)? {
            return Ok(bytes);
        }
        let url = format!("{}/{path}", upstream.url.trim_end_matches('/'));
        let fetched =
            async { receive_sumdb_file(self.upstream.get(&url).await?, path).await }.await;
        let bytes = match fetched {
            Ok(bytes) => bytes,
            Err(e) => {
                self.count_failed_fetch(&e);
                return Err(match e {
                    GoError::NotFound(m) => VerifyError::NoRecord(m),
                    GoError::Upstream(_) | GoError::UpstreamTimeout(_) => {
                        VerifyError::Unreachable(e.to_string())
                    }
                    GoError::BadContent(m) => VerifyError::Invalid(m),
                    e => VerifyError::Internal(e),
                });
            }
        };
        self.metrics.upstream(PROTOCOL, "ok", bytes.len() as u64);
        self.store_sumdb_behind(name, path, bytes.clone());
        Ok(bytes)
    }

    /// Holds a fetched checksum-database file as pending and stores it in the
    /// background; it stays pending until its row exists (or storing failed).
    fn store_sumdb_behind(&self, name: &str, path: &str, bytes: Bytes) {
        let key = format!("{name}/{path}");
        let pending = Arc::clone(&self.sumdb_check.pending);
        pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), bytes.clone());
        let (store, staging, db) = (
            Arc::clone(&self.store),
            Arc::clone(&self.staging),
            self.db.clone(),
        );
        let write_behind = Arc::clone(&self.write_behind);
        let (name, path) = (name.to_owned(), path.to_owned());
        self.tasks.spawn_on(
            async move {
                let size = bytes.len() as u64;
                let _turn = write_behind.turn(size).await;
                let stored = async {
                    let digest = store.put_bytes(&staging, bytes).await?;
                    index::insert_sumdb(&db, &name, &path, &digest, size).await?;
                    Ok::<_, GoError>(())
                }
                .await;
                pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                if let Err(e) = stored {
                    tracing::error!(database = name, path, error = %e, "could not store a fetched checksum-database file");
                }
            },
            &self.background,
        );
    }
}
