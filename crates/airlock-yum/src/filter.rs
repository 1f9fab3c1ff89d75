//! A mirror's filters (`newest_only`, `arches`) and the metadata that stays
//! consistent with them.
//!
//! With a filter, upstream's primary/filelists/other list packages airlock
//! does not keep; served as they are, dnf would resolve to files that 404
//! (dnf-plugins-core's `reposync --newest-only --download-metadata` trap). So
//! airlock writes its own three files: upstream's XML, package elements of the
//! packages it does not keep left out, everything else copied event for event
//! (text stays escaped as upstream wrote it). Filtering upstream's XML rather
//! than regenerating it from the RPM headers is both simpler and more
//! faithful: every field is upstream's own (including `<time file>` and the
//! changelog limit it chose), no package has to be read, and the result only
//! changes when upstream's does. Output is deterministic (gzip without a
//! timestamp, repomd's revision and timestamps from upstream), so repomd.xml
//! stays byte-identical while upstream's does.
//!
//! Records that describe the package set in a form airlock cannot filter are
//! dropped from the served repomd.xml: the sqlite databases (`*_db`, which
//! dnf never reads), zchunk files (`*_zck`), `filelists-ext` and
//! `prestodelta`. Records about other things (comps `group*`, `updateinfo`,
//! `modules`, `productid`, unknown types) are served byte for byte;
//! updateinfo naming a package that was left out is harmless to dnf.

use crate::blobio::transform_blob;
use crate::checksum::Algorithm;
use crate::error::YumError;
use crate::index::SyncedFile;
use crate::primary::{self, UpstreamPackage};
use crate::repomd::{Record, Repomd};
use crate::sync::check_open;
use crate::{RepoSettings, Yum};
use airlock_core::Digest;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufReader, Read, Write};
use std::sync::Arc;

/// The packages a mirror keeps: those of the listed architectures (`noarch`
/// always, since every architecture installs it; `src` only when listed),
/// then with `newest_only` the newest version of each name and architecture,
/// at every path upstream lists it (the metadata files are filtered by
/// pkgid, so a package listed twice stays listed twice, and both paths must
/// be served).
pub fn keep(settings: &RepoSettings, packages: Vec<UpstreamPackage>) -> Vec<UpstreamPackage> {
    let arch_ok = |arch: &str| {
        settings.arches.is_empty() || arch == "noarch" || settings.arches.iter().any(|a| a == arch)
    };
    let candidates: Vec<UpstreamPackage> =
        packages.into_iter().filter(|p| arch_ok(&p.arch)).collect();
    if !settings.newest_only {
        return candidates;
    }
    let mut newest: HashMap<(&str, &str), &UpstreamPackage> = HashMap::new();
    for p in &candidates {
        match newest.get(&(p.name.as_str(), p.arch.as_str())) {
            Some(other) if evr(other) >= evr(p) => {}
            _ => {
                newest.insert((&p.name, &p.arch), p);
            }
        }
    }
    let pkgids: HashSet<String> = newest.values().map(|p| p.checksum.hex.clone()).collect();
    let mut kept: Vec<UpstreamPackage> = candidates
        .into_iter()
        .filter(|p| pkgids.contains(&p.checksum.hex))
        .collect();
    kept.sort_by(|a, b| a.href.cmp(&b.href));
    kept
}

fn evr(p: &UpstreamPackage) -> rpm_version::Evr<'_> {
    rpm_version::Evr::new(p.epoch.to_string(), p.version.clone(), p.release.clone())
}

/// Whether upstream's record `kind` is served as is when filtering.
fn served_verbatim(kind: &str) -> bool {
    !(matches!(
        kind,
        "primary" | "filelists" | "other" | "filelists-ext" | "prestodelta"
    ) || kind.ends_with("_db")
        || kind.ends_with("_zck"))
}

/// What [`rewrite_metadata`] gives: repomd.xml and the files it lists.
pub struct Rewritten {
    /// The new repomd.xml.
    pub repomd: Vec<u8>,
    /// Every metadata file it lists (new ones durable), by href.
    pub files: Vec<(String, SyncedFile)>,
}

