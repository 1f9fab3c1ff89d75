//! Go module paths and versions: validation and `!`-case-encoding (golang.org/x/mod/module).

// Module paths are ASCII; to survive case-insensitive file systems and URLs, every
// uppercase letter is written as `!` followed by its lowercase form
// (`github.com/BurntSushi/toml` <-> `github.com/!burnt!sushi/toml`).

use crate::semver;

/// A module path, file path or version that breaks Go's rules; the message says why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// Which rule set a slash-separated path is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Module,
    Import,
    File,
}

impl Kind {
    /// The word used for this kind in error messages.
    fn noun(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Import => "import",
            Kind::File => "file",
        }
    }
}

/// Element names (before any dot, any case) that Windows reserves for devices.
const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Checks that `path` is a valid module path (Go `module.CheckPath`).
pub fn check_path(path: &str) -> Result<(), InvalidInput> {
    check_module_path(path).map_err(|why| malformed(Kind::Module, path, &why))
}

/// Checks that `path` is a valid package import path (Go `module.CheckImportPath`).
pub fn check_import_path(path: &str) -> Result<(), InvalidInput> {
    check_general(path, Kind::Import).map_err(|why| malformed(Kind::Import, path, &why))
}

/// Checks that `path` is a valid file path inside a module zip (Go `module.CheckFilePath`).
pub fn check_file_path(path: &str) -> Result<(), InvalidInput> {
    check_general(path, Kind::File).map_err(|why| malformed(Kind::File, path, &why))
}

/// Splits `path` into `(prefix, path_major)`: `""`, `/vN` (N >= 2) or gopkg.in `.vN`; `(path, "")` if malformed.
pub fn split_path_version(path: &str) -> (&str, &str) {
    split_path_version_checked(path).unwrap_or((path, ""))
}

/// Checks that version `v` suits the path major suffix `path_major` (Go `module.CheckPathMajor`).
pub fn check_path_major(v: &str, path_major: &str) -> Result<(), InvalidInput> {
    path_major_mismatch(v, path_major).map_or(Ok(()), |why| {
        Err(InvalidInput(format!("version {v:?} invalid: {why}")))
    })
}

/// Reports whether version `v` suits the path major suffix `path_major` (Go `module.MatchPathMajor`).
pub fn match_path_major(v: &str, path_major: &str) -> bool {
    path_major_mismatch(v, path_major).is_none()
}

/// Checks a module path and version pair as a proxy stores it (Go `module.Check`, slightly stricter).
pub fn check(path: &str, version: &str) -> Result<(), InvalidInput> {
    // Beyond Go's `module.Check`, two rules the go command enforces elsewhere: the version must
    // be canonical (as `zip.CheckZip` requires), and `+incompatible` is only allowed for major
    // versions v2 and up on paths without a major suffix (as `modfetch`'s code repos require).
    check_path(path)?;
    check_version_of(path, version)
}

/// [`check`] for a `path` already known to be valid: only the version's rules.
pub fn check_version_of(path: &str, version: &str) -> Result<(), InvalidInput> {
    let invalid = |why: String| InvalidInput(format!("{path}@{version}: invalid version: {why}"));
    if !semver::is_valid(version) {
        return Err(invalid("not a semantic version".into()));
    }
    match canonical_version(version) {
        Some(c) if c == version => {}
        Some(c) => return Err(invalid(format!("not canonical (should be {c:?})"))),
        None => return Err(invalid("not a semantic version".into())),
    }
    let (_, path_major) = split_path_version(path);
    if let Some(why) = path_major_mismatch(version, path_major) {
        return Err(invalid(why));
    }
    if semver::build(version) == "+incompatible" {
        if !path_major.is_empty() {
            let why = "+incompatible suffix not allowed: module path has a major version suffix";
            return Err(invalid(why.into()));
        }
        let m = semver::major(version).unwrap_or_default();
        if m == "v0" || m == "v1" {
            let why = format!("+incompatible suffix not allowed: major version {m} is compatible");
            return Err(invalid(why));
        }
    }
    Ok(())
}

/// Canonical form of `v` keeping a `+incompatible` suffix (Go `module.CanonicalVersion`); `None` if invalid.
pub fn canonical_version(v: &str) -> Option<String> {
    let mut c = semver::canonical(v)?;
    if semver::build(v) == "+incompatible" {
        c.push_str("+incompatible");
    }
    Some(c)
}

/// Reports whether `v` is a valid version already in the canonical form the GOPROXY protocol stores.
pub fn is_canonical_version(v: &str) -> bool {
    canonical_version(v).is_some_and(|c| c == v)
}

/// Escapes a valid module path for URLs and file systems (`A` becomes `!a`; Go `module.EscapePath`).
pub fn escape_path(path: &str) -> Result<String, InvalidInput> {
    check_path(path)?;
    escape_string(path).ok_or_else(|| malformed(Kind::Module, path, "cannot be escaped"))
}

/// Decodes an escaped module path and checks the result (Go `module.UnescapePath`).
pub fn unescape_path(escaped: &str) -> Result<String, InvalidInput> {
    let Some(path) = unescape_string(escaped) else {
        return Err(InvalidInput(format!(
            "invalid escaped module path {escaped:?}"
        )));
    };
    check_path(&path)
        .map_err(|e| InvalidInput(format!("invalid escaped module path {escaped:?}: {e}")))?;
    Ok(path)
}

/// Escapes a version (any file-name-safe ASCII string without `!`) for URLs (Go `module.EscapeVersion`).
pub fn escape_version(v: &str) -> Result<String, InvalidInput> {
    let disallowed = || InvalidInput(format!("version {v:?} invalid: disallowed version string"));
    if v.contains('!') || check_elem(v, Kind::File).is_err() {
        return Err(disallowed());
    }
    escape_string(v).ok_or_else(disallowed)
}

/// Decodes an escaped version and checks it is a valid file name (Go `module.UnescapeVersion`).
pub fn unescape_version(escaped: &str) -> Result<String, InvalidInput> {
    let Some(v) = unescape_string(escaped) else {
        return Err(InvalidInput(format!("invalid escaped version {escaped:?}")));
    };
    check_elem(&v, Kind::File)
        .map_err(|why| InvalidInput(format!("invalid escaped version {v:?}: {why}")))?;
    Ok(v)
}

/// Builds the `malformed <kind> path "<path>": <why>` error.
fn malformed(kind: Kind, path: &str, why: &str) -> InvalidInput {
    InvalidInput(format!("malformed {} path {path:?}: {why}", kind.noun()))
}

/// Module-path rules on top of the general ones; returns the reason for rejection.
fn check_module_path(path: &str) -> Result<(), String> {
    check_general(path, Kind::Module)?;
    let first = path.split('/').next().unwrap_or_default();
    if first.is_empty() {
        return Err("leading slash".into());
    }
    if !first.contains('.') {
        return Err("missing dot in first path element".into());
    }
    if first.starts_with('-') {
        return Err("leading dash in first path element".into());
    }
    if let Some(c) = first
        .chars()
        .find(|&c| !(c == '-' || c == '.' || c.is_ascii_digit() || c.is_ascii_lowercase()))
    {
        return Err(format!("invalid char {c:?} in first path element"));
    }
    if split_path_version_checked(path).is_none() {
        return Err("invalid version".into());
    }
    Ok(())
}

