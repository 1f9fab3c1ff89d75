//! Resolving a query — `<module>/@v/<query>.info` where the query is not a
//! canonical version of the module — the way the go command does, from what is
//! stored (offline), and checking an upstream's answer to one (online).
//!
//! The forms (<https://go.dev/ref/mod#version-queries>):
//! - a full semantic version that is not canonical for this path: `v1.2.3+meta`
//!   names `v1.2.3`; `v2.0.0` (or `v2.1.0-pre`) on a path without `/v2` names
//!   `v2.0.0+incompatible`;
//! - a version prefix, `v1` or `v1.2`: the highest release with that prefix,
//!   else the highest pre-release;
//! - a commit-hash prefix of 7 to 40 hex digits: the version of that commit,
//!   preferring a release tag, then a pre-release tag, then a pseudo-version;
//! - anything else (a branch or tag name): only what an upstream or an
//!   imported tree last answered (the `go_query` table).

use crate::module;
use crate::proxy::best_version;
use crate::semver;

/// What kind of query a string is.
#[derive(Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// A full semantic version: the canonical versions it may name for this
    /// module, in the order go tries them (empty if none is valid here).
    Version(Vec<String>),
    /// `vN` or `vN.M`: versions starting with this prefix and a dot.
    Prefix(String),
    /// A commit-hash prefix (7 to 40 lowercase hex digits).
    Commit(String),
    /// A branch, a tag or anything else only a repository can resolve.
    Name,
}

/// Classifies `query` for `module`.
pub fn classify(module: &str, query: &str) -> QueryKind {
    if semver::is_valid(query) {
        let core = query.split(['-', '+']).next().unwrap_or(query);
        match core.matches('.').count() {
            2 => return QueryKind::Version(version_candidates(module, query)),
            _ if semver::prerelease(query).is_empty() && semver::build(query).is_empty() => {
                return QueryKind::Prefix(core.to_owned())
            }
            _ => return QueryKind::Version(Vec::new()),
        }
    }
    if is_commit_prefix(query) {
        return QueryKind::Commit(query.to_owned());
    }
    QueryKind::Name
}

