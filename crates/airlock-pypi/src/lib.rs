//! airlock's Python package index, mounted at `/pypi`: the simple repository
//! API (PEP 503 HTML and PEP 691 JSON, negotiated), uploads from twine and
//! `uv publish`, and PEP 658 `.metadata` files.
//!
//! # Design
//!
//! - **Indexes** are named like devpi's stages (`root/prod`, `team/dev`) and
//!   declared in the `[pypi]` config section ([`PypiSettings`]). Each has a kind,
//!   one of the three words every airlock protocol uses: `hosted` (takes
//!   uploads), `mirror` (pull-through of an upstream simple index, [`mirror`])
//!   and, through `bases`, inheritance ([`inherit`]: devpi's bases, searched in
//!   order, mirrors last, the first index holding a filename wins).
//! - **Rows, not files**: `pypi_index`, `pypi_index_base`, `pypi_project` and
//!   `pypi_file` (`migrations/0005_pypi.sql`, all SQL in [`index`]). A project
//!   page is one indexed range scan of `pypi_file` by (index, project), rendered
//!   in [`simple`]; no directory scan, no whole-index assembly. A file row holds
//!   everything a page needs: filename, normalized version, sha256, size, upload
//!   time (µs), `Requires-Python`, yank state and the `.metadata` blob's digest.
//!   Both blob columns are in [`index::BLOB_REFERENCES`].
//! - **Bytes** go through the shared blob store: an upload streams into a
//!   staging file while hashed ([`upload`]), is checked ([`dist`]: a wheel must be
//!   a readable zip whose `*.dist-info/METADATA` agrees with its filename; that
//!   file becomes the PEP 658 `.metadata`), committed, and only then recorded.
//!   Files are served at stable URLs, `/pypi/<index>/files/<filename>`, with
//!   `airlock_core::serve::blob` (Range, ETag, immutable).
//! - **Names** follow PEP 503 normalization; versions PEP 440 (`pep440_rs`);
//!   filenames the wheel and sdist rules ([`name`]).
//!
//! URLs (all under `/pypi`):
//!
//! | URL | what |
//! |---|---|
//! | `POST /<user>/<index>/` | upload (`:action=file_upload`), basic auth |
//! | `GET /<user>/<index>/simple/` | project list |
//! | `GET /<user>/<index>/simple/<project>/` | project page |
//! | `GET /<user>/<index>/files/<filename>` | a file; `<filename>.metadata` its core metadata |
//! | `PUT`/`DELETE /<user>/<index>/yanked/<filename>` | yank (body: the reason) / unyank |
//! | `DELETE /<user>/<index>/files/<filename>` | delete a file |
//! | `DELETE /<user>/<index>/versions/<project>/<version>` | delete a version's files |
#![warn(missing_docs)]

pub mod dist;
pub mod error;
pub mod index;
pub mod inherit;
pub mod mirror;
pub mod name;
pub mod pages;
pub mod root;
mod routes;
pub mod simple;
pub mod sync;
pub mod upload;
pub mod upstream_page;

pub use error::PypiError;
pub use routes::{configure, configure_devpi};

use airlock_core::inflight::Inflight;
use airlock_core::metrics::RepositoryCounters;
use airlock_core::upstream::Upstream;
use airlock_core::{Db, LocalStore, Mode, Staging};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The `[pypi]` section of the configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PypiSettings {
    /// Overrides the global mode for the Python index. Hosted indexes never
    /// fetch, so it matters once mirror indexes exist.
    pub mode: Option<Mode>,
    /// `Cache-Control: max-age` of simple pages. Clients revalidate with the
    /// page's `ETag` after it (a cheap 304); a new upload shows within it.
    #[serde(with = "humantime_serde")]
    pub page_max_age: Duration,
    /// The largest file an upload may carry, or a mirror fetch from its
    /// upstream, in bytes.
    pub max_upload_bytes: u64,
    /// How long a mirror's project page fetched from its upstream is used
    /// before it is revalidated (`If-None-Match`).
    #[serde(with = "humantime_serde")]
    pub mirror_page_ttl: Duration,
    /// The indexes, at `/pypi/<name>/`.
    pub index: Vec<IndexSettings>,
}

impl Default for PypiSettings {
    fn default() -> Self {
        PypiSettings {
            mode: None,
            page_max_age: Duration::from_secs(60),
            max_upload_bytes: 4 << 30,
            mirror_page_ttl: Duration::from_secs(600),
            index: vec![IndexSettings {
                name: "root/local".into(),
                kind: IndexKind::Hosted,
                upstream: None,
                bases: Vec::new(),
                mirror_whitelist: Vec::new(),
            }],
        }
    }
}

/// One index.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexSettings {
    /// `<user>/<index>`, e.g. `root/prod`.
    pub name: String,
    /// `hosted` or `mirror`.
    pub kind: IndexKind,
    /// A mirror's upstream simple index ([`DEFAULT_UPSTREAM`] when unset).
    /// Credentials may be written in the URL; they are never logged or stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Indexes whose files this one also serves, in order (devpi's `bases`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<String>,
    /// Projects of this index's own (or a hosted base's) for which mirror
    /// bases still add their files (devpi's `mirror_whitelist`; `"*"`: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirror_whitelist: Vec<String>,
}

