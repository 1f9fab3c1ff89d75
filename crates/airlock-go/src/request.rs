//! Parses a request path under the `/go` mount into what it asks for.
//!
//! The path arrives percent-encoded (`go` sends `!` as `%21`); it is decoded once
//! here (a `+` stays a `+`), then case-decoded and validated with Go's own rules.

use crate::module;
use crate::semver;

/// One of the three files stored per module version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `.info`: JSON with `Version` and `Time`.
    Info,
    /// `.mod`: the go.mod file.
    Mod,
    /// `.zip`: the module's source.
    Zip,
}

impl FileKind {
    /// The extension and the `kind` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Info => "info",
            FileKind::Mod => "mod",
            FileKind::Zip => "zip",
        }
    }

    /// Parses a `kind` column value.
    pub fn from_ext(ext: &str) -> Option<Self> {
        match ext {
            "info" => Some(FileKind::Info),
            "mod" => Some(FileKind::Mod),
            "zip" => Some(FileKind::Zip),
            _ => None,
        }
    }
}

/// What a request under `/go/` asks for. Module paths and versions are unescaped
/// and valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GoRequest {
    /// `<module>/@v/list`
    List {
        /// The module path.
        module: String,
    },
    /// `<module>/@latest`
    Latest {
        /// The module path.
        module: String,
    },
    /// `<module>/@v/<version>.<ext>` for a canonical version.
    File {
        /// The module path.
        module: String,
        /// The canonical version.
        version: String,
        /// Which file.
        kind: FileKind,
    },
    /// `<module>/@v/<query>.info` where the query is not a canonical version of
    /// this module: a branch, a commit hash, `v1.2.3+meta`, or `v2.0.0` on a path
    /// without `/v2`. Resolved to a canonical version, never stored under its name.
    Query {
        /// The module path.
        module: String,
        /// The query, e.g. `master` or a commit prefix.
        query: String,
    },
    /// `sumdb/<name>/<path>`
    SumDb {
        /// The checksum database's name, e.g. `sum.golang.org`.
        name: String,
        /// What is asked of it.
        path: SumDbPath,
    },
    /// `catalog`
    Catalog,
}

/// A checksum-database path, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SumDbPath {
    /// `supported`: the probe `go` sends before using a proxy for the database.
    Supported,
    /// `latest`: the current signed tree head (mutable).
    Latest,
    /// `lookup/<module>@<version>` (escaped, as sent) and tiles: immutable.
    Immutable(String),
}

/// A path that is not part of the protocol, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadPath(pub String);

/// Parses `tail`, the raw (percent-encoded) path after `/go/`.
pub fn parse(tail: &str) -> Result<GoRequest, BadPath> {
    let decoded = percent_encoding::percent_decode_str(tail)
        .decode_utf8()
        .map_err(|_| BadPath("path is not valid UTF-8".into()))?;
    let path = decoded.as_ref();
    if path == "catalog" {
        return Ok(GoRequest::Catalog);
    }
    if let Some(rest) = path.strip_prefix("sumdb/") {
        return parse_sumdb(rest);
    }
    if let Some(escaped) = path.strip_suffix("/@latest") {
        return Ok(GoRequest::Latest {
            module: module_path(escaped)?,
        });
    }
    let (escaped, file) = path.rsplit_once("/@v/").ok_or_else(|| {
        BadPath(format!(
            "{path:?} is not a module proxy path (no /@v/ or /@latest)"
        ))
    })?;
    let module = module_path(escaped)?;
    if file == "list" {
        return Ok(GoRequest::List { module });
    }
    let (escaped_version, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| BadPath(format!("{file:?}: expected list, .info, .mod or .zip")))?;
    let kind = FileKind::from_ext(ext)
        .ok_or_else(|| BadPath(format!("{file:?}: expected list, .info, .mod or .zip")))?;
    let version = module::unescape_version(escaped_version).map_err(|e| BadPath(e.to_string()))?;
    if module::is_canonical_version(&version) {
        match module::check(&module, &version) {
            Ok(()) => {
                return Ok(GoRequest::File {
                    module,
                    version,
                    kind,
                })
            }
            // `go get m@v2.0.0` on a path without `/v2` asks `v2.0.0.info` to learn
            // that the version is `v2.0.0+incompatible`: a query, not a file.
            Err(_) if kind == FileKind::Info => {}
            Err(e) => return Err(BadPath(e.to_string())),
        }
    }
    if kind != FileKind::Info {
        return Err(BadPath(format!("version {version:?} is not canonical")));
    }
    if matches!(version.as_str(), "latest" | "upgrade" | "patch") {
        return Err(BadPath(format!("invalid version {version:?}")));
    }
    if version.is_empty()
        || !version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+".contains(&b))
    {
        return Err(BadPath(format!("invalid version {version:?}")));
    }
    Ok(GoRequest::Query {
        module,
        query: version,
    })
}

