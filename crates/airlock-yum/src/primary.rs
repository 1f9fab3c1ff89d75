//! Reading an upstream `primary.xml` as it streams: decompressed by the
//! file name's extension (gzip, xz, zstd or none), hashed and counted on the
//! way for repomd's `open-checksum`/`open-size`, and parsed event by event with
//! quick-xml for each package's location, checksum, size and NEVRA. Nothing
//! but the list of those small records is held in memory, whatever the size of
//! the repository, and a hostile file cannot make it hold more: decoders are
//! refused windows over [`MAX_DECODER_MEMORY`], one XML event (a text, a tag)
//! may not take in more than [`MAX_XML_EVENT`] bytes, and decompression stops
//! at the size repomd.xml declares.

use crate::checksum::{Checksum, Hasher};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

/// One package as primary.xml lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamPackage {
    /// `<location href>`.
    pub href: String,
    /// `<checksum pkgid="YES">` of the whole file.
    pub checksum: Checksum,
    /// `<size package>`.
    pub size: u64,
    /// `<name>`.
    pub name: String,
    /// `<arch>` (`src` for source packages).
    pub arch: String,
    /// `<version epoch>`, 0 when absent.
    pub epoch: u64,
    /// `<version ver>`.
    pub version: String,
    /// `<version rel>`.
    pub release: String,
}

/// The memory a decoder may need for its window: 128 MiB, zstd's own
/// default limit (xz -9 needs 64 MiB; `zstd --long=31` or an xz with a 1 GiB
/// dictionary would make a small file cost gigabytes).
pub const MAX_DECODER_MEMORY: u64 = 128 << 20;

/// The decompressing reader for a metadata file named `href`.
pub fn decompressor<'r>(href: &str, raw: impl Read + 'r) -> io::Result<Box<dyn Read + 'r>> {
    let ext = href.rsplit('.').next().unwrap_or("");
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, format!("{href}: {what}"));
    Ok(match ext {
        "gz" => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        "xz" => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                MAX_DECODER_MEMORY,
                liblzma::stream::CONCATENATED,
            )
            .map_err(|e| bad(e.to_string()))?;
            Box::new(liblzma::read::XzDecoder::new_stream(raw, stream))
        }
        "zst" | "zstd" => {
            let (head, raw) = read_head(raw, ZSTD_HEADER_MAX)?;
            if let Some(window) = zstd_window(&head).filter(|&w| w > MAX_DECODER_MEMORY) {
                return Err(bad(format!(
                    "a zstd window of {} MiB (at most {} MiB)",
                    window >> 20,
                    MAX_DECODER_MEMORY >> 20
                )));
            }
            Box::new(
                ruzstd::decoding::StreamingDecoder::new(io::Cursor::new(head).chain(raw))
                    .map_err(|e| bad(e.to_string()))?,
            )
        }
        "bz2" | "zck" => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{href}: .{ext} metadata cannot be read (use gzip, xz or zstd)"),
            ))
        }
        _ => Box::new(raw),
    })
}

/// The longest zstd frame header: magic, descriptor, window, 4-byte
/// dictionary id, 8-byte content size.
const ZSTD_HEADER_MAX: usize = 18;

/// Up to `len` first bytes of `raw` (fewer at its end), and the rest.
fn read_head<R: Read>(mut raw: R, len: usize) -> io::Result<(Vec<u8>, R)> {
    let mut head = Vec::with_capacity(len);
    (&mut raw).take(len as u64).read_to_end(&mut head)?;
    Ok((head, raw))
}

