//! The Python index's tables (`pypi_index`, `pypi_index_base`, `pypi_project`,
//! `pypi_file`; see `migrations/0005_pypi.sql`). All PyPI SQL lives here.

use crate::upstream_page::UpstreamFile;
use crate::IndexSettings;
use airlock_core::db::{blob_query, BlobReference, DbError, INSERT_BLOB};
use airlock_core::{Db, Digest};
use sqlx::{Connection as _, Row};

/// The columns through which the Python index references blobs.
pub const BLOB_REFERENCES: &[BlobReference] = &[
    BlobReference {
        table: "pypi_file",
        column: "blob_digest",
    },
    BlobReference {
        table: "pypi_file",
        column: "metadata_digest",
    },
    BlobReference {
        table: "pypi_root_list",
        column: "blob_digest",
    },
];

/// Records the configured indexes and their bases. Indexes no longer in the
/// config keep their rows (and files); they are simply not served.
pub async fn sync_indexes(db: &Db, indexes: &[IndexSettings]) -> Result<(), DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    for index in indexes {
        sqlx::query(
            "INSERT INTO pypi_index (name, kind, upstream, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, upstream = excluded.upstream",
        )
        .bind(&index.name)
        .bind(index.kind.as_str())
        .bind(
            index
                .upstream
                .as_deref()
                .map(airlock_core::upstream::redact_str),
        )
        .bind(airlock_core::unix_now())
        .execute(&mut *tx)
        .await?;
    }
    for index in indexes {
        sqlx::query("DELETE FROM pypi_index_base WHERE index_name = $1")
            .bind(&index.name)
            .execute(&mut *tx)
            .await?;
        for (position, base) in index.bases.iter().enumerate() {
            sqlx::query(
                "INSERT INTO pypi_index_base (index_name, position, base_name) VALUES ($1, $2, $3)",
            )
            .bind(&index.name)
            .bind(position as i64)
            .bind(base)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await
}

/// A file as a simple page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageFile {
    /// The filename as uploaded.
    pub filename: String,
    /// Its PEP 440-normalized version.
    pub version: String,
    /// sha256 of the bytes, 64 hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Unix microseconds.
    pub upload_time_us: i64,
    /// `Requires-Python`, raw.
    pub requires_python: Option<String>,
    /// `None`: not yanked; `Some("")`: yanked without a reason.
    pub yanked: Option<String>,
    /// sha256 (64 hex) of the `.metadata` file, when one is stored (or, on
    /// a mirror's page online, when the upstream offers it with that hash).
    pub metadata_sha256: Option<String>,
}

/// The files of `project` in `index`, by filename; with `stored_only`, only
/// those whose bytes are stored, and only stored `.metadata` files (a
/// mirror's page offline).
pub async fn project_files(
    db: &Db,
    index: &str,
    project: &str,
    stored_only: bool,
) -> Result<Vec<PageFile>, DbError> {
    let sql = if stored_only {
        "SELECT filename, version, sha256, size, upload_time_us, requires_python, yanked, metadata_digest, \
         NULL AS upstream_metadata \
         FROM pypi_file WHERE index_name = $1 AND project = $2 AND blob_digest IS NOT NULL ORDER BY filename"
    } else {
        "SELECT filename, version, sha256, size, upload_time_us, requires_python, yanked, metadata_digest, \
         upstream_metadata FROM pypi_file WHERE index_name = $1 AND project = $2 ORDER BY filename"
    };
    let rows = sqlx::query(sql)
        .bind(index)
        .bind(project)
        .fetch_all(&mut *db.reader().await?)
        .await?;
    rows.into_iter()
        .map(|row| {
            let metadata: Option<String> = row.try_get("metadata_digest")?;
            let stored_metadata = metadata
                .map(|d| d.parse::<Digest>().map(|d| d.hex().to_owned()))
                .transpose()
                .map_err(|e| DbError::Decode(Box::new(e)))?;
            // The upstream's offer counts only with a hash: the `.metadata`
            // fetched on demand is checked against it.
            let offered: Option<String> = row.try_get("upstream_metadata")?;
            let metadata_sha256 = stored_metadata.or(offered.filter(|h| h.len() == 64));
            let size: i64 = row.try_get("size")?;
            Ok(PageFile {
                filename: row.try_get("filename")?,
                version: row.try_get("version")?,
                sha256: row.try_get("sha256")?,
                size: size as u64,
                upload_time_us: row.try_get("upload_time_us")?,
                requires_python: row.try_get("requires_python")?,
                yanked: row.try_get("yanked")?,
                metadata_sha256,
            })
        })
        .collect()
}

