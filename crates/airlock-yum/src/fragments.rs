//! One package's entries in `primary.xml`, `filelists.xml` and `other.xml`,
//! derived from its header field by field as createrepo_c does
//! (src/parsehdr.c, src/xml_dump_*.c). They are computed once, when the package
//! is added, and stored with it: publishing a repository only concatenates them.

use crate::header::CheckedRpm;
use quick_xml::events::BytesText;
use quick_xml::Writer;
use rpm::{Dependency, DependencyFlags, IndexSignatureTag, IndexTag, PackageMetadata};
use std::collections::{HashMap, HashSet};
use std::io;

/// createrepo_c's `--changelog-limit` default: the newest 10 entries.
const CHANGELOG_LIMIT: usize = 10;

/// What the index stores about a package besides its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageEntry {
    /// NEVRA parts.
    pub name: String,
    /// The epoch, 0 when the header has none.
    pub epoch: u32,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Architecture (`src` for a source package).
    pub arch: String,
    /// The `<package>` element of primary.xml.
    pub primary: String,
    /// The `<package>` element of filelists.xml.
    pub filelists: String,
    /// The `<package>` element of other.xml.
    pub other: String,
}

impl PackageEntry {
    /// `name-epoch:version-release.arch`.
    pub fn nevra(&self) -> String {
        format!(
            "{}-{}:{}-{}.{}",
            self.name, self.epoch, self.version, self.release, self.arch
        )
    }
}

/// Where and when the package file is, as primary.xml records it.
pub struct FileFacts<'a> {
    /// sha256 of the whole file, hex: the `pkgid`.
    pub pkgid: &'a str,
    /// Size of the file.
    pub size: u64,
    /// `<location href>`, relative to the repository.
    pub href: &'a str,
    /// `<time file>`: when the file was added.
    pub time_file: i64,
}

