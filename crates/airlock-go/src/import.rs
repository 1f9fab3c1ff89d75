//! `airlock import gomodcache DIR`: seeds the store from a Go module cache.
//!
//! Reads `$GOMODCACHE/cache/download` (or a directory in the same GOPROXY layout):
//! every `.info`, `.mod` and `.zip` passes the same checks as an upstream fetch,
//! `.ziphash` files are compared with the recomputed hash, and the checksum
//! database files under `sumdb/` (lookups and tiles) are cached as if fetched.
//! Each `.mod` and `.zip` is then verified against the checksum database's
//! files already stored (import `sumdb/` first: see [`is_sumdb`]), as an
//! online fetch is; what cannot be verified is refused, or kept and marked
//! when `go.store_unverified` (`--keep-unverified`), and listed in the report.

use crate::error::GoError;
use crate::index::{self, NewGoFile};
use crate::proxy::GoProxy;
use crate::request::{self, FileKind, GoRequest, SumDbPath};
use crate::sumdb::verify::{ImportCheck, Verification};
use airlock_core::{Digest, StagedBlob};
use sqlx::Connection;
use std::path::{Path, PathBuf};

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Module files newly stored.
    pub stored: u64,
    /// Checksum-database files newly stored.
    pub sumdb_stored: u64,
    /// Files that were already stored with the same bytes.
    pub already: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files refused, with the reason.
    pub rejected: Vec<(PathBuf, String)>,
    /// Module files stored without being verified against a checksum database.
    pub not_verified: u64,
    /// Those of them worth listing, with why (not listed: every file, when no
    /// checksum database with a key is configured).
    pub unverified: Vec<(PathBuf, String)>,
    /// Files that are not module or checksum-database files (lists, locks, partial downloads).
    pub skipped: u64,
    /// Query answers (`<query>.info`) kept, so the same query resolves offline.
    pub queries: u64,
    /// Files deliberately not imported, with the reason.
    pub left_out: Vec<(PathBuf, String)>,
}

impl ImportReport {
    /// Adds another report's counts (imports run several files at once).
    pub fn merge(&mut self, other: ImportReport) {
        self.stored += other.stored;
        self.sumdb_stored += other.sumdb_stored;
        self.already += other.already;
        self.bytes += other.bytes;
        self.skipped += other.skipped;
        self.queries += other.queries;
        self.rejected.extend(other.rejected);
        self.not_verified += other.not_verified;
        self.unverified.extend(other.unverified);
        self.left_out.extend(other.left_out);
    }
}

/// One file found in the tree, for progress reporting.
#[derive(Debug)]
pub struct ImportItem {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
}

/// Whether a file found by [`scan`] under `root` is a checksum-database file:
/// these are imported before module files, which are verified against them.
pub fn is_sumdb(root: &Path, item: &ImportItem) -> bool {
    item.path
        .strip_prefix(root)
        .is_ok_and(|rel| rel.starts_with("sumdb"))
}

/// Lists the files to import under `dir` (a module cache root or its `cache/download`).
pub fn scan(dir: &Path) -> std::io::Result<(PathBuf, Vec<ImportItem>)> {
    let download = dir.join("cache").join("download");
    let root = if download.is_dir() {
        download
    } else {
        dir.to_owned()
    };
    let mut items = Vec::new();
    for entry in walkdir::WalkDir::new(&root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.file_type().is_file() {
            let size = entry.metadata().map_err(std::io::Error::other)?.len();
            items.push(ImportItem {
                path: entry.into_path(),
                size,
            });
        }
    }
    Ok((root, items))
}

/// A checked file waiting for its batch to be committed.
pub enum Pending {
    /// A module file.
    Module {
        /// Module path.
        module: String,
        /// Canonical version.
        version: String,
        /// Which file.
        kind: FileKind,
        /// Its bytes, in staging.
        staged: StagedBlob,
        /// `h1:` of a zip or go.mod.
        h1: Option<String>,
        /// Where it came from.
        origin: String,
        /// How it was checked against the checksum database.
        verification: Option<Verification>,
    },
    /// A query's answer (`<query>.info`): what the query resolves to, and the
    /// version's `.info` when it was not stored yet (already durable: it is small
    /// and written at once).
    Query {
        /// Module path.
        module: String,
        /// The query.
        query: String,
        /// The canonical version it names.
        version: String,
        /// The `.info` stored for the version, if this file provided it.
        info: Option<(Digest, u64)>,
        /// Where it came from.
        origin: String,
    },
    /// A checksum-database file.
    SumDb {
        /// The database's name.
        name: String,
        /// Its path (`lookup/…`, `tile/…`).
        path: String,
        /// Its bytes, in staging.
        staged: StagedBlob,
    },
}

