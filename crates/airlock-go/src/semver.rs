//! Go-flavoured semantic versions (golang.org/x/mod/semver) and pseudo-version parsing.

// Versions carry a leading `v` and follow `vMAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]]`;
// `vMAJOR` and `vMAJOR.MINOR` (without prerelease or build) are shorthands for
// `vMAJOR.0.0` and `vMAJOR.MINOR.0`. Every version accepted here is pure ASCII.

use std::cmp::Ordering;

/// The pieces of a valid version, each borrowed from the input (or a static "0").
#[derive(Debug, Clone, Copy)]
struct Parsed<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    /// What `canonical` appends to a shorthand (".0.0", ".0" or "").
    short: &'static str,
    /// Including the leading '-', or empty.
    prerelease: &'a str,
    /// Including the leading '+', or empty.
    build: &'a str,
}

/// Reports whether `v` is a valid semantic version (Go `semver.IsValid`).
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

/// Canonical form of `v` (missing `.0`s filled in, build metadata dropped), or `None` if invalid.
pub fn canonical(v: &str) -> Option<String> {
    let p = parse(v)?;
    if !p.build.is_empty() {
        let keep = v.len() - p.build.len();
        return v.get(..keep).map(str::to_owned);
    }
    let mut out = String::with_capacity(v.len() + p.short.len());
    out.push_str(v);
    out.push_str(p.short);
    Some(out)
}

/// Major-version prefix of `v` (`"v2"` for `"v2.1.0"`), or `None` if invalid.
pub fn major(v: &str) -> Option<&str> {
    let p = parse(v)?;
    v.get(..1 + p.major.len())
}

/// `vMAJOR.MINOR` of `v` (`"v2.1"` for `"v2.1.0"`, `"v2.0"` for `"v2"`), or `None` if invalid.
pub fn major_minor(v: &str) -> Option<String> {
    let p = parse(v)?;
    Some(format!("v{}.{}", p.major, p.minor))
}

/// Prerelease suffix of `v` with its `-` (`"-pre"` for `"v2.1.0-pre+meta"`); `""` if none or invalid.
pub fn prerelease(v: &str) -> &str {
    parse(v).map_or("", |p| p.prerelease)
}

/// Build suffix of `v` with its `+` (`"+meta"` for `"v2.1.0+meta"`); `""` if none or invalid.
pub fn build(v: &str) -> &str {
    parse(v).map_or("", |p| p.build)
}

/// Orders versions by semver precedence; invalid ones sort below valid ones and tie with each other.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(pa), Some(pb)) => compare_num(pa.major, pb.major)
            .then_with(|| compare_num(pa.minor, pb.minor))
            .then_with(|| compare_num(pa.patch, pb.patch))
            .then_with(|| compare_prerelease(pa.prerelease, pb.prerelease)),
    }
}

/// Sorts versions by [`compare`], breaking ties by plain string order (Go `semver.Sort`).
pub fn sort<S: AsRef<str>>(list: &mut [S]) {
    list.sort_by(|a, b| {
        let (a, b) = (a.as_ref(), b.as_ref());
        compare(a, b).then_with(|| a.cmp(b))
    });
}

/// Reports whether `v` is a pseudo-version (Go `module.IsPseudoVersion`).
pub fn is_pseudo(v: &str) -> bool {
    split_pseudo(v).is_some()
}

/// RFC 3339 UTC commit time (`"2023-01-02T03:04:05Z"`) of pseudo-version `v`; `None` if not one or not a real time.
pub fn pseudo_time(v: &str) -> Option<String> {
    let stamp = split_pseudo(v)?.timestamp;
    let field = |range: std::ops::Range<usize>| -> Option<u32> { stamp.get(range)?.parse().ok() };
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    let month_ok = (1..=12).contains(&month);
    if !month_ok || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"
    ))
}

