//! Checks a module zip the way `go` will when it extracts it
//! (`golang.org/x/mod/zip.CheckZip`), and computes its `h1:` hash on the way.
//!
//! A zip that fails a rule only at extraction stays in the client's cache and breaks
//! every later build, so every rule is checked before the first byte is served;
//! inflating every entry also catches corrupt data behind an intact directory.

use crate::dirhash;
use crate::module;
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
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
    let mut archive = zip::ZipArchive::new(reader).map_err(|e| bad(format!("unreadable: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(bad(format!("more than {MAX_ENTRIES} entries")));
    }
    let prefix = format!("{module_path}@{version}/");
    let mut folded = HashSet::new();
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
        if rest.is_empty() || name.ends_with('/') {
            continue; // directory entries are allowed and carry nothing
        }
        module::check_file_path(rest).map_err(|e| bad(format!("{name:?}: {e}")))?;
        if !folded.insert(rest.to_lowercase()) {
            return Err(bad(format!(
                "{name:?}: case-insensitive file name collision"
            )));
        }
        if rest.eq_ignore_ascii_case("go.mod") && rest != "go.mod" {
            return Err(bad(format!(
                "{name:?}: go.mod file must be spelled exactly \"go.mod\""
            )));
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