/// The window a zstd frame declares in its header (RFC 8878 §3.1.1.1): what
/// the decoder keeps in memory. `None` when `head` is not a frame header.
fn zstd_window(head: &[u8]) -> Option<u64> {
    if head.get(..4)? != [0x28, 0xb5, 0x2f, 0xfd] {
        return None;
    }
    let descriptor = *head.get(4)?;
    if descriptor & 0x20 == 0 {
        let window = *head.get(5)?;
        let base = 1u64 << (10 + u32::from(window >> 3));
        return Some(base + base / 8 * u64::from(window & 7));
    }
    // Single segment: the window is the content size.
    let at = 5 + [0, 1, 2, 4][usize::from(descriptor & 3)];
    let len = [1, 2, 4, 8][usize::from(descriptor >> 6)];
    let size = head
        .get(at..at + len)?
        .iter()
        .rev()
        .fold(0u64, |size, &b| size << 8 | u64::from(b));
    Some(if len == 2 { size + 256 } else { size })
}

/// Counts and hashes what is read through it.
pub struct Counted<R> {
    inner: R,
    /// Bytes read so far.
    pub count: u64,
    hasher: Option<Hasher>,
    limit: Option<u64>,
}

impl<R: Read> Counted<R> {
    /// Wraps `inner`, hashing with `hasher` when given.
    pub fn new(inner: R, hasher: Option<Hasher>) -> Self {
        Counted {
            inner,
            count: 0,
            hasher,
            limit: None,
        }
    }

    /// Fails as soon as more than `limit` bytes come through (the size
    /// repomd.xml declares): a decompression bomb stops there, not at its end.
    pub fn limited(mut self, limit: Option<u64>) -> Self {
        self.limit = limit;
        self
    }

    /// The byte count and the hash (hex), when one was asked for.
    pub fn finish(self) -> (u64, Option<String>) {
        (self.count, self.hasher.map(Hasher::finish_hex))
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if let Some(limit) = self.limit.filter(|&limit| self.count > limit) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than the {limit} bytes repomd.xml declares, decompressed"),
            ));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// What an XML parser may take in for one event (a text, a tag; for the
/// filter, a package skipped or gathered whole): 64 MiB. quick-xml buffers
/// an event whole, so without this a text of 4 GiB of whitespace (a gzip
/// bomb of a few MB) is held in memory whole.
pub const MAX_XML_EVENT: u64 = 64 << 20;

/// The reader under an XML parser: delivers at most [`MAX_XML_EVENT`] bytes
/// between two [`EventBudget::renew`] calls, which the parse loop makes after
/// each event.
pub struct Bounded<R> {
    inner: R,
    left: Rc<Cell<u64>>,
}

/// The other end of a [`Bounded`] reader.
pub struct EventBudget(Rc<Cell<u64>>);

impl EventBudget {
    /// A new event starts: its budget is whole again.
    pub fn renew(&self) {
        self.0.set(MAX_XML_EVENT);
    }
}

/// `inner` bounded per XML event, and the budget the parse loop renews.
pub fn bounded<R: Read>(inner: R) -> (Bounded<R>, EventBudget) {
    let left = Rc::new(Cell::new(MAX_XML_EVENT));
    (
        Bounded {
            inner,
            left: Rc::clone(&left),
        },
        EventBudget(left),
    )
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left.get();
        if left == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "metadata XML: one element or text of more than {} MiB",
                    MAX_XML_EVENT >> 20
                ),
            ));
        }
        let room = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        self.left.set(left - n as u64);
        Ok(n)
    }
}

/// The longest name, arch or checksum text kept (a name of entities, one
/// event each, could otherwise grow without end).
const MAX_FIELD: usize = 4096;

/// Which text the parser is collecting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Arch,
    Checksum,
}

#[derive(Default)]
struct Partial {
    name: String,
    arch: String,
    epoch: u64,
    version: String,
    release: String,
    checksum_type: Option<String>,
    checksum: String,
    href: Option<String>,
    size: Option<u64>,
}

fn attribute(e: &BytesStart<'_>, name: &[u8]) -> io::Result<Option<String>> {
    for a in e.attributes() {
        let a = a.map_err(invalid)?;
        if a.key.as_ref() == name {
            return Ok(Some(a.unescape_value().map_err(invalid)?.into_owned()));
        }
    }
    Ok(None)
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("primary.xml: {e}"))
}