/// Rules shared by module, import and file paths; returns the reason for rejection.
fn check_general(path: &str, kind: Kind) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty string".into());
    }
    if path.starts_with('-') && kind != Kind::File {
        return Err("leading dash".into());
    }
    if path.contains("//") {
        return Err("double slash".into());
    }
    if path.ends_with('/') {
        return Err("trailing slash".into());
    }
    path.split('/').try_for_each(|elem| check_elem(elem, kind))
}

/// Checks one path element (also used for versions as file names); returns the reason for rejection.
fn check_elem(elem: &str, kind: Kind) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if elem.starts_with('.') && kind == Kind::Module {
        return Err("leading dot in path element".into());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".into());
    }
    let char_ok = match kind {
        Kind::Module => module_char_ok,
        Kind::Import => import_char_ok,
        Kind::File => file_char_ok,
    };
    if let Some(c) = elem.chars().find(|&c| !char_ok(c)) {
        return Err(format!("invalid char {c:?}"));
    }

    // The part before the first dot must not be a reserved Windows device name. Go compares
    // with Unicode case folding; no non-ASCII rune folds onto a letter of these names, so an
    // ASCII case-insensitive comparison is equivalent.
    let short = elem.split('.').next().unwrap_or_default();
    // Every reserved name has 3 or 4 ASCII letters and digits: other lengths need no comparison.
    if matches!(short.len(), 3 | 4)
        && WINDOWS_RESERVED
            .iter()
            .any(|r| r.eq_ignore_ascii_case(short))
    {
        return Err(format!(
            "{short:?} disallowed as path element component on Windows"
        ));
    }

    // Module and import paths must not look like Windows 8.3 short names ("PROGRA~1").
    if kind != Kind::File {
        if let Some((_, digits)) = short.rsplit_once('~') {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("trailing tilde and digits in path element".into());
            }
        }
    }
    Ok(())
}

/// Characters allowed in module path elements: ASCII letters, digits and `-._~`.
fn module_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// Characters allowed in import path elements: module path characters plus `+`.
fn import_char_ok(c: char) -> bool {
    module_char_ok(c) || c == '+'
}

/// Characters allowed in file names: ASCII letters, digits, space, `!#$%&()+,-.=@[]^_{}~`, Unicode letters.
fn file_char_ok(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || " !#$%&()+,-.=@[]^_{}~".contains(c)
    } else {
        is_unicode_letter(c)
    }
}

/// Reports whether `c` is in Unicode general category L (Go `unicode.IsLetter`).
fn is_unicode_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    let cp = u32::from(c);
    NON_ASCII_LETTERS
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Go `SplitPathVersion`: `None` when the final element looks like a bad major suffix.
fn split_path_version_checked(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let bytes = path.as_bytes();
    let tail = bytes
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count();
    let start = bytes.len() - tail;
    // Not of the form ".../v<digits and dots>": no major suffix at all.
    if tail == 0 || start < 2 || !path[..start].ends_with("/v") {
        return Some((path, ""));
    }
    let (prefix, major) = path.split_at(start - 2);
    let digits = &major[2..];
    if digits.contains('.') || digits.starts_with('0') || digits == "1" {
        return None;
    }
    Some((prefix, major))
}

/// gopkg.in paths must end in `.vN` (N may be 0), optionally followed by `-unstable`.
fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let body = path.strip_suffix("-unstable").unwrap_or(path);
    let digits = body.bytes().rev().take_while(u8::is_ascii_digit).count();
    let start = body.len() - digits;
    if start < 2 || !body[..start].ends_with(".v") {
        return None;
    }
    let (prefix, major) = path.split_at(start - 2);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

/// Why `v` does not suit `path_major`, or `None` if it does.
fn path_major_mismatch(v: &str, path_major: &str) -> Option<String> {
    let mut want = path_major;
    if want.starts_with(".v") {
        want = want.strip_suffix("-unstable").unwrap_or(want);
    }
    // Early vgo generated v0.0.0 pseudo-versions for gopkg.in/x.v1; go.mod files still name them.
    if v.starts_with("v0.0.0-") && want == ".v1" {
        return None;
    }
    let m = semver::major(v).unwrap_or_default();
    if want.is_empty() {
        if m == "v0" || m == "v1" || semver::build(v) == "+incompatible" {
            return None;
        }
        want = "v0 or v1";
    } else if let Some(suffix) = want.strip_prefix(['/', '.']) {
        if m == suffix {
            return None;
        }
        want = suffix;
    }
    Some(format!("should be {want}, not {m}"))
}