/// Revision (usually a 12-hex commit prefix) of pseudo-version `v`, or `None` if not a pseudo-version.
pub fn pseudo_rev(v: &str) -> Option<&str> {
    split_pseudo(v).map(|p| p.rev)
}

/// Parses `v`, returning `None` unless it is a valid semantic version.
fn parse(v: &str) -> Option<Parsed<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = parse_num(rest)?;
    if rest.is_empty() {
        return Some(Parsed {
            major,
            minor: "0",
            patch: "0",
            short: ".0.0",
            prerelease: "",
            build: "",
        });
    }
    let (minor, rest) = parse_num(rest.strip_prefix('.')?)?;
    if rest.is_empty() {
        return Some(Parsed {
            major,
            minor,
            patch: "0",
            short: ".0",
            prerelease: "",
            build: "",
        });
    }
    let (patch, mut rest) = parse_num(rest.strip_prefix('.')?)?;
    let mut prerelease = "";
    if rest.starts_with('-') {
        (prerelease, rest) = parse_prerelease(rest)?;
    }
    let mut build = "";
    if rest.starts_with('+') {
        (build, rest) = parse_build(rest)?;
    }
    if !rest.is_empty() {
        return None;
    }
    Some(Parsed {
        major,
        minor,
        patch,
        short: "",
        prerelease,
        build,
    })
}

/// Splits a leading decimal number without extra leading zeros off `s`.
fn parse_num(s: &str) -> Option<(&str, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (digits > 1 && s.starts_with('0')) {
        return None;
    }
    Some(s.split_at(digits))
}

/// Reports whether `b` may appear in a prerelease or build identifier.
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Reports whether `s` is all digits (vacuously true for "").
fn is_num(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// Reports whether `s` is a numeric identifier with a forbidden leading zero.
fn is_bad_num(s: &str) -> bool {
    s.len() > 1 && s.starts_with('0') && is_num(s)
}

/// Splits `-PRERELEASE` (up to a `+` or the end) off `s`, which starts with `-`.
fn parse_prerelease(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('-')?;
    let end = body.find('+').unwrap_or(body.len());
    let ids = body.get(..end)?;
    let ok = ids
        .split('.')
        .all(|id| !id.is_empty() && id.bytes().all(is_ident_byte) && !is_bad_num(id));
    if !ok {
        return None;
    }
    Some(s.split_at(1 + end))
}

/// Splits `+BUILD` (to the end) off `s`, which starts with `+`.
fn parse_build(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('+')?;
    let ok = body
        .split('.')
        .all(|id| !id.is_empty() && id.bytes().all(is_ident_byte));
    if !ok {
        return None;
    }
    Some((s, ""))
}

/// Compares two decimal strings without leading zeros numerically.
fn compare_num(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Compares prerelease suffixes (with leading `-`, or empty) by semver precedence.
fn compare_prerelease(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    // A version without prerelease outranks any prerelease of it.
    let (a, b) = match (a.strip_prefix('-'), b.strip_prefix('-')) {
        (None, _) => return Ordering::Greater,
        (_, None) => return Ordering::Less,
        (Some(a), Some(b)) => (a, b),
    };
    let mut ia = a.split('.');
    let mut ib = b.split('.');
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => {
                return match (is_num(x), is_num(y)) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (true, true) => compare_num(x, y),
                    (false, false) => x.cmp(y),
                };
            }
        }
    }
}

/// Components of a pseudo-version, borrowed from it.
struct PseudoParts<'a> {
    /// The 14-digit `yyyymmddhhmmss` commit time.
    timestamp: &'a str,
    /// The revision identifier after the timestamp.
    rev: &'a str,
}