fn module_path(escaped: &str) -> Result<String, BadPath> {
    let path = module::unescape_path(escaped).map_err(|e| BadPath(e.to_string()))?;
    module::check_path(&path).map_err(|e| BadPath(e.to_string()))?;
    Ok(path)
}

fn parse_sumdb(rest: &str) -> Result<GoRequest, BadPath> {
    let (name, path) = rest
        .split_once('/')
        .ok_or_else(|| BadPath("expected sumdb/<name>/<path>".into()))?;
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if !name_ok {
        return Err(BadPath(format!("invalid checksum database name {name:?}")));
    }
    let path = match path {
        "supported" => SumDbPath::Supported,
        "latest" => SumDbPath::Latest,
        p if p.starts_with("lookup/") => {
            let (m, v) = p["lookup/".len()..]
                .rsplit_once('@')
                .ok_or_else(|| BadPath(format!("{p:?}: expected lookup/<module>@<version>")))?;
            module_path(m)?;
            let v = module::unescape_version(v).map_err(|e| BadPath(e.to_string()))?;
            if !semver::is_valid(&v) {
                return Err(BadPath(format!("invalid version {v:?}")));
            }
            SumDbPath::Immutable(p.to_owned())
        }
        p if p.starts_with("tile/") && valid_tile(&p["tile/".len()..]) => {
            SumDbPath::Immutable(p.to_owned())
        }
        p => return Err(BadPath(format!("{p:?} is not a checksum database path"))),
    };
    Ok(GoRequest::SumDb {
        name: name.to_owned(),
        path,
    })
}