/// The projects of `index` that have files: (normalized name, display name), by name.
pub async fn projects(db: &Db, index: &str) -> Result<Vec<(String, String)>, DbError> {
    sqlx::query_as(
        "SELECT p.name, p.display_name FROM pypi_project p WHERE p.index_name = $1 \
         AND EXISTS (SELECT 1 FROM pypi_file f WHERE f.index_name = p.index_name AND f.project = p.name) \
         ORDER BY p.name",
    )
    .bind(index)
    .fetch_all(&mut *db.reader().await?)
    .await
}

/// A stored blob: digest and size.
#[derive(Clone, Debug)]
pub struct StoredBlob {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

/// The stored bytes of a file (`metadata`: its `.metadata` file instead).
pub async fn file_blob(
    db: &Db,
    index: &str,
    filename: &str,
    metadata: bool,
) -> Result<Option<StoredBlob>, DbError> {
    let sql = if metadata {
        "SELECT b.digest, b.size FROM pypi_file f JOIN blob b ON b.digest = f.metadata_digest \
         WHERE f.index_name = $1 AND f.filename = $2"
    } else {
        "SELECT b.digest, b.size FROM pypi_file f JOIN blob b ON b.digest = f.blob_digest \
         WHERE f.index_name = $1 AND f.filename = $2"
    };
    let row = sqlx::query(sql)
        .bind(index)
        .bind(filename)
        .fetch_optional(&mut *db.reader().await?)
        .await?;
    row.map(|row| {
        let digest: String = row.try_get("digest")?;
        let size: i64 = row.try_get("size")?;
        Ok(StoredBlob {
            digest: digest.parse().map_err(|e| DbError::Decode(Box::new(e)))?,
            size: size as u64,
        })
    })
    .transpose()
}

/// The sha256 (64 hex) of the file stored under `filename`, if any.
pub async fn file_sha256(db: &Db, index: &str, filename: &str) -> Result<Option<String>, DbError> {
    let row = sqlx::query("SELECT sha256 FROM pypi_file WHERE index_name = $1 AND filename = $2")
        .bind(index)
        .bind(filename)
        .fetch_optional(&mut *db.reader().await?)
        .await?;
    row.map(|r| r.try_get("sha256")).transpose()
}

/// The filename and sha256 of every file of a release ($1 index, $2 project,
/// $3 version).
const RELEASE_FILES: &str = "SELECT filename, sha256 FROM pypi_file \
     WHERE index_name = $1 AND project = $2 AND version = $3";

/// Every file of `project` at `version` (PEP 440-normalized) in `index`:
/// filename and sha256.
pub async fn release_files(
    db: &Db,
    index: &str,
    project: &str,
    version: &str,
) -> Result<Vec<(String, String)>, DbError> {
    sqlx::query_as(RELEASE_FILES)
        .bind(index)
        .bind(project)
        .bind(version)
        .fetch_all(&mut *db.reader().await?)
        .await
}

/// An uploaded file whose blobs are durable, to record.
#[derive(Debug)]
pub struct NewUpload<'a> {
    /// The index.
    pub index: &'a str,
    /// Normalized project name.
    pub project: &'a str,
    /// The project name as the upload wrote it.
    pub display_name: &'a str,
    /// Filename.
    pub filename: &'a str,
    /// PEP 440-normalized version.
    pub version: &'a str,
    /// The file's blob.
    pub blob: &'a StoredBlob,
    /// The `.metadata` blob, for wheels.
    pub metadata: Option<&'a StoredBlob>,
    /// `Requires-Python`.
    pub requires_python: Option<&'a str>,
    /// Who uploaded it.
    pub origin: &'a str,
    /// Unix microseconds.
    pub upload_time_us: i64,
}

