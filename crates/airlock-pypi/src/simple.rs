//! The simple repository API's pages: content negotiation between PEP 503 HTML
//! and PEP 691 JSON, and rendering both from index rows.
//!
//! API version 1.1 is advertised, honestly: every file carries `size` and
//! `upload-time` and the JSON page lists `versions` (PEP 700). `core-metadata`
//! (PEP 658/714) appears only for a file whose `.metadata` is stored, with that
//! file's own hash. HTML attributes are escaped exactly once; JSON values not at all.

use crate::index::PageFile;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use std::time::{Duration, UNIX_EPOCH};

/// The API version these pages implement.
pub const API_VERSION: &str = "1.1";

/// A page format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `text/html` (PEP 503).
    Html,
    /// `application/vnd.pypi.simple.v1+html` (PEP 691's name for the same HTML).
    HtmlV1,
    /// `application/vnd.pypi.simple.v1+json` (PEP 691).
    Json,
}

impl Format {
    /// The exact `Content-Type` of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::HtmlV1 => "application/vnd.pypi.simple.v1+html",
            Format::Json => "application/vnd.pypi.simple.v1+json",
        }
    }

    /// The media types a client may name for this format (`latest` is answered
    /// with the concrete v1 type).
    fn names(self) -> &'static [&'static str] {
        match self {
            Format::Html => &["text/html"],
            Format::HtmlV1 => &[
                "application/vnd.pypi.simple.v1+html",
                "application/vnd.pypi.simple.latest+html",
            ],
            Format::Json => &[
                "application/vnd.pypi.simple.v1+json",
                "application/vnd.pypi.simple.latest+json",
            ],
        }
    }
}

/// The format to answer with, from the `?format=` parameter (which wins) or the
/// `Accept` header (`airlock_core::negotiate`: highest q, then the most
/// specific match, then HTML). No `Accept` means HTML, as on PyPI; `None` means 406.
pub fn negotiate(accept: Option<&str>, format_param: Option<&str>) -> Option<Format> {
    let accept = match (format_param, accept) {
        (Some(format), _) => format,
        (None, Some(accept)) if !accept.trim().is_empty() => accept,
        (None, _) => return Some(Format::Html),
    };
    const OFFERS: [Format; 3] = [Format::Html, Format::HtmlV1, Format::Json];
    let names = OFFERS.map(Format::names);
    airlock_core::negotiate::choose(accept, &names).map(|i| OFFERS[i])
}

/// Characters percent-encoded in a file URL: everything but the unreserved ones,
/// so `+` (local versions) goes out as `%2B`.
const URL_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'_')
    .remove(b'-')
    .remove(b'~')
    .remove(b'!');

/// A filename as one URL path segment.
pub fn encode_segment(filename: &str) -> String {
    utf8_percent_encode(filename, URL_SEGMENT).to_string()
}

/// HTML escaping for text and double-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// PEP 700's `upload-time`: ISO 8601 UTC with microseconds; `None` when
/// not known (stored as 0: a mirror's upstream page may not say), which
/// leaves the key out rather than claim 1970 (uv's `--exclude-newer` and
/// pip's `--uploaded-prior-to` read it).
fn upload_time(us: i64) -> Option<String> {
    let time = UNIX_EPOCH + Duration::from_micros(u64::try_from(us).ok().filter(|&us| us > 0)?);
    Some(humantime::format_rfc3339_micros(time).to_string())
}

/// A file's size; `None` when not known yet (stored as 0: a mirror learns
/// it when it first fetches the file; no distribution is empty).
fn known_size(size: u64) -> Option<u64> {
    (size > 0).then_some(size)
}

/// The api-version of a page: 1.1 (PEP 700) requires every file's `size`;
/// a page with a size still unknown is a 1.0 page.
fn page_api_version(files: &[PageFile]) -> &'static str {
    if files.iter().all(|f| known_size(f.size).is_some()) {
        API_VERSION
    } else {
        "1.0"
    }
}

/// The relative URL of a file from its project page (`…/simple/<project>/`).
fn file_url(filename: &str) -> String {
    format!("../../files/{}", encode_segment(filename))
}

/// The project page.
pub fn project_page(format: Format, project: &str, files: &[PageFile]) -> String {
    match format {
        Format::Html | Format::HtmlV1 => project_html(project, files),
        Format::Json => project_json(project, files),
    }
}

