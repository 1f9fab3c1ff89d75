//! Checks a staged distribution file before it is stored: a wheel must be a
//! readable zip whose `<name>-<version>.dist-info/METADATA` names the same
//! project and version as the filename; an sdist must be a readable archive with
//! a `PKG-INFO` that does. The wheel's `METADATA` bytes become the file's
//! PEP 658 `.metadata` file.
//!
//! Every member must stay inside the archive when unpacked: no absolute
//! paths, no `..` out of it, no links that lead out, no device files, no path
//! through a link (zip-slip and its tar variants; installers unpack sdists
//! to build them).
//!
//! Reads are bounded: of a wheel or zip, only the metadata member is
//! decompressed, at most [`METADATA_LIMIT`] bytes of it; a `.tar.gz` is read
//! whole (its member list is in the stream) up to [`unpacked_limit`]. Runs on
//! a blocking thread (it reads files).

use crate::name::{normalize, same_version, DistFilename, DistKind};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};

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
    let size = file
        .metadata()
        .map_err(|e| BadDist(format!("cannot read the upload: {e}")))?
        .len();
    let metadata = match filename.kind {
        DistKind::Wheel => wheel_metadata(file, filename)?,
        DistKind::SdistZip => zip_pkg_info(file)?,
        DistKind::SdistTarGz => tar_pkg_info(file, unpacked_limit(size))?,
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
    if !same_version(version, &filename.version) {
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

/// The most bytes a `.tar.gz` of `size` bytes may unpack to: 100 times its
/// size (source compresses 3-10 times; a gzip bomb of zeros, 1000), at least
/// 64 MiB, at most 8 GiB. Beyond it the sdist is refused before the rest is
/// decompressed, so a bomb costs bounded CPU.
pub fn unpacked_limit(size: u64) -> u64 {
    size.saturating_mul(100).clamp(64 << 20, 8 << 30)
}

/// Refuses a zip whose member names leave the archive when unpacked (`../`,
/// an absolute or drive path); reads only the central directory.
fn check_zip_members<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    what: &str,
) -> Result<(), BadDist> {
    for i in 0..zip.len() {
        let member = zip
            .by_index_raw(i)
            .map_err(|e| BadDist(format!("cannot read {what}'s member list: {e}")))?;
        if member.enclosed_name().is_none() {
            return Err(BadDist(format!(
                "{what} has a member outside the archive: {:?}",
                member.name()
            )));
        }
    }
    Ok(())
}

/// `path` without `.` components (a leading `./` names the same member).
fn normalized(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// Whether every component of `path` goes down (no root, no `..`).
fn only_down(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// What a tar member must be to unpack inside the archive's top directory.
#[derive(Default)]
struct TarMembers {
    /// Every symlink's path: no other member may lie beneath one.
    links: HashSet<PathBuf>,
    /// Every member's path.
    paths: Vec<PathBuf>,
}

impl TarMembers {
    /// Checks one member: its path, its type, and where a link points.
    fn check(&mut self, entry: &tar::Entry<impl Read>) -> Result<(), BadDist> {
        let broken =
            |e: std::io::Error| BadDist(format!("the sdist is not a readable .tar.gz: {e}"));
        let raw = entry.path().map_err(broken)?;
        let outside = |what: &str| {
            BadDist(format!(
                "the sdist has {what}: {:?}",
                raw.display().to_string()
            ))
        };
        if !only_down(&raw) {
            return Err(outside("a member outside the archive"));
        }
        let path = normalized(&raw);
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            // `git archive`'s header for the whole archive: no file.
            return Ok(());
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(broken)?
                .ok_or_else(|| outside("a link without a target"))?;
            // A hard link names a member from the top. A symlink points from
            // its own directory, with `..` only leading (none is taken through
            // another link), and never up to where the archive is unpacked:
            // installers unpack below its top directory.
            let inside = if kind.is_symlink() {
                let ups = target
                    .components()
                    .take_while(|c| *c == Component::ParentDir)
                    .count();
                let parent_depth = path.components().count().saturating_sub(1);
                ups < parent_depth && only_down(&target.components().skip(ups).collect::<PathBuf>())
            } else {
                only_down(&target)
            };
            if !inside {
                return Err(outside("a link that leads outside the archive"));
            }
            if kind.is_symlink() {
                self.links.insert(path.clone());
            }
        } else if !(kind.is_file() || kind.is_dir() || kind.is_contiguous() || kind.is_gnu_sparse())
        {
            return Err(outside("a member that is not a file, directory or link"));
        }
        self.paths.push(path);
        Ok(())
    }

    /// Refuses a member beneath a symlink: unpacked, it would be written
    /// wherever the link points.
    fn check_no_path_through_a_link(&self) -> Result<(), BadDist> {
        for path in &self.paths {
            if let Some(link) = path.ancestors().skip(1).find(|a| self.links.contains(*a)) {
                return Err(BadDist(format!(
                    "the sdist has a member beneath the link {:?}: {:?}",
                    link.display().to_string(),
                    path.display().to_string()
                )));
            }
        }
        Ok(())
    }
}

/// The one `*.dist-info/METADATA` at the top of the wheel, whose directory
/// names the wheel's project and version and also holds `WHEEL` (installers
/// refuse a wheel otherwise).
fn wheel_metadata(file: File, filename: &DistFilename) -> Result<Vec<u8>, BadDist> {
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| BadDist(format!("the wheel is not a readable zip: {e}")))?;
    check_zip_members(&mut zip, "the wheel")?;
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
            normalize(project) == filename.project && same_version(version, &filename.version)
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
    check_zip_members(&mut zip, "the sdist")?;
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

/// Counts what passes through it, and stops one byte past a limit (the
/// count then says the limit was passed, not that the archive is cut short).
struct Counted<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
    limit: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = (self.limit + 1).saturating_sub(self.read.get());
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// The sdist's PKG-INFO, once every member has been checked (the whole
/// stream is read, up to `limit` unpacked bytes).
fn tar_pkg_info(file: File, limit: u64) -> Result<Vec<u8>, BadDist> {
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let gz = Counted {
        // Every gzip member, as Python's tarfile (and so pip) reads them.
        inner: flate2::read::MultiGzDecoder::new(BufReader::new(file)),
        read: read.clone(),
        limit,
    };
    let broken = |e: std::io::Error| {
        if read.get() > limit {
            BadDist(format!(
                "the sdist unpacks to more than {limit} bytes (100 times its size): \
                 refused as a decompression bomb"
            ))
        } else {
            BadDist(format!("the sdist is not a readable .tar.gz: {e}"))
        }
    };
    let mut archive = tar::Archive::new(gz);
    let mut members = TarMembers::default();
    let mut pkg_info = None;
    for entry in archive.entries().map_err(broken)? {
        let entry = entry.map_err(broken)?;
        members.check(&entry)?;
        let path = entry.path().map_err(broken)?;
        if pkg_info.is_none() && path.to_str().is_some_and(is_top_pkg_info) {
            pkg_info = Some(read_bounded(entry, "PKG-INFO")?);
        }
    }
    members.check_no_path_through_a_link()?;
    pkg_info.ok_or_else(|| BadDist("the sdist has no <name>-<version>/PKG-INFO".into()))
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

    const NAME: &str = "foo_bar_baz-1.0+local";

    /// A `.tar.gz` sdist with PKG-INFO and `extra` members: (path, type,
    /// link target or body).
    fn sdist(dir: &Path, extra: &[(&str, tar::EntryType, &str)]) -> std::path::PathBuf {
        let path = dir.join("s.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).expect("create"),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut add = |name: &str, kind: tar::EntryType, data: &str| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(0o644);
            let body = if kind.is_symlink() || kind.is_hard_link() {
                header.set_link_name_literal(data).expect("link");
                ""
            } else {
                data
            };
            header.set_size(body.len() as u64);
            // Literal names: `append_data` would refuse `..` and absolute paths.
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_cksum();
            tar.append(&header, body.as_bytes()).expect("append");
        };
        add(&format!("{NAME}/PKG-INFO"), tar::EntryType::Regular, META);
        for (name, kind, data) in extra {
            add(name, *kind, data);
        }
        tar.into_inner().expect("tar").finish().expect("gz");
        path
    }

    #[test]
    fn members_that_leave_the_archive_are_refused() {
        use tar::EntryType::{Block, Fifo, Link, Regular, Symlink};
        let dir = tempfile::tempdir().expect("dir");
        let whl = parse_filename("foo_bar_baz-1.0+local-py3-none-any.whl").expect("name");
        let good = [
            ("foo_bar_baz-1.0+local.dist-info/METADATA", META),
            (
                "foo_bar_baz-1.0+local.dist-info/WHEEL",
                "Wheel-Version: 1.0\n",
            ),
        ];
        for evil in ["../../evil.py", "/etc/cron.d/evil", "a/../../evil.py"] {
            let path = wheel(dir.path(), &[good[0], good[1], (evil, "x")]);
            let e = check(&path, &whl).expect_err(evil);
            assert!(e.0.contains("outside the archive"), "{evil}: {e}");
        }
        let sdist_name = parse_filename(&format!("{NAME}.tar.gz")).expect("name");
        let refused: &[&[(&str, tar::EntryType, &str)]] = &[
            &[("../evil.py", Regular, "x")],
            &[("/tmp/evil.py", Regular, "x")],
            &[("foo/../../evil.py", Regular, "x")],
            &[("foo/passwd", Symlink, "/etc/passwd")],
            &[("foo/up", Symlink, "../../x")],
            &[("foo/a", Symlink, "b/../../../x")],
            &[("foo/hard", Link, "../x")],
            &[("foo/link", Symlink, "."), ("foo/link/x", Regular, "x")],
            &[("foo/fifo", Fifo, "")],
            &[("foo/disk", Block, "")],
            // A leading `./` is no level of its own.
            &[("./foo/a", Symlink, "../.."), ("foo/a/x", Regular, "x")],
            &[
                ("./foo/bar/a", Symlink, ".."),
                ("foo/bar/a/x", Regular, "x"),
            ],
            // Up to where the archive is unpacked, above its top directory.
            &[("foo/docs/y", Symlink, "../../foo/README")],
            &[("y", Symlink, "foo/x")],
        ];
        for members in refused {
            let path = sdist(dir.path(), members);
            let Err(e) = check(&path, &sdist_name) else {
                panic!("{members:?} was accepted");
            };
            let why = ["outside the archive", "beneath the link", "not a file"];
            assert!(why.iter().any(|w| e.0.contains(w)), "{members:?}: {e}");
        }
        // Links that stay inside are kept: a LICENSE shared with the top.
        let path = sdist(
            dir.path(),
            &[
                (&format!("{NAME}/LICENSE"), Regular, "MIT"),
                (&format!("{NAME}/pkg/LICENSE"), Symlink, "../LICENSE"),
                (
                    &format!("{NAME}/pkg/COPYING"),
                    Link,
                    &format!("{NAME}/LICENSE"),
                ),
            ],
        );
        check(&path, &sdist_name).expect("links inside the archive");
    }

    #[test]
    fn every_gzip_member_is_read() {
        // PKG-INFO in the first gzip member, a link out in the second: Python's
        // tarfile (pip) reads both, so must the check.
        let dir = tempfile::tempdir().expect("dir");
        let one = sdist(dir.path(), &[]);
        let two = sdist(
            dir.path(),
            &[(&format!("{NAME}/up"), tar::EntryType::Symlink, "../../..")],
        );
        let mut tar_bytes = Vec::new();
        flate2::read::GzDecoder::new(File::open(&two).expect("open"))
            .read_to_end(&mut tar_bytes)
            .expect("gunzip");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar_bytes[..1024]).expect("first");
        let mut joined = gz.finish().expect("gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar_bytes[1024..]).expect("second");
        joined.extend(gz.finish().expect("gz"));
        std::fs::write(&one, joined).expect("write");
        let name = parse_filename(&format!("{NAME}.tar.gz")).expect("name");
        let e = check(&one, &name).expect_err("the second member is checked");
        assert!(e.0.contains("outside the archive"), "{e}");
    }

    #[test]
    fn an_sdist_that_unpacks_past_its_limit_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let zeros = "\0".repeat(2 << 20);
        let path = sdist(
            dir.path(),
            &[("foo/zeros", tar::EntryType::Regular, &zeros)],
        );
        let file = || File::open(&path).expect("open");
        let e = tar_pkg_info(file(), 1 << 20).expect_err("bomb");
        assert!(e.0.contains("decompression bomb"), "{e}");
        tar_pkg_info(file(), 4 << 20).expect("under the limit");
        assert_eq!(unpacked_limit(1000), 64 << 20);
        assert_eq!(unpacked_limit(1 << 30), 8 << 30);
        assert_eq!(unpacked_limit(10 << 20), 1000 << 20);
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
