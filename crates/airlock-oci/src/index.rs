//! The registry's tables in the index (`migrations/0003_oci.sql`). All OCI SQL
//! lives here. Rows are written only for blobs already durable in the store.

use crate::manifest::{ManifestInfo, RefKind};
use crate::path::Name;
use airlock_core::db::{blob_query, BlobReference, DbError, INSERT_BLOB};
use airlock_core::digest::{AnyDigest, HashAlgorithm};
use airlock_core::{unix_now, Db, Digest};
use sqlx::{Connection as _, Row, SqliteConnection};
use std::sync::LazyLock;

/// The columns through which the registry references blobs.
pub const BLOB_REFERENCES: &[BlobReference] = &[
    BlobReference {
        table: "oci_repository_blob",
        column: "digest",
    },
    BlobReference {
        table: "oci_manifest",
        column: "digest",
    },
    BlobReference {
        table: "oci_manifest_reference",
        column: "digest",
    },
    BlobReference {
        table: "oci_tag",
        column: "manifest",
    },
    BlobReference {
        table: "oci_digest_alias",
        column: "blob",
    },
];

fn digest_of(row: &sqlx::sqlite::SqliteRow, column: &str) -> Result<Digest, DbError> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| DbError::Decode(Box::new(e)))
}

fn any_digest_of(row: &sqlx::sqlite::SqliteRow, column: &str) -> Result<AnyDigest, DbError> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| DbError::Decode(Box::new(e)))
}

/// A manifest as served.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    /// Its digest (the blob holding its bytes).
    pub digest: Digest,
    /// Its `Content-Type`.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// The digest it was pushed by, when not its sha256 (sha512).
    pub pushed_as: Option<AnyDigest>,
}

impl StoredManifest {
    /// The digest clients know it by: the one it was pushed by.
    pub fn named(&self) -> AnyDigest {
        self.pushed_as
            .clone()
            .unwrap_or_else(|| self.digest.clone().into())
    }
}

/// The stored blob a client's digest names: a sha256 is the blob's own name;
/// another algorithm's digest is looked up among the aliases. `None` when no
/// stored blob has that digest.
pub async fn resolve(db: &Db, digest: &AnyDigest) -> Result<Option<Digest>, DbError> {
    match digest.as_sha256() {
        Some(sha256) => Ok(Some(sha256)),
        None => resolve_on(&mut *db.reader().await?, digest).await,
    }
}

async fn resolve_on(
    conn: &mut SqliteConnection,
    digest: &AnyDigest,
) -> Result<Option<Digest>, DbError> {
    if let Some(sha256) = digest.as_sha256() {
        return Ok(Some(sha256));
    }
    let row = sqlx::query("SELECT blob FROM oci_digest_alias WHERE digest = $1")
        .bind(digest.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| digest_of(&r, "blob")).transpose()
}

/// Records that `alias` (a digest of another algorithm) names the stored blob `blob`.
async fn insert_alias_on(
    conn: &mut SqliteConnection,
    alias: &AnyDigest,
    blob: &Digest,
) -> Result<(), DbError> {
    if alias.algorithm() == HashAlgorithm::Sha256 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO oci_digest_alias (digest, blob, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (digest) DO NOTHING",
    )
    .bind(alias.to_string())
    .bind(blob.to_string())
    .bind(unix_now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The size of `digest` if it is visible in `repository`.
pub async fn find_blob(
    db: &Db,
    repository: &Name,
    digest: &Digest,
) -> Result<Option<u64>, DbError> {
    let row = sqlx::query(
        "SELECT b.size FROM oci_repository_blob r JOIN blob b ON b.digest = r.digest \
         WHERE r.repository = $1 AND r.digest = $2",
    )
    .bind(repository.as_str())
    .bind(digest.to_string())
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| r.try_get::<i64, _>("size").map(|s| s as u64))
        .transpose()
}

/// A manifest of `repository` by digest.
pub async fn find_manifest(
    db: &Db,
    repository: &Name,
    digest: &Digest,
) -> Result<Option<StoredManifest>, DbError> {
    let row = sqlx::query(
        "SELECT m.digest, m.media_type, m.pushed_as, b.size FROM oci_manifest m \
         JOIN blob b ON b.digest = m.digest WHERE m.repository = $1 AND m.digest = $2",
    )
    .bind(repository.as_str())
    .bind(digest.to_string())
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| stored_manifest(&r)).transpose()
}

