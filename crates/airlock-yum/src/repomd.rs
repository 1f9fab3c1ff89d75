//! Reading an upstream `repodata/repomd.xml`: its `<revision>` and every
//! `<data>` record (type, location, checksums, sizes), whatever the type, so
//! that a mirror copies records it does not know as faithfully as the ones it
//! does. Also the checks every upstream path goes through before airlock
//! stores or serves anything under it.

use crate::checksum::Checksum;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One `<data>` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `type`: `primary`, `filelists`, `group_gz`, `productid`, …
    pub kind: String,
    /// `<location href>`, relative to the repository.
    pub href: String,
    /// `<checksum>` of the file as stored (compressed).
    pub checksum: Checksum,
    /// `<open-checksum>` of the uncompressed bytes, for compressed files.
    pub open_checksum: Option<Checksum>,
    /// `<size>` of the file.
    pub size: Option<u64>,
    /// `<open-size>` of the uncompressed bytes.
    pub open_size: Option<u64>,
    /// `<timestamp>`, as written.
    pub timestamp: Option<String>,
}

/// A parsed repomd.xml.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repomd {
    /// `<revision>`, as written.
    pub revision: Option<String>,
    /// The `<data>` records, in document order.
    pub records: Vec<Record>,
}

impl Repomd {
    /// The record of type `kind`.
    pub fn record(&self, kind: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.kind == kind)
    }
}

/// A record being read.
#[derive(Default)]
struct Partial {
    kind: String,
    href: Option<String>,
    checksum: Option<(String, String)>,
    open_checksum: Option<(String, String)>,
    size: Option<u64>,
    open_size: Option<u64>,
    timestamp: Option<String>,
}

fn attribute(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        if a.key.as_ref() == name {
            return a
                .unescape_value()
                .map(|v| Some(v.into_owned()))
                .map_err(|e| format!("bad attribute value: {e}"));
        }
    }
    Ok(None)
}