/// A mirror's upstream when the config names none.
pub const DEFAULT_UPSTREAM: &str = "https://pypi.org/simple/";

/// What an index holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Files uploaded to it.
    Hosted,
    /// Files of an upstream simple index, fetched on demand.
    Mirror,
}

impl IndexKind {
    /// The word used in the config and the index.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexKind::Hosted => "hosted",
            IndexKind::Mirror => "mirror",
        }
    }
}

/// Whether `name` is a valid index name: two segments of lowercase letters,
/// digits, `.`, `_` and `-`, each starting with a letter or digit.
pub fn is_valid_index_name(name: &str) -> bool {
    let segment = |s: &str| {
        s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    };
    matches!(name.split_once('/'), Some((user, index)) if segment(user) && segment(index))
}

impl PypiSettings {
    /// Checks the section: names valid and unique; kinds this version serves.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for index in &self.index {
            if !is_valid_index_name(&index.name) {
                return Err(format!(
                    "invalid index name {:?}: expected <user>/<index> of lowercase letters, digits, . _ -",
                    index.name
                ));
            }
            if !seen.insert(index.name.as_str()) {
                return Err(format!("index {:?} is declared twice", index.name));
            }
            match index.kind {
                IndexKind::Hosted if index.upstream.is_some() => {
                    return Err(format!(
                        "index {:?}: only a mirror index has an upstream",
                        index.name
                    ));
                }
                IndexKind::Mirror if !index.bases.is_empty() => {
                    return Err(format!(
                        "index {:?}: a mirror index has no bases",
                        index.name
                    ));
                }
                _ => {}
            }
            if let Some(upstream) = &index.upstream {
                let ok = reqwest::Url::parse(upstream)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "file"));
                if !ok {
                    return Err(format!(
                        "index {:?}: the upstream must be an http(s) URL of a simple index",
                        index.name
                    ));
                }
            }
        }
        for index in &self.index {
            for base in &index.bases {
                let declared = self.index.iter().find(|i| &i.name == base);
                match declared {
                    None => {
                        return Err(format!(
                            "index {:?}: base {base:?} is not declared",
                            index.name
                        ))
                    }
                    Some(b) if !b.bases.is_empty() || b.name == index.name => {
                        return Err(format!(
                            "index {:?}: base {base:?} has bases itself (one level of inheritance)",
                            index.name
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}

/// The Python index: what its routes share.
pub struct Pypi {
    /// The indexes served.
    pub indexes: Vec<IndexSettings>,
    /// The metadata index.
    pub db: Db,
    /// The blobs.
    pub store: Arc<LocalStore>,
    /// This process's temp area.
    pub staging: Arc<Staging>,
    /// Simple pages' `max-age`.
    pub page_max_age: Duration,
    /// The largest upload, in bytes.
    pub max_upload: u64,
    /// Online: mirrors fetch from their upstreams; offline: never.
    pub mode: Mode,
    /// The outbound client.
    pub upstream: Upstream,
    /// One fetch per mirror page and file at a time.
    pub inflight: Inflight,
    /// How long a fetched mirror page is used before it is revalidated.
    pub mirror_ttl: Duration,
    /// Mirror fetches that outlive their request (a file being stored); the
    /// server waits for them when it stops.
    pub background: airlock_core::background::Background,
    /// Mirror files being fetched, which requests follow.
    pub arriving: mirror::Arriving,
    /// Project lists rendered once (those with an upstream's list in them).
    pub roots: root::RootCache,
    /// Rendered pages of hosted-only chains.
    pub pages: pages::PageCache,
    /// Each index's request counters, put on its responses for the request log.
    pub counters: HashMap<String, RepositoryCounters>,
}

impl Pypi {
    /// The served index named `name`.
    pub fn index(&self, name: &str) -> Option<&IndexSettings> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Records the configured indexes in the database (run once at startup).
    pub async fn register_indexes(&self) -> Result<(), sqlx::Error> {
        index::sync_indexes(&self.db, &self.indexes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names() {
        for good in ["root/pypi", "team-a/dev.1", "0/x"] {
            assert!(is_valid_index_name(good), "{good}");
        }
        for bad in [
            "root", "root/", "/x", "root/a/b", "Root/x", "root/.x", "root/..", "a/b c",
        ] {
            assert!(!is_valid_index_name(bad), "{bad}");
        }
    }

    #[test]
    fn defaults_validate_and_bases_must_be_declared() {
        PypiSettings::default().validate().expect("defaults");
        let mut s = PypiSettings::default();
        s.index[0].kind = IndexKind::Mirror;
        s.validate().expect("a mirror of pypi.org");
        s.index[0].upstream = Some("ftp://x/".into());
        assert!(s.validate().is_err());
        let mut s = PypiSettings::default();
        s.index[0].bases = vec!["root/pypi".into()];
        assert!(s.validate().is_err());
        let mut s = PypiSettings::default();
        s.index.push(s.index[0].clone());
        assert!(s.validate().is_err());
    }
}
