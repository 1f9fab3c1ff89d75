//! The Go proxy's tables in the index (`go_file`, `go_sumdb_file`). All Go SQL
//! lives here.

use crate::request::FileKind;
use crate::sumdb::verify::Verification;
use airlock_core::db::{blob_query, BlobReference, DbError, INSERT_BLOB};
use airlock_core::{Db, Digest};
use futures_util::TryStreamExt;
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};
use std::sync::LazyLock;

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
    /// How it was checked against the checksum database (`None` for `.info`).
    pub verification: Option<Verification>,
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
    .fetch_optional(&mut *db.reader().await?)
    .await?
    .map(stored)
    .transpose()
}

/// The blob row, then the file row unless one exists; returns a row when it inserted one.
static INSERT_FILE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{INSERT_BLOB}; INSERT INTO go_file (module, version, kind, blob_digest, h1, origin, created_at, verification) \
         VALUES ($4, $5, $6, $1, $7, $8, $3, $9) ON CONFLICT (module, version, kind) DO NOTHING RETURNING 1 AS inserted"
    )
});

/// Records a file whose blob is durable. Returns false when a row already existed
/// (the first writer wins; stored module files never change).
pub async fn insert_file(db: &Db, file: NewGoFile<'_>) -> Result<bool, DbError> {
    insert_file_on(&mut *db.writer().await, file).await
}

/// [`insert_file`] inside the caller's transaction (a batch becomes visible at once).
pub async fn insert_file_tx(
    tx: &mut Transaction<'_, Sqlite>,
    file: NewGoFile<'_>,
) -> Result<bool, DbError> {
    insert_file_on(tx, file).await
}

async fn insert_file_on(conn: &mut SqliteConnection, file: NewGoFile<'_>) -> Result<bool, DbError> {
    let inserted = blob_query(&INSERT_FILE, file.digest, file.size)
        .bind(file.module)
        .bind(file.version)
        .bind(file.kind.as_str())
        .bind(file.h1)
        .bind(file.origin)
        .bind(file.verification.map(Verification::as_str))
        .fetch_all(conn)
        .await?;
    Ok(!inserted.is_empty())
}

/// Hands every stored file's (module, version, kind) to `add`, in batches,
/// reading the index as it goes. Returns how many.
pub async fn each_file_key(
    db: &Db,
    mut add: impl FnMut(&[(String, String, String)]),
) -> Result<u64, DbError> {
    const BATCH: usize = 4096;
    let mut conn = db.reader().await?;
    let mut rows =
        sqlx::query_as::<_, (String, String, String)>("SELECT module, version, kind FROM go_file")
            .fetch(&mut *conn);
    let (mut batch, mut count) = (Vec::with_capacity(BATCH), 0);
    while let Some(row) = rows.try_next().await? {
        batch.push(row);
        if batch.len() == BATCH {
            add(&batch);
            count += batch.len() as u64;
            batch.clear();
        }
    }
    add(&batch);
    Ok(count + batch.len() as u64)
}

/// Versions of `module` that have a stored file of `kind`.
pub async fn versions(db: &Db, module: &str, kind: FileKind) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query("SELECT version FROM go_file WHERE module = $1 AND kind = $2")
        .bind(module)
        .bind(kind.as_str())
        .fetch_all(&mut *db.reader().await?)
        .await?;
    rows.into_iter().map(|r| r.try_get("version")).collect()
}

/// Versions of `module` that have any stored file.
pub async fn stored_versions(db: &Db, module: &str) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query("SELECT DISTINCT version FROM go_file WHERE module = $1")
        .bind(module)
        .fetch_all(&mut *db.reader().await?)
        .await?;
    rows.into_iter().map(|r| r.try_get("version")).collect()
}

/// The version a query last resolved to (`go_query`).
pub async fn find_query(db: &Db, module: &str, query: &str) -> Result<Option<String>, DbError> {
    let row = sqlx::query("SELECT version FROM go_query WHERE module = $1 AND query = $2")
        .bind(module)
        .bind(query)
        .fetch_optional(&mut *db.reader().await?)
        .await?;
    row.map(|r| r.try_get("version")).transpose()
}

const UPSERT_QUERY: &str = "INSERT INTO go_query (module, query, version, origin, updated_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (module, query) \
     DO UPDATE SET version = excluded.version, origin = excluded.origin, updated_at = excluded.updated_at";

/// Records what a query resolved to; a later answer replaces an earlier one
/// (a branch moves).
pub async fn record_query(
    db: &Db,
    module: &str,
    query: &str,
    version: &str,
    origin: &str,
) -> Result<(), DbError> {
    record_query_on(&mut *db.writer().await, module, query, version, origin).await
}

