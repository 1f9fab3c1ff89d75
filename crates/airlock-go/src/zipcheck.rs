//! Checks a module zip the way `go` will when it extracts it
//! (`golang.org/x/mod/zip.CheckZip`), and computes its `h1:` hash on the way.
//!
//! A zip that fails a rule only at extraction stays in the client's cache and breaks
//! every later build, so every rule is checked before the first byte is served;
//! inflating every entry also catches corrupt data behind an intact directory.

use crate::dirhash;
use crate::module;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::Path;

/// Largest module zip `go` accepts, compressed or not (`MaxZipFile`).
pub const MAX_ZIP_SIZE: u64 = 500 << 20;
/// Largest go.mod `go` accepts (`MaxGoMod`).
pub const MAX_GO_MOD_SIZE: u64 = 16 << 20;
/// Largest LICENSE `go` accepts (`MaxLICENSE`).
pub const MAX_LICENSE_SIZE: u64 = 16 << 20;
/// More entries than any real module has; bounds the memory a hostile zip costs.
pub const MAX_ENTRIES: usize = 500_000;

/// Why a module zip was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid module zip: {0}")]
pub struct ZipError(pub String);

fn bad(msg: impl Into<String>) -> ZipError {
    ZipError(msg.into())
}

/// Checks the zip at `path` for `module@version` and returns its `h1:` hash.
/// Blocking: call from a blocking thread.
pub fn check_zip(path: &Path, module_path: &str, version: &str) -> Result<String, ZipError> {
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    check_zip_reader(io::BufReader::new(file), module_path, version)
}

/// [`check_zip`] on any seekable reader (a small zip held in memory).
pub fn check_zip_reader(
    reader: impl Read + io::Seek,
    module_path: &str,
    version: &str,
) -> Result<String, ZipError> {
    let archive = zip::ZipArchive::new(reader).map_err(|e| bad(format!("unreadable: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(bad(format!("more than {MAX_ENTRIES} entries")));
    }
    // The zip crate keeps one entry per name; go sees, and refuses, every one.
    let (start, len) = (archive.central_directory_start(), archive.len());
    let mut reader = archive.into_inner();
    if let Some(name) = name_listed_twice(&mut reader, start, len)? {
        return Err(bad(format!("{name:?}: multiple entries for file")));
    }
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| bad(format!("unreadable: {e}")))?;
    let prefix = format!("{module_path}@{version}/");
    let mut names = Collisions::default();
    let mut hashes = Vec::with_capacity(archive.len());
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = std::str::from_utf8(entry.name_raw())
            .map_err(|_| bad(format!("entry {i}: file name is not UTF-8")))?
            .to_owned();
        let rest = name
            .strip_prefix(&prefix)
            .ok_or_else(|| bad(format!("{name:?}: path does not start with {prefix:?}")))?;
        if rest.is_empty() {
            continue;
        }
        // Directory entries carry nothing, but go checks their names and
        // collisions like a file's.
        let (rest, is_dir) = match rest.strip_suffix('/') {
            Some(dir) => (dir, true),
            None => (rest, false),
        };
        module::check_file_path(rest).map_err(|e| bad(format!("{name:?}: {e}")))?;
        names
            .check(rest, is_dir)
            .map_err(|e| bad(format!("{name:?}: {e}")))?;
        if is_dir {
            continue;
        }
        let base = rest.rsplit('/').next().unwrap_or(rest);
        if base.eq_ignore_ascii_case("go.mod") {
            if base != rest {
                return Err(bad(format!(
                    "{name:?}: go.mod file not in module root directory"
                )));
            }
            if rest != "go.mod" {
                return Err(bad(format!(
                    "{name:?}: go.mod file must be spelled exactly \"go.mod\""
                )));
            }
        }
        if entry.is_symlink() {
            return Err(bad(format!("{name:?}: symbolic links are not allowed")));
        }
        let limit = match rest {
            "go.mod" => MAX_GO_MOD_SIZE,
            "LICENSE" => MAX_LICENSE_SIZE,
            _ => MAX_ZIP_SIZE - total,
        };
        if entry.size() > limit {
            return Err(bad(format!("{name:?}: file too large")));
        }
        let mut hasher = HashingSink(Sha256::new());
        // Inflate for real, never trusting declared sizes: one byte over the limit fails.
        let copied = io::copy(&mut (&mut entry).take(limit + 1), &mut hasher)
            .map_err(|e| bad(format!("{name:?}: corrupt data: {e}")))?;
        if copied > limit {
            return Err(bad(format!("{name:?}: file too large")));
        }
        total += copied;
        if total > MAX_ZIP_SIZE {
            return Err(bad(format!(
                "total uncompressed size exceeds {MAX_ZIP_SIZE} bytes"
            )));
        }
        hashes.push((name, hasher.0.finalize().into()));
    }
    Ok(dirhash::hash1(&mut hashes))
}