/// Records an upload in one transaction (blob rows, project, file). Returns
/// `None` when it inserted the file, else the filename and sha256 of the file
/// already there: the same filename, or a file of the release for which
/// `same_distribution` holds (another spelling of it). The first upload wins:
/// the release's files are read in the writer's transaction, so two uploads
/// of one distribution under two spellings cannot both get in.
pub async fn insert_upload(
    db: &Db,
    up: NewUpload<'_>,
    same_distribution: impl Fn(&str) -> bool,
) -> Result<Option<(String, String)>, DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    blob_query(INSERT_BLOB, &up.blob.digest, up.blob.size)
        .execute(&mut *tx)
        .await?;
    if let Some(metadata) = up.metadata {
        blob_query(INSERT_BLOB, &metadata.digest, metadata.size)
            .execute(&mut *tx)
            .await?;
    }
    // The blob rows stay either way, as for any stored blob nothing refers
    // to (garbage collection frees it after its grace).
    let release: Vec<(String, String)> = sqlx::query_as(RELEASE_FILES)
        .bind(up.index)
        .bind(up.project)
        .bind(up.version)
        .fetch_all(&mut *tx)
        .await?;
    if let Some(twin) = release
        .into_iter()
        .find(|(other, _)| other == up.filename || same_distribution(other))
    {
        tx.commit().await?;
        return Ok(Some(twin));
    }
    let now = airlock_core::unix_now();
    sqlx::query(
        "INSERT INTO pypi_project (index_name, name, display_name, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (index_name, name) DO NOTHING",
    )
    .bind(up.index)
    .bind(up.project)
    .bind(up.display_name)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO pypi_file (index_name, project, filename, version, sha256, size, blob_digest, \
         upload_time_us, requires_python, metadata_digest, origin, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (index_name, filename) DO NOTHING RETURNING 1 AS inserted",
    )
    .bind(up.index)
    .bind(up.project)
    .bind(up.filename)
    .bind(up.version)
    .bind(up.blob.digest.hex())
    .bind(up.blob.size as i64)
    .bind(up.blob.digest.to_string())
    .bind(up.upload_time_us)
    .bind(up.requires_python)
    .bind(up.metadata.map(|m| m.digest.to_string()))
    .bind(up.origin)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let existing = if inserted.is_some() {
        None
    } else {
        // Another writer (a replica sharing the database) inserted it since.
        let row =
            sqlx::query("SELECT sha256 FROM pypi_file WHERE index_name = $1 AND filename = $2")
                .bind(up.index)
                .bind(up.filename)
                .fetch_one(&mut *tx)
                .await?;
        Some((up.filename.to_owned(), row.try_get("sha256")?))
    };
    tx.commit().await?;
    Ok(existing)
}

/// Yanks (`Some(reason)`, `""` for none) or unyanks (`None`) a file. False when
/// there is no such file.
pub async fn set_yanked(
    db: &Db,
    index: &str,
    filename: &str,
    reason: Option<&str>,
) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE pypi_file SET yanked = $1 WHERE index_name = $2 AND filename = $3")
            .bind(reason)
            .bind(index)
            .bind(filename)
            .execute(&mut *db.writer().await)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes one file's row; its blobs stay until garbage collection. False when
/// there is no such file.
pub async fn delete_file(db: &Db, index: &str, filename: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM pypi_file WHERE index_name = $1 AND filename = $2")
        .bind(index)
        .bind(filename)
        .execute(&mut *db.writer().await)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes every file of one version of a project; returns how many.
pub async fn delete_version(
    db: &Db,
    index: &str,
    project: &str,
    version: &str,
) -> Result<u64, DbError> {
    // Every stored spelling of the version (`1.1` and `1.1.0` are one).
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    let stored: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT version FROM pypi_file WHERE index_name = $1 AND project = $2",
    )
    .bind(index)
    .bind(project)
    .fetch_all(&mut *tx)
    .await?;
    let mut deleted = 0;
    for (spelling,) in stored
        .iter()
        .filter(|(v,)| crate::name::same_version(v, version))
    {
        let done = sqlx::query(
            "DELETE FROM pypi_file WHERE index_name = $1 AND project = $2 AND version = $3",
        )
        .bind(index)
        .bind(project)
        .bind(spelling)
        .execute(&mut *tx)
        .await?;
        deleted += done.rows_affected();
    }
    tx.commit().await?;
    Ok(deleted)
}

/// When a mirror's page of `project` was last fetched (unix seconds) and its
/// `ETag`; `None` when it never was.
pub async fn mirror_page_state(
    db: &Db,
    index: &str,
    project: &str,
) -> Result<Option<(i64, Option<String>)>, DbError> {
    let row = sqlx::query(
        "SELECT fetched_at, upstream_etag FROM pypi_project \
         WHERE index_name = $1 AND name = $2 AND fetched_at IS NOT NULL",
    )
    .bind(index)
    .bind(project)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| Ok((r.try_get("fetched_at")?, r.try_get("upstream_etag")?)))
        .transpose()
}