/// Escapes uppercase ASCII as `!` + lowercase; `None` if `s` holds `!` or non-ASCII.
fn escape_string(s: &str) -> Option<String> {
    if s.bytes().any(|b| b == b'!' || !b.is_ascii()) {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Reverses [`escape_string`]; `None` on non-ASCII, uppercase, or `!` not followed by `a-z`.
fn unescape_string(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '!' => match chars.next() {
                Some(l) if l.is_ascii_lowercase() => out.push(l.to_ascii_uppercase()),
                _ => return None,
            },
            c if !c.is_ascii() || c.is_ascii_uppercase() => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Inclusive ranges of Unicode 15.1 category L above U+007F, matching Go's `unicode.Letter` table.
#[rustfmt::skip]
const NON_ASCII_LETTERS: &[(u32, u32)] = &[
    (0x000aa, 0x000aa), (0x000b5, 0x000b5), (0x000ba, 0x000ba), (0x000c0, 0x000d6),
    (0x000d8, 0x000f6), (0x000f8, 0x002c1), (0x002c6, 0x002d1), (0x002e0, 0x002e4),
    (0x002ec, 0x002ec), (0x002ee, 0x002ee), (0x00370, 0x00374), (0x00376, 0x00377),
    (0x0037a, 0x0037d), (0x0037f, 0x0037f), (0x00386, 0x00386), (0x00388, 0x0038a),
    (0x0038c, 0x0038c), (0x0038e, 0x003a1), (0x003a3, 0x003f5), (0x003f7, 0x00481),
    (0x0048a, 0x0052f), (0x00531, 0x00556), (0x00559, 0x00559), (0x00560, 0x00588),
    (0x005d0, 0x005ea), (0x005ef, 0x005f2), (0x00620, 0x0064a), (0x0066e, 0x0066f),
    (0x00671, 0x006d3), (0x006d5, 0x006d5), (0x006e5, 0x006e6), (0x006ee, 0x006ef),
    (0x006fa, 0x006fc), (0x006ff, 0x006ff), (0x00710, 0x00710), (0x00712, 0x0072f),
    (0x0074d, 0x007a5), (0x007b1, 0x007b1), (0x007ca, 0x007ea), (0x007f4, 0x007f5),
    (0x007fa, 0x007fa), (0x00800, 0x00815), (0x0081a, 0x0081a), (0x00824, 0x00824),
    (0x00828, 0x00828), (0x00840, 0x00858), (0x00860, 0x0086a), (0x00870, 0x00887),
    (0x00889, 0x0088e), (0x008a0, 0x008c9), (0x00904, 0x00939), (0x0093d, 0x0093d),
    (0x00950, 0x00950), (0x00958, 0x00961), (0x00971, 0x00980), (0x00985, 0x0098c),
    (0x0098f, 0x00990), (0x00993, 0x009a8), (0x009aa, 0x009b0), (0x009b2, 0x009b2),
    (0x009b6, 0x009b9), (0x009bd, 0x009bd), (0x009ce, 0x009ce), (0x009dc, 0x009dd),
    (0x009df, 0x009e1), (0x009f0, 0x009f1), (0x009fc, 0x009fc), (0x00a05, 0x00a0a),
    (0x00a0f, 0x00a10), (0x00a13, 0x00a28), (0x00a2a, 0x00a30), (0x00a32, 0x00a33),
    (0x00a35, 0x00a36), (0x00a38, 0x00a39), (0x00a59, 0x00a5c), (0x00a5e, 0x00a5e),
    (0x00a72, 0x00a74), (0x00a85, 0x00a8d), (0x00a8f, 0x00a91), (0x00a93, 0x00aa8),
    (0x00aaa, 0x00ab0), (0x00ab2, 0x00ab3), (0x00ab5, 0x00ab9), (0x00abd, 0x00abd),
    (0x00ad0, 0x00ad0), (0x00ae0, 0x00ae1), (0x00af9, 0x00af9), (0x00b05, 0x00b0c),
    (0x00b0f, 0x00b10), (0x00b13, 0x00b28), (0x00b2a, 0x00b30), (0x00b32, 0x00b33),
    (0x00b35, 0x00b39), (0x00b3d, 0x00b3d), (0x00b5c, 0x00b5d), (0x00b5f, 0x00b61),
    (0x00b71, 0x00b71), (0x00b83, 0x00b83), (0x00b85, 0x00b8a), (0x00b8e, 0x00b90),
    (0x00b92, 0x00b95), (0x00b99, 0x00b9a), (0x00b9c, 0x00b9c), (0x00b9e, 0x00b9f),
    (0x00ba3, 0x00ba4), (0x00ba8, 0x00baa), (0x00bae, 0x00bb9), (0x00bd0, 0x00bd0),
    (0x00c05, 0x00c0c), (0x00c0e, 0x00c10), (0x00c12, 0x00c28), (0x00c2a, 0x00c39),
    (0x00c3d, 0x00c3d), (0x00c58, 0x00c5a), (0x00c5d, 0x00c5d), (0x00c60, 0x00c61),
    (0x00c80, 0x00c80), (0x00c85, 0x00c8c), (0x00c8e, 0x00c90), (0x00c92, 0x00ca8),
    (0x00caa, 0x00cb3), (0x00cb5, 0x00cb9), (0x00cbd, 0x00cbd), (0x00cdd, 0x00cde),
    (0x00ce0, 0x00ce1), (0x00cf1, 0x00cf2), (0x00d04, 0x00d0c), (0x00d0e, 0x00d10),
    (0x00d12, 0x00d3a), (0x00d3d, 0x00d3d), (0x00d4e, 0x00d4e), (0x00d54, 0x00d56),
    (0x00d5f, 0x00d61), (0x00d7a, 0x00d7f), (0x00d85, 0x00d96), (0x00d9a, 0x00db1),
    (0x00db3, 0x00dbb), (0x00dbd, 0x00dbd), (0x00dc0, 0x00dc6), (0x00e01, 0x00e30),
    (0x00e32, 0x00e33), (0x00e40, 0x00e46), (0x00e81, 0x00e82), (0x00e84, 0x00e84),
    (0x00e86, 0x00e8a), (0x00e8c, 0x00ea3), (0x00ea5, 0x00ea5), (0x00ea7, 0x00eb0),
    (0x00eb2, 0x00eb3), (0x00ebd, 0x00ebd), (0x00ec0, 0x00ec4), (0x00ec6, 0x00ec6),
    (0x00edc, 0x00edf), (0x00f00, 0x00f00), (0x00f40, 0x00f47), (0x00f49, 0x00f6c),
    (0x00f88, 0x00f8c), (0x01000, 0x0102a), (0x0103f, 0x0103f), (0x01050, 0x01055),
    (0x0105a, 0x0105d), (0x01061, 0x01061), (0x01065, 0x01066), (0x0106e, 0x01070),
    (0x01075, 0x01081), (0x0108e, 0x0108e), (0x010a0, 0x010c5), (0x010c7, 0x010c7),
    (0x010cd, 0x010cd), (0x010d0, 0x010fa), (0x010fc, 0x01248), (0x0124a, 0x0124d),
    (0x01250, 0x01256), (0x01258, 0x01258), (0x0125a, 0x0125d), (0x01260, 0x01288),
    (0x0128a, 0x0128d), (0x01290, 0x012b0), (0x012b2, 0x012b5), (0x012b8, 0x012be),
    (0x012c0, 0x012c0), (0x012c2, 0x012c5), (0x012c8, 0x012d6), (0x012d8, 0x01310),
    (0x01312, 0x01315), (0x01318, 0x0135a), (0x01380, 0x0138f), (0x013a0, 0x013f5),
    (0x013f8, 0x013fd), (0x01401, 0x0166c), (0x0166f, 0x0167f), (0x01681, 0x0169a),
    (0x016a0, 0x016ea), (0x016f1, 0x016f8), (0x01700, 0x01711), (0x0171f, 0x01731),
    (0x01740, 0x01751), (0x01760, 0x0176c), (0x0176e, 0x01770), (0x01780, 0x017b3),
    (0x017d7, 0x017d7), (0x017dc, 0x017dc), (0x01820, 0x01878), (0x01880, 0x01884),
    (0x01887, 0x018a8), (0x018aa, 0x018aa), (0x018b0, 0x018f5), (0x01900, 0x0191e),
    (0x01950, 0x0196d), (0x01970, 0x01974), (0x01980, 0x019ab), (0x019b0, 0x019c9),
    (0x01a00, 0x01a16), (0x01a20, 0x01a54), (0x01aa7, 0x01aa7), (0x01b05, 0x01b33),
    (0x01b45, 0x01b4c), (0x01b83, 0x01ba0), (0x01bae, 0x01baf), (0x01bba, 0x01be5),
    (0x01c00, 0x01c23), (0x01c4d, 0x01c4f), (0x01c5a, 0x01c7d), (0x01c80, 0x01c88),
    (0x01c90, 0x01cba), (0x01cbd, 0x01cbf), (0x01ce9, 0x01cec), (0x01cee, 0x01cf3),
    (0x01cf5, 0x01cf6), (0x01cfa, 0x01cfa), (0x01d00, 0x01dbf), (0x01e00, 0x01f15),
    (0x01f18, 0x01f1d), (0x01f20, 0x01f45), (0x01f48, 0x01f4d), (0x01f50, 0x01f57),
    (0x01f59, 0x01f59), (0x01f5b, 0x01f5b), (0x01f5d, 0x01f5d), (0x01f5f, 0x01f7d),
    (0x01f80, 0x01fb4), (0x01fb6, 0x01fbc), (0x01fbe, 0x01fbe), (0x01fc2, 0x01fc4),
    (0x01fc6, 0x01fcc), (0x01fd0, 0x01fd3), (0x01fd6, 0x01fdb), (0x01fe0, 0x01fec),
    (0x01ff2, 0x01ff4), (0x01ff6, 0x01ffc), (0x02071, 0x02071), (0x0207f, 0x0207f),
    (0x02090, 0x0209c), (0x02102, 0x02102), (0x02107, 0x02107), (0x0210a, 0x02113),
    (0x02115, 0x02115), (0x02119, 0x0211d), (0x02124, 0x02124), (0x02126, 0x02126),
    (0x02128, 0x02128), (0x0212a, 0x0212d), (0x0212f, 0x02139), (0x0213c, 0x0213f),
    (0x02145, 0x02149), (0x0214e, 0x0214e), (0x02183, 0x02184), (0x02c00, 0x02ce4),
    (0x02ceb, 0x02cee), (0x02cf2, 0x02cf3), (0x02d00, 0x02d25), (0x02d27, 0x02d27),
    (0x02d2d, 0x02d2d), (0x02d30, 0x02d67), (0x02d6f, 0x02d6f), (0x02d80, 0x02d96),
    (0x02da0, 0x02da6), (0x02da8, 0x02dae), (0x02db0, 0x02db6), (0x02db8, 0x02dbe),
    (0x02dc0, 0x02dc6), (0x02dc8, 0x02dce), (0x02dd0, 0x02dd6), (0x02dd8, 0x02dde),
    (0x02e2f, 0x02e2f), (0x03005, 0x03006), (0x03031, 0x03035), (0x0303b, 0x0303c),
    (0x03041, 0x03096), (0x0309d, 0x0309f), (0x030a1, 0x030fa), (0x030fc, 0x030ff),
    (0x03105, 0x0312f), (0x03131, 0x0318e), (0x031a0, 0x031bf), (0x031f0, 0x031ff),
    (0x03400, 0x04dbf), (0x04e00, 0x0a48c), (0x0a4d0, 0x0a4fd), (0x0a500, 0x0a60c),
    (0x0a610, 0x0a61f), (0x0a62a, 0x0a62b), (0x0a640, 0x0a66e), (0x0a67f, 0x0a69d),
    (0x0a6a0, 0x0a6e5), (0x0a717, 0x0a71f), (0x0a722, 0x0a788), (0x0a78b, 0x0a7ca),
    (0x0a7d0, 0x0a7d1), (0x0a7d3, 0x0a7d3), (0x0a7d5, 0x0a7d9), (0x0a7f2, 0x0a801),
    (0x0a803, 0x0a805), (0x0a807, 0x0a80a), (0x0a80c, 0x0a822), (0x0a840, 0x0a873),
    (0x0a882, 0x0a8b3), (0x0a8f2, 0x0a8f7), (0x0a8fb, 0x0a8fb), (0x0a8fd, 0x0a8fe),
    (0x0a90a, 0x0a925), (0x0a930, 0x0a946), (0x0a960, 0x0a97c), (0x0a984, 0x0a9b2),
    (0x0a9cf, 0x0a9cf), (0x0a9e0, 0x0a9e4), (0x0a9e6, 0x0a9ef), (0x0a9fa, 0x0a9fe),
    (0x0aa00, 0x0aa28), (0x0aa40, 0x0aa42), (0x0aa44, 0x0aa4b), (0x0aa60, 0x0aa76),
    (0x0aa7a, 0x0aa7a), (0x0aa7e, 0x0aaaf), (0x0aab1, 0x0aab1), (0x0aab5, 0x0aab6),
    (0x0aab9, 0x0aabd), (0x0aac0, 0x0aac0), (0x0aac2, 0x0aac2), (0x0aadb, 0x0aadd),
    (0x0aae0, 0x0aaea), (0x0aaf2, 0x0aaf4), (0x0ab01, 0x0ab06), (0x0ab09, 0x0ab0e),
    (0x0ab11, 0x0ab16), (0x0ab20, 0x0ab26), (0x0ab28, 0x0ab2e), (0x0ab30, 0x0ab5a),
    (0x0ab5c, 0x0ab69), (0x0ab70, 0x0abe2), (0x0ac00, 0x0d7a3), (0x0d7b0, 0x0d7c6),
    (0x0d7cb, 0x0d7fb), (0x0f900, 0x0fa6d), (0x0fa70, 0x0fad9), (0x0fb00, 0x0fb06),
    (0x0fb13, 0x0fb17), (0x0fb1d, 0x0fb1d), (0x0fb1f, 0x0fb28), (0x0fb2a, 0x0fb36),
    (0x0fb38, 0x0fb3c), (0x0fb3e, 0x0fb3e), (0x0fb40, 0x0fb41), (0x0fb43, 0x0fb44),
    (0x0fb46, 0x0fbb1), (0x0fbd3, 0x0fd3d), (0x0fd50, 0x0fd8f), (0x0fd92, 0x0fdc7),
    (0x0fdf0, 0x0fdfb), (0x0fe70, 0x0fe74), (0x0fe76, 0x0fefc), (0x0ff21, 0x0ff3a),
    (0x0ff41, 0x0ff5a), (0x0ff66, 0x0ffbe), (0x0ffc2, 0x0ffc7), (0x0ffca, 0x0ffcf),
    (0x0ffd2, 0x0ffd7), (0x0ffda, 0x0ffdc), (0x10000, 0x1000b), (0x1000d, 0x10026),
    (0x10028, 0x1003a), (0x1003c, 0x1003d), (0x1003f, 0x1004d), (0x10050, 0x1005d),
    (0x10080, 0x100fa), (0x10280, 0x1029c), (0x102a0, 0x102d0), (0x10300, 0x1031f),
    (0x1032d, 0x10340), (0x10342, 0x10349), (0x10350, 0x10375), (0x10380, 0x1039d),
    (0x103a0, 0x103c3), (0x103c8, 0x103cf), (0x10400, 0x1049d), (0x104b0, 0x104d3),
    (0x104d8, 0x104fb), (0x10500, 0x10527), (0x10530, 0x10563), (0x10570, 0x1057a),
    (0x1057c, 0x1058a), (0x1058c, 0x10592), (0x10594, 0x10595), (0x10597, 0x105a1),
    (0x105a3, 0x105b1), (0x105b3, 0x105b9), (0x105bb, 0x105bc), (0x10600, 0x10736),
    (0x10740, 0x10755), (0x10760, 0x10767), (0x10780, 0x10785), (0x10787, 0x107b0),
    (0x107b2, 0x107ba), (0x10800, 0x10805), (0x10808, 0x10808), (0x1080a, 0x10835),
    (0x10837, 0x10838), (0x1083c, 0x1083c), (0x1083f, 0x10855), (0x10860, 0x10876),
    (0x10880, 0x1089e), (0x108e0, 0x108f2), (0x108f4, 0x108f5), (0x10900, 0x10915),
    (0x10920, 0x10939), (0x10980, 0x109b7), (0x109be, 0x109bf), (0x10a00, 0x10a00),
    (0x10a10, 0x10a13), (0x10a15, 0x10a17), (0x10a19, 0x10a35), (0x10a60, 0x10a7c),
    (0x10a80, 0x10a9c), (0x10ac0, 0x10ac7), (0x10ac9, 0x10ae4), (0x10b00, 0x10b35),
    (0x10b40, 0x10b55), (0x10b60, 0x10b72), (0x10b80, 0x10b91), (0x10c00, 0x10c48),
    (0x10c80, 0x10cb2), (0x10cc0, 0x10cf2), (0x10d00, 0x10d23), (0x10e80, 0x10ea9),
    (0x10eb0, 0x10eb1), (0x10f00, 0x10f1c), (0x10f27, 0x10f27), (0x10f30, 0x10f45),
    (0x10f70, 0x10f81), (0x10fb0, 0x10fc4), (0x10fe0, 0x10ff6), (0x11003, 0x11037),
    (0x11071, 0x11072), (0x11075, 0x11075), (0x11083, 0x110af), (0x110d0, 0x110e8),
    (0x11103, 0x11126), (0x11144, 0x11144), (0x11147, 0x11147), (0x11150, 0x11172),
    (0x11176, 0x11176), (0x11183, 0x111b2), (0x111c1, 0x111c4), (0x111da, 0x111da),
    (0x111dc, 0x111dc), (0x11200, 0x11211), (0x11213, 0x1122b), (0x1123f, 0x11240),
    (0x11280, 0x11286), (0x11288, 0x11288), (0x1128a, 0x1128d), (0x1128f, 0x1129d),
    (0x1129f, 0x112a8), (0x112b0, 0x112de), (0x11305, 0x1130c), (0x1130f, 0x11310),
    (0x11313, 0x11328), (0x1132a, 0x11330), (0x11332, 0x11333), (0x11335, 0x11339),
    (0x1133d, 0x1133d), (0x11350, 0x11350), (0x1135d, 0x11361), (0x11400, 0x11434),
    (0x11447, 0x1144a), (0x1145f, 0x11461), (0x11480, 0x114af), (0x114c4, 0x114c5),
    (0x114c7, 0x114c7), (0x11580, 0x115ae), (0x115d8, 0x115db), (0x11600, 0x1162f),
    (0x11644, 0x11644), (0x11680, 0x116aa), (0x116b8, 0x116b8), (0x11700, 0x1171a),
    (0x11740, 0x11746), (0x11800, 0x1182b), (0x118a0, 0x118df), (0x118ff, 0x11906),
    (0x11909, 0x11909), (0x1190c, 0x11913), (0x11915, 0x11916), (0x11918, 0x1192f),
    (0x1193f, 0x1193f), (0x11941, 0x11941), (0x119a0, 0x119a7), (0x119aa, 0x119d0),
    (0x119e1, 0x119e1), (0x119e3, 0x119e3), (0x11a00, 0x11a00), (0x11a0b, 0x11a32),
    (0x11a3a, 0x11a3a), (0x11a50, 0x11a50), (0x11a5c, 0x11a89), (0x11a9d, 0x11a9d),
    (0x11ab0, 0x11af8), (0x11c00, 0x11c08), (0x11c0a, 0x11c2e), (0x11c40, 0x11c40),
    (0x11c72, 0x11c8f), (0x11d00, 0x11d06), (0x11d08, 0x11d09), (0x11d0b, 0x11d30),
    (0x11d46, 0x11d46), (0x11d60, 0x11d65), (0x11d67, 0x11d68), (0x11d6a, 0x11d89),
    (0x11d98, 0x11d98), (0x11ee0, 0x11ef2), (0x11f02, 0x11f02), (0x11f04, 0x11f10),
    (0x11f12, 0x11f33), (0x11fb0, 0x11fb0), (0x12000, 0x12399), (0x12480, 0x12543),
    (0x12f90, 0x12ff0), (0x13000, 0x1342f), (0x13441, 0x13446), (0x14400, 0x14646),
    (0x16800, 0x16a38), (0x16a40, 0x16a5e), (0x16a70, 0x16abe), (0x16ad0, 0x16aed),
    (0x16b00, 0x16b2f), (0x16b40, 0x16b43), (0x16b63, 0x16b77), (0x16b7d, 0x16b8f),
    (0x16e40, 0x16e7f), (0x16f00, 0x16f4a), (0x16f50, 0x16f50), (0x16f93, 0x16f9f),
    (0x16fe0, 0x16fe1), (0x16fe3, 0x16fe3), (0x17000, 0x187f7), (0x18800, 0x18cd5),
    (0x18d00, 0x18d08), (0x1aff0, 0x1aff3), (0x1aff5, 0x1affb), (0x1affd, 0x1affe),
    (0x1b000, 0x1b122), (0x1b132, 0x1b132), (0x1b150, 0x1b152), (0x1b155, 0x1b155),
    (0x1b164, 0x1b167), (0x1b170, 0x1b2fb), (0x1bc00, 0x1bc6a), (0x1bc70, 0x1bc7c),
    (0x1bc80, 0x1bc88), (0x1bc90, 0x1bc99), (0x1d400, 0x1d454), (0x1d456, 0x1d49c),
    (0x1d49e, 0x1d49f), (0x1d4a2, 0x1d4a2), (0x1d4a5, 0x1d4a6), (0x1d4a9, 0x1d4ac),
    (0x1d4ae, 0x1d4b9), (0x1d4bb, 0x1d4bb), (0x1d4bd, 0x1d4c3), (0x1d4c5, 0x1d505),
    (0x1d507, 0x1d50a), (0x1d50d, 0x1d514), (0x1d516, 0x1d51c), (0x1d51e, 0x1d539),
    (0x1d53b, 0x1d53e), (0x1d540, 0x1d544), (0x1d546, 0x1d546), (0x1d54a, 0x1d550),
    (0x1d552, 0x1d6a5), (0x1d6a8, 0x1d6c0), (0x1d6c2, 0x1d6da), (0x1d6dc, 0x1d6fa),
    (0x1d6fc, 0x1d714), (0x1d716, 0x1d734), (0x1d736, 0x1d74e), (0x1d750, 0x1d76e),
    (0x1d770, 0x1d788), (0x1d78a, 0x1d7a8), (0x1d7aa, 0x1d7c2), (0x1d7c4, 0x1d7cb),
    (0x1df00, 0x1df1e), (0x1df25, 0x1df2a), (0x1e030, 0x1e06d), (0x1e100, 0x1e12c),
    (0x1e137, 0x1e13d), (0x1e14e, 0x1e14e), (0x1e290, 0x1e2ad), (0x1e2c0, 0x1e2eb),
    (0x1e4d0, 0x1e4eb), (0x1e7e0, 0x1e7e6), (0x1e7e8, 0x1e7eb), (0x1e7ed, 0x1e7ee),
    (0x1e7f0, 0x1e7fe), (0x1e800, 0x1e8c4), (0x1e900, 0x1e943), (0x1e94b, 0x1e94b),
    (0x1ee00, 0x1ee03), (0x1ee05, 0x1ee1f), (0x1ee21, 0x1ee22), (0x1ee24, 0x1ee24),
    (0x1ee27, 0x1ee27), (0x1ee29, 0x1ee32), (0x1ee34, 0x1ee37), (0x1ee39, 0x1ee39),
    (0x1ee3b, 0x1ee3b), (0x1ee42, 0x1ee42), (0x1ee47, 0x1ee47), (0x1ee49, 0x1ee49),
    (0x1ee4b, 0x1ee4b), (0x1ee4d, 0x1ee4f), (0x1ee51, 0x1ee52), (0x1ee54, 0x1ee54),
    (0x1ee57, 0x1ee57), (0x1ee59, 0x1ee59), (0x1ee5b, 0x1ee5b), (0x1ee5d, 0x1ee5d),
    (0x1ee5f, 0x1ee5f), (0x1ee61, 0x1ee62), (0x1ee64, 0x1ee64), (0x1ee67, 0x1ee6a),
    (0x1ee6c, 0x1ee72), (0x1ee74, 0x1ee77), (0x1ee79, 0x1ee7c), (0x1ee7e, 0x1ee7e),
    (0x1ee80, 0x1ee89), (0x1ee8b, 0x1ee9b), (0x1eea1, 0x1eea3), (0x1eea5, 0x1eea9),
    (0x1eeab, 0x1eebb), (0x20000, 0x2a6df), (0x2a700, 0x2b739), (0x2b740, 0x2b81d),
    (0x2b820, 0x2cea1), (0x2ceb0, 0x2ebe0), (0x2ebf0, 0x2ee5d), (0x2f800, 0x2fa1d),
    (0x30000, 0x3134a), (0x31350, 0x323af),
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (path, valid module path, valid import path, valid file path).
    const PATHS: &[(&str, bool, bool, bool)] = &[
        ("x.y/z", true, true, true),
        ("x.y", true, true, true),
        ("", false, false, false),
        ("/x.y/z", false, false, false),
        ("x./z", false, false, false),
        (".x/z", false, true, true),
        ("-x/z", false, false, true),
        ("x..y/z", true, true, true),
        ("x.y/z/../../w", false, false, false),
        ("x.y//z", false, false, false),
        ("x.y/z//w", false, false, false),
        ("x.y/z/", false, false, false),
        ("x.y/z/v0", false, true, true),
        ("x.y/z/v1", false, true, true),
        ("x.y/z/v2", true, true, true),
        ("x.y/z/v02", false, true, true),
        ("x.y/z/v2.0", false, true, true),
        ("x.y/z/v", true, true, true),
        ("x.y/z/v2/w", true, true, true),
        ("x.y/v2", true, true, true),
        ("X.y/z", false, true, true),
        ("x-.y/z", true, true, true),
        ("x_y.z/w", false, true, true),
        ("xy/z", false, true, true),
        ("!x.y/z", false, false, true),
        ("_x.y/z", false, true, true),
        ("x.y!/z", false, false, true),
        ("x.y\"/z", false, false, false),
        ("x.y#/z", false, false, true),
        ("x.y$/z", false, false, true),
        ("x.y%/z", false, false, true),
        ("x.y&/z", false, false, true),
        ("x.y'/z", false, false, false),
        ("x.y(/z", false, false, true),
        ("x.y)/z", false, false, true),
        ("x.y*/z", false, false, false),
        ("x.y+/z", false, true, true),
        ("x.y,/z", false, false, true),
        ("x.y-/z", true, true, true),
        ("x.y./zt", false, false, false),
        ("x.y:/z", false, false, false),
        ("x.y;/z", false, false, false),
        ("x.y</z", false, false, false),
        ("x.y=/z", false, false, true),
        ("x.y>/z", false, false, false),
        ("x.y?/z", false, false, false),
        ("x.y@/z", false, false, true),
        ("x.y[/z", false, false, true),
        ("x.y\\/z", false, false, false),
        ("x.y]/z", false, false, true),
        ("x.y^/z", false, false, true),
        ("x.y_/z", false, true, true),
        ("x.y`/z", false, false, false),
        ("x.y{/z", false, false, true),
        ("x.y|/z", false, false, false),
        ("x.y}/z", false, false, true),
        ("x.y~/z", false, true, true),
        ("x.y /z", false, false, true),
        ("x.y/z!", false, false, true),
        ("x.y/z++", false, true, true),
        ("x.y/z-", true, true, true),
        ("x.y/z.t", true, true, true),
        ("x.y/.t", false, true, true),
        ("x.y/z/t", true, true, true),
        ("x.y/z_", true, true, true),
        ("x.y/z~", true, true, true),
        ("x.y/Z", true, true, true),
        ("x.y/...", false, false, false),
        ("x.y/x.foo", true, true, true),
        ("x.y/aux.foo", false, false, false),
        ("x.y/prn", false, false, false),
        ("x.y/PrN", false, false, false),
        ("x.y/prn2", true, true, true),
        ("x.y/com", true, true, true),
        ("x.y/com1", false, false, false),
        ("x.y/com1.txt", false, false, false),
        ("x.y/lpt9", false, false, false),
        ("x.y/calm1", true, true, true),
        ("nul.x/y", false, false, false),
        ("x.y/z~0", false, false, true),
        ("x.y/z~09", false, false, true),
        ("x.y/z~09.go", false, false, true),
        ("x.y/z09", true, true, true),
        ("x.y/z09~", true, true, true),
        ("x.y/z09~09z", true, true, true),
        ("x.y/z09~09z~09", false, false, true),
        ("github.com/!123/logrus", false, false, true),
        ("github.com/user/unicode/испытание", false, false, true),
        ("x.y/Ⅻ", false, false, false),
        ("x.y/e\u{301}", false, false, false),
        ("x.y/日本語", false, false, true),
        ("x.y/\u{31350}", false, false, true),
        ("../x", false, false, false),
        ("./y", false, false, false),
        ("x:y", false, false, false),
        ("\\temp\\foo", false, false, false),
        (".gitignore", false, true, true),
        (".github/ISSUE_TEMPLATE", false, true, true),
        ("x☺y", false, false, false),
        ("gopkg.in/yaml.v3", true, true, true),
        ("gopkg.in/yaml.v0", true, true, true),
        ("gopkg.in/yaml.v1-unstable", true, true, true),
        ("gopkg.in/yaml", false, true, true),
        ("gopkg.in/yaml.v01", false, true, true),
        ("gopkg.in/yaml/v2", false, true, true),
        ("gopkg.in/user/pkg.v12", true, true, true),
    ];

    #[test]
    fn path_rules() {
        for &(path, module, import, file) in PATHS {
            assert_eq!(check_path(path).is_ok(), module, "check_path({path:?})");
            assert_eq!(
                check_import_path(path).is_ok(),
                import,
                "check_import_path({path:?})"
            );
            assert_eq!(
                check_file_path(path).is_ok(),
                file,
                "check_file_path({path:?})"
            );
            assert_eq!(escape_path(path).is_ok(), module, "escape_path({path:?})");
            if !module {
                assert!(unescape_path(path).is_err(), "unescape_path({path:?})");
            }
        }
    }

    #[test]
    fn path_error_messages() {
        let msg = |r: Result<(), InvalidInput>| r.err().map(|e| e.to_string()).unwrap_or_default();
        let cases = [
            (
                check_path(".x/z"),
                r#"malformed module path ".x/z": leading dot in path element"#,
            ),
            (check_path(""), r#"malformed module path "": empty string"#),
            (
                check_path("-x/z"),
                r#"malformed module path "-x/z": leading dash"#,
            ),
            (
                check_path("x.y//z"),
                r#"malformed module path "x.y//z": double slash"#,
            ),
            (
                check_path("x.y/"),
                r#"malformed module path "x.y/": trailing slash"#,
            ),
            (
                check_path("x/y"),
                r#"malformed module path "x/y": missing dot in first path element"#,
            ),
            (
                check_path("X.y/z"),
                r#"malformed module path "X.y/z": invalid char 'X' in first path element"#,
            ),
            (
                check_path("x.y/a b"),
                r#"malformed module path "x.y/a b": invalid char ' '"#,
            ),
            (
                check_path("x.y/z/v1"),
                r#"malformed module path "x.y/z/v1": invalid version"#,
            ),
            (
                check_path("x.y/.."),
                r#"malformed module path "x.y/..": invalid path element "..""#,
            ),
            (
                check_path("x.y/z."),
                r#"malformed module path "x.y/z.": trailing dot in path element"#,
            ),
            (
                check_path("x.y/z~1"),
                r#"malformed module path "x.y/z~1": trailing tilde and digits in path element"#,
            ),
            (
                check_path("x.y/Con.go"),
                r#"malformed module path "x.y/Con.go": "Con" disallowed as path element component on Windows"#,
            ),
            (
                check_file_path("a/b:c"),
                r#"malformed file path "a/b:c": invalid char ':'"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(msg(got), want);
        }
    }

    #[test]
    fn splitting_major_suffixes() {
        let cases = [
            ("x.y/z", ("x.y/z", "")),
            ("x.y/z/v2", ("x.y/z", "/v2")),
            ("x.y/z/v3", ("x.y/z", "/v3")),
            ("x.y/z/v10", ("x.y/z", "/v10")),
            ("x.y/v", ("x.y/v", "")),
            ("x.y/zv2", ("x.y/zv2", "")),
            ("x.y/z/v2x", ("x.y/z/v2x", "")),
            ("gopkg.in/yaml.v0", ("gopkg.in/yaml", ".v0")),
            ("gopkg.in/yaml.v1", ("gopkg.in/yaml", ".v1")),
            ("gopkg.in/yaml.v3", ("gopkg.in/yaml", ".v3")),
            (
                "gopkg.in/yaml.v2-unstable",
                ("gopkg.in/yaml", ".v2-unstable"),
            ),
            // Malformed suffixes come back whole.
            ("x.y/z/v1", ("x.y/z/v1", "")),
            ("x.y/z/v0", ("x.y/z/v0", "")),
            ("x.y/z/v05", ("x.y/z/v05", "")),
            ("x.y/z/v2.0", ("x.y/z/v2.0", "")),
            ("gopkg.in/yaml", ("gopkg.in/yaml", "")),
            ("gopkg.in/yaml.v02", ("gopkg.in/yaml.v02", "")),
        ];
        for (path, want) in cases {
            assert_eq!(
                split_path_version(path),
                want,
                "split_path_version({path:?})"
            );
        }
        for &(path, ..) in PATHS {
            let (prefix, major) = split_path_version(path);
            assert_eq!(format!("{prefix}{major}"), path);
        }
    }

    #[test]
    fn path_major_matching() {
        let cases = [
            ("v0.0.0", "", true),
            ("v1.9.0", "", true),
            ("v0.0.0", "/v2", false),
            ("v0.0.0", ".v0", true),
            ("v0.0.0-20190510104115-cbcb75029529", ".v1", true),
            ("v0.0.0-20190510104115-cbcb75029529", ".v1-unstable", true),
            ("v0.0.0-20190510104115-cbcb75029529", ".v2", false),
            ("v1.0.0", "/v2", false),
            ("v1.0.0", ".v1", true),
            ("v1.0.0", ".v1-unstable", true),
            ("v2.0.0+incompatible", "", true),
            ("v2.0.0", "", false),
            ("v2.0.0", "/v2", true),
            ("v2.0.0", ".v2", true),
            ("v3.0.0", "/v2", false),
            ("bad", "", false),
        ];
        for (v, major, want) in cases {
            assert_eq!(
                match_path_major(v, major),
                want,
                "match_path_major({v:?}, {major:?})"
            );
            assert_eq!(check_path_major(v, major).is_ok(), want);
        }
        let err = check_path_major("v1.0.0", "/v2")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"version "v1.0.0" invalid: should be v2, not v1"#)
        );
    }

    #[test]
    fn path_version_pairs() {
        let cases = [
            ("rsc.io/quote", "0.1.0", false),
            ("rsc io/quote", "v1.0.0", false),
            ("github.com/go-yaml/yaml", "v0.8.0", true),
            ("github.com/go-yaml/yaml", "v1.0.0", true),
            ("github.com/go-yaml/yaml", "v2.0.0", false),
            ("github.com/go-yaml/yaml", "v2.1.5", false),
            ("github.com/go-yaml/yaml/v2", "v1.0.0", false),
            ("github.com/go-yaml/yaml/v2", "v2.0.0", true),
            ("github.com/go-yaml/yaml/v2", "v2.1.5", true),
            ("github.com/go-yaml/yaml/v2", "v3.0.0", false),
            ("example.com/m/v2", "v2.0.0", true),
            ("example.com/m/v2", "v1.0.0", false),
            ("gopkg.in/yaml.v0", "v0.8.0", true),
            ("gopkg.in/yaml.v0", "v1.0.0", false),
            ("gopkg.in/yaml.v1", "v0.8.0", false),
            ("gopkg.in/yaml.v1", "v1.0.0", true),
            ("gopkg.in/yaml.v1", "v2.0.0", false),
            ("gopkg.in/yaml.v2", "v1.0.0", false),
            ("gopkg.in/yaml.v2", "v2.1.5", true),
            ("gopkg.in/yaml.v3", "v3.0.1", true),
            ("gopkg.in/yaml.v1-unstable", "v1.0.0", true),
            ("gopkg.in/check.v1", "v0.0.0", false),
            (
                "gopkg.in/check.v1",
                "v0.0.0-20160102150405-abcdef123456",
                true,
            ),
            // Pseudo-versions follow the same major rules.
            ("example.com/m", "v0.0.0-20230102030405-0123456789ab", true),
            (
                "example.com/m",
                "v1.2.4-0.20230102030405-0123456789ab",
                true,
            ),
            (
                "example.com/m/v2",
                "v2.0.0-20230102030405-0123456789ab",
                true,
            ),
            (
                "example.com/m/v2",
                "v0.0.0-20230102030405-0123456789ab",
                false,
            ),
            // +incompatible: only v2+ on a path without a major suffix.
            ("rsc.io/quote", "v17.0.0", false),
            ("rsc.io/quote", "v17.0.0+incompatible", true),
            ("example.com/m", "v2.0.0+incompatible", true),
            (
                "example.com/m",
                "v2.0.1-0.20230102030405-0123456789ab+incompatible",
                true,
            ),
            ("example.com/m", "v1.0.0+incompatible", false),
            ("example.com/m", "v0.1.0+incompatible", false),
            ("example.com/m/v2", "v2.0.0+incompatible", false),
            ("gopkg.in/yaml.v2", "v2.0.0+incompatible", false),
            // Only canonical versions are accepted.
            ("example.com/m", "v1", false),
            ("example.com/m", "v1.2", false),
            ("example.com/m", "v1.2.3+meta", false),
            ("example.com/m", "v2.0.0+incompatible.x", false),
            ("example.com/m", "latest", false),
            ("example.com/m", "", false),
        ];
        for (path, version, want) in cases {
            assert_eq!(
                check(path, version).is_ok(),
                want,
                "check({path:?}, {version:?})"
            );
        }
        let msg = |p, v| check(p, v).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            msg("example.com/m/v2", "v1.0.0"),
            "example.com/m/v2@v1.0.0: invalid version: should be v2, not v1"
        );
        assert_eq!(
            msg("example.com/m", "v2.0.0"),
            "example.com/m@v2.0.0: invalid version: should be v0 or v1, not v2"
        );
        assert_eq!(
            msg("example.com/m", "latest"),
            "example.com/m@latest: invalid version: not a semantic version"
        );
        assert_eq!(
            msg("example.com/m", "v1.2"),
            r#"example.com/m@v1.2: invalid version: not canonical (should be "v1.2.0")"#
        );
        assert!(msg("Example.com/m", "v1.0.0").starts_with("malformed module path"));
    }

    #[test]
    fn canonical_versions() {
        let cases = [
            ("v1.2.3", Some("v1.2.3")),
            ("v1.2", Some("v1.2.0")),
            ("v1.2.3+meta", Some("v1.2.3")),
            ("v2.0.0+incompatible", Some("v2.0.0+incompatible")),
            ("v2+incompatible", None),
            ("v2.0.0-pre+incompatible", Some("v2.0.0-pre+incompatible")),
            ("bad", None),
        ];
        for (v, want) in cases {
            assert_eq!(
                canonical_version(v).as_deref(),
                want,
                "canonical_version({v:?})"
            );
            assert_eq!(
                is_canonical_version(v),
                want == Some(v),
                "is_canonical_version({v:?})"
            );
        }
        assert!(!is_canonical_version(""));
    }

    #[test]
    fn path_escaping() {
        let cases = [
            (
                "ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789",
                "ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789",
            ),
            ("github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"),
            (
                "github.com/GoogleCloudPlatform/omega",
                "github.com/!google!cloud!platform/omega",
            ),
            ("github.com/Sirupsen/logrus", "github.com/!sirupsen/logrus"),
            ("example.com/ABC/v2", "example.com/!a!b!c/v2"),
        ];
        for (path, esc) in cases {
            assert_eq!(
                escape_path(path).ok().as_deref(),
                Some(esc),
                "escape_path({path:?})"
            );
            assert_eq!(
                unescape_path(esc).ok().as_deref(),
                Some(path),
                "unescape_path({esc:?})"
            );
        }
        let bad = [
            "github.com/GoogleCloudPlatform/omega",
            "github.com/!google!cloud!platform!/omega",
            "github.com/!0google!cloud!platform/omega",
            "github.com/!_google!cloud!platform/omega",
            "github.com/!!google!cloud!platform/omega",
            "github.com/omega!",
            "github.com/!é",
            "github.com/é",
            "github.com/!",
            "!github.com/x",
            "",
        ];
        for esc in bad {
            assert!(unescape_path(esc).is_err(), "unescape_path({esc:?})");
        }
        let err = unescape_path("github.com/X").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"invalid escaped module path "github.com/X""#)
        );
        let err = unescape_path("x/!y").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                r#"invalid escaped module path "x/!y": malformed module path "x/Y": missing dot in first path element"#
            )
        );
    }

    #[test]
    fn version_escaping() {
        let cases = [
            ("v1.2.3", "v1.2.3"),
            (
                "v0.1.0-M4.0.20230102030405-0123456789ab",
                "v0.1.0-!m4.0.20230102030405-0123456789ab",
            ),
            ("v2.0.0+incompatible", "v2.0.0+incompatible"),
            ("master", "master"),
            ("v1.0.0-RC1", "v1.0.0-!r!c1"),
        ];
        for (v, esc) in cases {
            assert_eq!(
                escape_version(v).ok().as_deref(),
                Some(esc),
                "escape_version({v:?})"
            );
            assert_eq!(
                unescape_version(esc).ok().as_deref(),
                Some(v),
                "unescape_version({esc:?})"
            );
        }
        for v in ["", "v1!", "v1/2", "v1.", "..", "con", "v1:2", "vé", "v1 *"] {
            assert!(escape_version(v).is_err(), "escape_version({v:?})");
        }
        for esc in ["", "V1", "v1!", "!1", "v1/2", "v1.", "nul.txt", "vé"] {
            assert!(unescape_version(esc).is_err(), "unescape_version({esc:?})");
        }
        let err = escape_version("v1/2").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"version "v1/2" invalid: disallowed version string"#)
        );
    }

    #[test]
    fn letter_table_is_sorted_and_disjoint() {
        for pair in NON_ASCII_LETTERS.windows(2) {
            assert!(
                pair[0].0 <= pair[0].1 && pair[0].1 + 1 < pair[1].0,
                "{pair:?}"
            );
        }
        assert!(NON_ASCII_LETTERS.first().is_some_and(|r| r.0 > 0x7f));
        for c in [
            'é',
            'ß',
            'Ж',
            'ا',
            '日',
            'ǅ',
            'ʰ',
            '\u{10000}',
            '\u{31350}',
            '\u{323af}',
        ] {
            assert!(is_unicode_letter(c), "{c:?} is a letter");
        }
        for c in [
            '\u{301}',
            'Ⅻ',
            '٣',
            '€',
            '☺',
            '\u{a0}',
            '\u{323b0}',
            '\u{e000}',
        ] {
            assert!(!is_unicode_letter(c), "{c:?} is not a letter");
        }
    }

    /// Strategy producing valid module paths, including uppercase letters and major suffixes.
    fn module_path() -> impl Strategy<Value = String> {
        let first = "[a-z0-9][a-z0-9-]{0,6}(\\.[a-z0-9-]{0,5}[a-z0-9]){1,2}";
        let elem = "[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}";
        let major = prop_oneof![Just(String::new()), "/v[2-9]", "/v[1-9][0-9]{1,2}"];
        (first, prop::collection::vec(elem, 0..4), major)
            .prop_map(|(first, rest, major)| {
                let mut path = first;
                for e in rest {
                    path.push('/');
                    path.push_str(&e);
                }
                path + &major
            })
            .prop_filter("valid module path", |p| {
                check_path(p).is_ok() && !p.starts_with("gopkg.in/")
            })
    }

    proptest! {
        #[test]
        fn escape_round_trips(path in module_path()) {
            let esc = escape_path(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!esc.bytes().any(|b| b.is_ascii_uppercase()), "{}", esc);
            prop_assert_eq!(unescape_path(&esc).ok(), Some(path.clone()));
            if !path.bytes().any(|b| b.is_ascii_uppercase()) {
                prop_assert_eq!(esc, path);
            }
        }

        #[test]
        fn unescape_inverts_escape(esc in "[a-zA-Z0-9!./~_-]{0,20}") {
            if let Ok(path) = unescape_path(&esc) {
                prop_assert_eq!(escape_path(&path).ok(), Some(esc.clone()));
            }
            if let Ok(v) = unescape_version(&esc) {
                prop_assert_eq!(escape_version(&v).ok(), Some(esc));
            }
        }

        #[test]
        fn version_escape_round_trips(v in "v[0-9A-Za-z.+-]{1,20}[0-9A-Za-z]") {
            let esc = escape_version(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(!esc.bytes().any(|b| b.is_ascii_uppercase()));
            prop_assert_eq!(unescape_version(&esc).ok(), Some(v));
        }

        #[test]
        fn split_reassembles(path in module_path()) {
            let (prefix, major) = split_path_version(&path);
            prop_assert_eq!(format!("{prefix}{major}"), path.clone());
            if !major.is_empty() {
                prop_assert!(major.starts_with("/v"));
                let v = format!("{}.0.0", &major[1..]);
                prop_assert!(check(&path, &v).is_ok());
            }
        }

        #[test]
        fn checks_never_panic(s in ".{0,30}", v in ".{0,12}") {
            let _ = (check_path(&s), check_file_path(&s), check_import_path(&s));
            let _ = (unescape_path(&s), unescape_version(&v), escape_version(&v));
            let _ = (check(&s, &v), split_path_version(&s), is_canonical_version(&v));
        }
    }
}