fn project_html(project: &str, files: &[PageFile]) -> String {
    use std::fmt::Write as _;
    let project = escape(project);
    let api_version = page_api_version(files);
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"{api_version}\">\
         <title>Links for {project}</title></head><body>\n<h1>Links for {project}</h1>\n"
    );
    for file in files {
        let _ = write!(
            out,
            "<a href=\"{}#sha256={}\"",
            file_url(&file.filename),
            file.sha256
        );
        if let Some(requires) = &file.requires_python {
            let _ = write!(out, " data-requires-python=\"{}\"", escape(requires));
        }
        match file.yanked.as_deref() {
            None => {}
            Some("") => out.push_str(" data-yanked"),
            Some(reason) => {
                let _ = write!(out, " data-yanked=\"{}\"", escape(reason));
            }
        }
        if let Some(metadata) = &file.metadata_sha256 {
            let _ = write!(
                out,
                " data-core-metadata=\"sha256={metadata}\" data-dist-info-metadata=\"sha256={metadata}\""
            );
        }
        // Not in PEP 503, but uv reads them from HTML pages too.
        if let Some(size) = known_size(file.size) {
            let _ = write!(out, " data-size=\"{size}\"");
        }
        if let Some(time) = upload_time(file.upload_time_us) {
            let _ = write!(out, " data-upload-time=\"{time}\"");
        }
        let _ = writeln!(out, ">{}</a><br>", escape(&file.filename));
    }
    out.push_str("</body></html>\n");
    out
}

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "api-version")]
    api_version: &'static str,
}

#[derive(Serialize)]
struct Hashes<'a> {
    sha256: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Yanked<'a> {
    Flag(bool),
    Reason(&'a str),
}

#[derive(Serialize)]
struct JsonFile<'a> {
    filename: &'a str,
    url: String,
    hashes: Hashes<'a>,
    #[serde(rename = "requires-python", skip_serializing_if = "Option::is_none")]
    requires_python: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    yanked: Option<Yanked<'a>>,
    #[serde(rename = "core-metadata", skip_serializing_if = "Option::is_none")]
    core_metadata: Option<Hashes<'a>>,
    #[serde(rename = "dist-info-metadata", skip_serializing_if = "Option::is_none")]
    dist_info_metadata: Option<Hashes<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(rename = "upload-time", skip_serializing_if = "Option::is_none")]
    upload_time: Option<String>,
}

#[derive(Serialize)]
struct JsonProject<'a> {
    meta: Meta,
    name: &'a str,
    versions: Vec<&'a str>,
    files: Vec<JsonFile<'a>>,
}

fn project_json(project: &str, files: &[PageFile]) -> String {
    let mut versions: Vec<(Option<pep440_rs::Version>, &str)> = files
        .iter()
        .map(|f| (f.version.parse().ok(), f.version.as_str()))
        .collect();
    versions.sort();
    versions.dedup_by(|a, b| a.1 == b.1);
    let page = JsonProject {
        meta: Meta {
            api_version: page_api_version(files),
        },
        name: project,
        versions: versions.into_iter().map(|(_, v)| v).collect(),
        files: files
            .iter()
            .map(|f| {
                let metadata = f.metadata_sha256.as_deref().map(|sha256| Hashes { sha256 });
                let metadata_alias = f.metadata_sha256.as_deref().map(|sha256| Hashes { sha256 });
                JsonFile {
                    filename: &f.filename,
                    url: file_url(&f.filename),
                    hashes: Hashes { sha256: &f.sha256 },
                    requires_python: f.requires_python.as_deref(),
                    yanked: f.yanked.as_deref().map(|reason| {
                        if reason.is_empty() {
                            Yanked::Flag(true)
                        } else {
                            Yanked::Reason(reason)
                        }
                    }),
                    core_metadata: metadata,
                    dist_info_metadata: metadata_alias,
                    size: known_size(f.size),
                    upload_time: upload_time(f.upload_time_us),
                }
            })
            .collect(),
    };
    serde_json::to_string(&page).unwrap_or_default()
}

#[derive(Serialize)]
struct JsonName<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct JsonList<'a> {
    meta: Meta,
    projects: Vec<JsonName<'a>>,
}