impl Pending {
    /// Bytes staged.
    pub fn size(&self) -> u64 {
        match self {
            Pending::Module { staged, .. } | Pending::SumDb { staged, .. } => staged.size,
            Pending::Query { .. } => 0,
        }
    }
}

/// Reads and checks one file found by [`scan`], staging it for
/// [`commit_batch`]. Files that are already stored, not part of a module cache,
/// or refused are counted in `report` and give `None`.
pub async fn prepare_file(
    proxy: &GoProxy,
    root: &Path,
    item: &ImportItem,
    report: &mut ImportReport,
) -> Result<Option<Pending>, GoError> {
    let Some(rel) = item
        .path
        .strip_prefix(root)
        .ok()
        .and_then(|r| r.to_str())
        .map(|r| r.replace(std::path::MAIN_SEPARATOR, "/"))
    else {
        report.skipped += 1;
        return Ok(None);
    };
    let is_candidate = rel.starts_with("sumdb/")
        || [".info", ".mod", ".zip"]
            .iter()
            .any(|ext| rel.ends_with(ext));
    if !is_candidate {
        report.skipped += 1;
        return Ok(None);
    }
    let parsed = match request::parse(&rel) {
        Ok(p) => p,
        Err(e) => {
            if is_query_file(&rel) {
                report.left_out.push((
                    item.path.clone(),
                    "the .mod or .zip of a query: go asks only for those of the canonical version the query resolves to".into(),
                ));
            } else {
                report.rejected.push((item.path.clone(), e.0));
            }
            return Ok(None);
        }
    };
    let url = airlock_core::upstream::file_url(&item.path)?;
    report.bytes += item.size;
    let mut refuse = |reason: String| {
        report.rejected.push((item.path.clone(), reason));
        Ok(None)
    };
    match parsed {
        GoRequest::File {
            module,
            version,
            kind,
        } => {
            let body = proxy.upstream.get(&url).await?; // a file:// URL: never the network
            let (staged, h1) = match proxy.stage_module_file(body, &module, &version, kind).await {
                Ok(s) => s,
                Err(GoError::BadContent(reason)) => return refuse(reason),
                Err(e) => return Err(e),
            };
            if kind == FileKind::Zip {
                let ziphash = item.path.with_extension("ziphash");
                if let Ok(recorded) = tokio::fs::read_to_string(&ziphash).await {
                    if Some(recorded.trim()) != h1.as_deref() {
                        return refuse(format!(
                            "zip hashes to {} but {} says {}",
                            h1.unwrap_or_default(),
                            ziphash.display(),
                            recorded.trim()
                        ));
                    }
                }
            }
            if let Some(existing) = index::find_file(&proxy.db, &module, &version, kind).await? {
                if existing.digest == staged.digest || kind == FileKind::Info {
                    report.already += 1;
                    return Ok(None);
                }
                return refuse(format!(
                    "differs from the stored {module}@{version}.{} ({})",
                    kind.as_str(),
                    existing.digest
                ));
            }
            let origin = format!("import:{}", item.path.display());
            let verification = match proxy
                .check_imported(&module, &version, kind, h1.as_deref(), &origin)
                .await?
            {
                ImportCheck::Refuse(reason) => return refuse(reason),
                ImportCheck::Store(verification, note) => {
                    if verification.is_some_and(|v| v != Verification::Verified) {
                        report.not_verified += 1;
                    }
                    if let Some(note) = note {
                        report.unverified.push((item.path.clone(), note));
                    }
                    verification
                }
            };
            Ok(Some(Pending::Module {
                module,
                version,
                kind,
                staged,
                h1,
                origin,
                verification,
            }))
        }
        GoRequest::SumDb {
            name,
            path: SumDbPath::Immutable(path),
        } => {
            if index::find_sumdb(&proxy.db, &name, &path).await?.is_some() {
                report.already += 1;
                return Ok(None);
            }
            let body = proxy.upstream.get(&url).await?; // a file:// URL: never the network
            match proxy.stage_sumdb_file(body, &path).await {
                Ok(staged) => Ok(Some(Pending::SumDb { name, path, staged })),
                Err(GoError::BadContent(reason)) => refuse(reason),
                Err(e) => Err(e),
            }
        }
        GoRequest::Query { module, query } => {
            let origin = format!("import:{}", item.path.display());
            let body = proxy.upstream.get(&url).await?; // a file:// URL: never the network
            let bytes = body.bytes(crate::proxy::MAX_INFO_SIZE).await?;
            let version = match crate::proxy::info_version(&bytes)
                .and_then(|v| crate::query::answer_fits(&module, &query, &v).map(|()| v))
            {
                Ok(v) => v,
                Err(reason) => return refuse(reason),
            };
            // The version's own .info, when the tree has one, is imported for
            // itself (it may carry the commit that the query answer lacks).
            let own_info = crate::module::escape_version(&version)
                .ok()
                .and_then(|v| item.path.parent().map(|dir| dir.join(format!("{v}.info"))))
                .is_some_and(|path| path.is_file());
            let info = if !own_info
                && index::find_file(&proxy.db, &module, &version, FileKind::Info)
                    .await?
                    .is_none()
                && crate::proxy::check_info(&bytes, Some(&version)).is_ok()
            {
                let size = bytes.len() as u64;
                let digest = proxy
                    .store
                    .put_bytes(&proxy.staging, bytes::Bytes::from(bytes))
                    .await?;
                Some((digest, size))
            } else {
                None
            };
            Ok(Some(Pending::Query {
                module,
                query,
                version,
                info,
                origin,
            }))
        }
        _ => {
            report.skipped += 1;
            Ok(None)
        }
    }
}

