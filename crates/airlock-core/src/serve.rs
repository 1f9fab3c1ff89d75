//! Serving stored blobs over HTTP: streaming in large chunks, `Range`, `ETag`,
//! `Last-Modified`, conditional requests (RFC 9110 §13) and `HEAD`. Serving
//! never re-hashes: the digest is the ETag.

use crate::digest::Digest;
use crate::metrics::CacheResult;
use crate::store::{BlobBody, BlobStore, ByteRange, StoreError};
use actix_web::http::header::{self, HeaderValue, HttpDate};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::stream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The response header that tells clients and logs whether airlock had the artifact.
pub const CACHE_HEADER: &str = "x-cache";

/// How a stored blob should be presented.
#[derive(Clone, Copy, Debug)]
pub struct BlobResponse<'a> {
    /// `Content-Type`.
    pub content_type: &'a str,
    /// `Cache-Control`.
    pub cache_control: &'a str,
    /// Whether it came from the store or was just fetched.
    pub cache: CacheResult,
    /// `Last-Modified`, when the protocol has a meaningful time (a YUM
    /// repository's files, as nginx sends them); `If-Modified-Since`,
    /// `If-Unmodified-Since` and a date in `If-Range` are judged by it.
    pub last_modified: Option<SystemTime>,
}

/// Serves `digest` (of `size` bytes), honouring the conditional headers,
/// `Range` (one range; `If-Range` decides whether it applies) and `HEAD`.
pub async fn blob(
    req: &HttpRequest,
    store: &dyn BlobStore,
    digest: &Digest,
    size: u64,
    how: BlobResponse<'_>,
) -> Result<HttpResponse, StoreError> {
    let etag = format!("\"{digest}\"");
    // HTTP dates have whole seconds: compare in those.
    let modified = how.last_modified.map(whole_seconds);
    let builder = |status| {
        let mut b = start(status, Some(&etag), how);
        b.insert_header((header::ACCEPT_RANGES, "bytes"));
        if let Some(modified) = modified {
            b.insert_header((header::LAST_MODIFIED, HttpDate::from(modified)));
        }
        b
    };
    match preconditions(req, &etag, modified) {
        Precondition::Failed => return Ok(builder(StatusCode::PRECONDITION_FAILED).finish()),
        Precondition::NotModified => return Ok(builder(StatusCode::NOT_MODIFIED).finish()),
        Precondition::Holds => {}
    }
    let range = match req.headers().get(header::RANGE) {
        Some(value) if if_range_holds(req, &etag, modified) => match parse_range(value, size) {
            RangeRequest::Ignore => None,
            RangeRequest::Satisfiable(r) => Some(r),
            RangeRequest::Unsatisfiable => {
                return Ok(builder(StatusCode::RANGE_NOT_SATISFIABLE)
                    .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                    .finish())
            }
        },
        _ => None,
    };
    let (status, len) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start + 1),
        None => (StatusCode::OK, size),
    };
    let mut response = builder(status);
    response.content_type(how.content_type);
    if let Some(r) = range {
        response.insert_header((
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", r.start, r.end),
        ));
    }
    if req.method() == Method::HEAD {
        return Ok(head_response(response, len));
    }
    Ok(with_body(response, store.open(digest, range).await?))
}

/// `time` without its fraction of a second.
fn whole_seconds(time: SystemTime) -> SystemTime {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// What the conditional headers of a GET or HEAD decide (RFC 9110 §13.2.2).
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    /// Answer as asked.
    Holds,
    /// 412.
    Failed,
    /// 304.
    NotModified,
}

fn preconditions(req: &HttpRequest, etag: &str, modified: Option<SystemTime>) -> Precondition {
    let headers = req.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let date = |name| text(name).and_then(|v| v.trim().parse::<HttpDate>().ok());
    if let Some(wanted) = text(header::IF_MATCH) {
        if !tag_list_matches(wanted, etag, false) {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) = (date(header::IF_UNMODIFIED_SINCE), modified) {
        if modified > SystemTime::from(since) {
            return Precondition::Failed;
        }
    }
    if let Some(held) = text(header::IF_NONE_MATCH) {
        if tag_list_matches(held, etag, true) {
            return Precondition::NotModified;
        }
    } else if let (Some(since), Some(modified)) = (date(header::IF_MODIFIED_SINCE), modified) {
        if modified <= SystemTime::from(since) {
            return Precondition::NotModified;
        }
    }
    Precondition::Holds
}

/// Whether an `If-Match`/`If-None-Match` value (`*` or a list of entity
/// tags) matches `etag`: by weak comparison (`W/` ignored, for
/// `If-None-Match`) or strong (a weak tag never matches).
pub(crate) fn tag_list_matches(list: &str, etag: &str, weak: bool) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        match tag.strip_prefix("W/") {
            Some(opaque) => weak && opaque == etag.trim_start_matches("W/"),
            None => tag == etag,
        }
    })
}

