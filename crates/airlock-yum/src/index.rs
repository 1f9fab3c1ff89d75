//! The YUM tables in the index (`yum_repository`, `yum_package`,
//! `yum_snapshot`, `yum_snapshot_file`, see `migrations/0006_yum.sql`;
//! `yum_remote_file`, see `migrations/0009_yum_mirror.sql`; `yum_deflate_chunk`,
//! see `migrations/0010_yum_deflate_chunks.sql`). All YUM SQL
//! lives here.

use crate::checksum::Checksum;
use crate::fragments::PackageEntry;
use crate::RepoKind;
use airlock_core::db::{blob_query, insert_blobs, BlobReference, DbError, INSERT_BLOB, MANY_ROWS};
use airlock_core::{Db, Digest};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt as _};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection as _, Row, SqliteConnection};
use std::collections::HashMap;
use std::future::Future;
use std::sync::LazyLock;

/// The columns through which YUM metadata references blobs.
pub const BLOB_REFERENCES: &[BlobReference] = &[
    BlobReference {
        table: "yum_package",
        column: "blob_digest",
    },
    BlobReference {
        table: "yum_snapshot_file",
        column: "blob_digest",
    },
];

/// A file of a published snapshot.
#[derive(Clone, Debug)]
pub struct StoredFile {
    /// Path relative to the repository.
    pub path: String,
    /// The blob holding the bytes.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Last-Modified, unix seconds.
    pub modified_at: i64,
}

fn stored_file(row: sqlx::sqlite::SqliteRow) -> Result<StoredFile, DbError> {
    let digest: String = row.try_get("blob_digest")?;
    Ok(StoredFile {
        path: row.try_get("path")?,
        digest: digest
            .parse()
            .map_err(|e: airlock_core::digest::InvalidDigest| DbError::Decode(Box::new(e)))?,
        size: row.try_get::<i64, _>("size")? as u64,
        modified_at: row.try_get("modified_at")?,
    })
}

/// Records a configured repository (its kind follows the configuration).
pub async fn ensure_repository(db: &Db, name: &str, kind: RepoKind) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO yum_repository (name, kind, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind",
    )
    .bind(name)
    .bind(kind.as_str())
    .bind(airlock_core::unix_now())
    .execute(&mut *db.writer().await)
    .await
    .map(|_| ())
}

/// The condition that package `p` is in snapshot `s`: added at or before its
/// generation and not deleted at or before it (NULL for a mirror's snapshot,
/// which lists its packages in `yum_snapshot_file`).
const IN_SNAPSHOT: &str = "p.added_generation <= s.generation \
     AND (p.deleted_generation IS NULL OR p.deleted_generation > s.generation)";

/// A query for `columns` of the row of `table` (aliased `f`) at path `$2` of
/// repository `$1` that clients see: in the current snapshot, else in the
/// newest one superseded at or after `$3` (the grace period).
fn visible_row(columns: &str, table: &str) -> String {
    format!(
        "SELECT {columns} FROM yum_repository r \
         JOIN yum_snapshot s ON s.repo = r.name \
         JOIN {table} f ON f.snapshot_id = s.id AND f.path = $2 \
         WHERE r.name = $1 \
           AND (s.id = r.current_snapshot OR s.superseded_at >= $3) \
         ORDER BY CASE WHEN s.id = r.current_snapshot THEN 0 ELSE 1 END, s.id DESC \
         LIMIT 1"
    )
}

/// `path` of `repo` as clients see it: from the current snapshot, else from a
/// snapshot superseded at or after `superseded_since` (the grace period).
pub async fn find_file(
    db: &Db,
    repo: &str,
    path: &str,
    superseded_since: i64,
) -> Result<Option<StoredFile>, DbError> {
    // A file the snapshot lists in yum_snapshot_file, or a package of
    // yum_package that a hosted snapshot's generation includes.
    static FIND_FILE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT path, blob_digest, size, modified_at FROM ( \
               SELECT f.path, f.blob_digest, f.size, f.modified_at, s.id, \
                 CASE WHEN s.id = r.current_snapshot THEN 0 ELSE 1 END AS newest \
               FROM yum_repository r JOIN yum_snapshot s ON s.repo = r.name \
               JOIN yum_snapshot_file f ON f.snapshot_id = s.id AND f.path = $2 \
               WHERE r.name = $1 AND (s.id = r.current_snapshot OR s.superseded_at >= $3) \
               UNION ALL \
               SELECT p.href, p.blob_digest, p.size, p.added_at, s.id, \
                 CASE WHEN s.id = r.current_snapshot THEN 0 ELSE 1 END \
               FROM yum_repository r JOIN yum_snapshot s ON s.repo = r.name \
               JOIN yum_package p ON p.repo = r.name AND p.href = $2 AND {IN_SNAPSHOT} \
               WHERE r.name = $1 AND (s.id = r.current_snapshot OR s.superseded_at >= $3) \
             ) v ORDER BY newest, id DESC LIMIT 1"
        )
    });
    sqlx::query(&FIND_FILE)
        .bind(repo)
        .bind(path)
        .bind(superseded_since)
        .fetch_optional(&mut *db.reader().await?)
        .await?
        .map(stored_file)
        .transpose()
}

/// The files of `repo`'s current snapshot whose paths start with `prefix`
/// (a directory, ending in `/`, or empty for all), in path order.
pub async fn list_files(db: &Db, repo: &str, prefix: &str) -> Result<Vec<StoredFile>, DbError> {
    // `prefix` ends in '/': the paths under it sort before the ones under
    // `prefix` with '/' replaced by '0', the next character.
    let upper = match prefix.strip_suffix('/') {
        Some(dir) => format!("{dir}0"),
        None => "\u{10ffff}".to_owned(),
    };
    static LIST_FILES: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT f.path, f.blob_digest, f.size, f.modified_at \
             FROM yum_repository r JOIN yum_snapshot_file f ON f.snapshot_id = r.current_snapshot \
             WHERE r.name = $1 AND f.path >= $2 AND f.path < $3 \
             UNION ALL \
             SELECT p.href, p.blob_digest, p.size, p.added_at \
             FROM yum_repository r JOIN yum_snapshot s ON s.id = r.current_snapshot \
             JOIN yum_package p ON p.repo = r.name AND {IN_SNAPSHOT} \
             WHERE r.name = $1 AND p.href >= $2 AND p.href < $3 \
             ORDER BY 1"
        )
    });
    let rows = sqlx::query(&LIST_FILES)
        .bind(repo)
        .bind(prefix)
        .bind(upper)
        .fetch_all(&mut *db.reader().await?)
        .await?;
    rows.into_iter().map(stored_file).collect()
}

/// A stored package's identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPackage {
    /// Its path in the repository.
    pub href: String,
    /// The .rpm blob.
    pub digest: String,
}