/// Records a fetched upstream page in one transaction: files not stored yet
/// are replaced by the page's, stored files keep their bytes (and stay listed
/// offline even when the upstream dropped them) but take the page's yank state.
pub async fn record_mirror_page(
    db: &Db,
    index: &str,
    project: &str,
    files: &[UpstreamFile],
    etag: Option<&str>,
    origin: &str,
) -> Result<(), DbError> {
    let now = airlock_core::unix_now();
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    sqlx::query(
        "INSERT INTO pypi_project (index_name, name, display_name, fetched_at, upstream_etag, created_at) \
         VALUES ($1, $2, $2, $3, $4, $3) \
         ON CONFLICT (index_name, name) DO UPDATE SET fetched_at = excluded.fetched_at, \
         upstream_etag = excluded.upstream_etag",
    )
    .bind(index)
    .bind(project)
    .bind(now)
    .bind(etag)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM pypi_file WHERE index_name = $1 AND project = $2 AND blob_digest IS NULL",
    )
    .bind(index)
    .bind(project)
    .execute(&mut *tx)
    .await?;
    for file in files {
        sqlx::query(
            "INSERT INTO pypi_file (index_name, project, filename, version, sha256, size, \
             upload_time_us, requires_python, yanked, remote_url, origin, created_at, upstream_metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (index_name, filename) DO UPDATE SET yanked = excluded.yanked, \
             upstream_metadata = excluded.upstream_metadata",
        )
        .bind(index)
        .bind(project)
        .bind(&file.filename)
        .bind(&file.version)
        .bind(&file.sha256)
        .bind(file.size.unwrap_or(0) as i64)
        .bind(file.upload_time_us.unwrap_or(0))
        .bind(file.requires_python.as_deref())
        .bind(file.yanked.as_deref())
        .bind(&file.url)
        .bind(origin)
        .bind(now)
        .bind(file.metadata.as_deref())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// The upstream still has the page it sent last (304): fresh again.
pub async fn touch_mirror_page(db: &Db, index: &str, project: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE pypi_project SET fetched_at = $1 WHERE index_name = $2 AND name = $3")
        .bind(airlock_core::unix_now())
        .bind(index)
        .bind(project)
        .execute(&mut *db.writer().await)
        .await?;
    Ok(())
}

/// The upstream has no such project (any more): forget the files it listed
/// that are not stored. Stored files stay.
pub async fn forget_mirror_page(db: &Db, index: &str, project: &str) -> Result<(), DbError> {
    sqlx::query(
        "DELETE FROM pypi_file WHERE index_name = $1 AND project = $2 AND blob_digest IS NULL",
    )
    .bind(index)
    .bind(project)
    .execute(&mut *db.writer().await)
    .await?;
    Ok(())
}

/// A file a mirror lists whose bytes are not stored yet.
#[derive(Clone, Debug)]
pub struct RemoteFile {
    /// sha256, 64 hex, as the upstream's page gave it.
    pub sha256: String,
    /// Where the bytes are, without credentials.
    pub url: String,
}

/// The listed-but-not-stored file `filename` of a mirror index.
pub async fn remote_file(
    db: &Db,
    index: &str,
    filename: &str,
) -> Result<Option<RemoteFile>, DbError> {
    let row = sqlx::query(
        "SELECT sha256, remote_url FROM pypi_file WHERE index_name = $1 AND filename = $2 \
         AND blob_digest IS NULL AND remote_url IS NOT NULL",
    )
    .bind(index)
    .bind(filename)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| {
        Ok(RemoteFile {
            sha256: r.try_get("sha256")?,
            url: r.try_get("remote_url")?,
        })
    })
    .transpose()
}

/// A `.metadata` file a mirror's upstream offers and that is not stored yet.
#[derive(Clone, Debug)]
pub struct RemoteMetadata {
    /// The file's URL (the metadata's is this plus `.metadata`), without credentials.
    pub file_url: String,
    /// Its sha256 as the upstream's page gave it (64 hex), or `""` when none.
    pub sha256: String,
}

