//! Garbage collection: deleting the blobs that no row of any protocol
//! references, safely while a server writes to the same data directory.
//!
//! Protocols first drop their own dead rows (an OCI blob pushed but never
//! referenced by a manifest, an untagged manifest when configured); then
//! [`sweep`] deletes every blob row that no column of any protocol's
//! `BLOB_REFERENCES` names, and its file, and the files that have no row.
//!
//! Why it is safe while writes go on, by the order every writer follows (a
//! blob is made durable, then its `blob` row and the protocol's row go in as
//! one command):
//! - Only blobs older than the grace period are candidates, by their row's
//!   `created_at` and by their file's modification time. A commit that finds
//!   its bytes already stored touches the file, and a fresh commit's file is
//!   new, so a blob some writer is about to reference looks young. Uploads in
//!   progress, write-behind files and staged fetches live in the temp area,
//!   not among the blobs.
//! - The row is deleted by one statement that re-checks every reference, so
//!   a reference that landed after the candidates were listed keeps the blob.
//! - The file goes only after its row: a crash in between leaves an orphan
//!   file, which the next sweep (or `fsck --repair`) deletes.
//!
//! What the grace period cannot cover is a writer that takes longer than it
//! between committing a blob and recording its row: keep it far longer than
//! any single write (the default is an hour).
//!
//! A dry run makes the same row changes inside one transaction that it rolls
//! back ([`Changes::DryRun`]), so it counts what a real run would drop,
//! including the blobs freed by the rows dropped before them; it deletes no
//! file.

use crate::db::{BlobReference, Db, DbError};
use crate::store::{BlobStore, StoreError};
use crate::Digest;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row as _, Sqlite};
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// A statement for [`Changes`].
pub type Statement<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// Where a collection's row changes go.
pub enum Changes<'c> {
    /// To the index, a statement at a time: a server writes in between.
    Live(&'c Db),
    /// Into one transaction, rolled back when dropped: each step sees what
    /// the steps before it dropped. It holds the index's write lock (other
    /// writers wait) until it ends.
    DryRun(sqlx::Transaction<'c, Sqlite>),
}

impl<'c> Changes<'c> {
    /// A dry run on `writer` (the index's writer, held by the caller for as
    /// long as the dry run lasts).
    pub async fn dry_run(writer: &'c mut sqlx::SqliteConnection) -> Result<Self, DbError> {
        Ok(Changes::DryRun(sqlx::Connection::begin(writer).await?))
    }

    /// Whether nothing is to be kept (no row, no file).
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Changes::DryRun(_))
    }

    /// Runs a statement that changes rows; returns how many it changed.
    pub async fn execute(&mut self, statement: Statement<'_>) -> Result<u64, DbError> {
        let done = match self {
            Changes::Live(db) => statement.execute(&mut *db.writer().await).await?,
            Changes::DryRun(tx) => statement.execute(&mut **tx).await?,
        };
        Ok(done.rows_affected())
    }

    /// Reads rows as the changes so far left them.
    pub async fn fetch_all(&mut self, statement: Statement<'_>) -> Result<Vec<SqliteRow>, DbError> {
        match self {
            Changes::Live(db) => statement.fetch_all(&mut *db.reader().await?).await,
            Changes::DryRun(tx) => statement.fetch_all(&mut **tx).await,
        }
    }
}