/// The manifest a tag of `repository` points at.
pub async fn find_tag(
    db: &Db,
    repository: &Name,
    tag: &str,
) -> Result<Option<StoredManifest>, DbError> {
    let row = sqlx::query(
        "SELECT m.digest, m.media_type, m.pushed_as, b.size FROM oci_tag t \
         JOIN oci_manifest m ON m.repository = t.repository AND m.digest = t.manifest \
         JOIN blob b ON b.digest = m.digest WHERE t.repository = $1 AND t.tag = $2",
    )
    .bind(repository.as_str())
    .bind(tag)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| stored_manifest(&r)).transpose()
}

fn stored_manifest(row: &sqlx::sqlite::SqliteRow) -> Result<StoredManifest, DbError> {
    let pushed_as: Option<String> = row.try_get("pushed_as")?;
    Ok(StoredManifest {
        digest: digest_of(row, "digest")?,
        media_type: row.try_get("media_type")?,
        size: row.try_get::<i64, _>("size")? as u64,
        pushed_as: pushed_as
            .map(|d| d.parse().map_err(|e| DbError::Decode(Box::new(e))))
            .transpose()?,
    })
}

/// Whether `repository` exists.
pub async fn repository_known(db: &Db, repository: &Name) -> Result<bool, DbError> {
    let row = sqlx::query("SELECT 1 AS one FROM oci_repository WHERE name = $1")
        .bind(repository.as_str())
        .fetch_optional(&mut *db.reader().await?)
        .await?;
    Ok(row.is_some())
}

/// The blob row, the repository (of kind $5 with upstream $6, unless it
/// exists) and the blob's link to it.
static INSERT_REPOSITORY_BLOB: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{INSERT_BLOB}; \
         INSERT INTO oci_repository (name, kind, upstream, created_at) VALUES ($4, $5, $6, $3) \
         ON CONFLICT (name) DO NOTHING; \
         INSERT INTO oci_repository_blob (repository, digest, created_at) VALUES ($4, $1, $3) \
         ON CONFLICT (repository, digest) DO NOTHING"
    )
});

/// [`INSERT_REPOSITORY_BLOB`] with its parameters: `upstream` for a mirror, `None` when hosted.
fn repository_blob_query<'q>(
    repository: &'q Name,
    upstream: Option<&'q str>,
    digest: &Digest,
    size: u64,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    blob_query(&INSERT_REPOSITORY_BLOB, digest, size)
        .bind(repository.as_str())
        .bind(if upstream.is_some() {
            "mirror"
        } else {
            "hosted"
        })
        .bind(upstream)
}