fn stored_package(row: sqlx::sqlite::SqliteRow) -> Result<StoredPackage, DbError> {
    Ok(StoredPackage {
        href: row.try_get("href")?,
        digest: row.try_get("blob_digest")?,
    })
}

/// The package at `href`, if any.
pub async fn package_at(db: &Db, repo: &str, href: &str) -> Result<Option<StoredPackage>, DbError> {
    let row = sqlx::query(
        "SELECT href, blob_digest FROM yum_package \
             WHERE repo = $1 AND href = $2 AND deleted_generation IS NULL",
    )
    .bind(repo)
    .bind(href)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(stored_package).transpose()
}

/// The package with this NEVRA, if any.
pub async fn package_with_nevra(
    db: &Db,
    repo: &str,
    entry: &PackageEntry,
) -> Result<Option<StoredPackage>, DbError> {
    let row = sqlx::query(
        "SELECT href, blob_digest FROM yum_package WHERE repo = $1 AND name = $2 AND epoch = $3 \
         AND version = $4 AND release = $5 AND arch = $6 AND deleted_generation IS NULL",
    )
    .bind(repo)
    .bind(&entry.name)
    .bind(i64::from(entry.epoch))
    .bind(&entry.version)
    .bind(&entry.release)
    .bind(&entry.arch)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(stored_package).transpose()
}

/// A stored package with its NEVRA.
pub struct PackageNevra {
    /// Its path and blob.
    pub stored: StoredPackage,
    /// Name.
    pub name: String,
    /// Epoch.
    pub epoch: i64,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Architecture.
    pub arch: String,
}

/// Every package of `repo`, with its NEVRA.
pub async fn packages_of(db: &Db, repo: &str) -> Result<Vec<PackageNevra>, DbError> {
    let rows = sqlx::query(
        "SELECT href, blob_digest, name, epoch, version, release, arch \
         FROM yum_package WHERE repo = $1 AND deleted_generation IS NULL",
    )
    .bind(repo)
    .fetch_all(&mut *db.reader().await?)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(PackageNevra {
                name: row.try_get("name")?,
                epoch: row.try_get("epoch")?,
                version: row.try_get("version")?,
                release: row.try_get("release")?,
                arch: row.try_get("arch")?,
                stored: stored_package(row)?,
            })
        })
        .collect()
}

/// A package to record: its blob is durable.
pub struct NewPackage<'a> {
    /// Repository name.
    pub repo: &'a str,
    /// Path in the repository.
    pub href: &'a str,
    /// The .rpm blob.
    pub digest: &'a Digest,
    /// Its size.
    pub size: u64,
    /// Header-derived metadata.
    pub entry: &'a PackageEntry,
    /// `<time file>`.
    pub added_at: i64,
}

/// Records packages in one transaction and one new generation of each
/// repository they go to, [`MANY_ROWS`] rows per statement (adding 500 RPMs
/// was 1,000 round trips to the connection's thread, one statement each). A
/// deleted package's row still kept for the grace period at the same path
/// gives way (re-adding a file just deleted).
///
/// The rows are written while `durable` makes the packages' blobs durable,
/// and committed only once it succeeded (see [`commit_when_durable`]):
/// `Ok(Err(e))` when it failed.
pub async fn insert_packages<E>(
    db: &Db,
    packages: &[NewPackage<'_>],
    durable: impl Future<Output = Result<(), E>>,
) -> Result<Result<(), E>, DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    let rows = async {
        let mut generations: HashMap<&str, i64> = HashMap::new();
        for p in packages {
            if !generations.contains_key(p.repo) {
                generations.insert(p.repo, bump_generation(&mut tx, p.repo).await?);
            }
        }
        let blobs: Vec<(&Digest, u64)> = packages.iter().map(|p| (p.digest, p.size)).collect();
        insert_blobs(&mut tx, &blobs).await?;
        for chunk in packages.chunks(MANY_ROWS) {
            insert_package_rows(&mut tx, chunk, &generations).await?;
        }
        Ok(())
    };
    let (rows, durable) = tokio::join!(rows, durable);
    commit_when_durable(tx, rows, durable).await
}

/// Commits a transaction whose rows reference blobs that were being made
/// durable meanwhile, once both the rows and the blobs are written; rolls it
/// back when either failed. Metadata still becomes visible only after the
/// blobs it points at exist, and the fsyncs overlap with the statements
/// instead of preceding them (a publish of one RPM: about 1.5 ms less). The
/// writer connection stays taken during the fsyncs.
async fn commit_when_durable<T, E>(
    tx: sqlx::Transaction<'_, sqlx::Sqlite>,
    rows: Result<T, DbError>,
    durable: Result<(), E>,
) -> Result<Result<T, E>, DbError> {
    let rows = rows?;
    if let Err(e) = durable {
        return Ok(Err(e)); // dropping the transaction rolls it back
    }
    tx.commit().await?;
    Ok(Ok(rows))
}

/// One multi-row insert of packages into their repositories' new generations.
async fn insert_package_rows(
    tx: &mut SqliteConnection,
    packages: &[NewPackage<'_>],
    generations: &HashMap<&str, i64>,
) -> Result<(), DbError> {
    let mut kept = sqlx::QueryBuilder::new(
        "DELETE FROM yum_package WHERE deleted_generation IS NOT NULL AND (repo, href) IN ",
    );
    kept.push_tuples(packages, |mut row, p| {
        row.push_bind(p.repo).push_bind(p.href);
    });
    kept.build().execute(&mut *tx).await?;
    let mut insert = sqlx::QueryBuilder::new(
        "INSERT INTO yum_package (repo, href, file_name, blob_digest, size, name, epoch, \
         version, release, arch, added_at, added_generation, primary_xml, filelists_xml, \
         other_xml) ",
    );
    insert.push_values(packages, |mut row, p| {
        row.push_bind(p.repo)
            .push_bind(p.href)
            .push_bind(p.href.rsplit('/').next().unwrap_or(p.href))
            .push_bind(p.digest.to_string())
            .push_bind(p.size as i64)
            .push_bind(&p.entry.name)
            .push_bind(i64::from(p.entry.epoch))
            .push_bind(&p.entry.version)
            .push_bind(&p.entry.release)
            .push_bind(&p.entry.arch)
            .push_bind(p.added_at)
            .push_bind(generations.get(p.repo).copied().unwrap_or_default())
            .push_bind(&p.entry.primary)
            .push_bind(&p.entry.filelists)
            .push_bind(&p.entry.other);
    });
    insert.build().execute(&mut *tx).await?;
    Ok(())
}

/// Removes the package at `href` from the repository's next generation
/// (snapshots of earlier ones still serve it); false when there was none.
pub async fn delete_package(db: &Db, repo: &str, href: &str) -> Result<bool, DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    let deleted = sqlx::query(
        "UPDATE yum_package \
         SET deleted_generation = (SELECT generation + 1 FROM yum_repository WHERE name = $1) \
         WHERE repo = $1 AND href = $2 AND deleted_generation IS NULL",
    )
    .bind(repo)
    .bind(href)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if deleted > 0 {
        bump_generation(&mut tx, repo).await?;
    }
    tx.commit().await?;
    Ok(deleted > 0)
}

