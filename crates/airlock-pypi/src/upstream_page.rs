//! Reading an upstream simple index's project page: PEP 691 JSON, or PEP 503
//! HTML when the upstream serves only that. Only what a mirror needs to list a
//! file and check its bytes is kept; a file without a sha256 (the only hash a
//! mirror can check and serve) or with a name that is not a wheel or an sdist
//! of the project is left out.

use crate::name;
use reqwest::Url;
use serde::Deserialize;

/// A file the upstream lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamFile {
    /// The filename.
    pub filename: String,
    /// PEP 440-normalized version of the filename.
    pub version: String,
    /// Where the bytes are, absolute, without credentials.
    pub url: String,
    /// sha256, 64 lowercase hex.
    pub sha256: String,
    /// Size in bytes, when the upstream says (PEP 700).
    pub size: Option<u64>,
    /// Unix microseconds, when the upstream says (PEP 700).
    pub upload_time_us: Option<i64>,
    /// `Requires-Python`, raw.
    pub requires_python: Option<String>,
    /// `None`: not yanked; `Some("")`: yanked without a reason.
    pub yanked: Option<String>,
    /// The PEP 658 `.metadata` file the upstream offers: `None`: none;
    /// `Some("")`: offered without a hash; otherwise its sha256, 64 lowercase hex.
    pub metadata: Option<String>,
}

/// The `Accept` header of a page fetch: JSON first, HTML otherwise.
pub const ACCEPT: &str =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1";

/// Parses a project page of `project` (normalized) fetched from `page_url`.
/// `content_type` decides the format.
pub fn parse(
    project: &str,
    page_url: &Url,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<UpstreamFile>, String> {
    let json = content_type.is_some_and(|t| {
        t.trim_start()
            .starts_with("application/vnd.pypi.simple.v1+json")
    });
    let raw = if json {
        parse_json(body)?
    } else {
        parse_html(&String::from_utf8_lossy(body))
    };
    Ok(raw
        .into_iter()
        .filter_map(|file| file.resolve(project, page_url))
        .collect())
}

/// The project names of an upstream's `/simple/` list stored at `path`
/// (JSON read as a stream; HTML: the anchors' texts). Blocking.
pub fn parse_root(path: &std::path::Path, content_type: &str) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct RootJson {
        projects: Vec<RootName>,
    }
    #[derive(Deserialize)]
    struct RootName {
        name: String,
    }
    let read = |e: std::io::Error| format!("reading the stored list: {e}");
    if content_type
        .trim_start()
        .starts_with("application/vnd.pypi.simple.v1+json")
    {
        let file = std::fs::File::open(path).map_err(read)?;
        let list: RootJson = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| format!("not a PEP 691 project list: {e}"))?;
        return Ok(list.projects.into_iter().map(|p| p.name).collect());
    }
    let text = std::fs::read(path).map_err(read)?;
    Ok(parse_html(&String::from_utf8_lossy(&text))
        .into_iter()
        .map(|a| a.filename)
        .collect())
}

/// A file as a page writes it, before its URL is resolved and its name checked.
#[derive(Debug, Default)]
struct RawFile {
    filename: String,
    href: String,
    sha256: Option<String>,
    size: Option<u64>,
    upload_time: Option<String>,
    requires_python: Option<String>,
    yanked: Option<String>,
    metadata: Option<String>,
}

impl RawFile {
    fn resolve(self, project: &str, page_url: &Url) -> Option<UpstreamFile> {
        let parsed = name::parse_filename(&self.filename).ok()?;
        if parsed.project != project {
            return None;
        }
        let version = name::normalize_version(&parsed.version).ok()?;
        let mut url = page_url.join(&self.href).ok()?;
        if !airlock_core::upstream::may_follow(page_url, &url) {
            return None;
        }
        let fragment = url.fragment().map(str::to_owned);
        url.set_fragment(None);
        let sha256 = self
            .sha256
            .or_else(|| {
                fragment
                    .as_deref()?
                    .strip_prefix("sha256=")
                    .map(str::to_owned)
            })?
            .to_ascii_lowercase();
        if !is_sha256_hex(&sha256) {
            return None;
        }
        let upload_time_us = self.upload_time.as_deref().and_then(|t| {
            // UTC as `Z` or `+00:00` (both appear on indexes).
            let utc = t
                .strip_suffix('Z')
                .or_else(|| t.strip_suffix("+00:00"))
                .unwrap_or(t);
            let time = humantime::parse_rfc3339_weak(utc).ok()?;
            let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
            i64::try_from(since.as_micros()).ok()
        });
        Some(UpstreamFile {
            filename: self.filename,
            version,
            url: airlock_core::upstream::redact(&url),
            sha256,
            size: self.size,
            upload_time_us,
            requires_python: self.requires_python.filter(|r| !r.is_empty()),
            yanked: self.yanked,
            metadata: self.metadata.map(|m| match m.to_ascii_lowercase() {
                hex if is_sha256_hex(&hex) => hex,
                _ => String::new(),
            }),
        })
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A PEP 658/714 `core-metadata` value: `true`, `false` or a dict of hashes.
/// `Some("")`: offered without a sha256.
fn json_metadata(value: Option<serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::Bool(offered) => offered.then(String::new),
        serde_json::Value::Object(hashes) => Some(
            hashes
                .get("sha256")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
        ),
        _ => None,
    }
}

/// A PEP 658 HTML attribute value: `true` or `sha256=<hex>`.
fn html_metadata(value: Option<String>) -> Option<String> {
    let value = value?;
    match value.split_once('=') {
        Some((name, hex)) if name.eq_ignore_ascii_case("sha256") => Some(hex.to_owned()),
        Some(_) => Some(String::new()),
        None if value.eq_ignore_ascii_case("false") => None,
        None => Some(String::new()),
    }
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<serde_json::Value>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "upload-time")]
    upload_time: Option<String>,
    #[serde(default, rename = "core-metadata")]
    core_metadata: Option<serde_json::Value>,
    #[serde(default, rename = "dist-info-metadata")]
    dist_info_metadata: Option<serde_json::Value>,
}