/// Records a pushed blob (already durable) in `repository`, and the digest
/// the client named it by when that is not its sha256 (`named`).
pub async fn insert_blob(
    db: &Db,
    repository: &Name,
    digest: &Digest,
    size: u64,
    named: &AnyDigest,
) -> Result<(), DbError> {
    let mut conn = db.writer().await;
    if named.algorithm() == HashAlgorithm::Sha256 {
        repository_blob_query(repository, None, digest, size)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    repository_blob_query(repository, None, digest, size)
        .execute(&mut *tx)
        .await?;
    insert_alias_on(&mut tx, named, digest).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes `digest` visible in `repository` if it is visible in `from` (or, with
/// no `from`, in any repository). Returns its size, or `None` when there is
/// nothing to mount.
pub async fn mount_blob(
    db: &Db,
    repository: &Name,
    digest: &Digest,
    from: Option<&Name>,
) -> Result<Option<u64>, DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    let row = sqlx::query(
        "SELECT b.size FROM oci_repository_blob r JOIN blob b ON b.digest = r.digest \
         WHERE r.digest = $1 AND ($2 IS NULL OR r.repository = $2) LIMIT 1",
    )
    .bind(digest.to_string())
    .bind(from.map(Name::as_str))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let size = row.try_get::<i64, _>("size")? as u64;
    repository_blob_query(repository, None, digest, size)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(size))
}

/// Missing references a refused push names at most: a manifest of 48,000
/// absent layers answered with an 8 MB error.
const MISSING_REPORTED: usize = 100;

/// What [`missing`] checks: the references that must be in the repository.
async fn missing_on(
    conn: &mut SqliteConnection,
    repository: &Name,
    info: &ManifestInfo,
) -> Result<Vec<AnyDigest>, DbError> {
    let mut missing = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in &info.references {
        if missing.len() >= MISSING_REPORTED {
            break; // the push fails anyway; the answer stays small
        }
        if !seen.insert(&r.digest) {
            continue;
        }
        let Some(stored) = resolve_on(conn, &r.digest).await? else {
            if !r.may_be_absent {
                missing.push(r.digest.clone());
            }
            continue;
        };
        let sql = match r.kind {
            RefKind::Manifest => {
                "SELECT 1 AS one FROM oci_manifest WHERE repository = $1 AND digest = $2"
            }
            RefKind::Config | RefKind::Layer => {
                "SELECT 1 AS one FROM oci_repository_blob WHERE repository = $1 AND digest = $2"
            }
        };
        let found = sqlx::query(sql)
            .bind(repository.as_str())
            .bind(stored.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if !found && !r.may_be_absent {
            missing.push(r.digest.clone());
        }
    }
    Ok(missing)
}

/// The references of a manifest that `repository` lacks (checked before its
/// bytes are stored, so a refused manifest leaves nothing behind).
pub async fn missing(
    db: &Db,
    repository: &Name,
    info: &ManifestInfo,
) -> Result<Vec<AnyDigest>, DbError> {
    missing_on(&mut *db.reader().await?, repository, info).await
}

/// A manifest to record.
pub struct NewManifest<'a> {
    /// The repository.
    pub repository: &'a Name,
    /// Its digest; the bytes are durable in the store.
    pub digest: &'a Digest,
    /// Its size.
    pub size: u64,
    /// What was read from it.
    pub info: &'a ManifestInfo,
    /// The tags to point at it: the one it was pushed by, or those of `?tag=`.
    pub tags: &'a [String],
    /// The digest it was pushed or fetched by, when not its sha256 (sha512).
    pub pushed_as: Option<&'a AnyDigest>,
}

/// The blob row, the repository (of kind $9 with upstream $10, unless it
/// exists) and the manifest.
static INSERT_MANIFEST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{INSERT_BLOB}; \
         INSERT INTO oci_repository (name, kind, upstream, created_at) VALUES ($4, $9, $10, $3) \
         ON CONFLICT (name) DO NOTHING; \
         INSERT INTO oci_manifest (repository, digest, media_type, artifact_type, subject, annotations, pushed_as, created_at) \
         VALUES ($4, $1, $5, $6, $7, $8, $11, $3) ON CONFLICT (repository, digest) DO NOTHING"
    )
});

/// [`INSERT_MANIFEST`] with its parameters: `upstream` for a mirror, `None` when hosted.
fn manifest_query<'q>(
    m: &NewManifest<'q>,
    upstream: Option<&'q str>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    blob_query(&INSERT_MANIFEST, m.digest, m.size)
        .bind(m.repository.as_str())
        .bind(m.info.media_type.as_str())
        .bind(m.info.artifact_type.as_deref())
        .bind(m.info.subject.as_ref().map(AnyDigest::to_string))
        .bind(m.info.annotations.as_deref())
        .bind(if upstream.is_some() {
            "mirror"
        } else {
            "hosted"
        })
        .bind(upstream)
        .bind(m.pushed_as.map(AnyDigest::to_string))
}

