//! The Go proxy's tables in the index (`go_file`, `go_sumdb_file`). All Go SQL
//! lives here.

use crate::request::FileKind;
use airlock_core::db::{insert_blob, BlobReference, DbError};
use airlock_core::{Db, Digest};
use sqlx::{Row, Sqlite, Transaction};

/// The columns through which Go metadata references blobs.
pub const BLOB_REFERENCES: &[BlobReference] = &[
    BlobReference {
        table: "go_file",
        column: "blob_digest",
    },
    BlobReference {
        table: "go_sumdb_file",
        column: "blob_digest",
    },
];

/// A stored file: its blob and size.
#[derive(Clone, Debug)]
pub struct StoredFile {
    /// The blob holding the bytes.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

fn stored(row: sqlx::sqlite::SqliteRow) -> Result<StoredFile, DbError> {
    let digest: String = row.try_get("blob_digest")?;
    let size: i64 = row.try_get("size")?;
    Ok(StoredFile {
        digest: digest.parse().map_err(|e| DbError::Decode(Box::new(e)))?,
        size: size as u64,
    })
}

/// One row to insert into `go_file`.
#[derive(Debug)]
pub struct NewGoFile<'a> {
    /// Module path.
    pub module: &'a str,
    /// Canonical version.
    pub version: &'a str,
    /// Which file.
    pub kind: FileKind,
    /// Its blob (already committed to the store).
    pub digest: &'a Digest,
    /// Blob size.
    pub size: u64,
    /// `h1:` of the zip or go.mod.
    pub h1: Option<&'a str>,
    /// Where it came from.
    pub origin: &'a str,
}

/// Looks up one file of a module version.
pub async fn find_file(
    db: &Db,
    module: &str,
    version: &str,
    kind: FileKind,
) -> Result<Option<StoredFile>, DbError> {
    sqlx::query(
        "SELECT f.blob_digest, b.size FROM go_file f JOIN blob b ON b.digest = f.blob_digest \
         WHERE f.module = $1 AND f.version = $2 AND f.kind = $3",
    )
    .bind(module)
    .bind(version)
    .bind(kind.as_str())
    .fetch_optional(db.reader())
    .await?
    .map(stored)
    .transpose()
}

/// The `h1:` recorded for a stored file.
pub async fn find_h1(
    db: &Db,
    module: &str,
    version: &str,
    kind: FileKind,
) -> Result<Option<String>, DbError> {
    let row =
        sqlx::query("SELECT h1 FROM go_file WHERE module = $1 AND version = $2 AND kind = $3")
            .bind(module)
            .bind(version)
            .bind(kind.as_str())
            .fetch_optional(db.reader())
            .await?;
    Ok(row.and_then(|r| r.try_get("h1").ok()))
}

/// Records a file whose blob is durable. Returns false when a row already existed
/// (the first writer wins; stored module files never change).
pub async fn insert_file(db: &Db, file: NewGoFile<'_>) -> Result<bool, DbError> {
    let mut tx = db.writer().begin().await?;
    let inserted = insert_file_tx(&mut tx, file).await?;
    tx.commit().await?;
    Ok(inserted)
}

/// [`insert_file`] inside the caller's transaction (a batch becomes visible at once).
pub async fn insert_file_tx(
    tx: &mut Transaction<'_, Sqlite>,
    file: NewGoFile<'_>,
) -> Result<bool, DbError> {
    insert_blob(tx, file.digest, file.size).await?;
    let done = sqlx::query(
        "INSERT INTO go_file (module, version, kind, blob_digest, h1, origin, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (module, version, kind) DO NOTHING",
    )
    .bind(file.module)
    .bind(file.version)
    .bind(file.kind.as_str())
    .bind(file.digest.to_string())
    .bind(file.h1)
    .bind(file.origin)
    .bind(airlock_core::unix_now())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Versions of `module` that have a stored file of `kind`.
pub async fn versions(db: &Db, module: &str, kind: FileKind) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query("SELECT version FROM go_file WHERE module = $1 AND kind = $2")
        .bind(module)
        .bind(kind.as_str())
        .fetch_all(db.reader())
        .await?;
    rows.into_iter().map(|r| r.try_get("version")).collect()
}

/// Whether anything at all is stored for `module`.
pub async fn module_known(db: &Db, module: &str) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT 1 AS one FROM go_file WHERE module = $1 LIMIT 1")
        .bind(module)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.is_some())
}

/// A page of stored module versions with a zip, after `(module, version)`.
pub async fn catalog(
    db: &Db,
    after: Option<(&str, &str)>,
    limit: u32,
) -> Result<Vec<(String, String)>, DbError> {
    let (module, version) = after.unwrap_or(("", ""));
    let rows = sqlx::query(
        "SELECT module, version FROM go_file WHERE kind = 'zip' AND (module > $1 OR (module = $1 AND version > $2)) \
         ORDER BY module, version LIMIT $3",
    )
    .bind(module)
    .bind(version)
    .bind(i64::from(limit))
    .fetch_all(db.reader())
    .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("module")?, r.try_get("version")?)))
        .collect()
}

/// Counts of stored modules and module versions with a zip (for the root page).
pub async fn counts(db: &Db) -> Result<(i64, i64), DbError> {
    let row = sqlx::query(
        "SELECT COUNT(DISTINCT module) AS modules, COUNT(*) AS versions FROM go_file WHERE kind = 'zip'",
    )
    .fetch_one(db.reader())
    .await?;
    Ok((row.try_get("modules")?, row.try_get("versions")?))
}

/// Looks up a cached checksum-database file.
pub async fn find_sumdb(db: &Db, name: &str, path: &str) -> Result<Option<StoredFile>, DbError> {
    sqlx::query(
        "SELECT s.blob_digest, b.size FROM go_sumdb_file s JOIN blob b ON b.digest = s.blob_digest \
         WHERE s.db_name = $1 AND s.path = $2",
    )
    .bind(name)
    .bind(path)
    .fetch_optional(db.reader())
    .await?
    .map(stored)
    .transpose()
}

/// Records a checksum-database file whose blob is durable. Immutable paths keep
/// their first copy; `latest` is replaced.
pub async fn insert_sumdb(
    db: &Db,
    name: &str,
    path: &str,
    digest: &Digest,
    size: u64,
) -> Result<(), DbError> {
    let mut tx = db.writer().begin().await?;
    insert_sumdb_tx(&mut tx, name, path, digest, size).await?;
    tx.commit().await
}

/// [`insert_sumdb`] inside the caller's transaction.
pub async fn insert_sumdb_tx(
    tx: &mut Transaction<'_, Sqlite>,
    name: &str,
    path: &str,
    digest: &Digest,
    size: u64,
) -> Result<(), DbError> {
    insert_blob(tx, digest, size).await?;
    let sql = if path == "latest" {
        "INSERT INTO go_sumdb_file (db_name, path, blob_digest, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (db_name, path) DO UPDATE SET blob_digest = excluded.blob_digest, created_at = excluded.created_at"
    } else {
        "INSERT INTO go_sumdb_file (db_name, path, blob_digest, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (db_name, path) DO NOTHING"
    };
    sqlx::query(sql)
        .bind(name)
        .bind(path)
        .bind(digest.to_string())
        .bind(airlock_core::unix_now())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
