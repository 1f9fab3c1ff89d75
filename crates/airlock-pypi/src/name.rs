//! Python's naming rules: project names (PEP 503 normalization), versions
//! (PEP 440, through `pep440_rs`) and distribution filenames (wheels per the
//! binary distribution format, sdists per PEP 625 and the legacy forms).
//!
//! A filename that passes [`parse_filename`] is safe as one URL path segment and
//! one key: it holds only `[A-Za-z0-9._+!-]`, never starts with a dot, and so can
//! contain no path separator or traversal.

use pep440_rs::Version;
use std::str::FromStr;

/// Why a name, version or filename was refused. The message is for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// Whether `name` is a valid project name:
/// `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$`, case-insensitive.
pub fn is_valid_project_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    !bytes.is_empty()
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// PEP 503: runs of `-`, `_` and `.` become one `-`, and letters are lowered.
/// `FrIeNdLy-._.-bArD` → `friendly-bard`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// Checks and normalizes a project name.
pub fn project_name(name: &str) -> Result<String, NameError> {
    if is_valid_project_name(name) {
        Ok(normalize(name))
    } else {
        Err(NameError(format!("invalid project name {name:?}")))
    }
}

/// The normalized PEP 440 form of `version` (`1.0-RC1` → `1.0rc1`), or an error
/// for a string that is no PEP 440 version.
pub fn normalize_version(version: &str) -> Result<String, NameError> {
    Version::from_str(version)
        .map(|v| v.to_string())
        .map_err(|e| NameError(format!("invalid version {version:?}: {e}")))
}

/// Whether two strings are one PEP 440 version: `1.1` and `1.1.0` are
/// (release numbers compare padded with zeros), `1.0-RC1` and `1.0rc1` too.
/// False when either is no version.
pub fn same_version(a: &str, b: &str) -> bool {
    matches!((Version::from_str(a), Version::from_str(b)), (Ok(a), Ok(b)) if a == b)
}

/// What kind of distribution a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistKind {
    /// A `.whl`.
    Wheel,
    /// A `.tar.gz` source distribution.
    SdistTarGz,
    /// A legacy `.zip` source distribution.
    SdistZip,
}

impl DistKind {
    /// The `filetype` upload field's value for this kind.
    pub fn filetype(self) -> &'static str {
        match self {
            DistKind::Wheel => "bdist_wheel",
            DistKind::SdistTarGz | DistKind::SdistZip => "sdist",
        }
    }
}

/// A parsed distribution filename.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistFilename {
    /// The name part, normalized (PEP 503).
    pub project: String,
    /// The version part as written in the filename.
    pub version: String,
    /// The wheel build tag (`1`, `2abc`), if any.
    pub build: Option<String>,
    /// The wheel's `python-abi-platform` tags, if a wheel.
    pub tags: Option<String>,
    /// Wheel or sdist.
    pub kind: DistKind,
}

impl DistFilename {
    /// Whether `other`, of the same project and version, names the same
    /// distribution: the same kind, build tag and compatibility tags, however
    /// its name was spelled.
    pub fn same_distribution(&self, other: &DistFilename) -> bool {
        self.kind == other.kind
            && self.build == other.build
            && match (&self.tags, &other.tags) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (a, b) => a == b,
            }
    }
}

/// Characters a stored filename may hold.
fn filename_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'!')
}

/// Parses a wheel or sdist filename (`foo_bar-1.0+local-1-py3-none-any.whl`,
/// `foo_bar-1.0.tar.gz`, legacy `foo-bar-1.0.zip`). Eggs, installers and
/// anything with a path in it are refused.
pub fn parse_filename(filename: &str) -> Result<DistFilename, NameError> {
    let refuse = |why: &str| Err(NameError(format!("invalid filename {filename:?}: {why}")));
    if filename.len() > 255 || filename.starts_with('.') || !filename.bytes().all(filename_char) {
        return refuse("only letters, digits and . _ - + ! are allowed");
    }
    if let Some(stem) = filename.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags) = match parts.as_slice() {
            [n, v, py, abi, plat] => (*n, *v, None, format!("{py}-{abi}-{plat}")),
            [n, v, b, py, abi, plat] => (*n, *v, Some(*b), format!("{py}-{abi}-{plat}")),
            _ => return refuse("a wheel is name-version[-build]-python-abi-platform.whl"),
        };
        if let Some(b) = build {
            if !b.starts_with(|c: char| c.is_ascii_digit()) {
                return refuse("a wheel's build tag starts with a digit");
            }
        }
        if tags.split('-').any(str::is_empty) {
            return refuse("empty wheel tag");
        }
        return Ok(DistFilename {
            project: checked_name(filename, name)?,
            version: checked_version(filename, version)?,
            build: build.map(str::to_owned),
            tags: Some(tags),
            kind: DistKind::Wheel,
        });
    }
    let (stem, kind) = if let Some(stem) = filename.strip_suffix(".tar.gz") {
        (stem, DistKind::SdistTarGz)
    } else if let Some(stem) = filename.strip_suffix(".zip") {
        (stem, DistKind::SdistZip)
    } else {
        return refuse("only .whl, .tar.gz and .zip distributions are accepted");
    };
    // Legacy sdists may keep dashes in the name: the version follows the last one.
    let Some((name, version)) = stem.rsplit_once('-') else {
        return refuse("an sdist is name-version.tar.gz");
    };
    Ok(DistFilename {
        project: checked_name(filename, name)?,
        version: checked_version(filename, version)?,
        build: None,
        tags: None,
        kind,
    })
}

