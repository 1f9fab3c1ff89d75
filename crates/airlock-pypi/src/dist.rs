//! Checks a staged distribution file before it is stored: a wheel must be a
//! readable zip whose `<name>-<version>.dist-info/METADATA` names the same
//! project and version as the filename; an sdist must be a readable archive with
//! a `PKG-INFO` that does. The wheel's `METADATA` bytes become the file's
//! PEP 658 `.metadata` file.
//!
//! Reads are bounded: only the metadata member is decompressed, at most
//! [`METADATA_LIMIT`] bytes of it. Runs on a blocking thread (it reads files).

use crate::name::{normalize, normalize_version, DistFilename, DistKind};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// The largest metadata file read (METADATA holds the long description).
pub const METADATA_LIMIT: u64 = 8 << 20;

/// What a checked distribution tells about itself.
#[derive(Debug, Default)]
pub struct DistInfo {
    /// A wheel's `METADATA`, served as `<file>.metadata` (PEP 658).
    pub metadata: Option<Vec<u8>>,
    /// The `Requires-Python` of the metadata, if any.
    pub requires_python: Option<String>,
}

/// Why a distribution was refused; the message is for the uploader.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadDist(pub String);

/// Checks the file at `path` named `filename`.
pub fn check(path: &Path, filename: &DistFilename) -> Result<DistInfo, BadDist> {
    let file = File::open(path).map_err(|e| BadDist(format!("cannot read the upload: {e}")))?;
    let metadata = match filename.kind {
        DistKind::Wheel => wheel_metadata(file, filename)?,
        DistKind::SdistZip => zip_pkg_info(file)?,
        DistKind::SdistTarGz => tar_pkg_info(file)?,
    };
    let headers = check_metadata(&metadata, filename)?;
    let requires_python = headers
        .get("Requires-Python")
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    Ok(DistInfo {
        metadata: (filename.kind == DistKind::Wheel).then_some(metadata),
        requires_python,
    })
}

/// Checks that core metadata names the project and version of `filename`.
pub fn check_metadata(metadata: &[u8], filename: &DistFilename) -> Result<Headers, BadDist> {
    let headers = Headers::parse(metadata);
    let name = headers
        .get("Name")
        .ok_or_else(|| BadDist("the metadata has no Name".into()))?;
    if normalize(name) != filename.project {
        return Err(BadDist(format!(
            "the metadata names project {name:?}, the filename {:?}",
            filename.project
        )));
    }
    let version = headers
        .get("Version")
        .ok_or_else(|| BadDist("the metadata has no Version".into()))?;
    let same = matches!(
        (normalize_version(version), normalize_version(&filename.version)),
        (Ok(a), Ok(b)) if a == b
    );
    if !same {
        return Err(BadDist(format!(
            "the metadata has version {version:?}, the filename {:?}",
            filename.version
        )));
    }
    Ok(headers)
}

fn read_bounded(reader: impl Read, what: &str) -> Result<Vec<u8>, BadDist> {
    let mut out = Vec::new();
    reader
        .take(METADATA_LIMIT + 1)
        .read_to_end(&mut out)
        .map_err(|e| BadDist(format!("cannot read {what}: {e}")))?;
    if out.len() as u64 > METADATA_LIMIT {
        return Err(BadDist(format!(
            "{what} is larger than {METADATA_LIMIT} bytes"
        )));
    }
    Ok(out)
}

/// The one `*.dist-info/METADATA` at the top of the wheel, whose directory
/// names the wheel's project and version and also holds `WHEEL` (installers
/// refuse a wheel otherwise).
fn wheel_metadata(file: File, filename: &DistFilename) -> Result<Vec<u8>, BadDist> {
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| BadDist(format!("the wheel is not a readable zip: {e}")))?;
    let found: Vec<String> = zip
        .file_names()
        .filter(|n| {
            n.split_once('/')
                .is_some_and(|(dir, rest)| dir.ends_with(".dist-info") && rest == "METADATA")
        })
        .take(2)
        .map(str::to_owned)
        .collect();
    let mut found = found.into_iter();
    let name = match (found.next(), found.next()) {
        (Some(name), None) => name,
        (None, _) => return Err(BadDist("the wheel has no *.dist-info/METADATA".into())),
        (Some(_), Some(_)) => {
            return Err(BadDist(
                "the wheel has more than one *.dist-info/METADATA".into(),
            ))
        }
    };
    let dir = name.trim_end_matches("/METADATA");
    let names_this_wheel = dir
        .trim_end_matches(".dist-info")
        .rsplit_once('-')
        .is_some_and(|(project, version)| {
            normalize(project) == filename.project
                && normalize_version(version).ok() == normalize_version(&filename.version).ok()
        });
    if !names_this_wheel {
        return Err(BadDist(format!(
            "the wheel's {dir} is not of {} {}",
            filename.project, filename.version
        )));
    }
    let wheel_file = format!("{dir}/WHEEL");
    if zip.index_for_name(&wheel_file).is_none() {
        return Err(BadDist(format!("the wheel has no {wheel_file}")));
    }
    let member = zip
        .by_name(&name)
        .map_err(|e| BadDist(format!("cannot read {name} in the wheel: {e}")))?;
    read_bounded(member, &name)
}

/// Whether `path` is `<top>/PKG-INFO`, the sdist's own metadata (tar
/// members may start with `./`, as `tar -C dir .` writes them).
fn is_top_pkg_info(path: &str) -> bool {
    let path = path.trim_start_matches("./");
    path.split_once('/')
        .is_some_and(|(top, rest)| !top.is_empty() && rest == "PKG-INFO")
}