/// Recognises the pseudo-version forms `vX.0.0-T-R`, `vX.Y.Z-0.T-R` and `vX.Y.Z-pre.0.T-R`
/// (each optionally followed by `+BUILD`), where T is 14 digits and R is alphanumeric.
fn split_pseudo(v: &str) -> Option<PseudoParts<'_>> {
    if v.bytes().filter(|&b| b == b'-').count() < 2 || !is_valid(v) {
        return None;
    }
    // A valid version contains '+' only as the start of its build metadata.
    let core = v.find('+').map_or(Some(v), |i| v.get(..i))?;
    let (head, rev) = core.rsplit_once('-')?;
    if rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let split = head.len().checked_sub(14)?;
    let (prefix, timestamp) = (head.get(..split)?, head.get(split..)?);
    if !is_num(timestamp) {
        return None;
    }
    let ok = if let Some(major) = prefix.strip_suffix(".0.0-") {
        // Form vX.0.0-T-R: no base version.
        major.strip_prefix('v').is_some_and(is_digits)
    } else if let Some(base) = prefix.strip_suffix("0.") {
        // Forms vX.Y.Z-0.T-R and vX.Y.Z-pre.0.T-R.
        is_pseudo_base(base)
    } else {
        false
    };
    ok.then_some(PseudoParts { timestamp, rev })
}

/// Reports whether `s` is a non-empty run of ASCII digits.
fn is_digits(s: &str) -> bool {
    !s.is_empty() && is_num(s)
}