/// The project list: (normalized name, display name) pairs.
pub fn root_page(format: Format, projects: &[(String, String)]) -> String {
    match format {
        Format::Json => serde_json::to_string(&JsonList {
            meta: Meta {
                api_version: API_VERSION,
            },
            projects: projects
                .iter()
                .map(|(_, display)| JsonName { name: display })
                .collect(),
        })
        .unwrap_or_default(),
        Format::Html | Format::HtmlV1 => {
            let mut out = format!(
                "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\
                 <title>Simple index</title></head><body>\n"
            );
            for (name, display) in projects {
                out.push_str(&format!(
                    "<a href=\"{}/\">{}</a><br>\n",
                    encode_segment(name),
                    escape(display)
                ));
            }
            out.push_str("</body></html>\n");
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIP: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    const UV: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

    #[test]
    fn negotiation_follows_pep_691() {
        let n = |a: Option<&str>| negotiate(a, None);
        assert_eq!(n(Some(PIP)), Some(Format::Json));
        assert_eq!(n(Some(UV)), Some(Format::Json));
        assert_eq!(n(None), Some(Format::Html));
        assert_eq!(n(Some("*/*")), Some(Format::Html));
        assert_eq!(n(Some("text/html")), Some(Format::Html));
        assert_eq!(
            n(Some("application/vnd.pypi.simple.latest+json")),
            Some(Format::Json)
        );
        assert_eq!(
            n(Some("application/vnd.pypi.simple.v1+html;q=0.2, application/vnd.pypi.simple.v1+json, text/html;q=0.01")),
            Some(Format::Json)
        );
        assert_eq!(n(Some("application/json")), None);
        assert_eq!(n(Some("text/html;q=0")), None);
        assert_eq!(n(Some("application/*")), Some(Format::HtmlV1));
        assert_eq!(
            negotiate(
                Some("text/html"),
                Some("application/vnd.pypi.simple.v1+json")
            ),
            Some(Format::Json)
        );
    }

    fn file(filename: &str, yanked: Option<&str>, metadata: bool) -> PageFile {
        PageFile {
            filename: filename.into(),
            version: "1.0+local".into(),
            sha256: "ab".repeat(32),
            size: 12,
            upload_time_us: 1_785_585_600_000_001,
            requires_python: Some(">=3.8, <4".into()),
            yanked: yanked.map(str::to_owned),
            metadata_sha256: metadata.then(|| "cd".repeat(32)),
        }
    }

    #[test]
    fn html_escapes_once_and_encodes_plus() {
        let page = project_page(
            Format::Html,
            "foo",
            &[
                file(
                    "foo-1.0+local-py3-none-any.whl",
                    Some("bad \"build\" <x>"),
                    true,
                ),
                file("foo-1.0+local.tar.gz", Some(""), false),
            ],
        );
        assert!(page.contains("href=\"../../files/foo-1.0%2Blocal-py3-none-any.whl#sha256="));
        assert!(page.contains("data-requires-python=\"&gt;=3.8, &lt;4\""));
        assert!(page.contains("data-yanked=\"bad &quot;build&quot; &lt;x&gt;\""));
        assert!(page.contains(&format!(
            "data-core-metadata=\"sha256={}\"",
            "cd".repeat(32)
        )));
        assert!(page.contains(" data-yanked data-size"));
        assert_eq!(page.matches("data-core-metadata").count(), 1);
        assert!(page.contains("data-upload-time=\"2026-08-01T12:00:00.000001Z\""));
    }

    #[test]
    fn json_has_pep_700_fields() {
        let page = project_page(
            Format::Json,
            "foo",
            &[file("foo-1.0+local-py3-none-any.whl", None, true)],
        );
        let v: serde_json::Value = serde_json::from_str(&page).expect("json");
        assert_eq!(v["meta"]["api-version"], "1.1");
        assert_eq!(v["versions"][0], "1.0+local");
        let f = &v["files"][0];
        assert_eq!(f["url"], "../../files/foo-1.0%2Blocal-py3-none-any.whl");
        assert_eq!(f["requires-python"], ">=3.8, <4");
        assert_eq!(f["core-metadata"]["sha256"], "cd".repeat(32));
        assert_eq!(f["size"], 12);
        assert_eq!(f["upload-time"], "2026-08-01T12:00:00.000001Z");
        assert!(f.get("yanked").is_none());
    }

    /// A mirror's file whose upstream page gave no size or time (stored as
    /// 0): nothing made up, and the page says api-version 1.0, which does
    /// not require `size`.
    #[test]
    fn unknown_sizes_and_times_are_left_out() {
        let unknown = PageFile {
            size: 0,
            upload_time_us: 0,
            ..file("foo-1.0.tar.gz", None, false)
        };
        let json = project_page(Format::Json, "foo", std::slice::from_ref(&unknown));
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["meta"]["api-version"], "1.0");
        assert!(v["files"][0].get("size").is_none(), "{json}");
        assert!(v["files"][0].get("upload-time").is_none(), "{json}");
        let html = project_page(Format::Html, "foo", &[unknown]);
        assert!(
            !html.contains("data-size") && !html.contains("data-upload-time"),
            "{html}"
        );
        assert!(html.contains("content=\"1.0\""), "{html}");
    }
}
