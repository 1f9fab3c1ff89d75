//! The SQLite metadata index: pools, migrations, and the core `blob` table.
//!
//! SQL here and in the protocol crates' index modules is written to run on
//! PostgreSQL as well (`$N` placeholders, `ON CONFLICT`, no SQLite-only functions),
//! so a shared PostgreSQL index can follow without rewriting queries.

use crate::digest::Digest;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The index: one pool with a single connection for writes (SQLite has one
/// writer, and queuing in the pool is cheaper than `SQLITE_BUSY` retries) and a
/// pool of read-only connections.
#[derive(Clone, Debug)]
pub struct Db {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// A database error; callers map it to their protocol's 500.
pub type DbError = sqlx::Error;

/// A table column that references blobs: fsck and garbage collection read these.
#[derive(Clone, Copy, Debug)]
pub struct BlobReference {
    /// The table holding the reference.
    pub table: &'static str,
    /// The column holding a `sha256:` digest.
    pub column: &'static str,
}

impl Db {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Db, DbError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a process crash loses nothing; a power loss may drop the
            // last transactions, which leaves unreferenced blobs, never dangling rows.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../../migrations")
            .run(&writer)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Db { writer, reader })
    }

    /// An in-memory database for unit tests (one connection serves both roles).
    pub async fn in_memory() -> Result<Db, DbError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../../migrations")
            .run(&pool)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        Ok(Db {
            writer: pool.clone(),
            reader: pool,
        })
    }

    /// The pool to read from.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// The pool to write with; keep its transactions short and never hold one
    /// across blob I/O.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// Cheap liveness check for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
    }

    /// Every blob row, in digest order.
    pub async fn blobs(&self) -> Result<Vec<(Digest, u64)>, DbError> {
        let rows = sqlx::query("SELECT digest, size FROM blob ORDER BY digest")
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter()
            .map(|row| {
                let digest: String = row.try_get("digest")?;
                let size: i64 = row.try_get("size")?;
                let digest = digest
                    .parse()
                    .map_err(|e: crate::digest::InvalidDigest| sqlx::Error::Decode(Box::new(e)))?;
                Ok((digest, size as u64))
            })
            .collect()
    }

    /// The distinct digests that `reference` points at.
    pub async fn referenced_digests(
        &self,
        reference: BlobReference,
    ) -> Result<Vec<String>, DbError> {
        let sql = format!(
            "SELECT DISTINCT {col} AS digest FROM {table} ORDER BY {col}",
            col = reference.column,
            table = reference.table
        );
        let rows = sqlx::query(&sql).fetch_all(&self.reader).await?;
        rows.into_iter().map(|r| r.try_get("digest")).collect()
    }

    /// Deletes every row of `reference` pointing at `digest` (fsck repair of a lost blob).
    pub async fn delete_references(
        &self,
        reference: BlobReference,
        digest: &Digest,
    ) -> Result<u64, DbError> {
        let sql = format!(
            "DELETE FROM {table} WHERE {col} = $1",
            col = reference.column,
            table = reference.table
        );
        let done = sqlx::query(&sql)
            .bind(digest.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes the blob row itself (after its references are gone).
    pub async fn delete_blob_row(&self, digest: &Digest) -> Result<(), DbError> {
        sqlx::query("DELETE FROM blob WHERE digest = $1")
            .bind(digest.to_string())
            .execute(&self.writer)
            .await
            .map(|_| ())
    }
}

/// Records a durable blob inside the caller's transaction; a no-op when it is known.
/// Call only after the blob store committed the bytes.
pub async fn insert_blob(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    digest: &Digest,
    size: u64,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO blob (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING")
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(crate::unix_now())
        .execute(&mut **tx)
        .await
        .map(|_| ())
}
