//! The registry's paths, parsed once into an [`Endpoint`].
//!
//! A repository name contains `/` (`team/app`, later `docker.io/library/alpine`)
//! and its components may themselves be `blobs` or `manifests`, so a path is
//! read from its end: the last one or two segments say which endpoint it is,
//! and everything before them is the name, which must then match the grammar.

use crate::error::OciError;
use airlock_core::digest::{AnyDigest, HashAlgorithm};
use std::fmt;

/// Longest repository name: clients cap `host[:port]/name` at 255 characters
/// (distribution's `RepositoryNameTotalLengthMax`), so a longer name could be
/// pushed but never pulled.
pub const NAME_MAX: usize = 255;

/// Longest tag (the spec's grammar: one leading character and up to 127 more).
pub const TAG_MAX: usize = 128;

/// A request path under `/v2/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`: every repository.
    Catalog,
    /// `/v2/_token`: the bearer-token endpoint (the challenge's realm).
    Token,
    /// `/v2/<name>/tags/list`.
    Tags(Name),
    /// `/v2/<name>/manifests/<tag|digest>`.
    Manifest(Name, Reference),
    /// `/v2/<name>/blobs/<digest>`.
    Blob(Name, AnyDigest),
    /// `/v2/<name>/blobs/uploads/`: starts an upload (or mounts).
    Uploads(Name),
    /// `/v2/<name>/blobs/uploads/<id>`: one upload session.
    Upload(Name, String),
    /// `/v2/<name>/referrers/<digest>`.
    Referrers(Name, AnyDigest),
}

impl Endpoint {
    /// The methods the endpoint takes (the `Allow` of a 405).
    pub fn allow(&self) -> &'static str {
        match self {
            Endpoint::Base => "GET, HEAD",
            Endpoint::Catalog | Endpoint::Token | Endpoint::Tags(_) | Endpoint::Referrers(..) => {
                "GET"
            }
            Endpoint::Manifest(..) => "GET, HEAD, PUT, DELETE",
            Endpoint::Blob(..) => "GET, HEAD, DELETE",
            Endpoint::Uploads(_) => "POST",
            Endpoint::Upload(..) => "GET, PATCH, PUT, DELETE",
        }
    }

    /// The methods the endpoint takes in a mirrored (read-only) repository.
    pub fn allow_read_only(&self) -> &'static str {
        match self {
            Endpoint::Manifest(..) | Endpoint::Blob(..) => "GET, HEAD",
            Endpoint::Uploads(_) | Endpoint::Upload(..) => "",
            other => other.allow(),
        }
    }
}

