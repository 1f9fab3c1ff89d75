//! airlock's YUM repositories at `/yum`: what nginx + createrepo_c give an
//! RPM shop, from one content-addressed store.
//!
//! # Design
//!
//! - A **repository** is a named path from the `[yum]` configuration
//!   (`internal/tools`, `rocky/10/baseos`), served at `/yum/<name>/`. It is
//!   **hosted** (takes uploads; airlock writes its `repodata/`) or **mirror**
//!   (copied from an upstream by `airlock sync yum`, [`sync`]). Names never
//!   nest, so a request path names at most one repository.
//! - A hosted repository's **packages** (`yum_package`) hold the `.rpm` blob,
//!   its NEVRA and the three XML fragments derived from its header
//!   ([`fragments`]) when it was added. Publishing concatenates the stored
//!   fragments: unchanged packages are never read again ([`publish`]).
//! - Clients see one **snapshot** at a time (`yum_snapshot`,
//!   `yum_snapshot_file`): `repodata/repomd.xml`, the metadata files it lists
//!   and the packages, each a path → blob. A hosted snapshot records the
//!   package generation it was built from and shares the `yum_package` rows
//!   of that generation instead of copying them; a deleted package's row is
//!   kept, marked, while a snapshot lists it. A snapshot's metadata blobs are
//!   durable before the transaction that records it, whose last step
//!   switches `yum_repository.current_snapshot`; until then clients see the
//!   previous complete snapshot. A superseded snapshot's files stay servable
//!   for `grace_period`, so a `dnf` run that read the old `repomd.xml` finds
//!   the files it lists. A mirror sync records its files in an unpublished
//!   snapshot as they become durable (so a rerun finds them stored and
//!   resumes) and publishes only when every file is stored and checked.
//! - Every request path is resolved through the index ([`routes`]); nothing
//!   is ever joined onto a directory.
//!
//! See `docs/yum.md` for client setup.
#![warn(missing_docs)]

pub mod blobio;
pub mod checksum;
pub mod error;
pub mod filter;
pub mod fragments;
pub mod header;
pub mod index;
pub mod primary;
pub mod publish;
pub mod pull;
pub mod repomd;
pub mod routes;
pub mod sync;

pub use error::YumError;
pub use routes::configure;

use airlock_core::inflight::Inflight;
use airlock_core::memo::Memo;
use airlock_core::upstream::Upstream;
use airlock_core::{BlobStore, Db, Digest, Mode, StagedBlob, Staging};
use fragments::{FileFacts, PackageEntry};
use index::StoredFile;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The `[yum]` configuration section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct YumSettings {
    /// How long the files of a superseded snapshot stay servable.
    #[serde(with = "humantime_serde")]
    pub grace_period: Duration,
    /// The largest RPM an upload may be, in bytes.
    pub max_upload: u64,
    /// `online` or `offline` for the mirrors; unset follows the top-level `mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Files a sync fetches from an upstream at once.
    pub sync_concurrency: usize,
    /// The repositories served at `/yum/<name>/`.
    pub repositories: Vec<RepoSettings>,
}

impl Default for YumSettings {
    fn default() -> Self {
        YumSettings {
            grace_period: Duration::from_secs(6 * 3600),
            max_upload: 4 << 30,
            mode: None,
            sync_concurrency: 4,
            repositories: Vec::new(),
        }
    }
}

/// One `[[yum.repositories]]` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSettings {
    /// The path under `/yum/`, e.g. `internal/tools`.
    pub name: String,
    /// `hosted` (takes uploads) or `mirror` (synced from `upstream`).
    pub kind: RepoKind,
    /// A mirror's upstream base URL (the directory holding `repodata/`);
    /// `https://user:password@host/…` carries credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// A mirror keeps only the newest version of each name and architecture,
    /// and serves metadata regenerated for them.
    #[serde(default)]
    pub newest_only: bool,
    /// A mirror keeps only packages of these architectures, and `noarch`
    /// (which every architecture installs); source packages only when `src`
    /// is listed. Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// A mirror drops packages that upstream dropped (default: they stay
    /// servable by path, as `dnf reposync` without `--delete` keeps them).
    #[serde(default)]
    pub prune: bool,
    /// A mirror's sync copies the metadata only; each package is fetched when
    /// a client first asks for it (online mode), checked and stored.
    #[serde(default)]
    pub on_demand: bool,
    /// `airlock serve` in online mode syncs a mirror this often (e.g. "6h");
    /// unset: only `airlock sync yum` does.
    #[serde(
        default,
        with = "humantime_serde::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh: Option<Duration>,
}