fn parse_json(body: &[u8]) -> Result<Vec<RawFile>, String> {
    let page: JsonPage =
        serde_json::from_slice(body).map_err(|e| format!("not a PEP 691 project page: {e}"))?;
    Ok(page
        .files
        .into_iter()
        .map(|f| RawFile {
            filename: f.filename,
            href: f.url,
            sha256: f.hashes.get("sha256").cloned(),
            size: f.size,
            upload_time: f.upload_time,
            requires_python: f.requires_python,
            yanked: match f.yanked {
                Some(serde_json::Value::String(reason)) => Some(reason),
                Some(serde_json::Value::Bool(true)) => Some(String::new()),
                _ => None,
            },
            metadata: json_metadata(f.core_metadata.or(f.dist_info_metadata)),
        })
        .collect())
}

/// The anchors of a PEP 503 page. Pages are machine-written: `<a` tags with
/// quoted attributes, the filename as the anchor's text.
fn parse_html(page: &str) -> Vec<RawFile> {
    let mut files = Vec::new();
    let mut rest = page;
    while let Some(start) = find_ascii_ci(rest, "<a") {
        rest = &rest[start + 2..];
        if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(tag_end) = rest.find('>') else { break };
        let attrs = attributes(&rest[..tag_end]);
        rest = &rest[tag_end + 1..];
        // The text is a filename: it ends at the next tag, `</a>` or any
        // other. (Searching for `</a` alone scanned to the page's end for every
        // unclosed anchor: quadratic in the page.)
        let text_end = rest.find('<').unwrap_or(rest.len());
        let text = unescape(rest[..text_end].trim());
        let get = |key: &str| attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let Some(href) = get("href") else { continue };
        let filename = if text.is_empty() {
            href.split(['#', '?'])
                .next()
                .and_then(|p| p.rsplit('/').next())
                .unwrap_or("")
                .to_owned()
        } else {
            text
        };
        files.push(RawFile {
            filename,
            href,
            requires_python: get("data-requires-python"),
            yanked: get("data-yanked"),
            size: get("data-size").and_then(|s| s.parse().ok()),
            upload_time: get("data-upload-time"),
            sha256: None,
            metadata: html_metadata(
                get("data-core-metadata").or_else(|| get("data-dist-info-metadata")),
            ),
        });
    }
    files
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `key="value"`, `key='value'`, `key=value` and bare `key` (value ""), unescaped.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..key_end].to_ascii_lowercase();
        rest = rest[key_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, next) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let end = body.find(q).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            rest = next.trim_start();
            unescape(value)
        } else {
            String::new()
        };
        if !key.is_empty() && key != "/" {
            out.push((key, value));
        }
    }
    out
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_url() -> Url {
        Url::parse("https://u:secret@example.org/simple/foo-bar/").expect("url")
    }

    #[test]
    fn html_pages_resolve_urls_and_read_data_attributes() {
        let sha = "a".repeat(64);
        let page = format!(
            "<html><body>\n<a href=\"../../packages/foo_bar-1.0-py3-none-any.whl#sha256={sha}\" \
             data-requires-python=\"&gt;=3.8\" data-yanked=\"\" data-core-metadata=\"sha256={sha}\">foo_bar-1.0-py3-none-any.whl</a><br>\n\
             <A HREF='https://files.example.net/foo-bar-2.0.tar.gz#sha256={sha}'>foo-bar-2.0.tar.gz</A>\n\
             <a href=\"other-1.0.tar.gz#sha256={sha}\">other-1.0.tar.gz</a>\n\
             <a href=\"foo_bar-3.0.tar.gz#md5=00\">foo_bar-3.0.tar.gz</a></body></html>"
        );
        let files =
            parse("foo-bar", &page_url(), Some("text/html"), page.as_bytes()).expect("parse");
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(
            files[0].url,
            "https://example.org/packages/foo_bar-1.0-py3-none-any.whl"
        );
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(files[0].yanked.as_deref(), Some(""));
        assert_eq!(files[1].url, "https://files.example.net/foo-bar-2.0.tar.gz");
        assert_eq!(files[1].version, "2.0");
        assert_eq!(files[1].yanked, None);
        assert_eq!(files[0].metadata.as_deref(), Some(sha.as_str()));
        assert_eq!(files[1].metadata, None);
    }

    #[test]
    fn only_http_links_are_files_of_a_remote_page() {
        let sha = "a".repeat(64);
        let page = format!(
            "<a href=\"file:///etc/passwd#sha256={sha}\">foo_bar-1.0-py3-none-any.whl</a>\n\
             <a href=\"ftp://example.org/foo_bar-1.1.tar.gz#sha256={sha}\">foo_bar-1.1.tar.gz</a>\n\
             <a href=\"http://example.org/foo_bar-1.2.tar.gz#sha256={sha}\">foo_bar-1.2.tar.gz</a>"
        );
        let files =
            parse("foo-bar", &page_url(), Some("text/html"), page.as_bytes()).expect("parse");
        let names: Vec<_> = files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(names, ["foo_bar-1.2.tar.gz"]);
        // A local index (a `file://` upstream) may name its local files.
        let local = Url::parse("file:///srv/simple/foo-bar/").expect("url");
        let files = parse("foo-bar", &local, Some("text/html"), page.as_bytes()).expect("parse");
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(files[0].url, "file:///etc/passwd");
    }

    #[test]
    fn unclosed_anchors_end_at_the_next_tag() {
        // `</a` was searched to the page's end for every anchor: quadratic.
        let page = "<a href=x>a".repeat(1000);
        let raw = parse_html(&page);
        assert_eq!(raw.len(), 1000);
        assert!(
            raw.iter().all(|f| f.filename == "a"),
            "{:?}",
            raw[0].filename
        );
    }

    #[test]
    fn root_lists_in_both_formats() {
        let dir = tempfile::tempdir().expect("dir");
        let (json, html) = (dir.path().join("json"), dir.path().join("html"));
        std::fs::write(
            &json,
            r#"{"meta":{"_last-serial":1},"projects":[{"name":"Foo.Bar","_last-serial":2},{"name":"six"}]}"#,
        )
        .expect("write");
        std::fs::write(
            &html,
            "<html><body><a href=\"/simple/foo-bar/\">Foo.Bar</a>\n<a href=\"/simple/six/\">six</a></body></html>",
        )
        .expect("write");
        let want = vec!["Foo.Bar".to_owned(), "six".to_owned()];
        assert_eq!(
            parse_root(&json, "application/vnd.pypi.simple.v1+json").expect("json"),
            want
        );
        assert_eq!(parse_root(&html, "text/html").expect("html"), want);
        assert!(parse_root(&html, "application/vnd.pypi.simple.v1+json").is_err());
    }

    #[test]
    fn json_pages_keep_pep700_fields() {
        let sha = "B".repeat(64);
        let page = format!(
            r#"{{"meta":{{"api-version":"1.1"}},"name":"foo-bar","files":[
              {{"filename":"foo_bar-1.0+local-py3-none-any.whl","url":"../../files/foo_bar-1.0%2Blocal-py3-none-any.whl",
                "hashes":{{"sha256":"{sha}"}},"size":12,"upload-time":"2024-01-02T03:04:05.000006Z","yanked":"bad","core-metadata":true}},
              {{"filename":"foo_bar-1.1.tar.gz","url":"x","hashes":{{}}}}]}}"#
        );
        let files = parse(
            "foo-bar",
            &page_url(),
            Some("application/vnd.pypi.simple.v1+json"),
            page.as_bytes(),
        )
        .expect("parse");
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert_eq!(f.sha256, "b".repeat(64));
        assert_eq!(f.size, Some(12));
        assert_eq!(f.upload_time_us, Some(1_704_164_645_000_006));
        let offset = page.replace(".000006Z", ".000006+00:00");
        let files = parse(
            "foo-bar",
            &page_url(),
            Some("application/vnd.pypi.simple.v1+json"),
            offset.as_bytes(),
        )
        .expect("parse");
        assert_eq!(files[0].upload_time_us, Some(1_704_164_645_000_006));
        assert_eq!(f.yanked.as_deref(), Some("bad"));
        assert_eq!(f.metadata.as_deref(), Some(""));
        assert_eq!(f.version, "1.0+local");
        assert_eq!(
            f.url,
            "https://example.org/files/foo_bar-1.0%2Blocal-py3-none-any.whl"
        );
        assert!(parse(
            "x",
            &page_url(),
            Some("application/vnd.pypi.simple.v1+json"),
            b"{"
        )
        .is_err());
    }
}