/// Whether `query` looks like an abbreviated or full commit hash.
pub fn is_commit_prefix(query: &str) -> bool {
    (7..=40).contains(&query.len())
        && query
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The canonical versions a full semantic version names for `module`.
fn version_candidates(module: &str, query: &str) -> Vec<String> {
    let Some(base) = semver::canonical(query) else {
        return Vec::new();
    };
    if semver::build(query) == "+incompatible" {
        // Canonical already when valid; anything else is an error, not a query.
        let incompatible = format!("{base}+incompatible");
        return valid_for(module, incompatible).into_iter().collect();
    }
    let incompatible = format!("{base}+incompatible");
    valid_for(module, base)
        .into_iter()
        .chain(valid_for(module, incompatible))
        .collect()
}

fn valid_for(module: &str, version: String) -> Option<String> {
    module::check(module, &version).is_ok().then_some(version)
}

/// Whether an upstream's answer `version` to `query` is one go would accept
/// for `module`: a canonical, valid version of the module, and for a version
/// query one of the versions it names (for a prefix query, one with that prefix).
pub fn answer_fits(module: &str, query: &str, version: &str) -> Result<(), String> {
    module::check(module, version).map_err(|e| e.to_string())?;
    match classify(module, query) {
        QueryKind::Version(candidates) if !candidates.iter().any(|c| c == version) => Err(format!(
            "{module}@{query} resolved to {version}, which that version query cannot name"
        )),
        QueryKind::Prefix(prefix) if !version.starts_with(&format!("{prefix}.")) => Err(format!(
            "{module}@{query} resolved to {version}, outside that version prefix"
        )),
        _ => Ok(()),
    }
}

/// The best stored version with a version prefix (`v1`, `v1.2`): the highest
/// release, else the highest pre-release; pseudo-versions never match.
pub fn resolve_prefix(prefix: &str, stored: &[String]) -> Option<String> {
    let with_prefix: Vec<String> = stored
        .iter()
        .filter(|v| v.starts_with(&format!("{prefix}.")) && !semver::is_pseudo(v))
        .cloned()
        .collect();
    best_version(&with_prefix)
}

/// A stored version and what is known of its commit.
#[derive(Debug, Clone)]
pub struct StoredRevision {
    /// The canonical version.
    pub version: String,
    /// The full commit hash, from the `Origin` of its stored `.info`.
    pub hash: Option<String>,
}

impl StoredRevision {
    /// The commit as far as it is known: the full hash, else a pseudo-version's
    /// 12-digit revision; `None` for a tag stored without an `Origin`.
    fn commit(&self) -> Option<&str> {
        self.hash
            .as_deref()
            .or_else(|| semver::pseudo_rev(&self.version))
    }
}

/// What a commit-hash prefix matches among stored versions.
#[derive(Debug, PartialEq, Eq)]
pub enum CommitMatch {
    /// One commit; the best version for it (release, then pre-release, then pseudo).
    Version(String),
    /// Several different commits start with the prefix (each named once).
    Ambiguous(Vec<String>),
    /// Nothing stored is that commit.
    None,
}

/// Resolves a commit-hash prefix against stored versions.
pub fn resolve_commit(prefix: &str, stored: &[StoredRevision]) -> CommitMatch {
    let matching: Vec<(&str, &str)> = stored
        .iter()
        .filter_map(|s| {
            let commit = s.commit()?;
            let same = commit.starts_with(prefix) || prefix.starts_with(commit);
            same.then_some((commit, s.version.as_str()))
        })
        .collect();
    // Different commits: no two of them are one a prefix of the other.
    let mut commits: Vec<&str> = Vec::new();
    for (commit, _) in &matching {
        match commits
            .iter_mut()
            .find(|c| c.starts_with(commit) || commit.starts_with(**c))
        {
            Some(known) if commit.len() > known.len() => *known = commit,
            Some(_) => {}
            None => commits.push(commit),
        }
    }
    match commits.len() {
        0 => CommitMatch::None,
        1 => {
            let versions: Vec<String> = matching.iter().map(|(_, v)| (*v).to_owned()).collect();
            best_version(&versions).map_or(CommitMatch::None, CommitMatch::Version)
        }
        _ => {
            commits.sort_unstable();
            CommitMatch::Ambiguous(commits.into_iter().map(str::to_owned).collect())
        }
    }
}

/// The `Origin.Hash` of an `.info` file, when it is a commit hash.
pub fn origin_hash(info: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Origin")]
        origin: Option<Origin>,
    }
    #[derive(serde::Deserialize)]
    struct Origin {
        #[serde(rename = "Hash")]
        hash: Option<String>,
    }
    let hash = serde_json::from_slice::<Info>(info).ok()?.origin?.hash?;
    let hex = hash.len() >= 40 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| hash.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_queries_name_what_go_resolves_them_to() {
        let v = |module, query| classify(module, query);
        let names =
            |list: &[&str]| QueryKind::Version(list.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            v("example.com/m", "v2.0.0"),
            names(&["v2.0.0+incompatible"])
        );
        assert_eq!(
            v("example.com/m", "v2.1.0-pre"),
            names(&["v2.1.0-pre+incompatible"])
        );
        assert_eq!(v("example.com/m", "v1.2.3+meta"), names(&["v1.2.3"]));
        assert_eq!(v("example.com/m/v2", "v2.0.0+meta"), names(&["v2.0.0"]));
        // /v2 paths have no +incompatible; v1 is never incompatible.
        assert_eq!(v("example.com/m/v2", "v3.0.0"), names(&[]));
        assert_eq!(v("example.com/m", "v1.0.0+incompatible"), names(&[]));
        assert_eq!(v("gopkg.in/yaml.v2", "v2.4.0+meta"), names(&["v2.4.0"]));
        assert_eq!(v("example.com/m", "v1"), QueryKind::Prefix("v1".into()));
        assert_eq!(v("example.com/m", "v1.2"), QueryKind::Prefix("v1.2".into()));
        assert_eq!(
            v("example.com/m", "abc1234"),
            QueryKind::Commit("abc1234".into())
        );
        assert_eq!(v("example.com/m", "abc123"), QueryKind::Name);
        assert_eq!(v("example.com/m", "master"), QueryKind::Name);
        assert_eq!(v("example.com/m", "ABC1234"), QueryKind::Name);
    }

    #[test]
    fn upstream_answers_must_fit_the_query() {
        assert!(answer_fits("example.com/m", "v2.0.0", "v2.0.0+incompatible").is_ok());
        assert!(answer_fits("example.com/m", "v2.0.0", "v2.0.1+incompatible").is_err());
        assert!(answer_fits("example.com/m", "v1.2.3+meta", "v1.2.3").is_ok());
        assert!(answer_fits("example.com/m", "v1.2", "v1.2.7").is_ok());
        assert!(answer_fits("example.com/m", "v1.2", "v1.3.0").is_err());
        assert!(answer_fits(
            "example.com/m",
            "master",
            "v0.0.0-20230102030405-abcdefabcdef"
        )
        .is_ok());
        assert!(answer_fits("example.com/m", "master", "v2.0.0").is_err());
        assert!(answer_fits("example.com/m", "master", "v1.0").is_err());
    }

    #[test]
    fn prefixes_prefer_releases() {
        let stored: Vec<String> = [
            "v1.2.0",
            "v1.2.9-rc.1",
            "v1.2.3",
            "v1.3.0",
            "v1.2.4-0.20230102030405-abcdefabcdef",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(resolve_prefix("v1.2", &stored).as_deref(), Some("v1.2.3"));
        assert_eq!(resolve_prefix("v1", &stored).as_deref(), Some("v1.3.0"));
        assert_eq!(resolve_prefix("v2", &stored), None);
        let pre = vec!["v1.2.0-rc.1".to_owned()];
        assert_eq!(resolve_prefix("v1.2", &pre).as_deref(), Some("v1.2.0-rc.1"));
    }

    fn rev(version: &str, hash: Option<&str>) -> StoredRevision {
        StoredRevision {
            version: version.into(),
            hash: hash.map(str::to_owned),
        }
    }

    const H1: &str = "abcdef0123456789abcdef0123456789abcdef01";
    const H2: &str = "abcdef9999999999999999999999999999999999";

    #[test]
    fn a_tagged_commit_resolves_to_its_tag() {
        let stored = [
            rev("v0.0.0-20230102030405-abcdef012345", None),
            rev("v1.0.0-rc.1", Some(H1)),
            rev("v1.0.0", Some(H1)),
            rev("v0.9.0", Some("1111111111111111111111111111111111111111")),
        ];
        for prefix in ["abcdef0", "abcdef012345", "abcdef0123456", H1] {
            assert_eq!(
                resolve_commit(prefix, &stored),
                CommitMatch::Version("v1.0.0".into()),
                "{prefix}"
            );
        }
        assert_eq!(resolve_commit("2222222", &stored), CommitMatch::None);
    }

    #[test]
    fn pseudo_versions_resolve_by_their_revision() {
        let stored = [rev("v0.0.0-20230102030405-abcdef012345", None)];
        assert_eq!(
            resolve_commit("abcdef01", &stored),
            CommitMatch::Version("v0.0.0-20230102030405-abcdef012345".into())
        );
        // Longer than the 12 known digits: still that commit as far as is known.
        assert_eq!(
            resolve_commit(H1, &stored),
            CommitMatch::Version("v0.0.0-20230102030405-abcdef012345".into())
        );
    }

    #[test]
    fn a_prefix_of_two_commits_is_ambiguous() {
        let stored = [rev("v1.0.0", Some(H1)), rev("v1.1.0", Some(H2))];
        assert_eq!(
            resolve_commit("abcdef0", &stored),
            CommitMatch::Version("v1.0.0".into())
        );
        assert_eq!(
            resolve_commit("abcdef", &stored[..]),
            CommitMatch::Ambiguous(vec![H1.into(), H2.into()])
        );
    }

    #[test]
    fn origin_hashes_are_read_from_info() {
        let info = format!(
            r#"{{"Version":"v1.0.0","Origin":{{"VCS":"git","URL":"https://x","Hash":"{H1}","Ref":"refs/tags/v1.0.0"}}}}"#
        );
        assert_eq!(origin_hash(info.as_bytes()).as_deref(), Some(H1));
        assert_eq!(origin_hash(br#"{"Version":"v1.0.0"}"#), None);
        assert_eq!(
            origin_hash(br#"{"Version":"v1.0.0","Origin":{"Hash":"zz"}}"#),
            None
        );
        assert_eq!(origin_hash(b"not json"), None);
    }
}