/// Starts the repository's next generation: its number.
async fn bump_generation(conn: &mut SqliteConnection, repo: &str) -> Result<i64, DbError> {
    sqlx::query_scalar(
        "UPDATE yum_repository SET generation = generation + 1 WHERE name = $1 \
         RETURNING generation",
    )
    .bind(repo)
    .fetch_one(conn)
    .await
}

/// The repository's package-set generation, and the generation of its
/// current published snapshot (a snapshot of the package set is published
/// when the second is at least the first).
pub async fn generations(db: &Db, repo: &str) -> Result<(i64, i64), DbError> {
    let row =
        sqlx::query("SELECT generation, published_generation FROM yum_repository WHERE name = $1")
            .bind(repo)
            .fetch_one(&mut *db.reader().await?)
            .await?;
    Ok((
        row.try_get("generation")?,
        row.try_get("published_generation")?,
    ))
}

/// One package's row, in repodata order: its metadata fragments and what
/// identifies them, read in place (copying each fragment into a `String` of
/// its own first made reading the rows twice as slow).
pub struct PackageXml(SqliteRow);

impl PackageXml {
    /// Its `<package>` of primary.xml, filelists.xml and other.xml.
    pub fn fragments(&self) -> Result<[&str; 3], DbError> {
        Ok([
            self.0.try_get("primary_xml")?,
            self.0.try_get("filelists_xml")?,
            self.0.try_get("other_xml")?,
        ])
    }

    /// Where it sorts in repodata: (file name, path).
    pub fn sort_key(&self) -> Result<(String, String), DbError> {
        Ok((self.0.try_get("file_name")?, self.0.try_get("href")?))
    }

    /// Whether the package is in the repository at `generation` (a row of
    /// [`package_changes`]).
    pub fn present_at(&self, generation: i64) -> Result<bool, DbError> {
        let added: i64 = self.0.try_get("added_generation")?;
        let deleted: Option<i64> = self.0.try_get("deleted_generation")?;
        Ok(added <= generation && deleted.is_none_or(|d| d > generation))
    }

    /// The .rpm blob (`sha256:…`), its path in the repository and `<time
    /// file>`.
    pub fn identity(&self) -> Result<(&str, &str, i64), DbError> {
        Ok((
            self.0.try_get("blob_digest")?,
            self.0.try_get("href")?,
            self.0.try_get("added_at")?,
        ))
    }
}

/// The repository's package count at `generation`.
pub async fn package_count(db: &Db, repo: &str, generation: i64) -> Result<u64, DbError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM yum_package WHERE repo = $1 AND added_generation <= $2 \
         AND (deleted_generation IS NULL OR deleted_generation > $2)",
    )
    .bind(repo)
    .bind(generation)
    .fetch_one(&mut *db.reader().await?)
    .await?;
    Ok(row.try_get::<i64, _>("n")? as u64)
}

/// The packages' fragments of the repository at `generation`, sorted as createrepo_c sorts them
/// (file name, then path), read as they are consumed.
pub fn package_xml<'c>(
    conn: &'c mut SqliteConnection,
    repo: &'c str,
    generation: i64,
) -> impl Stream<Item = Result<PackageXml, DbError>> + 'c {
    sqlx::query(
        "SELECT primary_xml, filelists_xml, other_xml, file_name, href, blob_digest, added_at \
         FROM yum_package WHERE repo = $1 AND added_generation <= $2 \
         AND (deleted_generation IS NULL OR deleted_generation > $2) ORDER BY file_name, href",
    )
    .bind(repo)
    .bind(generation)
    .fetch(conn)
    .map_ok(PackageXml)
}

/// The rows of the packages added or deleted after generation `since`, in no
/// order: with the package set at `since`, what makes a later one (see
/// [`PackageXml::present_at`]). A package deleted and added again at the
/// same path is one row, the newer.
pub async fn package_changes(db: &Db, repo: &str, since: i64) -> Result<Vec<PackageXml>, DbError> {
    let rows = sqlx::query(
        "SELECT primary_xml, filelists_xml, other_xml, file_name, href, blob_digest, added_at, \
         added_generation, deleted_generation FROM yum_package \
         WHERE repo = $1 AND (added_generation > $2 OR deleted_generation > $2)",
    )
    .bind(repo)
    .bind(since)
    .fetch_all(&mut *db.reader().await?)
    .await?;
    Ok(rows.into_iter().map(PackageXml).collect())
}

/// A chunk's compressed pieces of primary, filelists and other.xml.gz.
pub type DeflatePieces = [Bytes; 3];

/// The repository's stored chunks of compressed metadata, by key (see
/// `yum_deflate_chunk`).
pub async fn deflate_chunks(
    db: &Db,
    repo: &str,
) -> Result<HashMap<String, DeflatePieces>, DbError> {
    let rows = sqlx::query(
        "SELECT chunk_key, primary_z, filelists_z, other_z FROM yum_deflate_chunk WHERE repo = $1",
    )
    .bind(repo)
    .fetch_all(&mut *db.reader().await?)
    .await?;
    let decode = |row: &sqlx::sqlite::SqliteRow, column: &str| -> Result<Bytes, DbError> {
        let text: &str = row.try_get(column)?;
        BASE64
            .decode(text)
            .map(Bytes::from)
            .map_err(|e| DbError::Decode(Box::new(e)))
    };
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("chunk_key")?,
                [
                    decode(row, "primary_z")?,
                    decode(row, "filelists_z")?,
                    decode(row, "other_z")?,
                ],
            ))
        })
        .collect()
}

/// What a publish changes in the cache of compressed chunks.
#[derive(Default, Clone, Copy)]
pub struct DeflateChanges<'a> {
    /// Chunks compressed by this publish, by key.
    pub new: &'a [(String, DeflatePieces)],
    /// Keys of stored chunks it no longer uses.
    pub unused: &'a [String],
}

/// Records new chunks and drops the ones no longer used.
async fn save_deflate_chunks(
    tx: &mut SqliteConnection,
    repo: &str,
    DeflateChanges { new, unused }: DeflateChanges<'_>,
) -> Result<(), DbError> {
    for key in unused {
        sqlx::query("DELETE FROM yum_deflate_chunk WHERE repo = $1 AND chunk_key = $2")
            .bind(repo)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    for (key, [primary, filelists, other]) in new {
        sqlx::query(
            "INSERT INTO yum_deflate_chunk (repo, chunk_key, primary_z, filelists_z, other_z) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repo, chunk_key) DO NOTHING",
        )
        .bind(repo)
        .bind(key)
        .bind(BASE64.encode(primary))
        .bind(BASE64.encode(filelists))
        .bind(BASE64.encode(other))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A metadata file of a new snapshot; its blob is durable.
pub struct NewFile {
    /// Path relative to the repository (`repodata/…`).
    pub path: String,
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
}

static INSERT_SNAPSHOT_FILE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{INSERT_BLOB}; INSERT INTO yum_snapshot_file (snapshot_id, path, blob_digest, size, modified_at) \
         VALUES ($4, $5, $1, $2, $3)"
    )
});