/// [`record_query`] inside the caller's transaction.
pub async fn record_query_tx(
    tx: &mut Transaction<'_, Sqlite>,
    module: &str,
    query: &str,
    version: &str,
    origin: &str,
) -> Result<(), DbError> {
    record_query_on(tx, module, query, version, origin).await
}

async fn record_query_on(
    conn: &mut SqliteConnection,
    module: &str,
    query: &str,
    version: &str,
    origin: &str,
) -> Result<(), DbError> {
    sqlx::query(UPSERT_QUERY)
        .bind(module)
        .bind(query)
        .bind(version)
        .bind(origin)
        .bind(airlock_core::unix_now())
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether anything at all is stored for `module`.
pub async fn module_known(db: &Db, module: &str) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT 1 AS one FROM go_file WHERE module = $1 LIMIT 1")
        .bind(module)
        .fetch_optional(&mut *db.reader().await?)
        .await?;
    Ok(row.is_some())
}

/// One entry of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Module path.
    pub module: String,
    /// Version.
    pub version: String,
    /// How its zip was checked (`None`: stored before airlock verified).
    pub verification: Option<String>,
}

/// A page of stored module versions with a zip, after `(module, version)`.
pub async fn catalog(
    db: &Db,
    after: Option<(&str, &str)>,
    limit: u32,
) -> Result<Vec<CatalogEntry>, DbError> {
    let (module, version) = after.unwrap_or(("", ""));
    let rows = sqlx::query(
        "SELECT module, version, verification FROM go_file WHERE kind = 'zip' \
         AND (module > $1 OR (module = $1 AND version > $2)) ORDER BY module, version LIMIT $3",
    )
    .bind(module)
    .bind(version)
    .bind(i64::from(limit))
    .fetch_all(&mut *db.reader().await?)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(CatalogEntry {
                module: r.try_get("module")?,
                version: r.try_get("version")?,
                verification: r.try_get("verification")?,
            })
        })
        .collect()
}

/// Counts of stored modules and module versions with a zip (for the root page).
pub async fn counts(db: &Db) -> Result<(i64, i64), DbError> {
    let row = sqlx::query(
        "SELECT COUNT(DISTINCT module) AS modules, COUNT(*) AS versions FROM go_file WHERE kind = 'zip'",
    )
    .fetch_one(&mut *db.reader().await?)
    .await?;
    Ok((row.try_get("modules")?, row.try_get("versions")?))
}

/// The newest verified tree head of a checksum database: (size, base64 root hash).
pub async fn sumdb_head(db: &Db, name: &str) -> Result<Option<(u64, String)>, DbError> {
    let row = sqlx::query("SELECT tree_size, root_hash FROM go_sumdb_head WHERE db_name = $1")
        .bind(name)
        .fetch_optional(&mut *db.reader().await?)
        .await?;
    row.map(|r| {
        let size: i64 = r.try_get("tree_size")?;
        Ok((size as u64, r.try_get("root_hash")?))
    })
    .transpose()
}

/// Records a verified tree head, unless a larger one is already recorded (by
/// another process: the caller checked consistency with the one it knew).
pub async fn set_sumdb_head(
    db: &Db,
    name: &str,
    size: u64,
    root_hash: &str,
    note: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO go_sumdb_head (db_name, tree_size, root_hash, note, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (db_name) DO UPDATE SET tree_size = excluded.tree_size, root_hash = excluded.root_hash, \
         note = excluded.note, updated_at = excluded.updated_at WHERE go_sumdb_head.tree_size < excluded.tree_size",
    )
    .bind(name)
    .bind(size as i64)
    .bind(root_hash)
    .bind(note)
    .bind(airlock_core::unix_now())
    .execute(&mut *db.writer().await)
    .await?;
    Ok(())
}

/// Stored `.mod` and `.zip` files kept although the checksum database could
/// not verify them: (module, version, kind), in order.
pub async fn unverified_files(db: &Db) -> Result<Vec<(String, String, String)>, DbError> {
    let rows = sqlx::query(
        "SELECT module, version, kind FROM go_file WHERE verification = 'unverified' \
         ORDER BY module, version, kind",
    )
    .fetch_all(&mut *db.reader().await?)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get("module")?,
                r.try_get("version")?,
                r.try_get("kind")?,
            ))
        })
        .collect()
}

/// How many stored `.mod` and `.zip` files no checksum database covers.
pub async fn not_covered_count(db: &Db) -> Result<i64, DbError> {
    let row =
        sqlx::query("SELECT COUNT(*) AS files FROM go_file WHERE verification = 'not-covered'")
            .fetch_one(&mut *db.reader().await?)
            .await?;
    row.try_get("files")
}