/// Writes primary/filelists/other for the `kept` packages from upstream's
/// stored files, and repomd.xml listing them and upstream's other records.
pub async fn rewrite_metadata(
    yum: &Yum,
    upstream: &Repomd,
    stored: &BTreeMap<String, SyncedFile>,
    kept: &[UpstreamPackage],
) -> Result<Rewritten, YumError> {
    let pkgids: Arc<HashSet<String>> =
        Arc::new(kept.iter().map(|p| p.checksum.hex.clone()).collect());
    let mut records = Vec::new();
    let mut files = Vec::new();
    // Committed together once all three are written: a failure halfway
    // leaves no stored file that no row names.
    let mut staged_files = Vec::new();
    for record in &upstream.records {
        let file = stored
            .get(&record.href)
            .ok_or_else(|| YumError::Internal(format!("{} not stored", record.href)))?;
        if served_verbatim(&record.kind) {
            records.push(record.clone());
            files.push((record.href.clone(), file.clone()));
            continue;
        }
        if !matches!(record.kind.as_str(), "primary" | "filelists" | "other") {
            continue;
        }
        let (from, keep, count) = (record.clone(), Arc::clone(&pkgids), kept.len());
        let ((open_size, open_hex), staged) =
            transform_blob(yum, &file.digest, move |input, output| {
                let decoded = primary::decompressor(&from.href, input)?;
                let hasher = from.open_checksum.as_ref().map(|c| c.algorithm.hasher());
                let mut counted = primary::Counted::new(decoded, hasher).limited(from.open_size);
                let mut gzip =
                    flate2::write::GzEncoder::new(output, flate2::Compression::default());
                let mut hashed = Hashed {
                    inner: &mut gzip,
                    hasher: Algorithm::Sha256.hasher(),
                    count: 0,
                };
                filter_packages(&mut counted, &mut hashed, &keep, count)?;
                io::copy(&mut counted, &mut io::sink())?;
                let (in_size, in_hex) = counted.finish();
                check_open(&from, in_size, in_hex.as_deref())?;
                let out = (hashed.count, hashed.hasher.finish_hex());
                gzip.finish()?;
                Ok(out)
            })
            .await?;
        let href = format!("repodata/{}-{}.xml.gz", staged.digest.hex(), record.kind);
        let open_digest: Digest = format!("sha256:{open_hex}")
            .parse()
            .map_err(|_| YumError::Internal("bad open checksum".into()))?;
        records.push(Record {
            kind: record.kind.clone(),
            href: href.clone(),
            checksum: crate::checksum::Checksum {
                algorithm: Algorithm::Sha256,
                hex: staged.digest.hex().to_owned(),
            },
            open_checksum: Some(crate::checksum::Checksum {
                algorithm: Algorithm::Sha256,
                hex: open_digest.hex().to_owned(),
            }),
            size: Some(staged.size),
            open_size: Some(open_size),
            timestamp: record.timestamp.clone(),
        });
        let synced = SyncedFile {
            digest: staged.digest.clone(),
            size: staged.size,
            modified_at: airlock_core::unix_now(),
        };
        staged_files.push(staged);
        files.push((href, synced));
    }
    let repomd = repomd_xml(upstream.revision.as_deref(), &records)?;
    yum.store.commit_batch(staged_files).await?;
    Ok(Rewritten { repomd, files })
}

/// Counts and hashes what is written through it.
struct Hashed<'w, W: Write> {
    inner: &'w mut W,
    hasher: crate::checksum::Hasher,
    count: u64,
}

impl<W: Write> Write for Hashed<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn xml_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("metadata XML: {e}"))
}