/// Parses repomd.xml. Records without a location or checksum, unsafe hrefs,
/// `xml:base` (files elsewhere than the repository) and unknown checksum
/// types are errors: a mirror must be able to check and place every file.
pub fn parse(bytes: &[u8]) -> Result<Repomd, String> {
    let mut reader = Reader::from_reader(bytes);
    let mut repomd = Repomd::default();
    let mut current: Option<Partial> = None;
    // The element whose text is being read, and the checksum type it declared.
    let mut text_of: Option<(Vec<u8>, Option<String>)> = None;
    let mut text = String::new();
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("repomd.xml is not well-formed XML: {e}"))?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_vec();
                match name.as_slice() {
                    b"data" => {
                        current = Some(Partial {
                            kind: attribute(&e, b"type")?
                                .ok_or("a <data> record without a type")?,
                            ..Partial::default()
                        });
                    }
                    b"location" => {
                        if let Some(record) = current.as_mut() {
                            if attribute(&e, b"xml:base")?.is_some() {
                                return Err(format!(
                                    "record {}: files at another base URL (xml:base) cannot be mirrored",
                                    record.kind
                                ));
                            }
                            record.href = attribute(&e, b"href")?;
                        }
                    }
                    b"checksum" | b"open-checksum" => {
                        text_of = Some((name, attribute(&e, b"type")?));
                        text.clear();
                    }
                    b"revision" | b"size" | b"open-size" | b"timestamp" => {
                        text_of = Some((name, None));
                        text.clear();
                    }
                    _ => {}
                }
            }
            Event::Text(t) if text_of.is_some() => {
                text.push_str(&t.decode().map_err(|e| format!("bad text: {e}"))?);
            }
            Event::End(e) => {
                let name = e.local_name();
                if name.as_ref() == b"data" {
                    let record = current.take().ok_or("unbalanced <data>")?;
                    repomd.records.push(finish(record)?);
                    continue;
                }
                let Some((element, kind)) = text_of.take() else {
                    continue;
                };
                let value = text.trim().to_owned();
                let number = |v: &str| {
                    v.parse::<u64>().map_err(|_| {
                        format!(
                            "<{}> {v:?} is not a number",
                            String::from_utf8_lossy(&element)
                        )
                    })
                };
                match (element.as_slice(), current.as_mut()) {
                    (b"revision", None) => repomd.revision = Some(value),
                    (b"checksum", Some(r)) => r.checksum = Some((kind.unwrap_or_default(), value)),
                    (b"open-checksum", Some(r)) => {
                        r.open_checksum = Some((kind.unwrap_or_default(), value))
                    }
                    (b"size", Some(r)) => r.size = Some(number(&value)?),
                    (b"open-size", Some(r)) => r.open_size = Some(number(&value)?),
                    (b"timestamp", Some(r)) => r.timestamp = Some(value),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if repomd.records.is_empty() {
        return Err("repomd.xml lists no <data> records".into());
    }
    Ok(repomd)
}

fn finish(p: Partial) -> Result<Record, String> {
    let kind = p.kind;
    let href = p
        .href
        .ok_or_else(|| format!("record {kind} has no <location href>"))?;
    check_href(&href).map_err(|e| format!("record {kind}: {e}"))?;
    let (algorithm, value) = p
        .checksum
        .ok_or_else(|| format!("record {kind} has no <checksum>"))?;
    let checksum =
        Checksum::parse(&algorithm, &value).map_err(|e| format!("record {kind}: {e}"))?;
    let open_checksum = match p.open_checksum {
        Some((algorithm, value)) => {
            Some(Checksum::parse(&algorithm, &value).map_err(|e| format!("record {kind}: {e}"))?)
        }
        None => None,
    };
    Ok(Record {
        kind,
        href,
        checksum,
        open_checksum,
        size: p.size,
        open_size: p.open_size,
        timestamp: p.timestamp,
    })
}

/// An upstream `location href` airlock may store and serve a file under:
/// relative, segments of printable characters, no `.`/`..`/empty segments,
/// no query or fragment, and never `repodata/repomd.xml` itself.
pub fn check_href(href: &str) -> Result<(), String> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && !s
                .chars()
                .any(|c| c.is_control() || matches!(c, '\\' | '?' | '#'))
    };
    if !href.split('/').all(segment_ok) || href.contains("://") {
        return Err(format!("unsafe location href {href:?}"));
    }
    if href == crate::publish::REPOMD {
        return Err("a record or package located at repodata/repomd.xml".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1795398059</revision>
  <data type="primary">
    <checksum type="sha256">e433a5f6b1a3c4d2e433a5f6b1a3c4d2e433a5f6b1a3c4d2e433a5f6b1a3c4d2</checksum>
    <open-checksum type="sha256">6475a5f6b1a3c4d2e433a5f6b1a3c4d2e433a5f6b1a3c4d2e433a5f6b1a3c4d2</open-checksum>
    <location href="repodata/e433-primary.xml.gz"/>
    <timestamp>1795398059</timestamp>
    <size>929</size>
    <open-size>2948</open-size>
  </data>
  <data type="productid">
    <checksum type="sha">a9993e364706816aba3e25717850c26c9cd0d89d</checksum>
    <location href="repodata/productid"/>
    <size>10</size>
  </data>
</repomd>
"#;

    #[test]
    fn every_record_is_read_whatever_its_type() {
        let repomd = parse(REPOMD.as_bytes()).expect("parse");
        assert_eq!(repomd.revision.as_deref(), Some("1795398059"));
        assert_eq!(repomd.records.len(), 2);
        let primary = repomd.record("primary").expect("primary");
        assert_eq!(primary.href, "repodata/e433-primary.xml.gz");
        assert_eq!((primary.size, primary.open_size), (Some(929), Some(2948)));
        assert!(primary.open_checksum.is_some());
        let productid = repomd.record("productid").expect("productid");
        assert_eq!(
            productid.checksum.algorithm,
            crate::checksum::Algorithm::Sha1
        );
        assert_eq!(productid.open_size, None);
    }

    #[test]
    fn unsafe_or_unplaceable_records_are_refused() {
        for bad in [
            REPOMD.replace("repodata/productid", "../productid"),
            REPOMD.replace("repodata/productid", "/etc/passwd"),
            REPOMD.replace("repodata/productid", "repodata/repomd.xml"),
            REPOMD.replace(
                "href=\"repodata/productid\"",
                "xml:base=\"http://x/\" href=\"p\"",
            ),
            REPOMD.replace("type=\"sha\"", "type=\"md4\""),
            REPOMD.replace("<size>10</size>", "<size>ten</size>"),
            "<repomd/>".to_owned(),
            "<repomd><data".to_owned(),
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(check_href("Packages/h/hello-1.0-1.el9.x86_64.rpm").is_ok());
        assert!(check_href("Packages/a%20b.rpm").is_ok());
        for bad in ["a//b.rpm", "a/./b.rpm", "a?.rpm", "", "http://x/a.rpm"] {
            assert!(check_href(bad).is_err(), "{bad}");
        }
    }
}
