//! `airlock sync pypi`: fills a mirror index with the files a requirements set
//! needs, resolving the dependency closure from the wheels' metadata, so the
//! index can be carried across the gap and served offline.
//!
//! For each requirement the newest version that satisfies it (and has a file
//! the filters accept) is taken, and every accepted file of that version is
//! fetched; the `Requires-Dist` of its wheel (markers evaluated for the target
//! Python and platform, or all kept when none is given) join the queue.
//! Requirements and markers follow PEP 508 and PEP 440 (`pep508_rs`). This is a
//! mirror's "what could be installed", not an installer's resolution: no
//! backtracking; a conflict between two requirements of one name takes the
//! first's choice and reports the other.

use crate::error::PypiError;
use crate::index::{self, PageFile};
use crate::mirror::{self, MirrorFile};
use crate::{dist, name, IndexKind, Pypi};
use airlock_core::store::BlobBody;
use futures_util::StreamExt as _;
use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{
    ExtraName, MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl,
};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::str::FromStr as _;
use std::sync::Arc;

/// What files the sync accepts.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions {
    /// `3.11`: wheels for it, `Requires-Python` it satisfies, markers evaluated for it.
    pub python_version: Option<String>,
    /// Wheel platform tags accepted besides `any` (`manylinux_2_17_x86_64`, …); empty: all.
    pub platforms: Vec<String>,
    /// Projects fetched as wheels only (`:all:` for every one), as pip's `--only-binary`.
    pub only_binary: Vec<String>,
}

/// One step of the sync, for the progress display.
#[derive(Debug)]
pub enum SyncEvent<'a> {
    /// A project's version was chosen; `files` of it will be fetched.
    Resolved {
        /// Normalized project name.
        project: &'a str,
        /// The version.
        version: &'a str,
        /// Files to fetch.
        files: usize,
    },
    /// A file is stored (fetched now, or already).
    Stored {
        /// The filename.
        filename: &'a str,
        /// Its size.
        size: u64,
    },
    /// A requirement could not be satisfied.
    Unsatisfied {
        /// The requirement, as written.
        requirement: &'a str,
        /// Why.
        reason: &'a str,
    },
}

/// What a sync did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Projects resolved.
    pub projects: usize,
    /// Files stored (fetched or already there).
    pub files: usize,
    /// Requirements that could not be satisfied.
    pub unsatisfied: usize,
}

/// Parses one `requirements.txt` line: `None` for blank lines, comments and
/// options (`-r`, `--hash` continuation parts are cut off).
pub fn parse_requirement_line(line: &str) -> Option<Result<Requirement, String>> {
    let line = line.split(" #").next().unwrap_or("").trim();
    let line = line.split(" --").next().unwrap_or("").trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
        return None;
    }
    Some(Requirement::from_str(line).map_err(|e| format!("{line:?}: {e}")))
}