/// Records a manifest, its references and its tag in one transaction, after
/// checking again (under the write lock) that everything it references is in
/// the repository. Returns the missing references instead when some are not.
pub async fn insert_manifest(db: &Db, m: NewManifest<'_>) -> Result<Vec<AnyDigest>, DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    let missing = missing_on(&mut tx, m.repository, m.info).await?;
    if !missing.is_empty() {
        return Ok(missing);
    }
    manifest_query(&m, None).execute(&mut *tx).await?;
    if let Some(alias) = m.pushed_as {
        insert_alias_on(&mut tx, alias, m.digest).await?;
    }
    for r in &m.info.references {
        let Some(stored) = resolve_on(&mut tx, &r.digest).await? else {
            continue; // a foreign layer named by a digest never stored
        };
        if r.may_be_absent {
            let found = sqlx::query("SELECT 1 AS one FROM blob WHERE digest = $1")
                .bind(stored.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                continue; // a foreign layer clients fetch from its `urls`
            }
        }
        sqlx::query(
            "INSERT INTO oci_manifest_reference (repository, manifest, digest, kind) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (repository, manifest, digest) DO NOTHING",
        )
        .bind(m.repository.as_str())
        .bind(m.digest.to_string())
        .bind(stored.to_string())
        .bind(r.kind.as_str())
        .execute(&mut *tx)
        .await?;
    }
    for tag in m.tags {
        sqlx::query(
            "INSERT INTO oci_tag (repository, tag, manifest, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (repository, tag) DO UPDATE SET manifest = excluded.manifest, updated_at = excluded.updated_at",
        )
        .bind(m.repository.as_str())
        .bind(tag)
        .bind(m.digest.to_string())
        .bind(unix_now())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Vec::new())
}

/// Deletes a manifest of `repository` with its tags and references. False when absent.
pub async fn delete_manifest(db: &Db, repository: &Name, digest: &Digest) -> Result<bool, DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    for sql in [
        "DELETE FROM oci_tag WHERE repository = $1 AND manifest = $2",
        "DELETE FROM oci_manifest_reference WHERE repository = $1 AND manifest = $2",
    ] {
        sqlx::query(sql)
            .bind(repository.as_str())
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query("DELETE FROM oci_manifest WHERE repository = $1 AND digest = $2")
        .bind(repository.as_str())
        .bind(digest.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes a tag. False when absent.
pub async fn delete_tag(db: &Db, repository: &Name, tag: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM oci_tag WHERE repository = $1 AND tag = $2")
        .bind(repository.as_str())
        .bind(tag)
        .execute(&mut *db.writer().await)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes a blob from `repository` (the bytes stay for other repositories and
/// for garbage collection). False when it was not there.
pub async fn delete_blob(db: &Db, repository: &Name, digest: &Digest) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM oci_repository_blob WHERE repository = $1 AND digest = $2")
        .bind(repository.as_str())
        .bind(digest.to_string())
        .execute(&mut *db.writer().await)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Up to `limit` tags of `repository` after `last`, in byte order; `None`
/// when the repository does not exist.
pub async fn tags(
    db: &Db,
    repository: &Name,
    last: Option<&str>,
    limit: u32,
) -> Result<Option<Vec<String>>, DbError> {
    if !repository_known(db, repository).await? {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT tag FROM oci_tag WHERE repository = $1 AND tag > $2 ORDER BY tag LIMIT $3",
    )
    .bind(repository.as_str())
    .bind(last.unwrap_or(""))
    .bind(i64::from(limit))
    .fetch_all(&mut *db.reader().await?)
    .await?;
    rows.into_iter()
        .map(|r| r.try_get("tag"))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Up to `limit` repository names after `last`, in byte order.
pub async fn catalog(db: &Db, last: Option<&str>, limit: u32) -> Result<Vec<String>, DbError> {
    let rows =
        sqlx::query("SELECT name FROM oci_repository WHERE name > $1 ORDER BY name LIMIT $2")
            .bind(last.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&mut *db.reader().await?)
            .await?;
    rows.into_iter().map(|r| r.try_get("name")).collect()
}

/// A manifest whose `subject` is the one asked about.
#[derive(Clone, Debug)]
pub struct Referrer {
    /// Its digest (the one it was pushed by).
    pub digest: AnyDigest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its annotations (JSON object text).
    pub annotations: Option<String>,
}

/// The manifests of `repository` whose subject is `subject`, optionally only
/// those of one artifact type.
pub async fn referrers(
    db: &Db,
    repository: &Name,
    subject: &AnyDigest,
    artifact_type: Option<&str>,
) -> Result<Vec<Referrer>, DbError> {
    let rows = sqlx::query(
        "SELECT COALESCE(m.pushed_as, m.digest) AS digest, m.media_type, m.artifact_type, m.annotations, b.size \
         FROM oci_manifest m \
         JOIN blob b ON b.digest = m.digest \
         WHERE m.repository = $1 AND m.subject = $2 AND ($3 IS NULL OR m.artifact_type = $3) \
         ORDER BY m.digest",
    )
    .bind(repository.as_str())
    .bind(subject.to_string())
    .bind(artifact_type)
    .fetch_all(&mut *db.reader().await?)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Referrer {
                digest: any_digest_of(r, "digest")?,
                media_type: r.try_get("media_type")?,
                size: r.try_get::<i64, _>("size")? as u64,
                artifact_type: r.try_get("artifact_type")?,
                annotations: r.try_get("annotations")?,
            })
        })
        .collect()
}

/// Counts of repositories, manifests and tags (for the root page).
pub async fn counts(db: &Db) -> Result<(i64, i64, i64), DbError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM oci_repository) AS repositories, \
         (SELECT COUNT(*) FROM oci_manifest) AS manifests, (SELECT COUNT(*) FROM oci_tag) AS tags",
    )
    .fetch_one(&mut *db.reader().await?)
    .await?;
    Ok((
        row.try_get("repositories")?,
        row.try_get("manifests")?,
        row.try_get("tags")?,
    ))
}