/// Copies a primary/filelists/other document, leaving out the `<package>`
/// elements whose pkgid is not in `keep` and setting the root's `packages`
/// count to `count`. filelists and other carry the pkgid as an attribute;
/// primary in its `<checksum pkgid="YES">`, so a primary package is gathered
/// before it is written or dropped.
fn filter_packages(
    input: impl Read,
    output: impl Write,
    keep: &HashSet<String>,
    count: usize,
) -> io::Result<()> {
    let (input, budget) = primary::bounded(input);
    let mut reader = Reader::from_reader(BufReader::with_capacity(256 << 10, input));
    let mut writer = Writer::new(output);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(xml_error)?;
        match event {
            Event::Eof => break,
            Event::Start(ref e) if depth == 0 => {
                let mut root =
                    BytesStart::new(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                for a in e.attributes() {
                    let a = a.map_err(xml_error)?;
                    if a.key.as_ref() != b"packages" {
                        root.push_attribute(a);
                    }
                }
                root.push_attribute(("packages", count.to_string().as_str()));
                writer.write_event(Event::Start(root)).map_err(xml_error)?;
                depth = 1;
            }
            Event::Start(ref e) if depth == 1 && e.local_name().as_ref() == b"package" => {
                let start = e.clone().into_owned();
                match attribute(&start, b"pkgid")? {
                    Some(pkgid) => {
                        if keep.contains(&pkgid.to_ascii_lowercase()) {
                            writer.write_event(Event::Start(start)).map_err(xml_error)?;
                            depth += 1;
                        } else {
                            let mut skip = Vec::new();
                            reader
                                .read_to_end_into(start.name(), &mut skip)
                                .map_err(xml_error)?;
                        }
                    }
                    None => {
                        let (bytes, pkgid) = gather_primary_package(&mut reader, start)?;
                        if pkgid.is_some_and(|id| keep.contains(&id)) {
                            writer.get_mut().write_all(&bytes)?;
                        }
                    }
                }
            }
            Event::Start(_) => {
                writer.write_event(event).map_err(xml_error)?;
                depth += 1;
            }
            Event::End(_) => {
                writer.write_event(event).map_err(xml_error)?;
                depth = depth.saturating_sub(1);
            }
            _ => writer.write_event(event).map_err(xml_error)?,
        }
        buf.clear();
        // A package skipped or gathered whole counted as one event.
        budget.renew();
    }
    if depth != 0 {
        return Err(xml_error("the document ends early"));
    }
    Ok(())
}

fn attribute(e: &BytesStart<'_>, name: &[u8]) -> io::Result<Option<String>> {
    for a in e.attributes() {
        let a = a.map_err(xml_error)?;
        if a.key.as_ref() == name {
            return Ok(Some(a.unescape_value().map_err(xml_error)?.into_owned()));
        }
    }
    Ok(None)
}

/// A primary `<package>` element written out, and its pkgid (lower case).
fn gather_primary_package<R: std::io::BufRead>(
    reader: &mut Reader<R>,
    start: BytesStart<'static>,
) -> io::Result<(Vec<u8>, Option<String>)> {
    let mut writer = Writer::new(Vec::new());
    writer.write_event(Event::Start(start)).map_err(xml_error)?;
    let mut buf = Vec::new();
    let mut depth = 1usize;
    let mut in_pkgid = false;
    let mut pkgid: Option<String> = None;
    while depth > 0 {
        let event = reader.read_event_into(&mut buf).map_err(xml_error)?;
        match &event {
            Event::Eof => return Err(xml_error("the document ends inside a <package>")),
            Event::Start(e) => {
                in_pkgid = depth == 1
                    && e.local_name().as_ref() == b"checksum"
                    && attribute(e, b"pkgid")?.is_some_and(|v| v.eq_ignore_ascii_case("yes"));
                depth += 1;
            }
            Event::End(_) => {
                in_pkgid = false;
                depth -= 1;
            }
            Event::Text(t) if in_pkgid => {
                let text = t.decode().map_err(xml_error)?;
                pkgid.get_or_insert_with(String::new).push_str(text.trim());
            }
            _ => {}
        }
        writer.write_event(event).map_err(xml_error)?;
        buf.clear();
    }
    Ok((writer.into_inner(), pkgid.map(|id| id.to_ascii_lowercase())))
}