/// What a sweep found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Blob rows (with their files) deleted: referenced by nothing.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files with no row, older than the grace period, deleted.
    pub orphans: u64,
    /// Their bytes.
    pub orphan_bytes: u64,
    /// Unreferenced blobs left because they are younger than the grace period.
    pub young: u64,
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The index failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The blob store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `NOT EXISTS (…)` for every reference: true when nothing points at `blob.digest`.
fn unreferenced(references: &[BlobReference]) -> String {
    if references.is_empty() {
        return "1 = 1".into();
    }
    references
        .iter()
        .map(|r| {
            format!(
                "NOT EXISTS (SELECT 1 FROM {table} WHERE {table}.{col} = blob.digest)",
                table = r.table,
                col = r.column
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Deletes the blobs that no column in `references` names and that are older
/// than `grace`, and the blob files without a row older than `grace`. In a
/// dry run, deletes only rows, in its transaction. `references` must list
/// every protocol's columns: a blob referenced only by a column missing here
/// would be lost.
pub async fn sweep(
    changes: &mut Changes<'_>,
    store: &dyn BlobStore,
    references: &[BlobReference],
    grace: Duration,
) -> Result<SweepReport, GcError> {
    let dry_run = changes.is_dry_run();
    let now = SystemTime::now();
    let cutoff = crate::unix_now() - grace.as_secs() as i64;
    let is_young = |modified: Option<SystemTime>| {
        modified.is_some_and(|m| now.duration_since(m).unwrap_or_default() < grace)
    };
    let mut report = SweepReport::default();
    let condition = unreferenced(references);

    // Files first (listing before the rows are read), so a blob committed and
    // recorded meanwhile is never taken for an orphan: its file is young.
    let listing = store.list().await?;
    let rows: HashSet<String> = changes
        .fetch_all(sqlx::query("SELECT digest FROM blob"))
        .await?
        .iter()
        .map(|row| row.try_get("digest"))
        .collect::<Result<_, _>>()?;
    for (digest, size) in listing.blobs {
        if rows.contains(&digest.to_string()) || is_young(store.modified(&digest).await?) {
            continue;
        }
        report.orphans += 1;
        report.orphan_bytes += size;
        if !dry_run {
            store.remove(&digest).await?;
        }
    }

    let select =
        format!("SELECT digest, size, created_at FROM blob WHERE {condition} ORDER BY digest");
    let candidates = changes.fetch_all(sqlx::query(&select)).await?;
    let delete = format!("DELETE FROM blob WHERE digest = $1 AND created_at <= $2 AND {condition}");
    for row in candidates {
        let text: String = row.try_get("digest")?;
        let size: i64 = row.try_get("size")?;
        let created: i64 = row.try_get("created_at")?;
        let Ok(digest) = text.parse::<Digest>() else {
            continue; // fsck reports malformed digests
        };
        if created > cutoff || is_young(store.modified(&digest).await?) {
            report.young += 1;
            continue;
        }
        let deleted = changes
            .execute(sqlx::query(&delete).bind(&text).bind(cutoff))
            .await?;
        if deleted == 1 {
            if !dry_run {
                store.remove(&digest).await?;
            }
            report.blobs += 1;
            report.bytes += size as u64;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{blob_query, INSERT_BLOB};
    use crate::store::{LocalStore, Staging};
    use bytes::Bytes;

    /// A throwaway reference table: rows in it keep blobs alive.
    const KEEP: BlobReference = BlobReference {
        table: "gc_test_keep",
        column: "digest",
    };

    async fn setup() -> (tempfile::TempDir, Db, LocalStore, Staging) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("airlock.db")).await.expect("db");
        sqlx::query("CREATE TABLE gc_test_keep (digest TEXT NOT NULL REFERENCES blob (digest))")
            .execute(&mut *db.writer().await)
            .await
            .expect("table");
        let store = LocalStore::open(dir.path().join("blobs")).expect("store");
        let staging = Staging::open(dir.path().join("tmp")).expect("staging");
        (dir, db, store, staging)
    }

    async fn put(db: &Db, store: &LocalStore, staging: &Staging, bytes: &'static [u8]) -> Digest {
        let digest = store
            .put_bytes(staging, Bytes::from_static(bytes))
            .await
            .expect("put");
        blob_query(INSERT_BLOB, &digest, bytes.len() as u64)
            .execute(&mut *db.writer().await)
            .await
            .expect("row");
        digest
    }

    /// A sweep, live or as a dry run rolled back at the end.
    async fn sweep_with(
        db: &Db,
        store: &LocalStore,
        grace: Duration,
        dry_run: bool,
    ) -> SweepReport {
        if !dry_run {
            return sweep(&mut Changes::Live(db), store, &[KEEP], grace)
                .await
                .expect("sweep");
        }
        let mut conn = db.writer().await;
        let mut changes = Changes::dry_run(&mut conn).await.expect("begin");
        sweep(&mut changes, store, &[KEEP], grace)
            .await
            .expect("dry run")
    }

    #[tokio::test]
    async fn unreferenced_blobs_go_and_referenced_ones_stay() {
        let (_dir, db, store, staging) = setup().await;
        let kept = put(&db, &store, &staging, b"kept").await;
        let garbage = put(&db, &store, &staging, b"garbage").await;
        sqlx::query("INSERT INTO gc_test_keep (digest) VALUES ($1)")
            .bind(kept.to_string())
            .execute(&mut *db.writer().await)
            .await
            .expect("reference");

        // Young: nothing goes within the grace period.
        let report = sweep_with(&db, &store, Duration::from_secs(3600), false).await;
        assert_eq!(report.young, 1);
        assert_eq!(report.blobs, 0);

        let dry = sweep_with(&db, &store, Duration::ZERO, true).await;
        assert_eq!((dry.blobs, dry.bytes), (1, 7));
        assert!(store.size(&garbage).await.expect("size").is_some());
        assert_eq!(db.blobs().await.expect("rows").len(), 2, "rolled back");

        let report = sweep_with(&db, &store, Duration::ZERO, false).await;
        assert_eq!((report.blobs, report.bytes), (1, 7));
        assert!(store.size(&garbage).await.expect("size").is_none());
        assert!(store.size(&kept).await.expect("size").is_some());
        let rows: Vec<Digest> = db
            .blobs()
            .await
            .expect("rows")
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(rows, vec![kept]);
    }

    #[tokio::test]
    async fn orphan_files_go_once_old() {
        let (_dir, db, store, staging) = setup().await;
        let orphan = store
            .put_bytes(&staging, Bytes::from_static(b"no row"))
            .await
            .expect("put");
        let report = sweep_with(&db, &store, Duration::from_secs(3600), false).await;
        assert_eq!(report.orphans, 0);
        let report = sweep_with(&db, &store, Duration::ZERO, false).await;
        assert_eq!((report.orphans, report.orphan_bytes), (1, 6));
        assert!(store.size(&orphan).await.expect("size").is_none());
    }
}