/// An upload in progress.
#[derive(Clone, Debug)]
pub struct Upload {
    /// The repository it was started in.
    pub repository: String,
    /// Bytes received (the durable offset).
    pub received: u64,
    /// The algorithm its bytes are hashed with besides sha256.
    pub algorithm: HashAlgorithm,
}

/// Records a new upload session whose bytes are hashed with `algorithm` (and sha256).
pub async fn create_upload(
    db: &Db,
    id: &str,
    repository: &Name,
    algorithm: HashAlgorithm,
) -> Result<(), DbError> {
    let algorithm = (algorithm != HashAlgorithm::Sha256).then_some(algorithm.name());
    sqlx::query(
        "INSERT INTO oci_upload (id, repository, received, algorithm, created_at, updated_at) \
         VALUES ($1, $2, 0, $3, $4, $4)",
    )
    .bind(id)
    .bind(repository.as_str())
    .bind(algorithm)
    .bind(unix_now())
    .execute(&mut *db.writer().await)
    .await?;
    Ok(())
}

/// An upload session by id.
pub async fn find_upload(db: &Db, id: &str) -> Result<Option<Upload>, DbError> {
    let row = sqlx::query("SELECT repository, received, algorithm FROM oci_upload WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *db.reader().await?)
        .await?;
    row.map(|r| {
        let algorithm: Option<String> = r.try_get("algorithm")?;
        Ok(Upload {
            repository: r.try_get("repository")?,
            received: r.try_get::<i64, _>("received")? as u64,
            algorithm: algorithm
                .as_deref()
                .and_then(HashAlgorithm::from_name)
                .unwrap_or(HashAlgorithm::Sha256),
        })
    })
    .transpose()
}

/// Records how many bytes an upload holds after an append.
pub async fn set_received(db: &Db, id: &str, received: u64) -> Result<(), DbError> {
    sqlx::query("UPDATE oci_upload SET received = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(received as i64)
        .bind(unix_now())
        .execute(&mut *db.writer().await)
        .await?;
    Ok(())
}

/// Forgets an upload session.
pub async fn delete_upload(db: &Db, id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM oci_upload WHERE id = $1")
        .bind(id)
        .execute(&mut *db.writer().await)
        .await?;
    Ok(())
}

/// Ids of the upload sessions idle since before `before` (unix seconds).
pub async fn idle_uploads(db: &Db, before: i64) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query("SELECT id FROM oci_upload WHERE updated_at < $1")
        .bind(before)
        .fetch_all(&mut *db.reader().await?)
        .await?;
    rows.into_iter().map(|r| r.try_get("id")).collect()
}

// --- Mirrors (pull-through of upstream registries) ---

/// The manifest a mirrored tag points at, and when the upstream last confirmed it
/// (unix seconds; `None` for a tag that was pushed or imported).
pub async fn find_tag_checked(
    db: &Db,
    repository: &Name,
    tag: &str,
) -> Result<Option<(StoredManifest, Option<i64>)>, DbError> {
    let row = sqlx::query(
        "SELECT m.digest, m.media_type, m.pushed_as, b.size, t.checked_at FROM oci_tag t \
         JOIN oci_manifest m ON m.repository = t.repository AND m.digest = t.manifest \
         JOIN blob b ON b.digest = m.digest WHERE t.repository = $1 AND t.tag = $2",
    )
    .bind(repository.as_str())
    .bind(tag)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| Ok((stored_manifest(&r)?, r.try_get("checked_at")?)))
        .transpose()
}