/// Whether `Range` applies: without `If-Range`, or when `If-Range` names this
/// very representation (its strong ETag, or exactly its `Last-Modified`).
/// Otherwise the whole body is sent, so that a download resumed across a
/// change never joins old bytes to new ones.
fn if_range_holds(req: &HttpRequest, etag: &str, modified: Option<SystemTime>) -> bool {
    let Some(value) = req.headers().get(header::IF_RANGE) else {
        return true;
    };
    let Some(value) = value.to_str().ok().map(str::trim) else {
        return false;
    };
    if value.starts_with('"') || value.starts_with("W/") {
        return value == etag;
    }
    match (value.parse::<HttpDate>(), modified) {
        (Ok(date), Some(modified)) => SystemTime::from(date) == modified,
        _ => false,
    }
}

/// Serves a body just fetched and not yet committed (always whole: `Range` is
/// ignored, which RFC 9110 allows). It has no `ETag`: its digest may not be
/// known yet (the bytes may still be arriving), and computing it would delay
/// the answer. Later answers, from the store, carry one.
pub fn fresh(req: &HttpRequest, body: BlobBody, how: BlobResponse<'_>) -> HttpResponse {
    let mut response = start(StatusCode::OK, None, how);
    response.content_type(how.content_type);
    if req.method() == Method::HEAD {
        return head_response(response, body.len());
    }
    with_body(response, body)
}

/// The headers every blob answer carries.
fn start(status: StatusCode, etag: Option<&str>, how: BlobResponse<'_>) -> HttpResponseBuilder {
    let mut builder = HttpResponseBuilder::new(status);
    if let Some(etag) = etag {
        builder.insert_header((header::ETAG, etag));
    }
    builder
        .insert_header((header::CACHE_CONTROL, how.cache_control))
        .insert_header((CACHE_HEADER, how.cache.as_str()))
        // Stored bytes are what a client pushed or an upstream sent: never
        // to be sniffed into HTML by a browser.
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    builder
}

/// Small bodies leave with the headers; large ones stream at their declared length.
fn with_body(mut response: HttpResponseBuilder, body: BlobBody) -> HttpResponse {
    match body {
        BlobBody::Bytes(bytes) => response.body(bytes),
        BlobBody::Stream { len, stream } => response.no_chunking(len).streaming(stream),
    }
}