/// Walks the central directory from `start` and returns a name that appears
/// in more than one of its headers (`unique`: how many distinct names the zip
/// crate found, which bounds the work).
fn name_listed_twice(
    reader: &mut (impl Read + io::Seek),
    start: u64,
    unique: usize,
) -> Result<Option<String>, ZipError> {
    const CENTRAL_HEADER: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    let unreadable = |e: io::Error| bad(format!("unreadable central directory: {e}"));
    reader
        .seek(io::SeekFrom::Start(start))
        .map_err(unreadable)?;
    let mut reader = io::BufReader::new(reader);
    let mut seen = HashSet::with_capacity(unique);
    let mut header = [0u8; 46];
    for _ in 0..=MAX_ENTRIES {
        if reader.read_exact(&mut header).is_err() || header[..4] != CENTRAL_HEADER {
            return Ok(None); // the end of the directory
        }
        let field = |at: usize| u64::from(u16::from_le_bytes([header[at], header[at + 1]]));
        let mut name = vec![0u8; field(28) as usize];
        reader.read_exact(&mut name).map_err(unreadable)?;
        let skip = (field(30) + field(32)) as i64;
        reader.seek_relative(skip).map_err(unreadable)?;
        if seen.contains(&name) {
            return Ok(Some(String::from_utf8_lossy(&name).into_owned()));
        }
        seen.insert(name);
        if seen.len() > unique {
            return Ok(None); // more names than the crate saw: not our concern here
        }
    }
    Ok(None)
}

/// x/mod's `collisionChecker`: every entry and each of its parent directories
/// is recorded under its case-folded path. Two spellings of one folded path
/// collide (at any level: `x/y/a.go` and `x/Y/b.go`), a path may not be both a
/// file and a directory, and a file may not appear twice. A module whose zip
/// breaks this cannot be extracted on a case-insensitive file system, and `go`
/// refuses it everywhere.
#[derive(Default)]
struct Collisions(HashMap<String, (String, bool)>);

impl Collisions {
    fn check(&mut self, path: &str, is_dir: bool) -> Result<(), String> {
        let mut path = path;
        let mut is_dir = is_dir;
        loop {
            match self.0.get(&fold(path)) {
                Some((other, other_is_dir)) => {
                    if other != path {
                        return Err(format!(
                            "case-insensitive file name collision: {other:?} and {path:?}"
                        ));
                    }
                    if *other_is_dir != is_dir {
                        return Err(format!("entry {path:?} is both a file and a directory"));
                    }
                    if !is_dir {
                        return Err(format!("multiple entries for file {path:?}"));
                    }
                    // A directory seen before: its parents were recorded then.
                    return Ok(());
                }
                None => {
                    self.0.insert(fold(path), (path.to_owned(), is_dir));
                }
            }
            match path.rfind('/') {
                Some(slash) => {
                    path = &path[..slash];
                    is_dir = true;
                }
                None => return Ok(()),
            }
        }
    }
}

/// A key equal for two strings exactly when Go's `strings.EqualFold` says they
/// are equal (x/mod's `strToFold`): each character mapped to one
/// representative of its simple case-folding orbit. Rust has no simple-fold
/// table, so a character whose upper case is one character is mapped through
/// it to lower case (`ſ`, `K` (Kelvin) → `s`, `k`); the rest, whose full upper
/// case is several characters (`ß` → `SS`), keep their own lower case, which
/// simple folding never joins with a string of other length.
fn fold(s: &str) -> String {
    if !s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let mut upper = c.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) => out.extend(u.to_lowercase()),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

struct HashingSink(Sha256);