/// Publishes a snapshot of `repo` built from package generation `generation`:
/// `files` (the metadata) plus the packages of that generation (through
/// `yum_package`, nothing copied), in one transaction whose last
/// step switches `current_snapshot`. Snapshots superseded before `expired_before`
/// are dropped. The cache of compressed chunks is updated in the same
/// transaction, whether or not the snapshot is published. Returns false (and
/// publishes nothing) when a snapshot of the same or a newer generation is
/// already published.
///
/// The rows are written while `durable` makes the files' blobs durable, and
/// committed only once it succeeded (see [`commit_when_durable`]):
/// `Ok(Err(e))` when it failed.
pub async fn publish_snapshot<E>(
    db: &Db,
    repo: &str,
    generation: i64,
    files: &[NewFile],
    expired_before: i64,
    chunks: DeflateChanges<'_>,
    durable: impl Future<Output = Result<(), E>>,
) -> Result<Result<bool, E>, DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    let rows = async {
        save_deflate_chunks(&mut tx, repo, chunks).await?;
        let Some(new) = start_publish(&mut tx, repo, generation).await? else {
            return Ok(false);
        };
        let id = new.id;
        for file in files {
            blob_query(&INSERT_SNAPSHOT_FILE, &file.digest, file.size)
                .bind(id)
                .bind(&file.path)
                .execute(&mut *tx)
                .await?;
        }
        switch_to(&mut tx, repo, generation, &new, expired_before).await?;
        Ok(true)
    };
    let (rows, durable) = tokio::join!(rows, durable);
    commit_when_durable(tx, rows, durable).await
}

/// The snapshot a publish creates, and the one it replaces.
struct NewSnapshot {
    id: i64,
    previous: Option<i64>,
    now: i64,
}

/// The generation guard and the new (published) snapshot's row: `None` when
/// a snapshot of `generation` or a newer one is already published.
async fn start_publish(
    tx: &mut SqliteConnection,
    repo: &str,
    generation: i64,
) -> Result<Option<NewSnapshot>, DbError> {
    let now = airlock_core::unix_now();
    let row = sqlx::query(
        "SELECT current_snapshot, published_generation FROM yum_repository WHERE name = $1",
    )
    .bind(repo)
    .fetch_one(&mut *tx)
    .await?;
    let previous: Option<i64> = row.try_get("current_snapshot")?;
    let published: i64 = row.try_get("published_generation")?;
    if published >= generation {
        return Ok(None);
    }
    let id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM yum_snapshot")
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
    sqlx::query(
        "INSERT INTO yum_snapshot (id, repo, created_at, published_at, generation) \
         VALUES ($1, $2, $3, $3, $4)",
    )
    .bind(id)
    .bind(repo)
    .bind(now)
    .bind(generation)
    .execute(&mut *tx)
    .await?;
    Ok(Some(NewSnapshot { id, previous, now }))
}

/// Supersedes the previous snapshot, switches the repository to the new one
/// (from here on clients see it) and drops the snapshots superseded before
/// `expired_before`.
async fn switch_to(
    tx: &mut SqliteConnection,
    repo: &str,
    generation: i64,
    new: &NewSnapshot,
    expired_before: i64,
) -> Result<(), DbError> {
    if let Some(previous) = new.previous {
        sqlx::query("UPDATE yum_snapshot SET superseded_at = $1 WHERE id = $2")
            .bind(new.now)
            .bind(previous)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE yum_repository SET current_snapshot = $1, published_generation = $2 WHERE name = $3",
    )
    .bind(new.id)
    .bind(generation)
    .bind(repo)
    .execute(&mut *tx)
    .await?;
    expire_snapshots(tx, repo, expired_before).await
}

/// A file of a mirror's snapshot: its blob is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedFile {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Last-Modified, unix seconds.
    pub modified_at: i64,
}

/// Starts a sync of mirror `repo`: bumps its generation (a sync that started
/// earlier can no longer publish over this one's result) and returns it with
/// a new unpublished snapshot of its own, which collects the files as they
/// become durable and keeps them alive (garbage collection) until a publish;
/// clients never see it. A rerun after a failure finds those blobs stored.
/// Each sync has its own, so that a concurrent sync's publish (which drops
/// the unpublished snapshots older than its own) never pulls one from under
/// a sync that started later.
pub async fn begin_sync(db: &Db, repo: &str) -> Result<(i64, i64), DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    bump_generation(&mut tx, repo).await?;
    let generation: i64 = sqlx::query("SELECT generation FROM yum_repository WHERE name = $1")
        .bind(repo)
        .fetch_one(&mut *tx)
        .await?
        .try_get("generation")?;
    let pending: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM yum_snapshot")
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
    sqlx::query("INSERT INTO yum_snapshot (id, repo, created_at) VALUES ($1, $2, $3)")
        .bind(pending)
        .bind(repo)
        .bind(airlock_core::unix_now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((generation, pending))
}

/// Records durable files in snapshot `snapshot` (one transaction).
pub async fn record_files(
    db: &Db,
    snapshot: i64,
    files: &[(String, SyncedFile)],
) -> Result<(), DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    let files: Vec<(&str, &SyncedFile)> = files.iter().map(|(p, f)| (p.as_str(), f)).collect();
    upsert_snapshot_files(&mut tx, snapshot, &files).await?;
    tx.commit().await
}