/// Resolves and fetches `requirements` into the mirror `index`.
pub async fn sync(
    pypi: &Arc<Pypi>,
    index: &str,
    requirements: Vec<Requirement>,
    options: &SyncOptions,
    progress: &(dyn Fn(SyncEvent<'_>) + Sync),
) -> Result<SyncReport, PypiError> {
    let settings = pypi
        .index(index)
        .filter(|i| i.kind == IndexKind::Mirror)
        .ok_or_else(|| PypiError::NotFound(format!("{index:?} is not a mirror index")))?
        .clone();
    let target = Target::new(options)?;
    let mut report = SyncReport::default();
    let mut queue: VecDeque<Requirement> = requirements.into();
    // Every requirement queued, as written: one that many projects share is
    // followed once (the queue grew with the square of a dense graph).
    let mut queued: HashSet<String> = queue.iter().map(ToString::to_string).collect();
    // Project → (chosen version, extras already followed).
    let mut chosen: BTreeMap<String, (Version, BTreeSet<ExtraName>)> = BTreeMap::new();
    while let Some(req) = queue.pop_front() {
        let project = name::normalize(req.name.as_ref());
        let shown = req.to_string();
        let specifiers = match &req.version_or_url {
            None => VersionSpecifiers::empty(),
            Some(VersionOrUrl::VersionSpecifier(s)) => s.clone(),
            Some(VersionOrUrl::Url(_)) => {
                progress(SyncEvent::Unsatisfied {
                    requirement: &shown,
                    reason: "a URL requirement is not on an index",
                });
                report.unsatisfied += 1;
                continue;
            }
        };
        if let Some((version, extras)) = chosen.get_mut(&project) {
            if !specifiers.contains(version) {
                progress(SyncEvent::Unsatisfied {
                    requirement: &shown,
                    reason: &format!("{project} {version} was chosen for another requirement"),
                });
                report.unsatisfied += 1;
            }
            let new: Vec<ExtraName> = req
                .extras
                .iter()
                .filter(|e| !extras.contains(*e))
                .cloned()
                .collect();
            if new.is_empty() {
                continue;
            }
            extras.extend(new.iter().cloned());
            // Follow the dependencies the new extras add.
            let version = version.clone();
            let deps = dependencies(pypi, &settings.name, &project, &version).await?;
            enqueue(&mut queue, &mut queued, &deps, &target, &new);
            continue;
        }
        mirror::refresh(pypi, &settings, &project).await?;
        let files = index::project_files(&pypi.db, &settings.name, &project, false).await?;
        let Some((version, picked)) = choose(&files, &specifiers, &project, &target) else {
            progress(SyncEvent::Unsatisfied {
                requirement: &shown,
                reason: "no file fits the version and the filters",
            });
            report.unsatisfied += 1;
            continue;
        };
        progress(SyncEvent::Resolved {
            project: &project,
            version: &version.to_string(),
            files: picked.len(),
        });
        for file in &picked {
            let size = ensure_stored(pypi, &settings, &file.filename).await?;
            progress(SyncEvent::Stored {
                filename: &file.filename,
                size,
            });
            report.files += 1;
        }
        report.projects += 1;
        let deps = dependencies(pypi, &settings.name, &project, &version).await?;
        enqueue(&mut queue, &mut queued, &deps, &target, &req.extras);
        chosen.insert(project, (version, req.extras.iter().cloned().collect()));
    }
    Ok(report)
}

/// Queues the requirements among `deps` whose markers hold for `target` and
/// `extras`, unless queued before.
fn enqueue(
    queue: &mut VecDeque<Requirement>,
    queued: &mut HashSet<String>,
    deps: &[Requirement],
    target: &Target,
    extras: &[ExtraName],
) {
    for dep in deps {
        let applies = dep
            .marker
            .evaluate_optional_environment(target.markers.as_ref(), extras);
        if applies && queued.insert(dep.to_string()) {
            queue.push_back(dep.clone());
        }
    }
}

/// Fetches a listed file unless it is stored; returns its size.
async fn ensure_stored(
    pypi: &Arc<Pypi>,
    index: &crate::IndexSettings,
    filename: &str,
) -> Result<u64, PypiError> {
    if let Some(stored) = index::file_blob(&pypi.db, &index.name, filename, false).await? {
        return Ok(stored.size);
    }
    if let Some(MirrorFile::Arriving(BlobBody::Stream { mut stream, .. })) =
        mirror::fetch_file(pypi, index, filename).await?
    {
        while let Some(chunk) = stream.next().await {
            chunk.map_err(|e| PypiError::Upstream(format!("{filename}: {e}")))?;
        }
    }
    mirror::wait_for_file(pypi, index, filename).await;
    index::file_blob(&pypi.db, &index.name, filename, false)
        .await?
        .map(|s| s.size)
        .ok_or_else(|| PypiError::Upstream(format!("{filename} was not stored")))
}

/// The `Requires-Dist` of a stored wheel of `project` `version` (none for an
/// sdist-only version: its dependencies are only known by building it).
async fn dependencies(
    pypi: &Pypi,
    index: &str,
    project: &str,
    version: &Version,
) -> Result<Vec<Requirement>, PypiError> {
    let files = index::project_files(&pypi.db, index, project, true).await?;
    let wheel = files.iter().find(|f| {
        f.filename.ends_with(".whl")
            && f.metadata_sha256.is_some()
            && Version::from_str(&f.version).ok().as_ref() == Some(version)
    });
    let Some(wheel) = wheel else {
        return Ok(Vec::new());
    };
    let Some(blob) = index::file_blob(&pypi.db, index, &wheel.filename, true).await? else {
        return Ok(Vec::new());
    };
    let path = pypi.store.path_of(&blob.digest);
    let metadata = tokio::fs::read(&path).await?;
    let text = String::from_utf8_lossy(&metadata);
    let deps = dist::header_values(&text, "Requires-Dist")
        .into_iter()
        .filter_map(|value| match Requirement::from_str(&value) {
            Ok(req) => Some(req),
            Err(e) => {
                tracing::warn!(project, error = %e, "unreadable Requires-Dist left out");
                None
            }
        })
        .collect();
    Ok(deps)
}

/// The Python and platforms files are chosen for.
struct Target {
    python: Option<(u64, u64, Version)>,
    markers: Option<MarkerEnvironment>,
    platforms: Vec<String>,
    only_binary: Vec<String>,
}

impl Target {
    fn new(options: &SyncOptions) -> Result<Target, PypiError> {
        let bad = |what: String| PypiError::BadRequest(what);
        let python = match &options.python_version {
            None => None,
            Some(v) => {
                let version = Version::from_str(v)
                    .map_err(|e| bad(format!("--python-version {v:?}: {e}")))?;
                let release = version.release();
                let (major, minor) = (
                    release.first().copied().unwrap_or(3),
                    release.get(1).copied().unwrap_or(0),
                );
                Some((major, minor, version))
            }
        };
        let markers = match &python {
            None => None,
            Some((major, minor, version)) => {
                let short = format!("{major}.{minor}");
                let full = version.to_string();
                let machine = options
                    .platforms
                    .first()
                    .map(|p| platform_machine(p))
                    .unwrap_or("x86_64");
                Some(
                    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
                        implementation_name: "cpython",
                        implementation_version: &full,
                        os_name: "posix",
                        platform_machine: machine,
                        platform_python_implementation: "CPython",
                        platform_release: "",
                        platform_system: "Linux",
                        platform_version: "",
                        python_full_version: &full,
                        python_version: &short,
                        sys_platform: "linux",
                    })
                    .map_err(|e| bad(format!("--python-version: {e}")))?,
                )
            }
        };
        Ok(Target {
            python,
            markers,
            platforms: options.platforms.clone(),
            only_binary: options.only_binary.iter().map(|n| n.to_owned()).collect(),
        })
    }

    /// Whether `file` of `project` fits.
    fn accepts(&self, project: &str, file: &PageFile) -> bool {
        if file.yanked.is_some() {
            return false;
        }
        if let (Some((_, _, version)), Some(requires)) = (&self.python, &file.requires_python) {
            let fits = VersionSpecifiers::from_str(requires)
                .map(|s| s.contains(version))
                .unwrap_or(true);
            if !fits {
                return false;
            }
        }
        let Some(tags) = wheel_tags(&file.filename) else {
            let binary_only = self
                .only_binary
                .iter()
                .any(|n| n == ":all:" || name::normalize(n) == project);
            return !binary_only;
        };
        let (python_tags, abi_tags, platform_tags) = tags;
        if let Some((major, minor, _)) = &self.python {
            let py_ok = python_tags.split('.').any(|t| {
                t == format!("py{major}")
                    || t == format!("py{major}{minor}")
                    || t == format!("cp{major}{minor}")
            });
            let abi_ok = abi_tags
                .split('.')
                .any(|t| t == "none" || t == "abi3" || t.starts_with(&format!("cp{major}{minor}")));
            if !py_ok || !abi_ok {
                return false;
            }
        }
        self.platforms.is_empty()
            || platform_tags
                .split('.')
                .any(|t| t == "any" || self.platforms.iter().any(|p| p == t))
    }
}