/// The offered-but-not-stored `.metadata` of `filename` in a mirror index.
pub async fn remote_metadata(
    db: &Db,
    index: &str,
    filename: &str,
) -> Result<Option<RemoteMetadata>, DbError> {
    let row = sqlx::query(
        "SELECT remote_url, upstream_metadata FROM pypi_file WHERE index_name = $1 AND filename = $2 \
         AND metadata_digest IS NULL AND upstream_metadata IS NOT NULL AND remote_url IS NOT NULL",
    )
    .bind(index)
    .bind(filename)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| {
        Ok(RemoteMetadata {
            file_url: r.try_get("remote_url")?,
            sha256: r.try_get("upstream_metadata")?,
        })
    })
    .transpose()
}

/// Records a durable `.metadata` file fetched for a mirror's file.
pub async fn record_metadata(
    db: &Db,
    index: &str,
    filename: &str,
    metadata: &StoredBlob,
) -> Result<(), DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    blob_query(INSERT_BLOB, &metadata.digest, metadata.size)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE pypi_file SET metadata_digest = $1 WHERE index_name = $2 AND filename = $3 \
         AND metadata_digest IS NULL",
    )
    .bind(metadata.digest.to_string())
    .bind(index)
    .bind(filename)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Records the durable bytes (and `.metadata`) of a mirrored file.
pub async fn record_fetched(
    db: &Db,
    index: &str,
    filename: &str,
    blob: &StoredBlob,
    metadata: Option<&StoredBlob>,
    requires_python: Option<&str>,
) -> Result<(), DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    blob_query(INSERT_BLOB, &blob.digest, blob.size)
        .execute(&mut *tx)
        .await?;
    if let Some(metadata) = metadata {
        blob_query(INSERT_BLOB, &metadata.digest, metadata.size)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE pypi_file SET blob_digest = $1, size = $2, metadata_digest = COALESCE($3, metadata_digest), \
         requires_python = COALESCE(requires_python, $4) WHERE index_name = $5 AND filename = $6",
    )
    .bind(blob.digest.to_string())
    .bind(blob.size as i64)
    .bind(metadata.map(|m| m.digest.to_string()))
    .bind(requires_python)
    .bind(index)
    .bind(filename)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// A mirror's stored copy of its upstream's project list.
#[derive(Clone, Debug)]
pub struct RootList {
    /// The body as the upstream sent it.
    pub digest: Digest,
    /// Its `Content-Type` (JSON or HTML).
    pub content_type: String,
    /// The upstream's `ETag`, for revalidation.
    pub etag: Option<String>,
    /// When it was last fetched or revalidated (unix seconds).
    pub fetched_at: i64,
}

/// The stored project list of mirror `index`, if any.
pub async fn root_list(db: &Db, index: &str) -> Result<Option<RootList>, DbError> {
    let row = sqlx::query(
        "SELECT blob_digest, content_type, upstream_etag, fetched_at FROM pypi_root_list \
         WHERE index_name = $1",
    )
    .bind(index)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| {
        let digest: String = r.try_get("blob_digest")?;
        Ok(RootList {
            digest: digest.parse().map_err(|e| DbError::Decode(Box::new(e)))?,
            content_type: r.try_get("content_type")?,
            etag: r.try_get("upstream_etag")?,
            fetched_at: r.try_get("fetched_at")?,
        })
    })
    .transpose()
}

