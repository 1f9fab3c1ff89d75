//! Serving stored blobs over HTTP: streaming in large chunks, `Range`, `ETag`,
//! conditional requests and `HEAD`. Serving never re-hashes: the digest is the ETag.

use crate::digest::Digest;
use crate::metrics::CacheResult;
use crate::store::{BlobBody, BlobStore, ByteRange, StoreError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use futures_util::stream;

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
}

/// Serves `digest` (of `size` bytes), honouring `Range`, `If-None-Match` and `HEAD`.
pub async fn blob(
    req: &HttpRequest,
    store: &dyn BlobStore,
    digest: &Digest,
    size: u64,
    how: BlobResponse<'_>,
) -> Result<HttpResponse, StoreError> {
    let etag = format!("\"{digest}\"");
    let builder = |status| {
        let mut b = start(status, Some(&etag), how);
        b.insert_header((header::ACCEPT_RANGES, "bytes"));
        b
    };
    if let Some(inm) = req.headers().get(header::IF_NONE_MATCH) {
        if inm
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
        {
            return Ok(builder(StatusCode::NOT_MODIFIED).finish());
        }
    }
    let range = match req.headers().get(header::RANGE) {
        None => None,
        Some(value) => match parse_range(value, size) {
            RangeRequest::Ignore => None,
            RangeRequest::Satisfiable(r) => Some(r),
            RangeRequest::Unsatisfiable => {
                return Ok(builder(StatusCode::RANGE_NOT_SATISFIABLE)
                    .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                    .finish())
            }
        },
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
        .insert_header((CACHE_HEADER, how.cache.as_str()));
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
    /// A syntactically valid range outside the body: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=` range against a body of `size` bytes.
pub fn parse_range(value: &HeaderValue, size: u64) -> RangeRequest {
    let Some(spec) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return RangeRequest::Ignore;
    };
    if spec.contains(',') {
        return RangeRequest::Ignore;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignore;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
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
                    _ => return RangeRequest::Ignore,
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
        assert_eq!(range("bytes=5-1", 100), RangeRequest::Ignore);
        assert_eq!(range("bytes=0-1,5-6", 100), RangeRequest::Ignore);
        assert_eq!(range("items=0-1", 100), RangeRequest::Ignore);
        assert_eq!(range("bytes=x-1", 100), RangeRequest::Ignore);
        assert_eq!(range("bytes=0-", 0), RangeRequest::Unsatisfiable);
    }
}