fn checked_name(filename: &str, name: &str) -> Result<String, NameError> {
    project_name(name).map_err(|_| {
        NameError(format!(
            "invalid filename {filename:?}: bad name part {name:?}"
        ))
    })
}

fn checked_version(filename: &str, version: &str) -> Result<String, NameError> {
    // `+` and `!` may only appear in the version (local versions, epochs).
    normalize_version(version)
        .map(|_| version.to_owned())
        .map_err(|_| {
            NameError(format!(
                "invalid filename {filename:?}: bad version part {version:?}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn versions_compare_as_pep_440() {
        assert!(same_version("1.1", "1.1.0"));
        assert!(same_version("1.0-RC1", "1.0rc1"));
        assert!(same_version("v1.0", "1.0"));
        assert!(!same_version("1.1", "1.1.1"));
        assert!(!same_version("1.0+local", "1.0"));
        assert!(!same_version("not a version", "not a version"));
    }

    #[test]
    fn normalizes_like_pep_503() {
        for (raw, norm) in [
            ("FrIeNdLy-._.-bArD", "friendly-bard"),
            ("Foo.Bar_baz", "foo-bar-baz"),
            ("foo", "foo"),
            ("A", "a"),
            ("zope.interface", "zope-interface"),
        ] {
            assert_eq!(project_name(raw).as_deref(), Ok(norm), "{raw}");
        }
        for bad in [
            "", "-foo", "foo-", "fo o", "../etc", "foo/bar", "foo\n", ".foo", "é",
        ] {
            assert!(project_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions_normalize() {
        assert_eq!(normalize_version("1.0-RC1").as_deref(), Ok("1.0rc1"));
        assert_eq!(
            normalize_version("1!2.0.post1").as_deref(),
            Ok("1!2.0.post1")
        );
        assert_eq!(normalize_version("1.0+local").as_deref(), Ok("1.0+local"));
        assert!(normalize_version("banana").is_err());
    }

    #[test]
    fn parses_wheels_and_sdists() {
        let w = parse_filename("foo_bar_baz-1.0+local-1-py3-none-any.whl").expect("wheel");
        assert_eq!(w.project, "foo-bar-baz");
        assert_eq!(w.version, "1.0+local");
        assert_eq!(w.build.as_deref(), Some("1"));
        assert_eq!(w.tags.as_deref(), Some("py3-none-any"));
        let w = parse_filename(
            "numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .expect("wheel");
        assert_eq!((w.project.as_str(), w.build), ("numpy", None));
        let s = parse_filename("foo-bar-1.0.tar.gz").expect("legacy sdist");
        assert_eq!((s.project.as_str(), s.version.as_str()), ("foo-bar", "1.0"));
        assert_eq!(s.kind, DistKind::SdistTarGz);
        assert_eq!(
            parse_filename("x-1.zip").expect("zip").kind,
            DistKind::SdistZip
        );
        for bad in [
            "foo-1.0.egg",
            "foo-1.0.exe",
            "../foo-1.0.tar.gz",
            "foo/../bar-1.0.tar.gz",
            ".foo-1.0.tar.gz",
            "foo-1.0-x-py3-none-any.whl",
            "foo-1.0-py3-none.whl",
            "foo-banana.tar.gz",
            "foo.tar.gz",
            "foo-1.0 .tar.gz",
            "foo%2f-1.0.tar.gz",
            "foo-1.0--none-any.whl",
        ] {
            assert!(parse_filename(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent_and_valid(name in "[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?") {
            let once = project_name(&name).expect("valid");
            prop_assert_eq!(&normalize(&once), &once);
            prop_assert!(is_valid_project_name(&once));
            prop_assert!(!once.contains("--"));
        }

        #[test]
        fn parsed_filenames_are_safe_segments(s in "\\PC{0,40}") {
            if parse_filename(&s).is_ok() {
                prop_assert!(!s.contains('/') && !s.contains('\\') && !s.starts_with('.'));
                prop_assert!(s.bytes().all(|b| b.is_ascii_graphic()));
            }
        }

        #[test]
        fn wheel_names_round_trip(
            name in "[a-z][a-z0-9]{0,8}(_[a-z0-9]{1,5})?",
            major in 0u32..100, minor in 0u32..100,
        ) {
            let filename = format!("{name}-{major}.{minor}-py3-none-any.whl");
            let parsed = parse_filename(&filename).expect("parses");
            prop_assert_eq!(parsed.project, normalize(&name));
            prop_assert_eq!(parsed.version, format!("{major}.{minor}"));
        }
    }
}