/// Inserts (or replaces, by path) durable files of snapshot `snapshot`, with
/// their `blob` rows, [`MANY_ROWS`] per statement: a mirror of thousands of
/// packages was a statement, and a round trip to the connection's thread,
/// per file.
async fn upsert_snapshot_files(
    tx: &mut SqliteConnection,
    snapshot: i64,
    files: &[(&str, &SyncedFile)],
) -> Result<(), DbError> {
    // One row per path, the last one given (what upserts row by row left);
    // PostgreSQL refuses a statement that updates one row twice.
    let files: HashMap<&str, &SyncedFile> = files.iter().copied().collect();
    let files: Vec<(&str, &SyncedFile)> = files.into_iter().collect();
    let blobs: Vec<(&Digest, u64)> = files.iter().map(|(_, f)| (&f.digest, f.size)).collect();
    insert_blobs(&mut *tx, &blobs).await?;
    for chunk in files.chunks(MANY_ROWS) {
        let mut upsert = sqlx::QueryBuilder::new(
            "INSERT INTO yum_snapshot_file (snapshot_id, path, blob_digest, size, modified_at) ",
        );
        upsert.push_values(chunk, |mut row, (path, file)| {
            row.push_bind(snapshot)
                .push_bind(*path)
                .push_bind(file.digest.to_string())
                .push_bind(file.size as i64)
                .push_bind(file.modified_at);
        });
        upsert.push(
            " ON CONFLICT (snapshot_id, path) DO UPDATE SET blob_digest = excluded.blob_digest, \
             size = excluded.size, modified_at = excluded.modified_at",
        );
        upsert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// The blob `repo` holds at `path` with this size, in any of its snapshots
/// (the unpublished one included), if any.
pub async fn repo_file_blob(
    db: &Db,
    repo: &str,
    path: &str,
    size: u64,
) -> Result<Option<Digest>, DbError> {
    let row = sqlx::query(
        "SELECT f.blob_digest FROM yum_snapshot s \
         JOIN yum_snapshot_file f ON f.snapshot_id = s.id AND f.path = $2 \
         WHERE s.repo = $1 AND f.size = $3 ORDER BY s.id DESC LIMIT 1",
    )
    .bind(repo)
    .bind(path)
    .bind(size as i64)
    .fetch_optional(&mut *db.reader().await?)
    .await?;
    row.map(|r| {
        r.try_get::<String, _>("blob_digest")?
            .parse()
            .map_err(|e: airlock_core::digest::InvalidDigest| DbError::Decode(Box::new(e)))
    })
    .transpose()
}

/// The files of `repo`'s current snapshot, by path.
pub async fn current_files(
    db: &Db,
    repo: &str,
) -> Result<std::collections::BTreeMap<String, SyncedFile>, DbError> {
    Ok(list_files(db, repo, "")
        .await?
        .into_iter()
        .map(|f| {
            (
                f.path,
                SyncedFile {
                    digest: f.digest,
                    size: f.size,
                    modified_at: f.modified_at,
                },
            )
        })
        .collect())
}

/// Drops the unpublished snapshots of `repo` up to `pending` (a sync found
/// nothing to change).
pub async fn drop_pending(db: &Db, repo: &str, pending: i64) -> Result<(), DbError> {
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    drop_unpublished(&mut tx, repo, pending).await?;
    tx.commit().await
}

/// Drops `repo`'s unpublished snapshots up to `pending` (this sync's, and
/// those of earlier syncs, whose files this one has taken over or found
/// obsolete); later syncs' stay.
async fn drop_unpublished(
    conn: &mut SqliteConnection,
    repo: &str,
    pending: i64,
) -> Result<(), DbError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM yum_snapshot WHERE repo = $1 AND published_at IS NULL AND id <= $2",
    )
    .bind(repo)
    .bind(pending)
    .fetch_all(&mut *conn)
    .await?;
    for id in ids {
        delete_snapshot(&mut *conn, id).await?;
    }
    Ok(())
}

async fn delete_snapshot(conn: &mut SqliteConnection, id: i64) -> Result<(), DbError> {
    sqlx::query("DELETE FROM yum_remote_file WHERE snapshot_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM yum_snapshot_file WHERE snapshot_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM yum_snapshot WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A file a snapshot lists without storing it (see `yum_remote_file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// The snapshot listing it.
    pub snapshot: i64,
    /// The checksum upstream declares.
    pub checksum: Checksum,
    /// The size upstream declares.
    pub size: u64,
}

/// The snapshot being published, beyond its stored files.
pub struct Publication<'a> {
    /// Every stored file, by path (each durable).
    pub files: &'a std::collections::BTreeMap<String, SyncedFile>,
    /// Files listed and fetched on demand: (path, checksum, size).
    pub remote: &'a [(String, Checksum, u64)],
    /// Keep the current snapshot's packages that `files` lacks (outside `repodata/`).
    pub keep_dropped: bool,
}

/// `path` of `repo` as listed but not stored, in the snapshot clients see
/// (or one superseded at or after `superseded_since`, as in [`find_file`]).
pub async fn find_remote(
    db: &Db,
    repo: &str,
    path: &str,
    superseded_since: i64,
) -> Result<Option<RemoteFile>, DbError> {
    static FIND_REMOTE: LazyLock<String> = LazyLock::new(|| {
        visible_row(
            "f.snapshot_id, f.checksum_type, f.checksum, f.size",
            "yum_remote_file",
        )
    });
    let row = sqlx::query(&FIND_REMOTE)
        .bind(repo)
        .bind(path)
        .bind(superseded_since)
        .fetch_optional(&mut *db.reader().await?)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let kind: String = row.try_get("checksum_type")?;
    let value: String = row.try_get("checksum")?;
    let checksum = Checksum::parse(&kind, &value).map_err(|e| DbError::Decode(e.into()))?;
    Ok(Some(RemoteFile {
        snapshot: row.try_get("snapshot_id")?,
        checksum,
        size: row.try_get::<i64, _>("size")? as u64,
    }))
}

/// Publishes a mirror's synced snapshot: exactly `publication.files` and its
/// remote files, plus, with `keep_dropped`, the packages of the current
/// snapshot that are not in it. One transaction, whose last step switches
/// `current_snapshot`; the unpublished snapshot `pending` is dropped with it.
/// Returns false (and changes nothing) when a sync that started later
/// (a newer `generation`) has published already.
pub async fn publish_synced(
    db: &Db,
    repo: &str,
    generation: i64,
    pending: i64,
    publication: Publication<'_>,
    expired_before: i64,
) -> Result<bool, DbError> {
    let Publication {
        files,
        remote,
        keep_dropped,
    } = publication;
    let mut conn = db.writer().await;
    let mut tx = conn.begin().await?;
    let Some(new) = start_publish(&mut tx, repo, generation).await? else {
        return Ok(false);
    };
    let id = new.id;
    let stored: Vec<(&str, &SyncedFile)> = files.iter().map(|(p, f)| (p.as_str(), f)).collect();
    upsert_snapshot_files(&mut tx, id, &stored).await?;
    let remote: Vec<&(String, Checksum, u64)> = remote
        .iter()
        .filter(|(path, _, _)| !files.contains_key(path))
        .collect();
    for chunk in remote.chunks(MANY_ROWS) {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO yum_remote_file (snapshot_id, path, checksum_type, checksum, size) ",
        );
        insert.push_values(chunk, |mut row, (path, checksum, size)| {
            row.push_bind(id)
                .push_bind(path)
                .push_bind(checksum.algorithm.name())
                .push_bind(&checksum.hex)
                .push_bind(*size as i64);
        });
        insert.push(" ON CONFLICT (snapshot_id, path) DO NOTHING");
        insert.build().execute(&mut *tx).await?;
    }
    if let Some(previous) = new.previous {
        if keep_dropped {
            sqlx::query(
                "INSERT INTO yum_snapshot_file (snapshot_id, path, blob_digest, size, modified_at) \
                 SELECT $1, path, blob_digest, size, modified_at FROM yum_snapshot_file \
                 WHERE snapshot_id = $2 AND path NOT LIKE 'repodata/%' \
                 ON CONFLICT (snapshot_id, path) DO NOTHING",
            )
            .bind(id)
            .bind(previous)
            .execute(&mut *tx)
            .await?;
        }
    }
    drop_unpublished(&mut tx, repo, pending).await?;
    switch_to(&mut tx, repo, generation, &new, expired_before).await?;
    tx.commit().await?;
    Ok(true)
}