/// Matches `vX.Y.Z-` optionally followed by any text ending in `.`.
fn is_pseudo_base(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.splitn(3, '.');
    let (Some(x), Some(y), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Some((z, pre)) = tail.split_once('-') else {
        return false;
    };
    is_digits(x) && is_digits(y) && is_digits(z) && (pre.is_empty() || pre.ends_with('.'))
}

/// Number of days in `month` (1-12) of the proleptic Gregorian `year`.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (input, canonical form or "" when invalid).
    const CANONICAL: &[(&str, &str)] = &[
        ("", ""),
        ("bad", ""),
        ("1.2.3", ""),
        ("v", ""),
        ("V1.2.3", ""),
        ("v01", ""),
        ("v1.02", ""),
        ("v1.2.03", ""),
        ("v1.2.3.4", ""),
        ("v1.", ""),
        ("v1..2", ""),
        ("v1-pre", ""),
        ("v1+meta", ""),
        ("v1.2-pre", ""),
        ("v1.2+meta", ""),
        ("v1.2.3-", ""),
        ("v1.2.3+", ""),
        ("v1.2.3-a..b", ""),
        ("v1.2.3-a.", ""),
        ("v1.2.3-01", ""),
        ("v1.2.3-a_b", ""),
        ("v1.2.3+a..b", ""),
        ("v1.2.3+meta+more", ""),
        ("v1.2.3-é", ""),
        ("v1.2.3 ", ""),
        ("v0", "v0.0.0"),
        ("v1", "v1.0.0"),
        ("v1.0", "v1.0.0"),
        ("v1.2", "v1.2.0"),
        ("v1.2.3", "v1.2.3"),
        ("v10.20.30", "v10.20.30"),
        ("v1.0.0-alpha", "v1.0.0-alpha"),
        ("v1.0.0-alpha.1", "v1.0.0-alpha.1"),
        ("v1.0.0-0", "v1.0.0-0"),
        ("v1.0.0-0a", "v1.0.0-0a"),
        ("v1.0.0-00a", "v1.0.0-00a"),
        ("v1.0.0--", "v1.0.0--"),
        ("v1.2.3-456-789", "v1.2.3-456-789"),
        ("v1.2.3-pre+meta", "v1.2.3-pre"),
        ("v1.2.3+meta", "v1.2.3"),
        ("v1.2.3+01", "v1.2.3"),
        ("v1.2.3+meta-pre.sha.256a", "v1.2.3"),
        ("v2.0.0+incompatible", "v2.0.0"),
    ];

    #[test]
    fn validity_and_canonical_form() {
        for &(input, want) in CANONICAL {
            assert_eq!(is_valid(input), !want.is_empty(), "is_valid({input:?})");
            let want = (!want.is_empty()).then(|| want.to_string());
            assert_eq!(canonical(input), want, "canonical({input:?})");
        }
    }

    #[test]
    fn accessors() {
        assert_eq!(major("v2.1.0"), Some("v2"));
        assert_eq!(major("v10"), Some("v10"));
        assert_eq!(major("v0.1-pre"), None);
        assert_eq!(major_minor("v2.1.0"), Some("v2.1".to_string()));
        assert_eq!(major_minor("v2"), Some("v2.0".to_string()));
        assert_eq!(major_minor("v2.3"), Some("v2.3".to_string()));
        assert_eq!(major_minor("x"), None);
        assert_eq!(prerelease("v2.1.0-pre+meta"), "-pre");
        assert_eq!(prerelease("v2.1.0+meta"), "");
        assert_eq!(prerelease("v2.1"), "");
        assert_eq!(prerelease("2.1.0-pre"), "");
        assert_eq!(build("v2.1.0+meta"), "+meta");
        assert_eq!(build("v2.1.0-pre+incompatible"), "+incompatible");
        assert_eq!(build("v2.1.0"), "");
        assert_eq!(build("v2.1.0+"), "");
    }

    #[test]
    fn precedence_chain() {
        // Each entry is strictly greater than the previous one.
        let chain = [
            "bad",
            "v0.0.0-20060102150405-abcdef123456",
            "v0.0.0",
            "v0.0.1-0.20060102150405-abcdef123456",
            "v0.0.1",
            "v0.1.0",
            "v1.0.0-alpha",
            "v1.0.0-alpha.1",
            "v1.0.0-alpha.beta",
            "v1.0.0-beta",
            "v1.0.0-beta.2",
            "v1.0.0-beta.11",
            "v1.0.0-rc.1",
            "v1",
            "v1.2.3-pre",
            "v1.2.3-pre.0.20060102150405-abcdef123456",
            "v1.2.3",
            "v1.2.10",
            "v1.10.0",
            "v2.0.0+incompatible",
            "v10.0.0",
            "v99999999999999999999.0.0",
        ];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "compare({a:?}, {b:?})");
            }
        }
    }

    #[test]
    fn equal_precedence() {
        assert_eq!(compare("v1", "v1.0.0"), Ordering::Equal);
        assert_eq!(compare("v1.2", "v1.2.0"), Ordering::Equal);
        assert_eq!(compare("v1.2.3+a", "v1.2.3+b"), Ordering::Equal);
        assert_eq!(compare("v2.0.0+incompatible", "v2.0.0"), Ordering::Equal);
        assert_eq!(compare("bad", "worse"), Ordering::Equal);
        assert_eq!(compare("", "v1.0.0"), Ordering::Less);
    }

    #[test]
    fn sorting_breaks_ties_by_string() {
        let mut list = vec![
            "v1.0.0", "v1", "bad", "v0.9.0", "v1.0.0+b", "v1.0.0+a", "abc",
        ];
        sort(&mut list);
        assert_eq!(
            list,
            ["abc", "bad", "v0.9.0", "v1", "v1.0.0", "v1.0.0+a", "v1.0.0+b"]
        );
    }

    /// (version, is pseudo-version).
    const PSEUDO: &[(&str, bool)] = &[
        ("v0.0.0-20060102150405-abcdef123456", true),
        ("v1.0.0-20060102150405-abcdef123456", true),
        ("v2.0.0-20060102150405-hash", true),
        ("v0.0.1-0.20060102150405-hash", true),
        ("v1.2.4-0.20060102150405-hash", true),
        ("v1.2.3-pre.0.20060102150405-hash", true),
        ("v1.3.0-pre.1.x.0.20060102150405-hash", true),
        ("v0.0.0--.0.20060102150405-hash", true),
        ("v1.0.1-0.20060102150405-hash+metadata", true),
        ("v2.0.1-0.20060102150405-hash+incompatible", true),
        ("v2.3.0-pre.0.20060102150405-hash+incompatible", true),
        ("v0.0.0-20060102150405-abcdef123456+incompatible", true),
        ("v1.2.3-0.20060102150405-ABCdef", true),
        // Not pseudo-versions.
        ("v0.0.0", false),
        ("v1.2.3-pre", false),
        ("v1.2.3-pre.0.20060102150405", false),
        ("v1.2.0-20060102150405-hash", false),
        ("v1.2.3-20060102150405-hash", false),
        ("v0.0.0-2006010215040-hash", false),
        ("v0.0.0-200601021504050-hash", false),
        ("v0.0.0-20060102150405-", false),
        ("v0.0.0-20060102150405-ab_cd", false),
        ("v0.0.0-20060102150405-ab-cd", false),
        ("v1.2.3-1.20060102150405-hash", false),
        ("v1.2.3-pre0.20060102150405-hash", false),
        ("v1.0.0-0.20060102150405-hash+", false),
        ("v1.0-20060102150405-hash", false),
        ("0.0.0-20060102150405-hash", false),
        ("---", false),
        ("", false),
    ];

    #[test]
    fn pseudo_version_recognition() {
        for &(v, want) in PSEUDO {
            assert_eq!(is_pseudo(v), want, "is_pseudo({v:?})");
            assert_eq!(pseudo_rev(v).is_some(), want, "pseudo_rev({v:?})");
        }
    }

    #[test]
    fn pseudo_version_parts() {
        let v = "v1.2.4-0.20230102030405-0123456789ab";
        assert_eq!(pseudo_time(v).as_deref(), Some("2023-01-02T03:04:05Z"));
        assert_eq!(pseudo_rev(v), Some("0123456789ab"));
        let v = "v2.3.0-pre.0.20060102150405-hash+incompatible";
        assert_eq!(pseudo_time(v).as_deref(), Some("2006-01-02T15:04:05Z"));
        assert_eq!(pseudo_rev(v), Some("hash"));
        let v = "v0.0.0-00000101000000-000000000000";
        assert_eq!(pseudo_time(v).as_deref(), Some("0000-01-01T00:00:00Z"));
        assert_eq!(pseudo_time("v1.2.3"), None);
        assert_eq!(pseudo_rev("v1.2.3"), None);
    }

    #[test]
    fn pseudo_time_rejects_impossible_dates() {
        let time = |stamp: &str| pseudo_time(&format!("v0.0.0-{stamp}-abcdef123456"));
        assert_eq!(
            time("20240229235959").as_deref(),
            Some("2024-02-29T23:59:59Z")
        );
        assert_eq!(
            time("20000229000000").as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(time("20230229000000"), None);
        assert_eq!(time("19000229000000"), None);
        assert_eq!(time("20230431000000"), None);
        assert_eq!(time("20231301000000"), None);
        assert_eq!(time("20230001000000"), None);
        assert_eq!(time("20230100000000"), None);
        assert_eq!(time("20230101240000"), None);
        assert_eq!(time("20230101006000"), None);
        assert_eq!(time("20230101000060"), None);
    }

    /// Strategy producing valid versions, with shorthands, prereleases and build metadata.
    fn version() -> impl Strategy<Value = String> {
        let num = prop_oneof![
            Just("0".to_string()),
            Just("1".to_string()),
            Just("2".to_string()),
            "[1-9][0-9]{0,3}",
            "[1-9][0-9]{18,22}",
        ];
        let ident = prop_oneof![
            Just("0".to_string()),
            Just("1".to_string()),
            Just("11".to_string()),
            "[1-9][0-9]{0,2}",
            "[a-c]{1,2}",
            "[0-9A-Za-z-]{1,4}[A-Za-z-]",
        ];
        let pre = prop::collection::vec(ident, 0..4);
        let build = prop::collection::vec("[0-9A-Za-z-]{1,3}", 0..3);
        (num.clone(), num.clone(), num, 0..3usize, pre, build).prop_map(
            |(ma, mi, pa, shape, pre, build)| match shape {
                0 => format!("v{ma}"),
                1 => format!("v{ma}.{mi}"),
                _ => {
                    let mut v = format!("v{ma}.{mi}.{pa}");
                    if !pre.is_empty() {
                        v = format!("{v}-{}", pre.join("."));
                    }
                    if !build.is_empty() {
                        v = format!("{v}+{}", build.join("."));
                    }
                    v
                }
            },
        )
    }

    /// Valid versions mixed with arbitrary (mostly invalid) strings.
    fn any_version() -> impl Strategy<Value = String> {
        prop_oneof![4 => version(), 1 => "v[0-9a-z.+-]{0,8}", 1 => ".{0,6}"]
    }

    proptest! {
        #[test]
        fn generated_versions_are_valid(v in version()) {
            prop_assert!(is_valid(&v));
        }

        #[test]
        fn canonical_is_idempotent(v in any_version()) {
            if let Some(c) = canonical(&v) {
                prop_assert!(is_valid(&c));
                prop_assert_eq!(canonical(&c), Some(c.clone()));
                prop_assert_eq!(compare(&c, &v), Ordering::Equal);
                prop_assert_eq!(build(&c), "");
            } else {
                prop_assert!(!is_valid(&v));
            }
        }

        #[test]
        fn compare_is_antisymmetric(a in any_version(), b in any_version()) {
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
            prop_assert_eq!(compare(&a, &a), Ordering::Equal);
        }

        #[test]
        fn compare_is_transitive(a in any_version(), b in any_version(), c in any_version()) {
            let mut sorted = [a, b, c];
            sorted.sort_by(|x, y| compare(x, y));
            let [x, y, z] = &sorted;
            prop_assert_ne!(compare(x, y), Ordering::Greater);
            prop_assert_ne!(compare(y, z), Ordering::Greater);
            prop_assert_ne!(compare(x, z), Ordering::Greater);
            if compare(x, y) == Ordering::Equal && compare(y, z) == Ordering::Equal {
                prop_assert_eq!(compare(x, z), Ordering::Equal);
            }
        }

        #[test]
        fn compare_equal_iff_same_canonical(a in version(), b in version()) {
            let same = canonical(&a) == canonical(&b);
            prop_assert_eq!(compare(&a, &b) == Ordering::Equal, same);
        }

        #[test]
        fn pseudo_versions_round_trip(
            base in prop_oneof![
                Just(String::new()),
                Just("v1.2.3".to_string()),
                Just("v1.2.3-pre".to_string()),
                Just("v2.0.0+incompatible".to_string()),
            ],
            y in 0u32..10000, mo in 1u32..13, d in 1u32..29,
            h in 0u32..24, mi in 0u32..60, s in 0u32..60,
            rev in "[0-9a-f]{12}",
        ) {
            let stamp = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}");
            let v = match base.as_str() {
                "" => format!("v0.0.0-{stamp}-{rev}"),
                "v1.2.3" => format!("v1.2.4-0.{stamp}-{rev}"),
                "v1.2.3-pre" => format!("v1.2.3-pre.0.{stamp}-{rev}"),
                _ => format!("v2.0.1-0.{stamp}-{rev}+incompatible"),
            };
            prop_assert!(is_pseudo(&v));
            prop_assert_eq!(pseudo_rev(&v), Some(rev.as_str()));
            let want = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
            prop_assert_eq!(pseudo_time(&v), Some(want));
            if !base.is_empty() {
                prop_assert_eq!(compare(&base, &v), Ordering::Less);
            }
        }

        #[test]
        fn pseudo_parsers_never_panic(v in ".{0,40}") {
            let _ = (is_pseudo(&v), pseudo_time(&v), pseudo_rev(&v));
        }
    }
}