/// repomd.xml for `records`, laid out as createrepo_c writes it.
fn repomd_xml(revision: Option<&str>, records: &[Record]) -> Result<Vec<u8>, YumError> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let xml = |e: io::Error| YumError::Internal(format!("writing repomd.xml: {e}"));
    w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
        "1.0",
        Some("UTF-8"),
        None,
    )))
    .map_err(xml)?;
    w.create_element("repomd")
        .with_attributes([
            ("xmlns", "http://linux.duke.edu/metadata/repo"),
            ("xmlns:rpm", "http://linux.duke.edu/metadata/rpm"),
        ])
        .write_inner_content(|w| {
            if let Some(revision) = revision {
                w.create_element("revision")
                    .write_text_content(BytesText::new(revision))?;
            }
            for r in records {
                w.create_element("data")
                    .with_attribute(("type", r.kind.as_str()))
                    .write_inner_content(|w| {
                        w.create_element("checksum")
                            .with_attribute(("type", r.checksum.algorithm.name()))
                            .write_text_content(BytesText::new(&r.checksum.hex))?;
                        if let Some(open) = &r.open_checksum {
                            w.create_element("open-checksum")
                                .with_attribute(("type", open.algorithm.name()))
                                .write_text_content(BytesText::new(&open.hex))?;
                        }
                        w.create_element("location")
                            .with_attribute(("href", r.href.as_str()))
                            .write_empty()?;
                        let numbers = [
                            ("timestamp", r.timestamp.clone()),
                            ("size", r.size.map(|s| s.to_string())),
                            ("open-size", r.open_size.map(|s| s.to_string())),
                        ];
                        for (tag, value) in numbers {
                            if let Some(value) = value {
                                w.create_element(tag)
                                    .write_text_content(BytesText::new(&value))?;
                            }
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })
        .map_err(xml)?;
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::Checksum;

    fn package(
        name: &str,
        arch: &str,
        epoch: u64,
        version: &str,
        release: &str,
    ) -> UpstreamPackage {
        UpstreamPackage {
            href: format!("Packages/{name}-{version}-{release}.{arch}.rpm"),
            checksum: Checksum {
                algorithm: Algorithm::Sha256,
                // One per NEVRA (a package's bytes).
                hex: {
                    use std::hash::{Hash as _, Hasher as _};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    (name, arch, epoch, version, release).hash(&mut h);
                    format!("{:064x}", h.finish())
                },
            },
            size: 1,
            name: name.into(),
            arch: arch.into(),
            epoch,
            version: version.into(),
            release: release.into(),
        }
    }

    #[test]
    fn newest_only_and_arches_pick_packages_as_rpm_orders_versions() {
        let mut settings = RepoSettings::hosted("m");
        settings.newest_only = true;
        settings.arches = vec!["x86_64".into()];
        let kept = keep(
            &settings,
            vec![
                package("a", "x86_64", 0, "1.10", "1"),
                package("a", "x86_64", 0, "1.9", "1"),
                package("a", "aarch64", 0, "2.0", "1"),
                package("b", "noarch", 1, "0.1", "1"),
                package("b", "noarch", 0, "9.9", "1"),
                package("a", "src", 0, "1.10", "1"),
            ],
        );
        let got: Vec<String> = kept
            .iter()
            .map(|p| format!("{}-{}:{}.{}", p.name, p.epoch, p.version, p.arch))
            .collect();
        assert_eq!(got, ["a-0:1.10.x86_64", "b-1:0.1.noarch"]);

        // The same package at two paths: both kept, as the filtered metadata
        // (by pkgid) lists both.
        let newest = package("c", "noarch", 0, "2", "1");
        let elsewhere = UpstreamPackage {
            href: "Other/c-2-1.noarch.rpm".into(),
            ..newest.clone()
        };
        let kept = keep(
            &settings,
            vec![newest, package("c", "noarch", 0, "1", "1"), elsewhere],
        );
        let hrefs: Vec<&str> = kept.iter().map(|p| p.href.as_str()).collect();
        assert_eq!(
            hrefs,
            ["Other/c-2-1.noarch.rpm", "Packages/c-2-1.noarch.rpm"]
        );
    }

    #[test]
    fn package_elements_are_left_out_by_pkgid() {
        let primary = crate::primary::tests::PRIMARY;
        let listed = crate::primary::read_packages(primary.as_bytes()).expect("parse");
        let keep: HashSet<String> = [listed[1].checksum.hex.clone()].into();
        let mut out = Vec::new();
        filter_packages(primary.as_bytes(), &mut out, &keep, 1).expect("filter");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.contains("packages=\"1\"") && !out.contains("packages=\"2\""),
            "{out}"
        );
        let left = crate::primary::read_packages(out.as_bytes()).expect("parse");
        assert_eq!(left, vec![listed[1].clone()]);
        assert!(
            out.contains("lib&#45;x&amp;y"),
            "text stays as upstream escaped it: {out}"
        );

        let other = "<?xml version=\"1.0\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"2\">\n\
            <package pkgid=\"AA\" name=\"a\" arch=\"noarch\"><version epoch=\"0\" ver=\"1\" rel=\"1\"/></package>\n\
            <package pkgid=\"bb\" name=\"b\" arch=\"noarch\"><changelog author=\"x\" date=\"1\">- y</changelog></package>\n</otherdata>\n";
        let mut out = Vec::new();
        filter_packages(other.as_bytes(), &mut out, &["aa".to_owned()].into(), 1).expect("filter");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.contains("pkgid=\"AA\"") && !out.contains("pkgid=\"bb\""),
            "{out}"
        );
    }
}