impl RepoSettings {
    /// A hosted repository named `name`.
    pub fn hosted(name: &str) -> RepoSettings {
        RepoSettings {
            name: name.to_owned(),
            kind: RepoKind::Hosted,
            upstream: None,
            newest_only: false,
            arches: Vec::new(),
            prune: false,
            on_demand: false,
            refresh: None,
        }
    }

    /// Whether the served metadata is airlock's, for a subset of upstream's packages.
    pub fn filtered(&self) -> bool {
        self.newest_only || !self.arches.is_empty()
    }
}

/// What fills a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoKind {
    /// Uploads; airlock writes the repodata.
    Hosted,
    /// Copied from an upstream repository by a sync.
    Mirror,
}

impl RepoKind {
    /// The name used in the configuration and the index.
    pub fn as_str(self) -> &'static str {
        match self {
            RepoKind::Hosted => "hosted",
            RepoKind::Mirror => "mirror",
        }
    }
}

impl YumSettings {
    /// Checks repository names: path segments of letters, digits, `.`, `_`,
    /// `-`; no `.`/`..`; unique, and none inside another.
    pub fn check(&self) -> Result<(), String> {
        for (i, repo) in self.repositories.iter().enumerate() {
            let name = &repo.name;
            let segment_ok = |s: &str| {
                !s.is_empty()
                    && s != "."
                    && s != ".."
                    && s != "repodata"
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            };
            if !name.split('/').all(segment_ok) {
                return Err(format!(
                    "invalid yum repository name {name:?}: use path segments of letters, digits, '.', '_' and '-'"
                ));
            }
            match (repo.kind, repo.upstream.as_deref()) {
                (RepoKind::Mirror, None) => {
                    return Err(format!(
                        "yum repository {name:?}: a mirror needs an upstream (its baseurl)"
                    ))
                }
                (RepoKind::Mirror, Some(url)) => {
                    sync::base_url(url).map_err(|e| format!("yum repository {name:?}: {e}"))?;
                }
                (RepoKind::Hosted, _) => {
                    if repo.upstream.is_some()
                        || repo.filtered()
                        || repo.prune
                        || repo.on_demand
                        || repo.refresh.is_some()
                    {
                        return Err(format!(
                            "yum repository {name:?}: upstream, newest_only, arches, prune, on_demand and refresh are for mirrors"
                        ));
                    }
                }
            }
            for other in &self.repositories[..i] {
                let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
                if nested(name, &other.name) || nested(&other.name, name) {
                    return Err(format!(
                        "yum repositories {:?} and {name:?} overlap: one path holds the other",
                        other.name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The YUM side of the server and of `airlock yum`.
pub struct Yum {
    /// The configured repositories.
    pub repos: Vec<RepoSettings>,
    /// The index.
    pub db: Db,
    /// The blobs.
    pub store: Arc<dyn BlobStore>,
    /// This process's temp area.
    pub staging: Arc<Staging>,
    /// See [`YumSettings::grace_period`].
    pub grace_period: Duration,
    /// See [`YumSettings::max_upload`].
    pub max_upload: u64,
    /// Online: mirrors fetch missing files on demand; offline: never.
    pub mode: Mode,
    /// The outbound client.
    pub upstream: Upstream,
    /// See [`YumSettings::sync_concurrency`].
    pub sync_concurrency: usize,
    /// One sync per repository, one on-demand fetch per file.
    pub inflight: Inflight,
    /// On-demand fetches still storing what they served; the server waits for them.
    pub tasks: tokio_util::task::TaskTracker,
    /// The runtime they run on (the server's main one, which outlives a worker).
    pub background: tokio::runtime::Handle,
    /// Held while publishing, so that this process publishes one snapshot at
    /// a time; it keeps the package sets this process published.
    publishing: tokio::sync::Mutex<publish::Published>,
    /// Files found in snapshots, by (repository, path), kept in memory so that
    /// the GETs clients repeat (`repomd.xml` above all) skip the index.
    /// Every snapshot switch forgets them, this process's at once, another
    /// process's (`airlock sync yum`, `airlock yum add`) by the index's
    /// change stamp (see [`airlock_core::memo`]).
    pub kept_files: Memo<(String, String), StoredFile>,
}

/// Files kept in [`Yum::kept_files`], at most.
const KEPT_FILES: usize = 100_000;

/// Packages stored at most with their rows written during their sync (see
/// [`Yum::store_packages`]).
const OVERLAPPED_COMMIT: usize = 4;

/// A local RPM copied into staging and read, not yet checked against its
/// repository ([`Yum::stage_file`]).
pub struct StagedRpm(PreparedPackage);

/// A checked package, staged and ready to store.
pub struct PreparedPackage {
    repo: String,
    href: String,
    staged: StagedBlob,
    entry: PackageEntry,
    added_at: i64,
}

impl PreparedPackage {
    /// Its path in the repository.
    pub fn href(&self) -> &str {
        &self.href
    }

    /// Its name-epoch:version-release.arch.
    pub fn nevra(&self) -> String {
        self.entry.nevra()
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.staged.size
    }
}

/// What checking a package found.
pub enum Prepared {
    /// A new package.
    New(Box<PreparedPackage>),
    /// The same bytes are already stored at that path.
    Unchanged,
}

/// What adding a package did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new package.
    New,
    /// The same bytes were already stored at that path: nothing changed.
    Unchanged,
}

impl Yum {
    /// Records the configured repositories and publishes the hosted ones that
    /// have no snapshot yet (an empty hosted repository still has valid
    /// repodata; a mirror has none before its first sync). `mode` is the
    /// mirrors' (see [`YumSettings::mode`]).
    pub async fn open(
        settings: &YumSettings,
        mode: Mode,
        upstream: Upstream,
        db: Db,
        store: Arc<dyn BlobStore>,
        staging: Arc<Staging>,
    ) -> Result<Yum, YumError> {
        let yum = Yum::open_unpublished(settings, mode, upstream, db, store, staging).await?;
        for repo in &yum.repos {
            if repo.kind == RepoKind::Hosted {
                yum.publish(&repo.name).await?;
            }
        }
        Ok(yum)
    }

    /// [`Yum::open`] without publishing the hosted repositories that have no
    /// snapshot yet: for a command that publishes the one it changes at its
    /// end (`airlock yum add`), where publishing it empty first was wasted work.
    pub async fn open_unpublished(
        settings: &YumSettings,
        mode: Mode,
        upstream: Upstream,
        db: Db,
        store: Arc<dyn BlobStore>,
        staging: Arc<Staging>,
    ) -> Result<Yum, YumError> {
        settings.check().map_err(YumError::Internal)?;
        let kept_files = Memo::watching(&db, KEPT_FILES);
        let yum = Yum {
            repos: settings.repositories.clone(),
            db,
            store,
            staging,
            grace_period: settings.grace_period,
            max_upload: settings.max_upload,
            mode,
            upstream,
            sync_concurrency: settings.sync_concurrency.max(1),
            inflight: Inflight::default(),
            tasks: tokio_util::task::TaskTracker::new(),
            background: tokio::runtime::Handle::current(),
            publishing: tokio::sync::Mutex::new(publish::Published::default()),
            kept_files,
        };
        for repo in &yum.repos {
            index::ensure_repository(&yum.db, &repo.name, repo.kind).await?;
        }
        Ok(yum)
    }

    /// The repository a path (relative to `/yum/`) falls in, and the rest of
    /// the path inside it (`None` for the repository itself without its `/`).
    pub fn resolve<'p>(&self, path: &'p str) -> Option<(&RepoSettings, Option<&'p str>)> {
        self.repos.iter().find_map(|repo| {
            if path == repo.name {
                Some((repo, None))
            } else {
                path.strip_prefix(repo.name.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .map(|rest| (repo, Some(rest)))
            }
        })
    }

    /// The configured repository named `name`.
    pub fn repo(&self, name: &str) -> Result<&RepoSettings, YumError> {
        self.repos
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| YumError::NotFound(format!("no yum repository named {name:?}")))
    }

    /// Checks a staged upload as an RPM and records it at `href` in hosted
    /// repository `repo`; the caller publishes afterwards. A bad RPM or a
    /// conflict leaves nothing behind (the staged file is dropped).
    pub async fn add_package(
        &self,
        repo: &str,
        href: &str,
        staged: StagedBlob,
    ) -> Result<Added, YumError> {
        match self.prepare_package(repo, href, staged).await? {
            Prepared::New(package) => {
                self.store_packages(vec![*package]).await?;
                Ok(Added::New)
            }
            Prepared::Unchanged => Ok(Added::Unchanged),
        }
    }

    /// The checks of [`Yum::add_package`], without storing anything: the
    /// package's path, its header and file, and conflicts with stored packages.
    pub async fn prepare_package(
        &self,
        repo: &str,
        href: &str,
        staged: StagedBlob,
    ) -> Result<Prepared, YumError> {
        let repo = self.hosted(repo)?;
        check_upload_path(href)?;
        if let Some(unchanged) = self.stored_at(&repo.name, href, &staged.digest).await? {
            return Ok(unchanged);
        }
        let added_at = airlock_core::unix_now();
        let entry = {
            let path = staged.path().to_owned();
            let (size, pkgid, href) =
                (staged.size, staged.digest.hex().to_owned(), href.to_owned());
            tokio::task::spawn_blocking(move || {
                package_entry(&path, size, &pkgid, &href, added_at, None)
            })
            .await
            .map_err(|e| YumError::Internal(format!("header reader failed: {e}")))??
        };
        self.prepared(repo, href, staged, entry, added_at).await
    }

    /// The first half of [`Yum::prepare_package`] for the local file at
    /// `path` (`airlock yum add`), on the calling thread (blocking): copies it
    /// into staging while hashing it (the whole file, and the payload for the
    /// header's digest) and reads its header, where an upload's bytes pass
    /// through three threads and are read again for the payload's digest.
    /// [`Yum::check_staged`] is the second half.
    pub fn stage_file(&self, repo: &str, href: &str, path: &Path) -> Result<StagedRpm, YumError> {
        let repo = self.hosted(repo)?;
        check_upload_path(href)?;
        let added_at = airlock_core::unix_now();
        let mut file = std::fs::File::open(path).map_err(YumError::io)?;
        let size = file.metadata().map_err(YumError::io)?.len();
        let limit = Some(self.max_upload);
        let (staged, payload) = match header::payload_start(&mut file, size) {
            Some(start) => {
                let mut reader = header::PayloadHasher::new(file, start);
                let staged = self.staging.stage_reader(&mut reader, limit)?;
                (staged, Some(reader.finish()))
            }
            None => (self.staging.stage_reader(file, limit)?, None),
        };
        let entry = package_entry(
            staged.path(),
            staged.size,
            staged.digest.hex(),
            href,
            added_at,
            payload,
        )?;
        Ok(StagedRpm(PreparedPackage {
            repo: repo.name.clone(),
            href: href.to_owned(),
            staged,
            entry,
            added_at,
        }))
    }

    /// Checks a staged RPM against what its repository holds. With `stored`,
    /// what the repository held when a run of many files started, it asks the
    /// index nothing (a package stored meanwhile by another process makes
    /// [`Yum::store_packages`] fail with a conflict instead); without it, it
    /// looks the path and NEVRA up.
    pub async fn check_staged(
        &self,
        rpm: StagedRpm,
        stored: Option<&StoredSet>,
    ) -> Result<Prepared, YumError> {
        let StagedRpm(package) = rpm;
        let Some(stored) = stored else {
            let repo = self.hosted(&package.repo)?;
            if let Some(unchanged) = self
                .stored_at(&repo.name, &package.href, &package.staged.digest)
                .await?
            {
                return Ok(unchanged);
            }
            let PreparedPackage {
                href,
                staged,
                entry,
                added_at,
                ..
            } = package;
            return self.prepared(repo, &href, staged, entry, added_at).await;
        };
        let at_href = stored.by_href.get(&package.href).map(String::as_str);
        if let Some(unchanged) = check_stored_at(&package.href, at_href, &package.staged.digest)? {
            return Ok(unchanged);
        }
        if let Some(other) = stored.by_nevra.get(&nevra_key(&package.entry)) {
            return Err(nevra_conflict(&package.entry, other));
        }
        Ok(Prepared::New(Box::new(package)))
    }

    /// What hosted repository `repo` holds now, for [`Yum::check_staged`]. It
    /// reads every package row (with its XML, about 4 KB), which for a few
    /// files costs more than their lookups.
    pub async fn stored_set(&self, repo: &str) -> Result<StoredSet, YumError> {
        let repo = self.hosted(repo)?;
        let mut set = StoredSet::default();
        for p in index::packages_of(&self.db, &repo.name).await? {
            set.by_nevra.insert(
                (p.name, p.epoch, p.version, p.release, p.arch),
                p.stored.href.clone(),
            );
            set.by_href.insert(p.stored.href, p.stored.digest);
        }
        Ok(set)
    }

    /// The configured hosted repository named `name` (a mirror is refused).
    pub fn hosted(&self, name: &str) -> Result<&RepoSettings, YumError> {
        let repo = self.repo(name)?;
        if repo.kind != RepoKind::Hosted {
            return Err(YumError::NotHosted(format!(
                "{} is a mirror repository; it takes no uploads",
                repo.name
            )));
        }
        Ok(repo)
    }

    /// [`check_stored_at`] by the index.
    async fn stored_at(
        &self,
        repo: &str,
        href: &str,
        digest: &Digest,
    ) -> Result<Option<Prepared>, YumError> {
        let stored = index::package_at(&self.db, repo, href).await?;
        check_stored_at(href, stored.as_ref().map(|s| s.digest.as_str()), digest)
    }

    /// The checked package, unless another one has its NEVRA.
    async fn prepared(
        &self,
        repo: &RepoSettings,
        href: &str,
        staged: StagedBlob,
        entry: PackageEntry,
        added_at: i64,
    ) -> Result<Prepared, YumError> {
        if let Some(other) = index::package_with_nevra(&self.db, &repo.name, &entry).await? {
            return Err(nevra_conflict(&entry, &other.href));
        }
        Ok(Prepared::New(Box::new(PreparedPackage {
            repo: repo.name.clone(),
            href: href.to_owned(),
            staged,
            entry,
            added_at,
        })))
    }

    /// Makes prepared packages durable together (one sync of the store) and
    /// records them in one transaction. Fails whole when one of them collides
    /// with a package stored meanwhile (or with another of the batch).
    ///
    /// Up to [`OVERLAPPED_COMMIT`] packages (an upload), the rows are written
    /// while the blobs are synced, and committed after. A larger batch is
    /// synced first: its sync can take tens of milliseconds, during which the
    /// transaction would hold the index's write lock and stall every other
    /// writer (a running server's included).
    pub async fn store_packages(&self, packages: Vec<PreparedPackage>) -> Result<(), YumError> {
        if packages.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(packages.len());
        let mut staged = Vec::with_capacity(packages.len());
        for p in packages {
            rows.push((
                p.repo,
                p.href,
                p.staged.digest.clone(),
                p.staged.size,
                p.entry,
                p.added_at,
            ));
            staged.push(p.staged);
        }
        let new: Vec<index::NewPackage<'_>> = rows
            .iter()
            .map(
                |(repo, href, digest, size, entry, added_at)| index::NewPackage {
                    repo,
                    href,
                    digest,
                    size: *size,
                    entry,
                    added_at: *added_at,
                },
            )
            .collect();
        let inserted = if new.len() <= OVERLAPPED_COMMIT {
            index::insert_packages(&self.db, &new, self.store.commit_batch(staged)).await
        } else {
            self.store.commit_batch(staged).await?;
            let durable = std::future::ready(Ok::<(), airlock_core::store::StoreError>(()));
            index::insert_packages(&self.db, &new, durable).await
        };
        match inserted {
            Ok(durable) => Ok(durable?),
            Err(e) if is_unique_violation(&e) => Err(YumError::Conflict(
                "a package at the same path or with the same NEVRA was stored meanwhile".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the package at `href` from hosted repository `repo`; the caller
    /// publishes afterwards. The blob stays (other rows may reference it).
    pub async fn delete_package(&self, repo: &str, href: &str) -> Result<(), YumError> {
        let repo = self.repo(repo)?;
        if repo.kind != RepoKind::Hosted {
            return Err(YumError::NotHosted(format!(
                "{} is a mirror repository; packages are not deleted from it",
                repo.name
            )));
        }
        if index::delete_package(&self.db, &repo.name, href).await? {
            Ok(())
        } else {
            Err(YumError::NotFound(format!(
                "no package {href} in {}",
                repo.name
            )))
        }
    }

    /// Publishes `repo` if its package set changed; see [`publish::publish`].
    pub async fn publish(&self, repo: &str) -> Result<bool, YumError> {
        let mut published = self.publishing.lock().await;
        publish::publish(self, &mut published, repo).await
    }
}

/// Reads and checks the RPM at `path` and derives its fragments (blocking);
/// `payload` is the sha256 of its bytes from an offset on, when the copy
/// into staging took it (see [`header::read_rpm_hashed`]).
fn package_entry(
    path: &Path,
    size: u64,
    pkgid: &str,
    href: &str,
    added_at: i64,
    payload: Option<(u64, [u8; 32])>,
) -> Result<PackageEntry, YumError> {
    // `header::read_rpm` checks what the `rpm` crate trusts; should a
    // malformed header still make it panic, the upload is refused like any
    // other bad RPM.
    std::panic::catch_unwind(|| {
        let rpm = header::read_rpm_hashed(path, size, payload)?;
        let facts = FileFacts {
            pkgid,
            size,
            href,
            time_file: added_at,
        };
        Ok(fragments::package_entry(&rpm, &facts)?)
    })
    .unwrap_or_else(|_| Err(YumError::BadRpm("malformed RPM header".into())))
}

/// What a hosted repository held when a run of [`Yum::check_staged`] started.
#[derive(Default)]
pub struct StoredSet {
    /// Each package's blob digest (`sha256:…`), by path.
    by_href: std::collections::HashMap<String, String>,
    /// Each package's path, by NEVRA.
    by_nevra: std::collections::HashMap<NevraKey, String>,
}

/// Name, epoch, version, release, arch: what may appear once in a repository.
type NevraKey = (String, i64, String, String, String);

fn nevra_key(entry: &PackageEntry) -> NevraKey {
    (
        entry.name.clone(),
        i64::from(entry.epoch),
        entry.version.clone(),
        entry.release.clone(),
        entry.arch.clone(),
    )
}

/// `Unchanged` when the package stored at `href` (`stored`, its digest) has
/// these bytes, a conflict when it has others, `None` when there is none.
fn check_stored_at(
    href: &str,
    stored: Option<&str>,
    digest: &Digest,
) -> Result<Option<Prepared>, YumError> {
    match stored {
        None => Ok(None),
        Some(stored) if stored == digest.to_string() => Ok(Some(Prepared::Unchanged)),
        Some(_) => Err(YumError::Conflict(format!(
            "{href} is already stored with other content; delete it first"
        ))),
    }
}

fn nevra_conflict(entry: &PackageEntry, other_href: &str) -> YumError {
    YumError::Conflict(format!(
        "{} is already stored as {other_href}",
        entry.nevra()
    ))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// An upload's path: `.rpm` segments of file-name characters, not under `repodata/`.
pub fn check_upload_path(href: &str) -> Result<(), YumError> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~' | '^')
            })
    };
    if !href.ends_with(".rpm") || href.len() <= 4 {
        return Err(YumError::BadPath(format!(
            "{href:?}: uploads are .rpm files"
        )));
    }
    if href.starts_with("repodata/") || !href.split('/').all(segment_ok) {
        return Err(YumError::BadPath(format!(
            "{href:?}: use path segments of letters, digits and . _ - + ~ ^, outside repodata/"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(names: &[&str]) -> YumSettings {
        YumSettings {
            repositories: names.iter().map(|n| RepoSettings::hosted(n)).collect(),
            ..YumSettings::default()
        }
    }

    #[test]
    fn repository_names_are_paths_that_do_not_nest() {
        assert!(
            settings(&["internal/tools", "rocky/10/baseos", "rocky/10/appstream"])
                .check()
                .is_ok()
        );
        for bad in [
            &["a", "a/b"][..],
            &["a/b", "a"],
            &["a", "a"],
            &["a/../b"],
            &["/a"],
            &["a/"],
            &["a b"],
            &["x/repodata"],
        ] {
            assert!(settings(bad).check().is_err(), "{bad:?}");
        }
    }

    /// A package `name` 1.0 whose one file holds `fill`.
    fn rpm_file(dir: &Path, file: &str, name: &str, fill: u8) -> std::path::PathBuf {
        let package = rpm::PackageBuilder::new(name, "1.0", "MIT", "noarch", "a test package")
            .using_config(rpm::BuildConfig::default().compression(rpm::CompressionType::None))
            .with_file_contents(vec![fill; 3000], rpm::FileOptions::new("/usr/share/t/data"))
            .expect("file")
            .build()
            .expect("package");
        let path = dir.join(file);
        package
            .write(&mut std::fs::File::create(&path).expect("create"))
            .expect("write");
        path
    }

    /// `airlock yum add`'s two steps for the file at `path`, into repository `r`.
    async fn prepare(
        yum: &Yum,
        href: &str,
        path: &Path,
        stored: Option<&StoredSet>,
    ) -> Result<Prepared, YumError> {
        yum.check_staged(yum.stage_file("r", href, path)?, stored)
            .await
    }

    #[tokio::test]
    async fn files_checked_against_a_stored_set_meet_the_lookups_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yum = Yum::open_unpublished(
            &settings(&["r"]),
            Mode::Offline,
            Upstream::new(&Default::default()).expect("client"),
            Db::open(&dir.path().join("airlock.db")).await.expect("db"),
            Arc::new(airlock_core::LocalStore::open(dir.path().join("blobs")).expect("store")),
            Arc::new(Staging::open(dir.path().join("tmp")).expect("staging")),
        )
        .await
        .expect("open");
        let first = rpm_file(dir.path(), "a.rpm", "a", b'x');
        match prepare(&yum, "a.rpm", &first, None).await {
            Ok(Prepared::New(package)) => yum.store_packages(vec![*package]).await.expect("store"),
            _ => panic!("a new package"),
        }
        let stored = yum.stored_set("r").await.expect("stored set");
        // Each case, with the set and with lookups: the same answer.
        let other_bytes = rpm_file(dir.path(), "b.rpm", "a", b'y');
        let cases = [
            ("a.rpm", first, "unchanged"),
            ("a.rpm", other_bytes.clone(), "conflict"), // other bytes at that path
            ("b.rpm", other_bytes, "conflict"),         // its NEVRA at another path
            ("c.rpm", rpm_file(dir.path(), "c.rpm", "c", b'x'), "new"),
        ];
        for (href, path, want) in cases {
            for set in [Some(&stored), None] {
                let got = match prepare(&yum, href, &path, set).await {
                    Ok(Prepared::Unchanged) => "unchanged",
                    Ok(Prepared::New(_)) => "new",
                    Err(YumError::Conflict(_)) => "conflict",
                    Err(e) => panic!("{href}: {e}"),
                };
                assert_eq!(got, want, "{href} with the set: {}", set.is_some());
            }
        }
    }

    #[test]
    fn upload_paths() {
        for ok in [
            "a.rpm",
            "Packages/h/hello-1.0-1.el9.x86_64.rpm",
            "libstdc++-1^2~3.rpm",
        ] {
            assert!(check_upload_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            ".rpm",
            "a.txt",
            "../a.rpm",
            "a/../b.rpm",
            "repodata/x.rpm",
            "a//b.rpm",
            "/a.rpm",
            "a b.rpm",
            "a%2F.rpm",
        ] {
            assert!(check_upload_path(bad).is_err(), "{bad}");
        }
    }
}
