//! airlock's Go module proxy: the GOPROXY protocol (`list`, `.info`, `.mod`, `.zip`,
//! `@latest`) with pull-through from upstream proxies, an offline mode that serves
//! only what is stored, and a caching proxy for Go checksum databases.
//!
//! Protocol: <https://go.dev/ref/mod#goproxy-protocol>; checksum database:
//! <https://go.dev/ref/mod#checksum-database>. Mounted at `/go`; clients set
//! `GOPROXY=http://HOST/go`.
#![warn(missing_docs)]

pub mod cache;
pub mod dirhash;
pub mod error;
pub mod gomod;
pub mod import;
pub mod index;
pub mod module;
pub mod patterns;
pub mod proxy;
pub mod query;
pub mod request;
mod routes;
pub mod semver;
pub mod sumdb;
pub mod zipcheck;

pub use error::GoError;
pub use proxy::GoProxy;
pub use routes::configure;

use airlock_core::Mode;
use serde::{Deserialize, Serialize};

/// The `[go]` section of the configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GoSettings {
    /// Overrides the global mode for the Go proxy.
    pub mode: Option<Mode>,
    /// Upstream module proxies in GOPROXY syntax: URLs separated by `,` (try the
    /// next one after a 404/410) or `|` (after any error). `https://`, `http://`
    /// and `file://` (a directory in GOPROXY layout, such as a module cache's
    /// `cache/download`).
    pub upstream: String,
    /// Checksum databases proxied (and cached) at `/go/sumdb/<name>/`. The first
    /// one with a verifier key also verifies every fetched `.mod` and `.zip`.
    pub sumdb: Vec<SumDbSettings>,
    /// Module path patterns (`GOPRIVATE`/`GONOSUMDB` syntax: comma-separated
    /// globs matching path prefixes) whose files are not looked up in the
    /// checksum database; they are stored marked "not-covered".
    pub private: String,
    /// When the checksum database cannot be reached: `false` refuses the fetch
    /// (502); `true` stores the files marked "unverified".
    pub store_unverified: bool,
    /// How long `@v/list` and `@latest` answers are reused before they are
    /// computed (and, online, fetched) again. A zip stored by this server
    /// refreshes them at once; an import by another process shows within this time.
    #[serde(with = "humantime_serde")]
    pub metadata_ttl: std::time::Duration,
    /// Fetch the rest of a version in the background when a client asks for part
    /// of it (online only): a fetched `.mod` brings its `.info`, a `.info` request
    /// brings its `.zip`.
    pub prefetch: bool,
}

/// One proxied checksum database.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumDbSettings {
    /// The name clients use in `GOSUMDB`, e.g. `sum.golang.org`.
    pub name: String,
    /// Where to fetch it from; `https://<name>` when unset.
    pub url: Option<String>,
    /// Its verifier key, `<name>+<hash>+<base64 key>` as in `GOSUMDB`; known for
    /// `sum.golang.org`. Without one the database is proxied but verifies nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Default for GoSettings {
    fn default() -> Self {
        GoSettings {
            mode: None,
            upstream: "https://proxy.golang.org".into(),
            sumdb: vec![SumDbSettings {
                name: "sum.golang.org".into(),
                url: None,
                key: None,
            }],
            private: String::new(),
            store_unverified: false,
            metadata_ttl: std::time::Duration::from_secs(10),
            prefetch: true,
        }
    }
}

impl GoSettings {
    /// Checks the settings and resolves them into upstream entries and the
    /// checksum-database check.
    pub fn resolve(&self) -> Result<Resolved, String> {
        let upstreams = proxy::parse_proxy_list(&self.upstream)?;
        let private =
            patterns::PathPatterns::parse(&self.private).map_err(|e| format!("go.private: {e}"))?;
        let mut sumdbs = Vec::new();
        let mut verifier = None;
        for s in &self.sumdb {
            if s.name.is_empty() || s.name.contains('/') {
                return Err(format!("invalid checksum database name {:?}", s.name));
            }
            let key = match (&s.key, s.name.as_str()) {
                (Some(key), _) => Some(key.as_str()),
                (None, "sum.golang.org") => Some(sumdb::verify::SUM_GOLANG_ORG_KEY),
                (None, _) => None,
            };
            if let Some(key) = key {
                let v = sumdb::note::Verifier::parse(key).map_err(|e| format!("go.sumdb: {e}"))?;
                if v.name() != s.name {
                    return Err(format!(
                        "go.sumdb: the key of {:?} is for {:?}",
                        s.name,
                        v.name()
                    ));
                }
                verifier.get_or_insert(v);
            }
            sumdbs.push(proxy::SumDbUpstream {
                name: s.name.clone(),
                url: s
                    .url
                    .clone()
                    .unwrap_or_else(|| format!("https://{}", s.name)),
            });
        }
        Ok(Resolved {
            upstreams,
            sumdbs,
            check: sumdb::verify::SumDbCheck::new(verifier, private, self.store_unverified),
        })
    }
}

/// The `[go]` settings, checked.
#[derive(Debug)]
pub struct Resolved {
    /// Upstream module proxies, in order.
    pub upstreams: Vec<proxy::ProxyEntry>,
    /// Proxied checksum databases.
    pub sumdbs: Vec<proxy::SumDbUpstream>,
    /// How fetched module files are verified.
    pub check: sumdb::verify::SumDbCheck,
}