/// Records that the upstream still has `tag` where it was.
pub async fn tag_checked(db: &Db, repository: &Name, tag: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE oci_tag SET checked_at = $3 WHERE repository = $1 AND tag = $2")
        .bind(repository.as_str())
        .bind(tag)
        .bind(unix_now())
        .execute(&mut *db.writer().await)
        .await?;
    Ok(())
}

/// Records a blob fetched from `upstream` (already durable) in the mirror `repository`.
pub async fn insert_mirror_blob(
    db: &Db,
    repository: &Name,
    upstream: &str,
    digest: &Digest,
    size: u64,
) -> Result<(), DbError> {
    repository_blob_query(repository, Some(upstream), digest, size)
        .execute(&mut *db.writer().await)
        .await?;
    Ok(())
}

/// Records a manifest fetched from `upstream` (its bytes durable) and, when
/// fetched by tag, points the tag at it, marked checked now. Unlike a push,
/// its layers and children need not be stored: they are fetched when a
/// client asks. References are recorded for those already stored.
pub async fn insert_mirror_manifest(
    db: &Db,
    m: NewManifest<'_>,
    upstream: &str,
) -> Result<(), DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    manifest_query(&m, Some(upstream)).execute(&mut *tx).await?;
    if let Some(alias) = m.pushed_as {
        insert_alias_on(&mut tx, alias, m.digest).await?;
    }
    for r in &m.info.references {
        sqlx::query(
            "INSERT INTO oci_manifest_reference (repository, manifest, digest, kind) \
             SELECT $1, $2, digest, $4 FROM blob WHERE digest = $3 \
             OR digest = (SELECT a.blob FROM oci_digest_alias a WHERE a.digest = $3) \
             ON CONFLICT (repository, manifest, digest) DO NOTHING",
        )
        .bind(m.repository.as_str())
        .bind(m.digest.to_string())
        .bind(r.digest.to_string())
        .bind(r.kind.as_str())
        .execute(&mut *tx)
        .await?;
    }
    let now = unix_now();
    for tag in m.tags {
        sqlx::query(
            "INSERT INTO oci_tag (repository, tag, manifest, updated_at, checked_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (repository, tag) DO UPDATE SET manifest = excluded.manifest, \
             updated_at = excluded.updated_at, checked_at = excluded.checked_at",
        )
        .bind(m.repository.as_str())
        .bind(tag)
        .bind(m.digest.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