/// A `HEAD` answer announcing `len` bytes. actix writes `Content-Length` from the
/// body's declared size (overriding any header) and sends no body for `HEAD`, so
/// the body is an empty stream declared at the real length.
pub fn head_response(mut builder: HttpResponseBuilder, len: u64) -> HttpResponse {
    builder
        .no_chunking(len)
        .streaming(stream::empty::<Result<bytes::Bytes, std::io::Error>>())
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// Not a single byte range we support: serve the whole body (RFC 9110 allows it).
    Ignore,
    /// One satisfiable range.
    Satisfiable(ByteRange),
    /// A range outside the body, or one that ends before it starts: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range against a body of `size` bytes.
pub fn parse_range(value: &HeaderValue, size: u64) -> RangeRequest {
    // The unit is case-insensitive (RFC 9110 §14.1).
    let Some(spec) = value.to_str().ok().map(str::trim).and_then(|v| {
        let unit = v.get(..6)?;
        unit.eq_ignore_ascii_case("bytes=").then(|| &v[6..])
    }) else {
        return RangeRequest::Ignore;
    };
    if spec.contains(',') {
        return RangeRequest::Ignore;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignore;
    };
    // Digits only; a number too large for u64 is as good as u64::MAX (a
    // last byte past the end is clamped, a first one is unsatisfiable).
    let parse = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().unwrap_or(u64::MAX))
    };
    let range = match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, true) => return RangeRequest::Ignore,
        (true, false) => {
            // Suffix: the last N bytes.
            let Some(n) = parse(end) else {
                return RangeRequest::Ignore;
            };
            if n == 0 || size == 0 {
                return RangeRequest::Unsatisfiable;
            }
            ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            }
        }
        (false, open_end) => {
            let Some(start) = parse(start) else {
                return RangeRequest::Ignore;
            };
            let end = if open_end {
                size.saturating_sub(1)
            } else {
                match parse(end) {
                    Some(end) if end >= start => end.min(size.saturating_sub(1)),
                    // A last byte before the first (RFC 9110 §14.1.1: invalid,
                    // which a server may reject): 416, as nginx, distribution
                    // and the OCI conformance suite have it.
                    Some(_) => return RangeRequest::Unsatisfiable,
                    None => return RangeRequest::Ignore,
                }
            };
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            ByteRange { start, end }
        }
    };
    RangeRequest::Satisfiable(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> RangeRequest {
        parse_range(&HeaderValue::from_str(v).expect("header"), size)
    }

    #[test]
    fn ranges() {
        let sat = |start, end| RangeRequest::Satisfiable(ByteRange { start, end });
        assert_eq!(range("bytes=0-9", 100), sat(0, 9));
        assert_eq!(range("bytes=90-", 100), sat(90, 99));
        assert_eq!(range("bytes=90-200", 100), sat(90, 99));
        assert_eq!(range("bytes=-10", 100), sat(90, 99));
        assert_eq!(range("bytes=-200", 100), sat(0, 99));
        assert_eq!(range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=-0", 100), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=5-1", 100), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=500-0", 2048), RangeRequest::Unsatisfiable);
        assert_eq!(range("bytes=0-1,5-6", 100), RangeRequest::Ignore);
        assert_eq!(range("items=0-1", 100), RangeRequest::Ignore);
        assert_eq!(range("bytes=x-1", 100), RangeRequest::Ignore);
        assert_eq!(range("bytes=0-", 0), RangeRequest::Unsatisfiable);
        assert_eq!(range("BYTES=0-9", 100), sat(0, 9));
        assert_eq!(range("Bytes=-10", 100), sat(90, 99));
        assert_eq!(range("bytes=0-99999999999999999999", 100), sat(0, 99));
        assert_eq!(range("bytes=-99999999999999999999", 100), sat(0, 99));
        assert_eq!(
            range("bytes=99999999999999999999-", 100),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(range("bytes=+1-5", 100), RangeRequest::Ignore);
        assert_eq!(range("byte=0-9", 100), RangeRequest::Ignore);
    }

    const ETAG: &str = "\"sha256:ab\"";
    /// Sun, 06 Dec 2026 11:55:00 GMT
    const MODIFIED: u64 = 1_796_558_100;

    fn at(secs: u64) -> String {
        HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
    }

    fn decide(headers: &[(&str, &str)]) -> Precondition {
        let mut req = actix_web::test::TestRequest::default();
        for &(name, value) in headers {
            req = req.insert_header((name, value));
        }
        let modified = Some(UNIX_EPOCH + Duration::from_secs(MODIFIED));
        preconditions(&req.to_http_request(), ETAG, modified)
    }

    #[test]
    fn conditional_requests_follow_rfc_9110() {
        use Precondition::*;
        assert_eq!(decide(&[]), Holds);
        // If-None-Match: weak comparison, lists, `*`.
        assert_eq!(decide(&[("if-none-match", ETAG)]), NotModified);
        let weak = format!("W/{ETAG}");
        assert_eq!(decide(&[("if-none-match", &weak)]), NotModified);
        let list = format!("\"x\", {weak}");
        assert_eq!(decide(&[("if-none-match", &list)]), NotModified);
        assert_eq!(decide(&[("if-none-match", "*")]), NotModified);
        assert_eq!(decide(&[("if-none-match", "\"x\"")]), Holds);
        // If-Modified-Since, ignored when If-None-Match is there.
        assert_eq!(decide(&[("if-modified-since", &at(MODIFIED))]), NotModified);
        assert_eq!(decide(&[("if-modified-since", &at(MODIFIED - 1))]), Holds);
        let both = [
            ("if-none-match", "\"x\""),
            ("if-modified-since", &at(MODIFIED)),
        ];
        assert_eq!(decide(&both), Holds);
        assert_eq!(decide(&[("if-modified-since", "yesterday")]), Holds);
        // If-Match: strong comparison; If-Unmodified-Since when it is absent.
        assert_eq!(decide(&[("if-match", ETAG)]), Holds);
        assert_eq!(decide(&[("if-match", "*")]), Holds);
        assert_eq!(decide(&[("if-match", &weak)]), Failed);
        assert_eq!(decide(&[("if-match", "\"x\"")]), Failed);
        assert_eq!(decide(&[("if-unmodified-since", &at(MODIFIED))]), Holds);
        assert_eq!(
            decide(&[("if-unmodified-since", &at(MODIFIED - 1))]),
            Failed
        );
        let both = [
            ("if-match", ETAG),
            ("if-unmodified-since", &at(MODIFIED - 1)),
        ];
        assert_eq!(decide(&both), Holds);
    }

    #[test]
    fn if_range_names_the_representation_or_the_range_is_dropped() {
        let holds = |value: Option<&str>| {
            let mut req = actix_web::test::TestRequest::default();
            if let Some(value) = value {
                req = req.insert_header(("if-range", value));
            }
            let modified = Some(UNIX_EPOCH + Duration::from_secs(MODIFIED));
            if_range_holds(&req.to_http_request(), ETAG, modified)
        };
        assert!(holds(None));
        assert!(holds(Some(ETAG)));
        assert!(holds(Some(&at(MODIFIED))));
        assert!(!holds(Some("\"sha256:cd\"")));
        assert!(!holds(Some(&format!("W/{ETAG}"))));
        assert!(!holds(Some(&at(MODIFIED - 1))));
        assert!(!holds(Some(&at(MODIFIED + 1))));
        assert!(!holds(Some("not a date")));
    }
}