/// Looks up a cached checksum-database file.
pub async fn find_sumdb(db: &Db, name: &str, path: &str) -> Result<Option<StoredFile>, DbError> {
    sqlx::query(
        "SELECT s.blob_digest, b.size FROM go_sumdb_file s JOIN blob b ON b.digest = s.blob_digest \
         WHERE s.db_name = $1 AND s.path = $2",
    )
    .bind(name)
    .bind(path)
    .fetch_optional(&mut *db.reader().await?)
    .await?
    .map(stored)
    .transpose()
}

/// The blob row, then the checksum-database file's: immutable paths keep their
/// first copy; `latest` is replaced.
static INSERT_SUMDB: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{INSERT_BLOB}; INSERT INTO go_sumdb_file (db_name, path, blob_digest, created_at) \
         VALUES ($4, $5, $1, $3) ON CONFLICT (db_name, path) DO NOTHING"
    )
});
static INSERT_SUMDB_LATEST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{INSERT_BLOB}; INSERT INTO go_sumdb_file (db_name, path, blob_digest, created_at) \
         VALUES ($4, $5, $1, $3) ON CONFLICT (db_name, path) \
         DO UPDATE SET blob_digest = excluded.blob_digest, created_at = excluded.created_at"
    )
});

/// Records a checksum-database file whose blob is durable.
pub async fn insert_sumdb(
    db: &Db,
    name: &str,
    path: &str,
    digest: &Digest,
    size: u64,
) -> Result<(), DbError> {
    insert_sumdb_on(&mut *db.writer().await, name, path, digest, size).await
}

/// [`insert_sumdb`] inside the caller's transaction.
pub async fn insert_sumdb_tx(
    tx: &mut Transaction<'_, Sqlite>,
    name: &str,
    path: &str,
    digest: &Digest,
    size: u64,
) -> Result<(), DbError> {
    insert_sumdb_on(tx, name, path, digest, size).await
}

async fn insert_sumdb_on(
    conn: &mut SqliteConnection,
    name: &str,
    path: &str,
    digest: &Digest,
    size: u64,
) -> Result<(), DbError> {
    let sql = if path == "latest" {
        &INSERT_SUMDB_LATEST
    } else {
        &INSERT_SUMDB
    };
    blob_query(sql, digest, size)
        .bind(name)
        .bind(path)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: &str) -> Digest {
        format!("sha256:{}", byte.repeat(32))
            .parse()
            .expect("digest")
    }

    fn file<'a>(digest: &'a Digest) -> NewGoFile<'a> {
        NewGoFile {
            module: "example.com/m",
            version: "v1.0.0",
            kind: FileKind::Mod,
            digest,
            size: 3,
            h1: Some("h1:x"),
            origin: "test",
            verification: Some(Verification::Verified),
        }
    }

    #[tokio::test]
    async fn the_first_file_row_wins_and_each_blob_gets_its_row() {
        let db = Db::in_memory().await.expect("db");
        let (first, second) = (digest("aa"), digest("bb"));
        assert!(insert_file(&db, file(&first)).await.expect("insert"));
        assert!(!insert_file(&db, file(&second)).await.expect("insert again"));
        let stored = find_file(&db, "example.com/m", "v1.0.0", FileKind::Mod)
            .await
            .expect("find")
            .expect("stored");
        assert_eq!(stored.digest, first);
        // The loser's blob row exists, unreferenced, like a crash's leftover.
        let blobs: Vec<_> = db
            .blobs()
            .await
            .expect("blobs")
            .into_iter()
            .map(|b| b.0)
            .collect();
        assert_eq!(blobs, vec![first, second]);
    }

    #[tokio::test]
    async fn sumdb_latest_is_replaced_and_other_paths_keep_their_first_copy() {
        let db = Db::in_memory().await.expect("db");
        for (path, byte) in [
            ("latest", "aa"),
            ("latest", "bb"),
            ("tile/8/0/0", "cc"),
            ("tile/8/0/0", "dd"),
        ] {
            insert_sumdb(&db, "sum.example", path, &digest(byte), 1)
                .await
                .expect("insert");
        }
        let found = |path| {
            let db = db.clone();
            async move {
                find_sumdb(&db, "sum.example", path)
                    .await
                    .expect("find")
                    .expect("stored")
                    .digest
            }
        };
        assert_eq!(found("latest").await, digest("bb"));
        assert_eq!(found("tile/8/0/0").await, digest("cc"));
    }
}