/// A repository name that matches the spec's grammar
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
/// and is at most [`NAME_MAX`] characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// Checks `name` against the grammar.
    pub fn parse(name: &str) -> Result<Name, OciError> {
        if name.is_empty() || name.len() > NAME_MAX {
            return Err(OciError::NameInvalid(format!(
                "a repository name has 1 to {NAME_MAX} characters"
            )));
        }
        if !name.split('/').all(component_ok) {
            return Err(OciError::NameInvalid(format!(
                "{name:?}: components are lowercase letters and digits separated by '.', '_', '__' or dashes"
            )));
        }
        Ok(Name(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One path component: alphanumeric runs joined by `.`, `_`, `__` or any run of `-`.
fn component_ok(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        // A separator run, followed by an alphanumeric (the last byte is one).
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// What a manifest path names: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    /// A tag, checked against `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    Tag(String),
    /// A digest (sha256 or sha512).
    Digest(AnyDigest),
}

impl Reference {
    /// A digest when the reference has a `:`, maybe percent-encoded (tags
    /// have neither `:` nor `%`), else a tag.
    pub fn parse(s: &str) -> Result<Reference, OciError> {
        if s.contains([':', '%']) {
            return parse_digest(s).map(Reference::Digest);
        }
        check_tag(s).map(|()| Reference::Tag(s.to_owned()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => write!(f, "{d}"),
        }
    }
}

/// Checks a tag against the spec's grammar.
pub fn check_tag(tag: &str) -> Result<(), OciError> {
    let bytes = tag.as_bytes();
    let ok = matches!(bytes.first(), Some(b) if b.is_ascii_alphanumeric() || *b == b'_')
        && bytes.len() <= TAG_MAX
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(OciError::TagInvalid(format!(
            "{tag:?}: a tag is up to {TAG_MAX} letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        )))
    }
}

/// Parses a digest (`algorithm:encoded`, percent-encoded or not): sha256 or
/// sha512. Another algorithm that fits the grammar is refused like a
/// malformed digest (400 `DIGEST_INVALID`, as distribution answers).
pub fn parse_digest(s: &str) -> Result<AnyDigest, OciError> {
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
    let invalid = |why: &str| OciError::DigestInvalid(format!("{decoded:?}: {why}"));
    let Some((algorithm, encoded)) = decoded.split_once(':') else {
        return Err(invalid("expected algorithm:encoded"));
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    if !algorithm_ok || !encoded_ok {
        return Err(invalid("not a digest"));
    }
    let Some(known) = HashAlgorithm::from_name(algorithm) else {
        return Err(invalid("only sha256 and sha512 digests are supported"));
    };
    decoded.parse().map_err(|_| {
        invalid(&format!(
            "{algorithm} is {} lowercase hex digits",
            known.hex_len()
        ))
    })
}

/// The algorithm of a `?digest-algorithm=` parameter (distribution-spec
/// main): the one the client will name the upload's bytes by.
pub fn parse_algorithm(name: &str) -> Result<HashAlgorithm, OciError> {
    HashAlgorithm::from_name(name).ok_or_else(|| {
        OciError::AlgorithmUnsupported(format!(
            "digest-algorithm {name:?}: only sha256 and sha512 are supported"
        ))
    })
}

/// Parses the path after `/v2/` (raw, not percent-decoded: a name never
/// contains `%`, so an encoded `/` or `.` is simply an invalid name).
pub fn parse(tail: &str) -> Result<Endpoint, OciError> {
    match tail {
        "" => return Ok(Endpoint::Base),
        "_catalog" => return Ok(Endpoint::Catalog),
        "_token" => return Ok(Endpoint::Token),
        _ => {}
    }
    let unknown = || OciError::Unsupported(format!("/v2/{tail} is not a registry endpoint"));
    let segments: Vec<&str> = tail.split('/').collect();
    let n = segments.len();
    let at = |i: usize| segments.get(n.wrapping_sub(i)).copied();
    let name = |keep: usize| -> Result<Name, OciError> {
        if n <= keep {
            return Err(unknown());
        }
        Name::parse(&segments[..n - keep].join("/"))
    };
    match (at(3), at(2), at(1)) {
        (_, Some("tags"), Some("list")) => Ok(Endpoint::Tags(name(2)?)),
        (Some("blobs"), Some("uploads"), Some("")) => Ok(Endpoint::Uploads(name(3)?)),
        (Some("blobs"), Some("uploads"), Some(id)) => Ok(Endpoint::Upload(name(3)?, id.to_owned())),
        (_, Some("blobs"), Some("uploads")) => Ok(Endpoint::Uploads(name(2)?)),
        (_, Some("manifests"), Some(reference)) => {
            let name = name(2)?;
            Ok(Endpoint::Manifest(name, Reference::parse(reference)?))
        }
        (_, Some("blobs"), Some(digest)) => {
            let name = name(2)?;
            Ok(Endpoint::Blob(name, parse_digest(digest)?))
        }
        (_, Some("referrers"), Some(digest)) => {
            let name = name(2)?;
            Ok(Endpoint::Referrers(name, parse_digest(digest)?))
        }
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn name(s: &str) -> Name {
        Name::parse(s).expect("name")
    }

    #[test]
    fn endpoints() {
        let d: AnyDigest = format!("sha256:{HEX}").parse().expect("digest");
        let d512: AnyDigest = format!("sha512:{HEX}{HEX}").parse().expect("digest");
        let cases = [
            ("", Endpoint::Base),
            ("_catalog", Endpoint::Catalog),
            ("_token", Endpoint::Token),
            ("a/tags/list", Endpoint::Tags(name("a"))),
            (
                "team/app/manifests/v1.0",
                Endpoint::Manifest(name("team/app"), Reference::Tag("v1.0".into())),
            ),
            (
                &format!("a/manifests/sha256:{HEX}"),
                Endpoint::Manifest(name("a"), Reference::Digest(d.clone())),
            ),
            (
                &format!("a/manifests/sha256%3A{HEX}"),
                Endpoint::Manifest(name("a"), Reference::Digest(d.clone())),
            ),
            (
                &format!("x/blobs/y/blobs/sha256:{HEX}"),
                Endpoint::Blob(name("x/blobs/y"), d.clone()),
            ),
            ("a/b/blobs/uploads/", Endpoint::Uploads(name("a/b"))),
            ("a/b/blobs/uploads", Endpoint::Uploads(name("a/b"))),
            (
                "a/blobs/uploads/1234-ab",
                Endpoint::Upload(name("a"), "1234-ab".into()),
            ),
            (
                &format!("manifests/manifests/manifests/referrers/sha256:{HEX}"),
                Endpoint::Referrers(name("manifests/manifests/manifests"), d),
            ),
            (
                &format!("a/blobs/sha512:{HEX}{HEX}"),
                Endpoint::Blob(name("a"), d512.clone()),
            ),
            (
                &format!("a/manifests/sha512%3A{HEX}{HEX}"),
                Endpoint::Manifest(name("a"), Reference::Digest(d512.clone())),
            ),
            (
                &format!("a/referrers/sha512:{HEX}{HEX}"),
                Endpoint::Referrers(name("a"), d512),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path).expect(path), want, "{path}");
        }
    }

    #[test]
    fn bad_paths_get_the_right_code() {
        let code = |p: &str| parse(p).map(|_| ()).expect_err(p).code();
        for p in [
            "UPPER/manifests/x",
            "a/../b/manifests/x",
            "../manifests/x",
            "a//b/manifests/x",
            "a%2fb/manifests/x",
            "-a/tags/list",
            "a-/tags/list",
            "a.-b/tags/list",
            "a___b/tags/list",
            "/tags/list",
        ] {
            assert_eq!(code(p), "NAME_INVALID", "{p}");
        }
        assert_eq!(
            code(&format!("{}/tags/list", "a".repeat(256))),
            "NAME_INVALID"
        );
        assert!(parse(&format!("{}/tags/list", "a".repeat(255))).is_ok());
        for p in [
            "a/manifests/.hidden",
            "a/manifests/-x",
            &format!("a/manifests/{}", "t".repeat(129)),
        ] {
            assert_eq!(code(p), "MANIFEST_INVALID", "{p}");
        }
        assert!(parse(&format!("a/manifests/{}", "t".repeat(128))).is_ok());
        for p in [
            "a/manifests/sha256:totallywrong",
            "a/blobs/sha256:ABC",
            "a/blobs/md5",
            &format!("a/blobs/sha512:{HEX}"),
            &format!("a/blobs/sha512:{HEX}{}", HEX.to_uppercase()),
            &format!("a/blobs/sha384:{HEX}{}", &HEX[..32]),
            &format!("a/blobs/sha256+b64:{HEX}"),
            &format!("a/blobs/sha256:{}", HEX.to_uppercase()),
        ] {
            assert_eq!(code(p), "DIGEST_INVALID", "{p}");
        }
        for p in [
            "tags/list",
            "manifests/x",
            "a",
            "a/b",
            "a/blobs",
            "a/tags/lists",
        ] {
            assert_eq!(code(p), "UNSUPPORTED", "{p}");
        }
    }

    #[test]
    fn digest_algorithms() {
        assert_eq!(parse_algorithm("sha512").ok(), Some(HashAlgorithm::Sha512));
        assert_eq!(parse_algorithm("sha256").ok(), Some(HashAlgorithm::Sha256));
        for bad in ["md5", "SHA512", ""] {
            let e = parse_algorithm(bad).expect_err(bad);
            assert_eq!(e.code(), "UNSUPPORTED", "{bad}");
        }
    }

    #[test]
    fn name_grammar() {
        for ok in [
            "a",
            "a.b",
            "a_b",
            "a__b",
            "a---b",
            "0/1/2",
            "library/alpine",
            "x.y-z/w__v",
        ] {
            assert!(Name::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "A", "a.", ".a", "a..b", "a._b", "a/", "/a", "a b", "a:b", "ä",
        ] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,4}(([.]|_|__|-{1,3})[a-z0-9]{1,4}){0,3}"
    }

    proptest! {
        #[test]
        fn valid_names_round_trip(parts in proptest::collection::vec(component(), 1..5),
                                  tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}") {
            let name = parts.join("/");
            prop_assume!(name.len() <= NAME_MAX);
            let path = format!("{name}/manifests/{tag}");
            prop_assert_eq!(
                parse(&path).expect("valid"),
                Endpoint::Manifest(Name(name), Reference::Tag(tag))
            );
        }

        #[test]
        fn parsing_never_panics_and_names_stay_in_grammar(path in "[a-zA-Z0-9._/:%-]{0,80}") {
            if let Ok(Endpoint::Manifest(name, _) | Endpoint::Tags(name) | Endpoint::Blob(name, _)
                | Endpoint::Uploads(name) | Endpoint::Upload(name, _) | Endpoint::Referrers(name, _)) = parse(&path) {
                prop_assert!(!name.as_str().contains(".."));
                prop_assert!(!name.as_str().starts_with('/'));
                prop_assert!(name.as_str().split('/').all(component_ok));
            }
        }
    }
}