/// Reads every package of a (decompressed) primary.xml. Packages without a
/// location, checksum or size, or with `xml:base`, are errors.
pub fn read_packages(xml: impl Read) -> io::Result<Vec<UpstreamPackage>> {
    let (xml, budget) = bounded(xml);
    let mut reader = Reader::from_reader(BufReader::with_capacity(256 << 10, xml));
    let mut packages = Vec::new();
    let mut current: Option<Partial> = None;
    let mut field: Option<Field> = None;
    // Depth inside <package>: 1 for its direct children, whose elements we read.
    let mut depth = 0usize;
    // Depth in the whole document: a document cut short leaves it above 0.
    let (mut open, mut rooted) = (0usize, false);
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(invalid)?;
        match &event {
            Event::Start(_) => {
                open += 1;
                rooted = true;
            }
            Event::End(_) => open = open.saturating_sub(1),
            _ => {}
        }
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                if current.is_none() {
                    if local.as_ref() == b"package" && !empty {
                        current = Some(Partial::default());
                        depth = 0;
                    }
                } else if let Some(p) = current.as_mut() {
                    if depth == 0 {
                        match local.as_ref() {
                            b"name" => field = Some(Field::Name),
                            b"arch" => field = Some(Field::Arch),
                            b"checksum" => {
                                p.checksum_type = attribute(e, b"type")?;
                                field = Some(Field::Checksum);
                            }
                            b"version" => {
                                p.epoch = match attribute(e, b"epoch")? {
                                    Some(v) if !v.is_empty() => v.parse().map_err(|_| {
                                        invalid(format!("epoch {v:?} is not a number"))
                                    })?,
                                    _ => 0,
                                };
                                p.version = attribute(e, b"ver")?.unwrap_or_default();
                                p.release = attribute(e, b"rel")?.unwrap_or_default();
                            }
                            b"size" => {
                                p.size = attribute(e, b"package")?
                                    .map(|v| v.parse().map_err(|_| invalid(format!("size {v:?}"))))
                                    .transpose()?;
                            }
                            b"location" => {
                                if attribute(e, b"xml:base")?.is_some() {
                                    return Err(invalid(
                                        "packages at another base URL (xml:base) cannot be mirrored",
                                    ));
                                }
                                p.href = attribute(e, b"href")?;
                            }
                            _ => {}
                        }
                    }
                    if !empty {
                        depth += 1;
                    }
                }
            }
            Event::Text(t) => {
                if let (Some(f), Some(p)) = (field, current.as_mut()) {
                    let text = t.decode().map_err(invalid)?;
                    push_field(p, f, &text)?;
                }
            }
            Event::GeneralRef(r) => {
                if let (Some(f), Some(p)) = (field, current.as_mut()) {
                    let resolved = match r.resolve_char_ref().map_err(invalid)? {
                        Some(c) => c.to_string(),
                        None => match r.decode().map_err(invalid)?.as_ref() {
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "amp" => "&".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            other => return Err(invalid(format!("unknown entity &{other};"))),
                        },
                    };
                    push_field(p, f, &resolved)?;
                }
            }
            Event::End(ref e) => {
                field = None;
                if current.is_some() {
                    if depth == 0 && e.local_name().as_ref() == b"package" {
                        if let Some(p) = current.take() {
                            packages.push(finish(p)?);
                        }
                    } else {
                        depth = depth.saturating_sub(1);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
        budget.renew();
    }
    if current.is_some() || open != 0 || !rooted {
        return Err(invalid("the document ends early"));
    }
    Ok(packages)
}

/// Appends `text` to `field` of `p`, up to [`MAX_FIELD`] bytes.
fn push_field(p: &mut Partial, field: Field, text: &str) -> io::Result<()> {
    let target = match field {
        Field::Name => &mut p.name,
        Field::Arch => &mut p.arch,
        Field::Checksum => &mut p.checksum,
    };
    if target.len() + text.len() > MAX_FIELD {
        return Err(invalid(format!(
            "a package's name, arch or checksum of more than {MAX_FIELD} bytes"
        )));
    }
    target.push_str(text);
    Ok(())
}

fn finish(p: Partial) -> io::Result<UpstreamPackage> {
    let name = p.name.trim().to_owned();
    let href = p
        .href
        .ok_or_else(|| invalid(format!("package {name} has no location")))?;
    crate::repomd::check_href(&href).map_err(invalid)?;
    let checksum = Checksum::parse(p.checksum_type.as_deref().unwrap_or(""), &p.checksum)
        .map_err(|e| invalid(format!("package {href}: {e}")))?;
    let size = p
        .size
        .ok_or_else(|| invalid(format!("package {href} has no size")))?;
    Ok(UpstreamPackage {
        href,
        checksum,
        size,
        name,
        arch: p.arch.trim().to_owned(),
        epoch: p.epoch,
        version: p.version,
        release: p.release,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>hello-airlock</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1.0" rel="1.el10"/>
  <checksum type="sha256" pkgid="YES">8e5400000000000000000000000000000000000000000000000000000000dd50</checksum>
  <summary>Test &amp; &lt;fixture&gt;</summary>
  <time file="1" build="2"/>
  <size package="7576" installed="40" archive="840"/>
  <location href="Packages/hello-airlock-1.0-1.el10.noarch.rpm"/>
  <format>
    <rpm:provides><rpm:entry name="hello" flags="EQ" epoch="0" ver="1.0"/></rpm:provides>
    <file>/usr/bin/hello-airlock</file>
  </format>
</package>
<package type="rpm">
  <name>lib&#45;x&amp;y</name>
  <arch>x86_64</arch>
  <version epoch="1" ver="2.1" rel="3"/>
  <checksum type="sha" pkgid="YES">a9993e364706816aba3e25717850c26c9cd0d89d</checksum>
  <size package="10"/>
  <location href="Packages/l/lib.rpm"/>
  <format><rpm:sourcerpm>x.src.rpm</rpm:sourcerpm></format>
</package>
</metadata>
"#;

    #[test]
    fn packages_are_read_as_listed() {
        let packages = read_packages(PRIMARY.as_bytes()).expect("parse");
        assert_eq!(packages.len(), 2);
        assert_eq!(packages[0].name, "hello-airlock");
        assert_eq!(
            packages[0].href,
            "Packages/hello-airlock-1.0-1.el10.noarch.rpm"
        );
        assert_eq!(packages[0].size, 7576);
        assert_eq!(packages[1].name, "lib-x&y");
        assert_eq!(packages[1].epoch, 1);
        assert_eq!(packages[1].arch, "x86_64");
        assert_eq!(
            packages[1].checksum.algorithm,
            crate::checksum::Algorithm::Sha1
        );
    }

    #[test]
    fn compressed_primary_reads_the_same() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(PRIMARY.as_bytes()).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let mut counted = Counted::new(
            decompressor("repodata/x-primary.xml.gz", gz.as_slice()).expect("decoder"),
            Some(crate::checksum::Algorithm::Sha256.hasher()),
        );
        assert_eq!(read_packages(&mut counted).expect("parse").len(), 2);
        let (count, _) = counted.finish();
        assert_eq!(count, PRIMARY.len() as u64);
        assert!(decompressor("x.xml.bz2", &b""[..]).is_err());
    }

    #[test]
    fn zstd_primary_reads_the_same() {
        // `zstd -19` of PRIMARY (createrepo_c >= 1.0 writes zstd by default;
        // Debian's 0.17 cannot, so the e2e tests cover gzip and xz).
        let zst: &[u8] = include_bytes!("testdata/primary.xml.zst");
        let decoded = decompressor("repodata/x-primary.xml.zst", zst).expect("decoder");
        assert_eq!(read_packages(decoded).expect("parse").len(), 2);
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        std::io::Write::write_all(&mut xz, PRIMARY.as_bytes()).expect("xz");
        let xz = xz.finish().expect("xz");
        let decoded = decompressor("repodata/x-primary.xml.xz", xz.as_slice()).expect("decoder");
        assert_eq!(read_packages(decoded).expect("parse").len(), 2);
    }

    /// `head`, then `fill` without end.
    struct Endless {
        head: io::Cursor<Vec<u8>>,
        fill: u8,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.head.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            buf.fill(self.fill);
            Ok(buf.len())
        }
    }

    fn endless(head: &str, fill: u8) -> Endless {
        Endless {
            head: io::Cursor::new(head.as_bytes().to_vec()),
            fill,
        }
    }

    #[test]
    fn a_bomb_stops_at_one_event_or_the_declared_size() {
        // Whitespace without end inside a package: one text event.
        let head = "<metadata packages=\"1\"><package type=\"rpm\"><name>";
        let e = read_packages(endless(head, b' ')).expect_err("endless text");
        assert!(e.to_string().contains("more than 64 MiB"), "{e}");
        // The same through a counter that knows the declared size stops there.
        let counted = Counted::new(endless(head, b' '), None).limited(Some(1 << 20));
        let e = read_packages(counted).expect_err("past the declared size");
        assert!(e.to_string().contains("declares"), "{e}");
        // A name made of entities, each one event.
        let name = "&amp;".repeat(MAX_FIELD + 1);
        let bad = PRIMARY.replace(
            "<name>hello-airlock</name>",
            &format!("<name>{name}</name>"),
        );
        let e = read_packages(bad.as_bytes()).expect_err("long name");
        assert!(e.to_string().contains("more than 4096 bytes"), "{e}");
    }

    #[test]
    fn zstd_windows_over_the_limit_are_refused() {
        let frame = |descriptor: u8, rest: &[u8]| {
            let mut head = vec![0x28, 0xb5, 0x2f, 0xfd, descriptor];
            head.extend_from_slice(rest);
            head
        };
        // Window descriptors: exponent 20 is 1 GiB, 17 with mantissa 4 is 192 MiB.
        assert_eq!(zstd_window(&frame(0, &[20 << 3])), Some(1 << 30));
        assert_eq!(zstd_window(&frame(0, &[17 << 3 | 4])), Some(192 << 20));
        // Single segment, 4-byte content size: the window is that size.
        let size = (200u32 << 20).to_le_bytes();
        assert_eq!(zstd_window(&frame(0x80 | 0x20, &size)), Some(200 << 20));
        // Single segment, 2-byte content size, after a 1-byte dictionary id.
        assert_eq!(
            zstd_window(&frame(0x40 | 0x20 | 1, &[9, 0, 1])),
            Some(256 + 256)
        );
        assert_eq!(zstd_window(b"not zstd"), None);
        let mut bomb = frame(0, &[20 << 3]);
        bomb.extend_from_slice(&[0; 64]);
        let e = decompressor("repodata/x-primary.xml.zst", bomb.as_slice())
            .err()
            .expect("refused");
        assert!(e.to_string().contains("zstd window of 1024 MiB"), "{e}");
        // The real file's window passes (see zstd_primary_reads_the_same).
        let zst: &[u8] = include_bytes!("testdata/primary.xml.zst");
        assert!(zstd_window(zst).is_some_and(|w| w <= MAX_DECODER_MEMORY));
    }

    #[test]
    fn broken_primary_is_refused() {
        for bad in [
            PRIMARY.replace("<size package=\"10\"/>", ""),
            PRIMARY.replace("Packages/l/lib.rpm", "../lib.rpm"),
            PRIMARY.replace("</metadata>", ""),
            PRIMARY.replace("type=\"sha\"", "type=\"crc\""),
            PRIMARY[..PRIMARY.len() / 2].to_owned(),
        ] {
            assert!(read_packages(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