/// Records a durable copy of mirror `index`'s upstream project list (the
/// previous copy's blob is left to garbage collection).
pub async fn record_root_list(
    db: &Db,
    index: &str,
    blob: &StoredBlob,
    content_type: &str,
    etag: Option<&str>,
) -> Result<(), DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    blob_query(INSERT_BLOB, &blob.digest, blob.size)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO pypi_root_list (index_name, blob_digest, content_type, upstream_etag, fetched_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (index_name) DO UPDATE SET \
         blob_digest = excluded.blob_digest, content_type = excluded.content_type, \
         upstream_etag = excluded.upstream_etag, fetched_at = excluded.fetched_at",
    )
    .bind(index)
    .bind(blob.digest.to_string())
    .bind(content_type)
    .bind(etag)
    .bind(airlock_core::unix_now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The upstream still has the project list it sent last (304): fresh again.
pub async fn touch_root_list(db: &Db, index: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE pypi_root_list SET fetched_at = $1 WHERE index_name = $2")
        .bind(airlock_core::unix_now())
        .bind(index)
        .execute(&mut *db.writer().await)
        .await?;
    Ok(())
}

/// Per index: (name, projects known, files stored), by name.
pub async fn index_counts(db: &Db) -> Result<Vec<(String, i64, i64)>, DbError> {
    sqlx::query_as(
        "SELECT i.name, \
         (SELECT COUNT(*) FROM pypi_project p WHERE p.index_name = i.name) AS projects, \
         (SELECT COUNT(*) FROM pypi_file f WHERE f.index_name = i.name AND f.blob_digest IS NOT NULL) AS files \
         FROM pypi_index i ORDER BY i.name",
    )
    .fetch_all(&mut *db.reader().await?)
    .await
}

/// Projects and files stored, over every index (for the root page).
pub async fn counts(db: &Db) -> Result<(i64, i64), DbError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM pypi_project) AS projects, (SELECT COUNT(*) FROM pypi_file WHERE blob_digest IS NOT NULL) AS files",
    )
    .fetch_one(&mut *db.reader().await?)
    .await?;
    Ok((row.try_get("projects")?, row.try_get("files")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexKind;

    fn blob(byte: &str) -> StoredBlob {
        StoredBlob {
            digest: format!("sha256:{}", byte.repeat(32))
                .parse()
                .expect("digest"),
            size: 10,
        }
    }

    #[tokio::test]
    async fn the_first_upload_of_a_filename_wins() {
        let db = Db::in_memory().await.expect("db");
        let index = IndexSettings {
            name: "root/dev".into(),
            kind: IndexKind::Hosted,
            upstream: None,
            bases: vec![],
            mirror_whitelist: vec![],
        };
        sync_indexes(&db, std::slice::from_ref(&index))
            .await
            .expect("sync");
        sync_indexes(&db, &[index]).await.expect("sync twice");
        let (file, meta, other) = (blob("aa"), blob("bb"), blob("cc"));
        let up = |blob| NewUpload {
            index: "root/dev",
            project: "foo",
            display_name: "Foo",
            filename: "foo-1.0-py3-none-any.whl",
            version: "1.0",
            blob,
            metadata: Some(&meta),
            requires_python: Some(">=3.8"),
            origin: "upload:ci",
            upload_time_us: 1_700_000_000_000_000,
        };
        let twin = |other: &str| other == "Foo-1.0-py3-none-any.whl";
        assert_eq!(
            insert_upload(&db, up(&file), twin).await.expect("insert"),
            None
        );
        assert_eq!(
            insert_upload(&db, up(&other), twin).await.expect("again"),
            Some(("foo-1.0-py3-none-any.whl".to_owned(), "aa".repeat(32)))
        );
        let respelled = NewUpload {
            filename: "Foo-1.0-py3-none-any.whl",
            ..up(&other)
        };
        assert_eq!(
            insert_upload(&db, respelled, |o: &str| o == "foo-1.0-py3-none-any.whl")
                .await
                .expect("another spelling"),
            Some(("foo-1.0-py3-none-any.whl".to_owned(), "aa".repeat(32)))
        );
        let files = project_files(&db, "root/dev", "foo", false)
            .await
            .expect("files");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].metadata_sha256, Some("bb".repeat(32)));
        assert_eq!(
            projects(&db, "root/dev").await.expect("projects"),
            vec![("foo".to_owned(), "Foo".to_owned())]
        );
        let stored = file_blob(&db, "root/dev", "foo-1.0-py3-none-any.whl", true)
            .await
            .expect("lookup")
            .expect("metadata");
        assert_eq!(stored.digest, meta.digest);
        // The file and its metadata; no mirror's project list.
        for (reference, count) in BLOB_REFERENCES.iter().zip([1, 1, 0]) {
            assert_eq!(
                db.referenced_digests(*reference).await.expect("refs").len(),
                count,
                "{reference:?}"
            );
        }
        let name = "foo-1.0-py3-none-any.whl";
        assert!(set_yanked(&db, "root/dev", name, Some("broken"))
            .await
            .expect("yank"));
        let files = project_files(&db, "root/dev", "foo", false)
            .await
            .expect("files");
        assert_eq!(files[0].yanked.as_deref(), Some("broken"));
        assert!(set_yanked(&db, "root/dev", name, None)
            .await
            .expect("unyank"));
        assert!(!set_yanked(&db, "root/dev", "nope-1.0.tar.gz", None)
            .await
            .expect("none"));
        assert_eq!(
            delete_version(&db, "root/dev", "foo", "1.0.0")
                .await
                .expect("delete 1.0 as 1.0.0"),
            1
        );
        assert!(!delete_file(&db, "root/dev", name).await.expect("gone"));
        assert!(projects(&db, "root/dev")
            .await
            .expect("projects")
            .is_empty());
    }
}
