//! What garbage collection drops from the registry's own tables before the
//! shared sweep (`airlock_core::gc::sweep`) deletes the blobs nothing
//! references any more.
//!
//! - A blob link (`oci_repository_blob`) of a hosted repository that no
//!   manifest of the repository references, older than the grace period: a
//!   layer pushed for a manifest that never came, or whose manifests were
//!   deleted. Mirror repositories keep theirs: a manifest's references are
//!   recorded only for the blobs stored when it was fetched, and layers
//!   fetched later are held by their link alone. (registry:2's
//!   `garbage-collect` does the same.) The grace period is what keeps the
//!   layers of a push in progress, pushed before their manifest.
//! - With `delete_untagged`, a manifest older than the grace period that no
//!   tag reaches: not tagged, not a child of a reached index, not a referrer
//!   (signature, SBOM) of a reached manifest. Its references and tags go with
//!   it (`ON DELETE CASCADE`). By default untagged manifests are kept, since
//!   clients pull by digest.
//! - A sha512 alias (`oci_digest_alias`) older than the grace period whose
//!   blob no repository holds any more (no blob link, no manifest): the
//!   alias alone must not keep a blob alive.

use airlock_core::db::DbError;
use airlock_core::gc::Changes;
use sqlx::Row as _;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// What [`prune`] dropped (or, in a dry run, would drop).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Untagged manifests deleted.
    pub manifests: u64,
    /// Blob links deleted.
    pub blob_links: u64,
    /// sha512 aliases deleted.
    pub aliases: u64,
}

/// Drops dead rows of the registry (see the module docs).
pub async fn prune(
    changes: &mut Changes<'_>,
    grace: Duration,
    delete_untagged: bool,
) -> Result<PruneReport, DbError> {
    let cutoff = airlock_core::unix_now() - grace.as_secs() as i64;
    let mut report = PruneReport::default();
    if delete_untagged {
        for (repository, digest) in unreached_manifests(changes, cutoff).await? {
            report.manifests += changes
                .execute(
                    sqlx::query("DELETE FROM oci_manifest WHERE repository = $1 AND digest = $2")
                        .bind(repository)
                        .bind(digest),
                )
                .await?;
        }
    }
    // Only hosted repositories: in a mirror, a manifest's references are
    // recorded for the blobs stored when it was fetched, and layers fetched
    // later are held by their link alone.
    report.blob_links = changes
        .execute(
            sqlx::query(
                "DELETE FROM oci_repository_blob WHERE created_at <= $1 \
                 AND repository IN (SELECT name FROM oci_repository WHERE kind = 'hosted') \
                 AND NOT EXISTS (SELECT 1 FROM oci_manifest_reference r \
                  WHERE r.repository = oci_repository_blob.repository AND r.digest = oci_repository_blob.digest)",
            )
            .bind(cutoff),
        )
        .await?;
    // After the links: an alias goes in the same run as its blob's last link.
    report.aliases = changes
        .execute(
            sqlx::query(
                "DELETE FROM oci_digest_alias WHERE created_at <= $1 \
                 AND NOT EXISTS (SELECT 1 FROM oci_repository_blob r WHERE r.digest = oci_digest_alias.blob) \
                 AND NOT EXISTS (SELECT 1 FROM oci_manifest m WHERE m.digest = oci_digest_alias.blob)",
            )
            .bind(cutoff),
        )
        .await?;
    Ok(report)
}

/// Manifests created before `cutoff` that no tag reaches, as (repository, digest).
async fn unreached_manifests(
    changes: &mut Changes<'_>,
    cutoff: i64,
) -> Result<Vec<(String, String)>, DbError> {
    type Key = (String, String);
    let pairs =
        |rows: Vec<sqlx::sqlite::SqliteRow>, a: &str, b: &str| -> Result<Vec<Key>, DbError> {
            rows.into_iter()
                .map(|r| Ok((r.try_get(a)?, r.try_get(b)?)))
                .collect()
        };
    let tagged = pairs(
        changes
            .fetch_all(sqlx::query(
                "SELECT DISTINCT repository, manifest FROM oci_tag",
            ))
            .await?,
        "repository",
        "manifest",
    )?;
    // Edges from a reached manifest: its index children, and its referrers.
    let mut next: HashMap<Key, Vec<String>> = HashMap::new();
    let children = changes
        .fetch_all(sqlx::query(
            "SELECT repository, manifest, digest FROM oci_manifest_reference WHERE kind = 'manifest'",
        ))
        .await?;
    for row in children {
        let key: Key = (row.try_get("repository")?, row.try_get("manifest")?);
        next.entry(key).or_default().push(row.try_get("digest")?);
    }
    // A subject named by sha512 leads to the manifest stored by its sha256.
    let referrers = changes
        .fetch_all(sqlx::query(
            "SELECT m.repository, m.digest, COALESCE(a.blob, m.subject) AS subject FROM oci_manifest m \
             LEFT JOIN oci_digest_alias a ON a.digest = m.subject WHERE m.subject IS NOT NULL",
        ))
        .await?;
    for row in referrers {
        let key: Key = (row.try_get("repository")?, row.try_get("subject")?);
        next.entry(key).or_default().push(row.try_get("digest")?);
    }
    let mut reached: HashSet<Key> = HashSet::new();
    let mut queue = tagged;
    while let Some(key) = queue.pop() {
        if !reached.insert(key.clone()) {
            continue;
        }
        for digest in next.get(&key).into_iter().flatten() {
            queue.push((key.0.clone(), digest.clone()));
        }
    }
    let all = pairs(
        changes
            .fetch_all(
                sqlx::query("SELECT repository, digest FROM oci_manifest WHERE created_at <= $1")
                    .bind(cutoff),
            )
            .await?,
        "repository",
        "digest",
    )?;
    Ok(all.into_iter().filter(|k| !reached.contains(k)).collect())
}