fn zip_pkg_info(file: File) -> Result<Vec<u8>, BadDist> {
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| BadDist(format!("the sdist is not a readable zip: {e}")))?;
    let name = zip
        .file_names()
        .find(|n| is_top_pkg_info(n))
        .map(str::to_owned)
        .ok_or_else(|| BadDist("the sdist has no <name>-<version>/PKG-INFO".into()))?;
    let member = zip
        .by_name(&name)
        .map_err(|e| BadDist(format!("cannot read {name} in the sdist: {e}")))?;
    read_bounded(member, &name)
}

fn tar_pkg_info(file: File) -> Result<Vec<u8>, BadDist> {
    let broken = |e: std::io::Error| BadDist(format!("the sdist is not a readable .tar.gz: {e}"));
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    let mut archive = tar::Archive::new(gz);
    for entry in archive.entries().map_err(broken)? {
        let entry = entry.map_err(broken)?;
        let path = entry.path().map_err(broken)?;
        if path.to_str().is_some_and(is_top_pkg_info) {
            return read_bounded(entry, "PKG-INFO");
        }
    }
    Err(BadDist("the sdist has no <name>-<version>/PKG-INFO".into()))
}

/// The header block of a core metadata file (RFC 822 style: `Key: value`,
/// continuation lines start with whitespace, a blank line ends it).
pub struct Headers(Vec<(String, String)>);

/// Every value of the metadata header `key` (e.g. `Requires-Dist`), in order.
pub fn header_values(metadata: &str, key: &str) -> Vec<String> {
    Headers::parse(metadata.as_bytes())
        .0
        .into_iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .collect()
}

impl Headers {
    fn parse(bytes: &[u8]) -> Headers {
        let text = String::from_utf8_lossy(bytes);
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                headers.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Headers(headers)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::parse_filename;
    use std::io::Write;

    fn wheel(dir: &Path, members: &[(&str, &str)]) -> std::path::PathBuf {
        let path = dir.join("w.whl");
        let mut zip = zip::ZipWriter::new(File::create(&path).expect("create"));
        for (name, body) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("member");
            zip.write_all(body.as_bytes()).expect("write");
        }
        zip.finish().expect("finish");
        path
    }

    const META: &str = "Metadata-Version: 2.4\nName: Foo.Bar_baz\nVersion: 1.0+local\nRequires-Python: >=3.99\n\nlong text\nName: other\n";

    #[test]
    fn a_wheel_gives_its_metadata() {
        let dir = tempfile::tempdir().expect("dir");
        let name = parse_filename("foo_bar_baz-1.0+local-py3-none-any.whl").expect("name");
        let path = wheel(
            dir.path(),
            &[
                ("foo_bar_baz-1.0+local.dist-info/METADATA", META),
                (
                    "foo_bar_baz-1.0+local.dist-info/WHEEL",
                    "Wheel-Version: 1.0\n",
                ),
            ],
        );
        let info = check(&path, &name).expect("ok");
        assert_eq!(info.metadata.as_deref(), Some(META.as_bytes()));
        assert_eq!(info.requires_python.as_deref(), Some(">=3.99"));
    }

    #[test]
    fn broken_or_mismatched_wheels_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let name = parse_filename("other-1.0-py3-none-any.whl").expect("name");
        let path = wheel(dir.path(), &[("x.dist-info/METADATA", META)]);
        assert!(check(&path, &name).is_err(), "name mismatch");
        let name = parse_filename("foo_bar_baz-1.0+local-py3-none-any.whl").expect("name");
        let path = wheel(
            dir.path(),
            &[("foo_bar_baz-1.0+local.dist-info/METADATA", META)],
        );
        assert!(check(&path, &name).is_err(), "no WHEEL file");
        let path = wheel(
            dir.path(),
            &[
                ("other-1.0.dist-info/METADATA", META),
                ("other-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n"),
            ],
        );
        assert!(check(&path, &name).is_err(), "dist-info of another project");
        let name = parse_filename("foo_bar_baz-2.0-py3-none-any.whl").expect("name");
        assert!(check(&path, &name).is_err(), "version mismatch");
        let path = wheel(dir.path(), &[("foo/METADATA", META)]);
        let name = parse_filename("foo_bar_baz-1.0+local-py3-none-any.whl").expect("name");
        assert!(check(&path, &name).is_err(), "no dist-info");
        let not_zip = dir.path().join("n.whl");
        std::fs::write(&not_zip, b"not a zip at all").expect("write");
        assert!(check(&not_zip, &name).is_err(), "not a zip");
    }

    #[test]
    fn an_sdist_is_read_through_its_pkg_info() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("s.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).expect("create"),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_size(META.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            "foo_bar_baz-1.0+local/PKG-INFO",
            META.as_bytes(),
        )
        .expect("append");
        tar.into_inner().expect("tar").finish().expect("gz");
        let name = parse_filename("foo_bar_baz-1.0+local.tar.gz").expect("name");
        let info = check(&path, &name).expect("ok");
        assert!(info.metadata.is_none());
        assert_eq!(info.requires_python.as_deref(), Some(">=3.99"));
        let truncated = dir.path().join("t.tar.gz");
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
        assert!(check(&truncated, &name).is_err());
    }

    #[test]
    fn pkg_info_is_found_at_the_top_with_or_without_dot_slash() {
        assert!(is_top_pkg_info("foo-1.0/PKG-INFO"));
        assert!(is_top_pkg_info("./foo-1.0/PKG-INFO"));
        assert!(!is_top_pkg_info("PKG-INFO"));
        assert!(!is_top_pkg_info("./PKG-INFO"));
        assert!(!is_top_pkg_info("foo-1.0/src/PKG-INFO"));
    }
}