/// `<H>/<L|data>/<x000/…/000>[.p/<W>]` as in `golang.org/x/mod/sumdb/tlog`.
fn valid_tile(tile: &str) -> bool {
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let (tile, width) = match tile.split_once(".p/") {
        Some((t, w)) => (t, Some(w)),
        None => (tile, None),
    };
    if let Some(w) = width {
        if !digits(w, 3) || w.starts_with('0') {
            return false;
        }
    }
    let mut parts = tile.split('/');
    let (Some(height), Some(level)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !digits(height, 2) || !(level == "data" || digits(level, 2)) {
        return false;
    }
    let index: Vec<&str> = parts.collect();
    let Some((last, groups)) = index.split_last() else {
        return false;
    };
    last.len() == 3
        && digits(last, 3)
        && groups.len() <= 20
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.starts_with('x') && digits(&g[1..], 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(module: &str, version: &str, kind: FileKind) -> GoRequest {
        GoRequest::File {
            module: module.into(),
            version: version.into(),
            kind,
        }
    }

    #[test]
    fn protocol_paths() {
        let cases = [
            (
                "example.com/%21hello/@v/list",
                GoRequest::List {
                    module: "example.com/Hello".into(),
                },
            ),
            (
                "example.com/!hello/@v/list",
                GoRequest::List {
                    module: "example.com/Hello".into(),
                },
            ),
            (
                "github.com/!burnt!sushi/toml/@latest",
                GoRequest::Latest {
                    module: "github.com/BurntSushi/toml".into(),
                },
            ),
            (
                "example.com/inc/@v/v2.0.0+incompatible.info",
                file("example.com/inc", "v2.0.0+incompatible", FileKind::Info),
            ),
            (
                "example.com/inc/@v/v2.0.0%2Bincompatible.mod",
                file("example.com/inc", "v2.0.0+incompatible", FileKind::Mod),
            ),
            (
                "example.com/m/v2/@v/v2.1.0.zip",
                file("example.com/m/v2", "v2.1.0", FileKind::Zip),
            ),
            (
                "gopkg.in/yaml.v3/@v/v3.0.1.mod",
                file("gopkg.in/yaml.v3", "v3.0.1", FileKind::Mod),
            ),
            (
                "example.com/m/@v/v0.1.0-!r!c1.info",
                file("example.com/m", "v0.1.0-RC1", FileKind::Info),
            ),
            (
                "example.com/m/@v/v0.0.0-20230102030405-abcdefabcdef.zip",
                file(
                    "example.com/m",
                    "v0.0.0-20230102030405-abcdefabcdef",
                    FileKind::Zip,
                ),
            ),
            (
                "example.com/m/@v/master.info",
                GoRequest::Query {
                    module: "example.com/m".into(),
                    query: "master".into(),
                },
            ),
            // Queries that resolve to another canonical version.
            (
                "example.com/m/@v/v2.0.0.info",
                GoRequest::Query {
                    module: "example.com/m".into(),
                    query: "v2.0.0".into(),
                },
            ),
            (
                "example.com/m/@v/v2.1.0-pre.info",
                GoRequest::Query {
                    module: "example.com/m".into(),
                    query: "v2.1.0-pre".into(),
                },
            ),
            (
                "example.com/m/@v/v1.2.3+meta.info",
                GoRequest::Query {
                    module: "example.com/m".into(),
                    query: "v1.2.3+meta".into(),
                },
            ),
            (
                "example.com/m/@v/abc1234.info",
                GoRequest::Query {
                    module: "example.com/m".into(),
                    query: "abc1234".into(),
                },
            ),
            ("catalog", GoRequest::Catalog),
            (
                "sumdb/sum.golang.org/supported",
                GoRequest::SumDb {
                    name: "sum.golang.org".into(),
                    path: SumDbPath::Supported,
                },
            ),
            (
                "sumdb/sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.2.0",
                GoRequest::SumDb {
                    name: "sum.golang.org".into(),
                    path: SumDbPath::Immutable("lookup/github.com/!burnt!sushi/toml@v1.2.0".into()),
                },
            ),
            (
                "sumdb/sum.golang.org/tile/8/1/x001/005.p/17",
                GoRequest::SumDb {
                    name: "sum.golang.org".into(),
                    path: SumDbPath::Immutable("tile/8/1/x001/005.p/17".into()),
                },
            ),
            (
                "sumdb/sum.golang.org/tile/8/data/000",
                GoRequest::SumDb {
                    name: "sum.golang.org".into(),
                    path: SumDbPath::Immutable("tile/8/data/000".into()),
                },
            ),
        ];
        for (path, want) in cases {
            assert_eq!(
                parse(path).unwrap_or_else(|e| panic!("{path}: {e}")),
                want,
                "{path}"
            );
        }
    }

    #[test]
    fn bad_paths_are_refused() {
        for path in [
            "",
            "example.com",
            "example.com/m/@v/",
            "example.com/m/@v/v1.0.0",
            "example.com/m/@v/v1.0.0.tar",
            "example.com/Hello/@v/list",
            "example.com/!/@v/list",
            "example.com/m!/@v/list",
            "example.com/../etc/@v/list",
            "example.com/m/..%2F..%2Fetc/@v/list",
            "example.com//m/@v/list",
            "example.com/m//@v/list",
            "./@v/list",
            "example.com/m/v2/@v/v1.0.0.zip",
            "example.com/m/@v/v2.0.0.zip",
            "example.com/m/@v/v1.0.mod",
            "example.com/m/@v/latest.info",
            "example.com/m/@v/upgrade.info",
            "example.com/m/@v/.info",
            "example.com/m/@v/a%2Fb.info",
            "example.com/m/@v/v1.0.0+meta.zip",
            "%ff/@v/list",
            "sumdb/sum.golang.org",
            "sumdb/../lookup/x@v1.0.0",
            "sumdb/sum.golang.org/lookup/../../etc@v1.0.0",
            "sumdb/sum.golang.org/tile/8/0/../../x",
            "sumdb/sum.golang.org/tile/8/0/01",
            "sumdb/sum.golang.org/tile/8/0/000.p/0",
            "sumdb/sum.golang.org/tile/8/0/000.p/999999",
            "sumdb/sum.golang.org/other",
        ] {
            assert!(
                parse(path).is_err(),
                "{path:?} should be refused, got {:?}",
                parse(path)
            );
        }
    }
}