/// Builds the three fragments of a checked package.
pub fn package_entry(rpm: &CheckedRpm, file: &FileFacts<'_>) -> io::Result<PackageEntry> {
    let md = &rpm.metadata;
    let text = |r: Result<&str, rpm::Error>| clean(r.unwrap_or(""));
    let name = text(md.get_name());
    let version = text(md.get_version());
    let release = text(md.get_release());
    let arch = if md.is_source_package() {
        "src".to_owned()
    } else {
        text(md.get_arch())
    };
    let epoch = md.get_epoch().unwrap_or(0);
    let files = file_list(md);
    let epoch_s = epoch.to_string();
    let version_attrs = [
        ("epoch", epoch_s.as_str()),
        ("ver", version.as_str()),
        ("rel", release.as_str()),
    ];

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.create_element("package")
        .with_attribute(("type", "rpm"))
        .write_inner_content(|w| {
            w.create_element("name")
                .write_text_content(BytesText::new(&name))?;
            w.create_element("arch")
                .write_text_content(BytesText::new(&arch))?;
            w.create_element("version")
                .with_attributes(version_attrs)
                .write_empty()?;
            w.create_element("checksum")
                .with_attributes([("type", "sha256"), ("pkgid", "YES")])
                .write_text_content(BytesText::new(file.pkgid))?;
            for (tag, value) in [
                ("summary", md.get_summary()),
                ("description", md.get_description()),
                ("packager", md.get_packager()),
                ("url", md.get_url()),
            ] {
                w.create_element(tag)
                    .write_text_content(BytesText::new(&text(value)))?;
            }
            let build = md.get_build_time().unwrap_or(0).to_string();
            w.create_element("time")
                .with_attributes([
                    ("file", file.time_file.to_string().as_str()),
                    ("build", build.as_str()),
                ])
                .write_empty()?;
            w.create_element("size")
                .with_attributes([
                    ("package", file.size.to_string().as_str()),
                    ("installed", installed_size(md).to_string().as_str()),
                    ("archive", archive_size(md).to_string().as_str()),
                ])
                .write_empty()?;
            w.create_element("location")
                .with_attribute(("href", file.href))
                .write_empty()?;
            w.create_element("format").write_inner_content(|w| {
                for (tag, value) in [
                    ("rpm:license", md.get_license()),
                    ("rpm:vendor", md.get_vendor()),
                    ("rpm:group", md.get_group()),
                    ("rpm:buildhost", md.get_build_host()),
                    ("rpm:sourcerpm", md.get_source_rpm()),
                ] {
                    w.create_element(tag)
                        .write_text_content(BytesText::new(&text(value)))?;
                }
                w.create_element("rpm:header-range")
                    .with_attributes([
                        ("start", rpm.header_start.to_string().as_str()),
                        ("end", rpm.header_end.to_string().as_str()),
                    ])
                    .write_empty()?;
                for (tag, deps) in dependencies(md, &files) {
                    if deps.is_empty() {
                        continue;
                    }
                    w.create_element(tag).write_inner_content(|w| {
                        for dep in &deps {
                            write_dep(w, dep)?;
                        }
                        Ok(())
                    })?;
                }
                for f in files.iter().filter(|f| is_primary(&f.path)) {
                    write_file(w, f)?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
    let primary = into_string(w);

    let header_of = |w: &mut Writer<Vec<u8>>| -> io::Result<()> {
        w.create_element("version")
            .with_attributes(version_attrs)
            .write_empty()?;
        Ok(())
    };
    let package_attrs = [
        ("pkgid", file.pkgid),
        ("name", name.as_str()),
        ("arch", arch.as_str()),
    ];
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.create_element("package")
        .with_attributes(package_attrs)
        .write_inner_content(|w| {
            header_of(w)?;
            for f in &files {
                write_file(w, f)?;
            }
            Ok(())
        })?;
    let filelists = into_string(w);

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.create_element("package")
        .with_attributes(package_attrs)
        .write_inner_content(|w| {
            header_of(w)?;
            for entry in changelog(md) {
                w.create_element("changelog")
                    .with_attributes([
                        ("author", entry.author.as_str()),
                        ("date", entry.date.to_string().as_str()),
                    ])
                    .write_text_content(BytesText::new(&entry.text))?;
            }
            Ok(())
        })?;
    let other = into_string(w);

    Ok(PackageEntry {
        name,
        epoch,
        version,
        release,
        arch,
        primary,
        filelists,
        other,
    })
}

fn into_string(w: Writer<Vec<u8>>) -> String {
    // Everything written came from `&str`s: the bytes are UTF-8.
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

/// Header text as XML allows it: C0 control characters other than tab, line
/// feed and carriage return are dropped (createrepo_c would leave the whole
/// package out instead).
fn clean(s: &str) -> String {
    s.chars()
        .filter(|&c| c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// LONGSIZE, else SIZE.
fn installed_size(md: &PackageMetadata) -> u64 {
    md.get_installed_size().unwrap_or(0)
}

/// The uncompressed payload size: signature LONGARCHIVESIZE, else signature
/// PAYLOADSIZE, else the main header's (rpm v6 packages).
fn archive_size(md: &PackageMetadata) -> u64 {
    md.signature
        .get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .ok()
        .or_else(|| {
            md.signature
                .get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                .ok()
                .map(u64::from)
        })
        .or_else(|| {
            md.header
                .get_entry_data_as_u64(IndexTag::RPMTAG_PAYLOADSIZE)
                .ok()
        })
        .unwrap_or(0)
}

/// A file of the package and its type in the metadata.
struct FileItem {
    path: String,
    /// `dir`, `ghost` or none.
    kind: Option<&'static str>,
}

const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;

/// The package's files in header order: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i],
/// typed from FILEMODES and FILEFLAGS (a directory wins over a ghost).
fn file_list(md: &PackageMetadata) -> Vec<FileItem> {
    let Ok(paths) = md.get_file_paths_split() else {
        return Vec::new();
    };
    let modes = md
        .header
        .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)
        .unwrap_or_default();
    let flags = md
        .header
        .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)
        .unwrap_or_default();
    paths
        .into_iter()
        .enumerate()
        .filter(|(_, (dir, base))| !dir.is_empty() && !base.is_empty())
        .map(|(i, (dir, base))| {
            let is_dir = modes.get(i).is_some_and(|m| m & S_IFMT == S_IFDIR);
            let is_ghost = flags.get(i).is_some_and(|f| {
                rpm::FileFlags::from_bits_retain(*f).contains(rpm::FileFlags::GHOST)
            });
            FileItem {
                path: clean(&format!("{dir}{base}")),
                kind: if is_dir {
                    Some("dir")
                } else if is_ghost {
                    Some("ghost")
                } else {
                    None
                },
            }
        })
        .collect()
}

/// createrepo_c's `cr_is_primary`: the files yum (and dnf) expect in primary.
pub fn is_primary(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

fn write_file(w: &mut Writer<Vec<u8>>, f: &FileItem) -> io::Result<()> {
    let element = w.create_element("file");
    let element = match f.kind {
        Some(kind) => element.with_attribute(("type", kind)),
        None => element,
    };
    element.write_text_content(BytesText::new(&f.path))?;
    Ok(())
}

/// A dependency as primary.xml writes it.
#[derive(Debug, PartialEq, Eq)]
struct DepEntry {
    name: String,
    flags: Option<&'static str>,
    epoch: String,
    version: String,
    release: Option<String>,
    pre: bool,
}

/// `flags & 0xf` as createrepo_c's `cr_flag_to_str`.
fn flag_str(flags: DependencyFlags) -> Option<&'static str> {
    match flags.bits() & 0xf {
        2 => Some("LT"),
        4 => Some("GT"),
        8 => Some("EQ"),
        10 => Some("LE"),
        12 => Some("GE"),
        _ => None,
    }
}

/// `cr_str_to_evr`: epoch digits before the first `:` ("0" when absent), the
/// version up to the first `-` after it, the rest the release. `None` when the
/// epoch is not a number (createrepo_c drops such a dependency).
fn split_evr(evr: &str) -> Option<(String, String, Option<String>)> {
    let (epoch, rest) = match evr.split_once(':') {
        Some((epoch, rest)) => {
            if !epoch.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let epoch = if epoch.is_empty() { "0" } else { epoch };
            (epoch.to_owned(), rest)
        }
        None => ("0".to_owned(), evr),
    };
    Some(match rest.split_once('-') {
        Some((v, r)) => (epoch, v.to_owned(), Some(r.to_owned())),
        None => (epoch, rest.to_owned(), None),
    })
}

/// The dependency blocks in primary's order, filtered as createrepo_c filters them.
fn dependencies(md: &PackageMetadata, files: &[FileItem]) -> Vec<(&'static str, Vec<DepEntry>)> {
    let own_files: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let provides = md.get_provides().unwrap_or_default();
    let provided: HashSet<String> = provides
        .iter()
        .map(|d| format!("{}{}{}", d.name, flag_str(d.flags).unwrap_or(""), d.version))
        .collect();
    let pre_bits = DependencyFlags::PREREQ
        | DependencyFlags::SCRIPT_PRE
        | DependencyFlags::SCRIPT_POST
        | DependencyFlags::PRETRANS
        | DependencyFlags::POSTTRANS;
    let entry = |d: &Dependency, pre: bool| -> Option<DepEntry> {
        let flags = flag_str(d.flags);
        let (epoch, version, release) = if d.version.is_empty() {
            (String::new(), String::new(), None)
        } else {
            split_evr(&d.version)?
        };
        Some(DepEntry {
            name: clean(&d.name),
            flags,
            epoch,
            version,
            release,
            pre,
        })
    };
    let plain = |deps: Vec<Dependency>| -> Vec<DepEntry> {
        deps.iter().filter_map(|d| entry(d, false)).collect()
    };

    let mut requires = Vec::new();
    // name → (flags, version, pre) of the last require kept with that name.
    let mut last_kept: HashMap<String, (Option<&'static str>, String, bool)> = HashMap::new();
    for d in md.get_requires().unwrap_or_default() {
        if d.name.starts_with("rpmlib(") {
            continue;
        }
        if d.name.starts_with('/') && own_files.contains(d.name.as_str()) && is_primary(&d.name) {
            continue;
        }
        let flags = flag_str(d.flags);
        if provided.contains(&format!("{}{}{}", d.name, flags.unwrap_or(""), d.version)) {
            continue;
        }
        let pre = d.flags.intersects(pre_bits);
        let key = (flags, d.version.clone(), pre);
        if last_kept.get(&d.name) == Some(&key) {
            continue;
        }
        let Some(e) = entry(&d, pre) else { continue };
        last_kept.insert(d.name.clone(), key);
        requires.push(e);
    }
    keep_newest_libc(&mut requires);

    vec![
        ("rpm:provides", plain(provides)),
        ("rpm:requires", requires),
        (
            "rpm:conflicts",
            plain(md.get_conflicts().unwrap_or_default()),
        ),
        (
            "rpm:obsoletes",
            plain(md.get_obsoletes().unwrap_or_default()),
        ),
        ("rpm:suggests", plain(md.get_suggests().unwrap_or_default())),
        ("rpm:enhances", plain(md.get_enhances().unwrap_or_default())),
        (
            "rpm:recommends",
            plain(md.get_recommends().unwrap_or_default()),
        ),
        (
            "rpm:supplements",
            plain(md.get_supplements().unwrap_or_default()),
        ),
    ]
}

/// Of the `libc.so.6*` requires, createrepo_c keeps only the one with the
/// highest `GLIBC_x.y` version, and writes it after the others.
fn keep_newest_libc(requires: &mut Vec<DepEntry>) {
    let glibc_version = |name: &str| -> Vec<u64> {
        name.strip_prefix("libc.so.6(GLIBC_")
            .and_then(|inner| inner.split(')').next())
            .map(|v| v.split('.').map_while(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    };
    let mut newest: Option<DepEntry> = None;
    let mut rest = Vec::with_capacity(requires.len());
    for r in requires.drain(..) {
        if !r.name.starts_with("libc.so.6") {
            rest.push(r);
        } else if newest
            .as_ref()
            .is_none_or(|n| glibc_version(&r.name) > glibc_version(&n.name))
        {
            newest = Some(r);
        }
    }
    rest.extend(newest);
    *requires = rest;
}

fn write_dep(w: &mut Writer<Vec<u8>>, d: &DepEntry) -> io::Result<()> {
    let mut element = w
        .create_element("rpm:entry")
        .with_attribute(("name", d.name.as_str()));
    if let Some(flags) = d.flags {
        element = element.with_attribute(("flags", flags));
        for (key, value) in [
            ("epoch", Some(&d.epoch)),
            ("ver", Some(&d.version)),
            ("rel", d.release.as_ref()),
        ] {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                element = element.with_attribute((key, value.as_str()));
            }
        }
    }
    if d.pre {
        element = element.with_attribute(("pre", "1"));
    }
    element.write_empty()?;
    Ok(())
}

/// A changelog entry as other.xml writes it.
struct Change {
    author: String,
    date: u64,
    text: String,
}

/// The newest [`CHANGELOG_LIMIT`] entries, oldest first. Of entries with the
/// same time, the newer ones move a second later each, as createrepo_c does
/// ("Ugly but works!").
fn changelog(md: &PackageMetadata) -> Vec<Change> {
    let Ok(entries) = md.get_changelog_entries() else {
        return Vec::new();
    };
    // Header order is newest first; createrepo_c prepends each one.
    let mut list: Vec<Change> = Vec::new();
    let mut last_time = None;
    for e in entries.into_iter().take(CHANGELOG_LIMIT) {
        list.insert(
            0,
            Change {
                author: clean(e.name.trim_end_matches(' ')),
                date: e.timestamp,
                text: clean(&e.description),
            },
        );
        if last_time == Some(e.timestamp) {
            for (time, previous) in (e.timestamp..).zip(list.iter_mut().skip(1)) {
                if previous.date != time {
                    break;
                }
                previous.date += 1;
            }
        } else {
            last_time = Some(e.timestamp);
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_splits_like_createrepo_c() {
        let s = |e: &str, v: &str, r: Option<&str>| Some((e.into(), v.into(), r.map(Into::into)));
        assert_eq!(split_evr("1:2.1-3"), s("1", "2.1", Some("3")));
        assert_eq!(split_evr("2.0"), s("0", "2.0", None));
        assert_eq!(split_evr("1.0-1.el10-x"), s("0", "1.0", Some("1.el10-x")));
        assert_eq!(split_evr("x:1"), None);
    }

    #[test]
    fn primary_files_are_the_ones_yum_expects() {
        for path in [
            "/etc/x",
            "/usr/bin/x",
            "/sbin/x",
            "/opt/a/sbin/b",
            "/usr/lib/sendmail",
        ] {
            assert!(is_primary(path), "{path}");
        }
        for path in ["/etc", "/usr/share/doc/x", "/usr/lib/sendmail2"] {
            assert!(!is_primary(path), "{path}");
        }
    }

    #[test]
    fn only_the_newest_glibc_require_stays() {
        let dep = |name: &str| DepEntry {
            name: name.into(),
            flags: None,
            epoch: String::new(),
            version: String::new(),
            release: None,
            pre: false,
        };
        let mut requires = vec![
            dep("libc.so.6(GLIBC_2.2.5)(64bit)"),
            dep("libc.so.6()(64bit)"),
            dep("libc.so.6(GLIBC_2.34)(64bit)"),
            dep("libc.so.6(GLIBC_2.4)(64bit)"),
        ];
        keep_newest_libc(&mut requires);
        let names: Vec<_> = requires.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["libc.so.6(GLIBC_2.34)(64bit)"]);
    }
}