/// (python, abi, platform) tags of a wheel filename.
fn wheel_tags(filename: &str) -> Option<(&str, &str, &str)> {
    let stem = filename.strip_suffix(".whl")?;
    let mut parts = stem.rsplitn(4, '-');
    let platform = parts.next()?;
    let abi = parts.next()?;
    let python = parts.next()?;
    Some((python, abi, platform))
}

/// The `platform_machine` a platform tag implies (`manylinux_2_17_aarch64` → `aarch64`).
fn platform_machine(platform: &str) -> &str {
    ["x86_64", "aarch64", "i686", "ppc64le", "s390x", "armv7l"]
        .into_iter()
        .find(|m| platform.ends_with(m))
        .unwrap_or("x86_64")
}

/// The newest version satisfying `specifiers` with accepted files (final
/// releases before pre-releases, unless the specifiers name a pre-release),
/// and those files.
fn choose<'a>(
    files: &'a [PageFile],
    specifiers: &VersionSpecifiers,
    project: &str,
    target: &Target,
) -> Option<(Version, Vec<&'a PageFile>)> {
    let mut by_version: BTreeMap<Version, Vec<&PageFile>> = BTreeMap::new();
    for file in files {
        let Ok(version) = Version::from_str(&file.version) else {
            continue;
        };
        if specifiers.contains(&version) && target.accepts(project, file) {
            by_version.entry(version).or_default().push(file);
        }
    }
    let allow_pre = specifiers.iter().any(|s| s.version().any_prerelease());
    let best = by_version
        .keys()
        .rev()
        .find(|v| allow_pre || !v.any_prerelease())
        .or_else(|| by_version.keys().next_back())?
        .clone();
    let files = by_version.remove(&best)?;
    Some((best, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(filename: &str, version: &str, requires_python: Option<&str>) -> PageFile {
        PageFile {
            filename: filename.into(),
            version: version.into(),
            sha256: "a".repeat(64),
            size: 1,
            upload_time_us: 0,
            requires_python: requires_python.map(str::to_owned),
            yanked: None,
            metadata_sha256: None,
        }
    }

    #[test]
    fn choice_follows_specifiers_python_and_platform() {
        let files = vec![
            file("foo-1.0-py3-none-any.whl", "1.0", None),
            file("foo-1.0.tar.gz", "1.0", None),
            file("foo-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", "2.0", None),
            file("foo-2.0-cp311-cp311-win_amd64.whl", "2.0", None),
            file("foo-3.0-py3-none-any.whl", "3.0", Some(">=3.99")),
            file("foo-4.0rc1-py3-none-any.whl", "4.0rc1", None),
        ];
        let target = Target::new(&SyncOptions {
            python_version: Some("3.11".into()),
            platforms: vec!["manylinux_2_17_x86_64".into()],
            only_binary: vec![":all:".into()],
        })
        .expect("target");
        let any = VersionSpecifiers::empty();
        let (version, picked) = choose(&files, &any, "foo", &target).expect("a choice");
        assert_eq!(version.to_string(), "2.0");
        assert_eq!(picked.len(), 1, "{picked:?}");
        let below2 = VersionSpecifiers::from_str("<2").expect("spec");
        let (version, picked) = choose(&files, &below2, "foo", &target).expect("1.0");
        assert_eq!(version.to_string(), "1.0");
        assert_eq!(picked.len(), 1, "only-binary leaves the sdist out");
        let all = Target::new(&SyncOptions::default()).expect("target");
        let (_, picked) = choose(&files, &below2, "foo", &all).expect("1.0");
        assert_eq!(picked.len(), 2);
    }

    #[test]
    fn requirement_lines() {
        assert!(parse_requirement_line("# comment").is_none());
        assert!(parse_requirement_line("-r other.txt").is_none());
        let req =
            parse_requirement_line("Foo.Bar[x]>=1.0 ; python_version >= '3.8' --hash=sha256:ab")
                .expect("a line")
                .expect("parses");
        assert_eq!(req.name.as_ref(), "foo-bar");
        assert!(parse_requirement_line("foo >>> 1")
            .expect("a line")
            .is_err());
    }
}