async fn expire_snapshots(
    conn: &mut SqliteConnection,
    repo: &str,
    expired_before: i64,
) -> Result<(), DbError> {
    let expired = "SELECT id FROM yum_snapshot WHERE repo = $1 AND superseded_at < $2";
    for table in ["yum_remote_file", "yum_snapshot_file"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE snapshot_id IN ({expired})"
        ))
        .bind(repo)
        .bind(expired_before)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM yum_snapshot WHERE repo = $1 AND superseded_at < $2")
        .bind(repo)
        .bind(expired_before)
        .execute(&mut *conn)
        .await?;
    // Deleted packages that no snapshot left includes.
    sqlx::query(
        "DELETE FROM yum_package WHERE repo = $1 AND deleted_generation IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM yum_snapshot s WHERE s.repo = $1 \
           AND s.generation >= yum_package.added_generation \
           AND s.generation < yum_package.deleted_generation)",
    )
    .bind(repo)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Per repository: name, kind and the packages its current snapshot serves,
/// for the root page.
pub async fn summary(db: &Db) -> Result<Vec<(String, String, i64)>, DbError> {
    static SUMMARY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT r.name, r.kind, \
               (SELECT COUNT(*) FROM yum_snapshot_file f \
                WHERE f.snapshot_id = r.current_snapshot AND f.path LIKE '%.rpm') \
             + (SELECT COUNT(*) FROM yum_snapshot s JOIN yum_package p ON p.repo = s.repo \
                AND {IN_SNAPSHOT} WHERE s.id = r.current_snapshot) \
             FROM yum_repository r ORDER BY r.name"
        )
    });
    sqlx::query_as(&SUMMARY)
        .fetch_all(&mut *db.reader().await?)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory index with the repository `r` of `kind`.
    async fn db_with_repository(kind: RepoKind) -> Db {
        let db = Db::in_memory().await.expect("db");
        ensure_repository(&db, "r", kind).await.expect("repo");
        db
    }

    /// The repository's generation, and whether it is published.
    async fn generation_published(db: &Db, repo: &str) -> Result<(i64, bool), DbError> {
        let (generation, published) = generations(db, repo).await?;
        Ok((generation, published >= generation))
    }

    fn digest(byte: u8) -> Digest {
        Digest::from_sha256_bytes(&[byte; 32])
    }

    fn file(path: &str, byte: u8) -> NewFile {
        NewFile {
            path: path.into(),
            digest: digest(byte),
            size: 10,
        }
    }

    async fn found(db: &Db, path: &str, since: i64) -> Option<Digest> {
        find_file(db, "r", path, since)
            .await
            .expect("find")
            .map(|f| f.digest)
    }

    #[tokio::test]
    async fn snapshots_switch_whole_and_old_files_live_through_the_grace_period() {
        let db = db_with_repository(RepoKind::Hosted).await;
        assert_eq!(found(&db, "repodata/repomd.xml", i64::MAX).await, None);

        let first = [
            file("repodata/repomd.xml", 1),
            file("repodata/a-primary.xml.gz", 2),
        ];
        assert!(
            publish_snapshot(&db, "r", 0, &first, 0, DeflateChanges::default(), durable())
                .await
                .expect("publish")
                .expect("durable")
        );
        // The same generation again (another process got there first): no change.
        assert!(!publish_snapshot(
            &db,
            "r",
            0,
            &[file("repodata/repomd.xml", 9)],
            0,
            DeflateChanges::default(),
            durable(),
        )
        .await
        .expect("publish")
        .expect("durable"));
        assert_eq!(
            found(&db, "repodata/repomd.xml", i64::MAX).await,
            Some(digest(1))
        );

        add(&db, "Packages/p-1-1.noarch.rpm", &entry("p"), 3).await;
        assert_eq!(
            generation_published(&db, "r").await.expect("generation"),
            (1, false)
        );
        let second = [
            file("repodata/repomd.xml", 4),
            file("repodata/b-primary.xml.gz", 5),
        ];
        assert!(publish_snapshot(
            &db,
            "r",
            1,
            &second,
            0,
            DeflateChanges::default(),
            durable()
        )
        .await
        .expect("publish")
        .expect("durable"));
        assert_eq!(
            generation_published(&db, "r").await.expect("generation"),
            (1, true)
        );

        let now = airlock_core::unix_now();
        assert_eq!(
            found(&db, "repodata/repomd.xml", i64::MAX).await,
            Some(digest(4))
        );
        assert_eq!(
            found(&db, "repodata/a-primary.xml.gz", now - 60).await,
            Some(digest(2)),
            "superseded within the grace period"
        );
        assert_eq!(
            found(&db, "repodata/a-primary.xml.gz", now + 60).await,
            None
        );
        let listed = paths(&db).await;
        assert_eq!(
            listed,
            [
                "Packages/p-1-1.noarch.rpm",
                "repodata/b-primary.xml.gz",
                "repodata/repomd.xml"
            ]
        );
        let packages = list_files(&db, "r", "Packages/").await.expect("list");
        assert_eq!(packages.len(), 1);

        // A publish after the grace period drops the superseded snapshots.
        assert!(delete_package(&db, "r", "Packages/p-1-1.noarch.rpm")
            .await
            .expect("delete"));
        let third = [file("repodata/repomd.xml", 6)];
        assert!(publish_snapshot(
            &db,
            "r",
            2,
            &third,
            now + 60,
            DeflateChanges::default(),
            durable()
        )
        .await
        .expect("publish")
        .expect("durable"));
        assert_eq!(found(&db, "repodata/a-primary.xml.gz", 0).await, None);
        assert_eq!(found(&db, "repodata/b-primary.xml.gz", 0).await, None);
        assert_eq!(found(&db, "Packages/p-1-1.noarch.rpm", 0).await, None);
    }

    /// The paths of the current snapshot of `r`.
    async fn paths(db: &Db) -> Vec<String> {
        list_files(db, "r", "")
            .await
            .expect("list")
            .into_iter()
            .map(|f| f.path)
            .collect()
    }

    /// Package a is current; b (digest 2) was deleted and its last snapshot
    /// superseded at `now`.
    async fn deleted_b_is_served_only_within_the_grace_period(db: &Db, now: i64) {
        assert_eq!(found(db, "b-1-1.noarch.rpm", i64::MAX).await, None);
        assert_eq!(
            found(db, "b-1-1.noarch.rpm", now - 60).await,
            Some(digest(2))
        );
        assert_eq!(paths(db).await, ["a-1-1.noarch.rpm", "repodata/repomd.xml"]);
    }

    fn entry(name: &str) -> PackageEntry {
        PackageEntry {
            name: name.into(),
            epoch: 0,
            version: "1".into(),
            release: "1".into(),
            arch: "noarch".into(),
            primary: "<package/>".into(),
            filelists: "<package/>".into(),
            other: "<package/>".into(),
        }
    }

    async fn add(db: &Db, href: &str, entry: &PackageEntry, byte: u8) {
        let package = NewPackage {
            repo: "r",
            href,
            digest: &digest(byte),
            size: 10,
            entry,
            added_at: 5,
        };
        insert_packages(db, &[package], durable())
            .await
            .expect("insert")
            .expect("durable");
    }

    /// Blobs already durable.
    fn durable() -> std::future::Ready<Result<(), std::convert::Infallible>> {
        std::future::ready(Ok(()))
    }

    async fn publish_now(db: &Db, expired_before: i64) {
        let (generation, _) = generations(db, "r").await.expect("generation");
        let files = [file("repodata/repomd.xml", generation as u8)];
        assert!(publish_snapshot(
            db,
            "r",
            generation,
            &files,
            expired_before,
            DeflateChanges::default(),
            durable(),
        )
        .await
        .expect("publish")
        .expect("durable"));
    }

    async fn rows(db: &Db) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM yum_package")
            .fetch_one(&mut *db.writer().await)
            .await
            .expect("count")
    }

    #[tokio::test]
    async fn rows_whose_blobs_fail_to_become_durable_are_rolled_back() {
        let db = db_with_repository(RepoKind::Hosted).await;
        let failed = || std::future::ready(Err::<(), _>("disk full"));
        let a = entry("a");
        let package = NewPackage {
            repo: "r",
            href: "a-1-1.noarch.rpm",
            digest: &digest(1),
            size: 10,
            entry: &a,
            added_at: 5,
        };
        let inserted = insert_packages(&db, &[package], failed()).await;
        assert_eq!(inserted.expect("the index worked"), Err("disk full"));
        assert_eq!(rows(&db).await, 0);
        assert_eq!(
            generation_published(&db, "r").await.expect("generation"),
            (0, false)
        );

        add(&db, "a-1-1.noarch.rpm", &a, 1).await;
        publish_now(&db, 0).await;
        add(&db, "b-1-1.noarch.rpm", &entry("b"), 2).await;
        let files = [file("repodata/repomd.xml", 9)];
        let changes = DeflateChanges::default();
        let published = publish_snapshot(&db, "r", 2, &files, 0, changes, failed()).await;
        assert_eq!(published.expect("the index worked"), Err("disk full"));
        assert_eq!(
            found(&db, "repodata/repomd.xml", i64::MAX).await,
            Some(digest(1)),
            "the snapshot before stays current"
        );
        assert_eq!(
            generation_published(&db, "r").await.expect("generation"),
            (2, false)
        );
    }

    #[tokio::test]
    async fn packages_are_shared_by_snapshots_and_a_deleted_one_lives_through_the_grace_period() {
        let db = db_with_repository(RepoKind::Hosted).await;
        let (a, b) = (entry("a"), entry("b"));
        add(&db, "a-1-1.noarch.rpm", &a, 1).await;
        assert_eq!(
            found(&db, "a-1-1.noarch.rpm", 0).await,
            None,
            "not before a publish lists it"
        );
        publish_now(&db, 0).await;
        assert_eq!(
            found(&db, "a-1-1.noarch.rpm", i64::MAX).await,
            Some(digest(1))
        );
        add(&db, "b-1-1.noarch.rpm", &b, 2).await;
        publish_now(&db, 0).await;
        assert_eq!(package_count(&db, "r", 2).await.expect("count"), 2);
        assert_eq!(package_count(&db, "r", 1).await.expect("count"), 1);

        // Deleted: the current snapshot no longer lists it; the one it
        // superseded still serves it during the grace period.
        assert!(delete_package(&db, "r", "b-1-1.noarch.rpm")
            .await
            .expect("delete"));
        assert!(package_at(&db, "r", "b-1-1.noarch.rpm")
            .await
            .expect("at")
            .is_none());
        publish_now(&db, 0).await;
        let now = airlock_core::unix_now();
        deleted_b_is_served_only_within_the_grace_period(&db, now).await;
        assert_eq!(
            summary(&db).await.expect("summary"),
            [("r".to_owned(), "hosted".to_owned(), 1)]
        );
        assert_eq!(rows(&db).await, 2, "kept while a snapshot lists it");

        // The same NEVRA again at another path, while the old row is kept.
        add(&db, "other/b-1-1.noarch.rpm", &b, 3).await;
        // The grace period ends: the superseded snapshots go, and with them
        // the deleted package's row.
        publish_now(&db, now + 60).await;
        assert_eq!(found(&db, "b-1-1.noarch.rpm", 0).await, None);
        assert_eq!(
            found(&db, "other/b-1-1.noarch.rpm", 0).await,
            Some(digest(3))
        );
        assert_eq!(rows(&db).await, 2);

        // Re-adding a path just deleted takes the place of the kept row.
        assert!(delete_package(&db, "r", "a-1-1.noarch.rpm")
            .await
            .expect("delete"));
        add(&db, "a-1-1.noarch.rpm", &a, 4).await;
        publish_now(&db, 0).await;
        assert_eq!(
            found(&db, "a-1-1.noarch.rpm", i64::MAX).await,
            Some(digest(4))
        );
    }

    /// An index written by the release before migration 0011 (hosted
    /// snapshots copied their packages) is served the same after it.
    #[tokio::test]
    async fn migration_0011_keeps_every_snapshot_serving_what_it_listed() {
        use sqlx::ConnectOptions as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("airlock.db");
        // The migrations before 0011, applied by sqlx as that release did.
        let earlier = dir.path().join("migrations");
        std::fs::create_dir(&earlier).expect("mkdir");
        let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for file in std::fs::read_dir(&all).expect("migrations") {
            let file = file.expect("entry").path();
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.as_bytes().first().is_some_and(u8::is_ascii_digit) && name < "0011" {
                std::fs::copy(&file, earlier.join(name)).expect("copy");
            }
        }
        {
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .foreign_keys(true)
                .connect()
                .await
                .expect("connect");
            sqlx::migrate::Migrator::new(earlier.as_path())
                .await
                .expect("migrator")
                .run(&mut conn)
                .await
                .expect("migrate to 0010");
            let blobs: String = (1..=6)
                .map(|b| {
                    format!(
                        "INSERT INTO blob (digest, size, created_at) VALUES ('{}', 10, 1);",
                        digest(b)
                    )
                })
                .collect();
            // Package a (kept) and b (deleted after snapshot 1); snapshot 1
            // superseded just now, snapshot 2 current.
            let now = airlock_core::unix_now();
            sqlx::raw_sql(&format!(
                "{blobs} \
                 INSERT INTO yum_repository (name, kind, current_snapshot, generation, published_generation, created_at) \
                   VALUES ('r', 'hosted', 2, 3, 3, 1); \
                 INSERT INTO yum_package (repo, href, file_name, blob_digest, size, name, epoch, version, release, arch, \
                   primary_xml, filelists_xml, other_xml, added_at) \
                   VALUES ('r', 'a-1-1.noarch.rpm', 'a-1-1.noarch.rpm', '{a}', 10, 'a', 0, '1', '1', 'noarch', '<p/>', '<f/>', '<o/>', 5); \
                 INSERT INTO yum_snapshot (id, repo, created_at, published_at, superseded_at) VALUES (1, 'r', 1, 1, {now}); \
                 INSERT INTO yum_snapshot (id, repo, created_at, published_at) VALUES (2, 'r', 2, 2); \
                 INSERT INTO yum_snapshot_file (snapshot_id, path, blob_digest, size, modified_at) VALUES \
                   (1, 'repodata/repomd.xml', '{m1}', 10, 1), (1, 'a-1-1.noarch.rpm', '{a}', 10, 5), \
                   (1, 'b-1-1.noarch.rpm', '{b}', 10, 5), \
                   (2, 'repodata/repomd.xml', '{m2}', 10, 2), (2, 'a-1-1.noarch.rpm', '{a}', 10, 5);",
                a = digest(1),
                b = digest(2),
                m1 = digest(3),
                m2 = digest(4),
            ))
            .execute(&mut conn)
            .await
            .expect("a 0010 index");
        }
        let db = Db::open(&path).await.expect("migrate to the latest");
        let now = airlock_core::unix_now();
        assert_eq!(
            found(&db, "a-1-1.noarch.rpm", i64::MAX).await,
            Some(digest(1))
        );
        assert_eq!(
            found(&db, "repodata/repomd.xml", i64::MAX).await,
            Some(digest(4))
        );
        deleted_b_is_served_only_within_the_grace_period(&db, now).await;
        // The next publish lists a and the new package, each once.
        add(&db, "c-1-1.noarch.rpm", &entry("c"), 5).await;
        publish_now(&db, 0).await;
        assert_eq!(package_count(&db, "r", 4).await.expect("count"), 2);
        assert_eq!(list_files(&db, "r", "").await.expect("list").len(), 3);
    }

    fn synced(byte: u8) -> SyncedFile {
        SyncedFile {
            digest: digest(byte),
            size: 10,
            modified_at: 1,
        }
    }

    #[tokio::test]
    async fn files_recorded_twice_in_one_batch_keep_the_last() {
        let db = db_with_repository(RepoKind::Mirror).await;
        let (_, pending) = begin_sync(&db, "r").await.expect("begin");
        // More files than one statement takes, and one path twice.
        let mut files: Vec<(String, SyncedFile)> = (0..=MANY_ROWS)
            .map(|i| (format!("p/{i}.rpm"), synced((i % 200) as u8)))
            .collect();
        files.push(("p/0.rpm".into(), synced(250)));
        record_files(&db, pending, &files).await.expect("record");
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT path, blob_digest FROM yum_snapshot_file WHERE snapshot_id = $1",
        )
        .bind(pending)
        .fetch_all(&mut *db.writer().await)
        .await
        .expect("rows");
        assert_eq!(rows.len(), MANY_ROWS + 1);
        let first = rows
            .iter()
            .find(|(path, _)| path == "p/0.rpm")
            .expect("p/0.rpm");
        assert_eq!(first.1, digest(250).to_string());
        assert_eq!(db.blob_size(&digest(199)).await.expect("blob"), Some(10));
    }

    #[tokio::test]
    async fn mirror_syncs_resume_publish_whole_and_keep_what_upstream_dropped() {
        let db = db_with_repository(RepoKind::Mirror).await;
        // A sync that fails halfway: its files are recorded, clients see nothing.
        let (failed_generation, pending) = begin_sync(&db, "r").await.expect("begin");
        record_files(&db, pending, &[("a.rpm".into(), synced(1))])
            .await
            .expect("record");
        assert!(find_file(&db, "r", "a.rpm", 0)
            .await
            .expect("find")
            .is_none());
        // The rerun finds the blob recorded (so durable), in a snapshot of its own.
        assert_eq!(db.blob_size(&digest(1)).await.expect("blob"), Some(10));
        let (generation, again) = begin_sync(&db, "r").await.expect("begin");
        assert_ne!(again, pending);
        assert!(generation > failed_generation);
        let pending = again;
        let files: std::collections::BTreeMap<String, SyncedFile> = [
            ("repodata/repomd.xml".to_owned(), synced(2)),
            ("a.rpm".to_owned(), synced(1)),
        ]
        .into();
        let checksum = Checksum::parse("sha256", &"ab".repeat(32)).expect("checksum");
        let remote = [("lazy.rpm".to_owned(), checksum.clone(), 7)];
        let publication = Publication {
            files: &files,
            remote: &remote,
            keep_dropped: true,
        };
        assert!(
            publish_synced(&db, "r", generation, pending, publication, 0)
                .await
                .expect("publish")
        );
        assert_eq!(found(&db, "a.rpm", i64::MAX).await, Some(digest(1)));
        let lazy = find_remote(&db, "r", "lazy.rpm", i64::MAX)
            .await
            .expect("remote")
            .expect("listed");
        assert_eq!((lazy.checksum, lazy.size), (checksum, 7));

        // Upstream dropped a.rpm: kept servable (not pruned), repodata replaced.
        let (generation, pending) = begin_sync(&db, "r").await.expect("begin");
        let files: std::collections::BTreeMap<String, SyncedFile> =
            [("repodata/repomd.xml".to_owned(), synced(3))].into();
        let publication = Publication {
            files: &files,
            remote: &[],
            keep_dropped: true,
        };
        assert!(
            publish_synced(&db, "r", generation, pending, publication, 0)
                .await
                .expect("publish")
        );
        let current = current_files(&db, "r").await.expect("current");
        assert_eq!(
            current.keys().collect::<Vec<_>>(),
            ["a.rpm", "repodata/repomd.xml"]
        );
        assert_eq!(current["repodata/repomd.xml"].digest, digest(3));
        assert!(find_remote(&db, "r", "lazy.rpm", i64::MAX)
            .await
            .expect("remote")
            .is_none());

        // A sync that started before the last publish cannot replace it.
        let (_, pending) = begin_sync(&db, "r").await.expect("begin");
        let publication = Publication {
            files: &files,
            remote: &[],
            keep_dropped: false,
        };
        assert!(
            !publish_synced(&db, "r", generation, pending, publication, 0)
                .await
                .expect("publish")
        );
    }
}