impl io::Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn build(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp");
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, SimpleFileOptions::default())
                    .expect("dir");
            } else {
                w.start_file(*name, SimpleFileOptions::default())
                    .expect("start");
                w.write_all(data).expect("write");
            }
        }
        let bytes = w.finish().expect("finish").into_inner();
        tmp.write_all(&bytes).expect("write zip");
        tmp
    }

    const M: &str = "example.com/b";
    const V: &str = "v1.1.0";

    #[test]
    fn valid_zip_hashes_like_go() {
        let z = build(&[
            (
                "example.com/b@v1.1.0/go.mod",
                b"module example.com/b\n\ngo 1.16\n",
            ),
            ("example.com/b@v1.1.0/b.go", b"package b\n\nconst V = 11\n"),
            ("example.com/b@v1.1.0/sub/", b""),
        ]);
        assert_eq!(
            check_zip(z.path(), M, V).expect("valid"),
            "h1:Gvp50hCe2B1SpBGyOuo7Ft1N/bHcAIWZDVtv8jtKXko="
        );
    }

    #[test]
    fn rejects_what_go_rejects() {
        type Entries<'a> = &'a [(&'a str, &'a [u8])];
        let cases: &[(Entries, &str)] = &[
            (&[("example.com/b@v1.0.0/b.go", b"x")], "does not start"),
            (&[("other@v1.1.0/b.go", b"x")], "does not start"),
            (
                &[("example.com/b@v1.1.0/../../etc/passwd", b"x")],
                "example.com/b@v1.1.0/../../etc/passwd",
            ),
            (&[("example.com/b@v1.1.0/a/../b.go", b"x")], "a/../b.go"),
            (
                &[
                    ("example.com/b@v1.1.0/README", b"x"),
                    ("example.com/b@v1.1.0/readme", b"y"),
                ],
                "collision",
            ),
            (
                &[("example.com/b@v1.1.0/GO.MOD", b"module example.com/b\n")],
                "spelled exactly",
            ),
            // x/mod checks every path prefix: directories collide too.
            (
                &[
                    ("example.com/b@v1.1.0/x/y/a.go", b"x"),
                    ("example.com/b@v1.1.0/x/Y/b.go", b"y"),
                ],
                "collision: \"x/y\" and \"x/Y\"",
            ),
            (
                &[
                    ("example.com/b@v1.1.0/X/", b""),
                    ("example.com/b@v1.1.0/x/a.go", b"y"),
                ],
                "collision",
            ),
            (
                &[
                    ("example.com/b@v1.1.0/a", b"x"),
                    ("example.com/b@v1.1.0/a/b.go", b"y"),
                ],
                "both a file and a directory",
            ),
            (
                &[(
                    "example.com/b@v1.1.0/sub/go.mod",
                    b"module example.com/b/sub\n",
                )],
                "not in module root",
            ),
            (&[("example.com/b@v1.1.0/a:b/", b"")], "a:b"),
        ];
        for (entries, want) in cases {
            let z = build(entries);
            let err = check_zip(z.path(), M, V).expect_err("must be rejected");
            assert!(
                err.to_string().contains(want),
                "{err} should mention {want}"
            );
        }
    }

    #[test]
    fn a_file_listed_twice_is_refused() {
        // The zip writer refuses duplicate names: write two, then rename one.
        let z = build(&[
            ("example.com/b@v1.1.0/a.go", b"x"),
            ("example.com/b@v1.1.0/b.go", b"y"),
        ]);
        let bytes = std::fs::read(z.path()).expect("read");
        let (from, to) = (b"v1.1.0/b.go", b"v1.1.0/a.go");
        let mut renamed = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(from) {
                renamed.extend_from_slice(to);
                i += from.len();
            } else {
                renamed.push(bytes[i]);
                i += 1;
            }
        }
        std::fs::write(z.path(), &renamed).expect("write");
        let err = check_zip(z.path(), M, V).expect_err("must be rejected");
        assert!(err.to_string().contains("multiple entries"), "{err}");
    }

    #[test]
    fn same_directory_in_many_entries_is_fine() {
        let z = build(&[
            ("example.com/b@v1.1.0/x/", b""),
            ("example.com/b@v1.1.0/x/a.go", b"package x\n"),
            ("example.com/b@v1.1.0/x/b.go", b"package x\n"),
            ("example.com/b@v1.1.0/x/y/c.go", b"package y\n"),
        ]);
        check_zip(z.path(), M, V).expect("valid");
    }

    #[test]
    fn folding_matches_go_equal_fold() {
        assert_eq!(fold("x/Y/b.go"), fold("X/y/B.GO"));
        assert_eq!(fold("\u{212a}elvin"), fold("kelvin")); // Kelvin sign
        assert_eq!(fold("\u{17f}"), fold("S")); // long s
        assert_ne!(fold("stra\u{df}e"), fold("strasse"));
        assert_eq!(fold("plain/ascii.go"), "plain/ascii.go");
    }

    #[test]
    fn rejects_an_oversize_go_mod_without_trusting_headers() {
        let big = vec![b'\n'; (MAX_GO_MOD_SIZE + 1) as usize];
        let z = build(&[("example.com/b@v1.1.0/go.mod", &big)]);
        assert!(check_zip(z.path(), M, V).is_err());
    }

    #[test]
    fn rejects_corrupt_data_behind_an_intact_directory() {
        let z = build(&[("example.com/b@v1.1.0/b.go", &[b'a'; 4096])]);
        let mut bytes = std::fs::read(z.path()).expect("read");
        // The stored data starts after the 30-byte local header and the name.
        let offset = 30 + "example.com/b@v1.1.0/b.go".len() + 2;
        bytes[offset] ^= 0xff;
        std::fs::write(z.path(), &bytes).expect("write");
        assert!(check_zip(z.path(), M, V).is_err());
    }

    #[test]
    fn rejects_garbage() {
        let mut tmp = tempfile::NamedTempFile::new().expect("temp");
        tmp.write_all(b"<html>not a zip</html>").expect("write");
        assert!(check_zip(tmp.path(), M, V).is_err());
    }
}