/// Whether `rel` is a `.mod` or `.zip` named by a query rather than a version
/// (`@v/v2.0.0.mod` of a path without `/v2`, `@v/master.zip`).
fn is_query_file(rel: &str) -> bool {
    let Some(stem) = rel
        .strip_suffix(".mod")
        .or_else(|| rel.strip_suffix(".zip"))
    else {
        return false;
    };
    matches!(
        request::parse(&format!("{stem}.info")),
        Ok(GoRequest::Query { .. })
    )
}

/// Makes a batch durable together, then records all its rows in one
/// transaction: the batch becomes visible at once, and never before its blobs.
pub async fn commit_batch(
    proxy: &GoProxy,
    batch: Vec<Pending>,
    report: &mut ImportReport,
) -> Result<(), GoError> {
    let mut rows = Vec::with_capacity(batch.len());
    let mut staged = Vec::with_capacity(batch.len());
    for pending in batch {
        match pending {
            Pending::Module {
                module,
                version,
                kind,
                staged: blob,
                h1,
                origin,
                verification,
            } => {
                rows.push(Row::Module {
                    module,
                    version,
                    kind,
                    digest: blob.digest.clone(),
                    size: blob.size,
                    h1,
                    origin,
                    verification,
                });
                staged.push(blob);
            }
            Pending::Query {
                module,
                query,
                version,
                info,
                origin,
            } => {
                if let Some((digest, size)) = info {
                    rows.push(Row::Module {
                        module: module.clone(),
                        version: version.clone(),
                        kind: FileKind::Info,
                        digest,
                        size,
                        h1: None,
                        origin: origin.clone(),
                        verification: None,
                    });
                }
                rows.push(Row::Query {
                    module,
                    query,
                    version,
                    origin,
                });
            }
            Pending::SumDb {
                name,
                path,
                staged: blob,
            } => {
                rows.push(Row::SumDb {
                    name,
                    path,
                    digest: blob.digest.clone(),
                    size: blob.size,
                });
                staged.push(blob);
            }
        }
    }
    proxy.store.commit_batch(staged).await?;
    let mut conn = proxy.db.writer().await;
    let mut tx = conn.begin().await?;
    for row in &rows {
        match row {
            Row::Module {
                module,
                version,
                kind,
                digest,
                size,
                h1,
                origin,
                verification,
            } => {
                let new = NewGoFile {
                    module,
                    version,
                    kind: *kind,
                    digest,
                    size: *size,
                    h1: h1.as_deref(),
                    origin,
                    verification: *verification,
                };
                if index::insert_file_tx(&mut tx, new).await? {
                    report.stored += 1;
                } else {
                    report.already += 1;
                }
            }
            Row::Query {
                module,
                query,
                version,
                origin,
            } => {
                index::record_query_tx(&mut tx, module, query, version, origin).await?;
                report.queries += 1;
            }
            Row::SumDb {
                name,
                path,
                digest,
                size,
            } => {
                index::insert_sumdb_tx(&mut tx, name, path, digest, *size).await?;
                report.sumdb_stored += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

/// What [`commit_batch`] records once the blobs are durable.
enum Row {
    Module {
        module: String,
        version: String,
        kind: FileKind,
        digest: Digest,
        size: u64,
        h1: Option<String>,
        origin: String,
        verification: Option<Verification>,
    },
    Query {
        module: String,
        query: String,
        version: String,
        origin: String,
    },
    SumDb {
        name: String,
        path: String,
        digest: Digest,
        size: u64,
    },
}
