//! Answers computed per request (index pages, lists), as opposed to stored
//! blobs (`serve`): an `ETag` of their bytes, 304 on a matching
//! `If-None-Match`, `HEAD`, and gzip when the client accepts it and the body is
//! worth it. They are never stored, so nothing here touches the blob store.
//! A large body that many requests share is computed once as a [`Prepared`]
//! (its hash and its gzip form too) and answered with [`respond_prepared`].

use crate::negotiate::accepts_encoding;
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::sync::OnceLock;

/// Bodies smaller than this go out uncompressed.
pub const GZIP_MIN: usize = 1024;

/// How a computed body is presented.
#[derive(Clone, Copy, Debug)]
pub struct Rendered<'a> {
    /// `Content-Type`.
    pub content_type: &'a str,
    /// `Cache-Control`.
    pub cache_control: &'a str,
    /// Request headers the body depends on besides `Accept-Encoding` (e.g.
    /// `Accept`), or `""`.
    pub vary: &'a str,
}

/// Answers `req` with `body`.
pub fn respond(req: &HttpRequest, body: String, how: Rendered<'_>) -> HttpResponse {
    respond_prepared(req, &Prepared::new(body.into_bytes()), how)
}

/// A computed body kept to be sent many times (a list of hundreds of
/// thousands of names rendered once): its `ETag` is computed once, its gzip
/// form on the first request that accepts it.
#[derive(Debug)]
pub struct Prepared {
    body: Bytes,
    etag: String,
    gzip: OnceLock<Option<(Bytes, String)>>,
}

impl Prepared {
    /// Prepares `body`.
    pub fn new(body: Vec<u8>) -> Prepared {
        let hash = hex::encode(Sha256::digest(&body));
        Prepared {
            body: Bytes::from(body),
            etag: format!("\"{}\"", &hash[..32]),
            gzip: OnceLock::new(),
        }
    }

    /// The uncompressed length.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The gzip form and its ETag (`None`: not worth it, or compression failed).
    fn gzipped(&self) -> Option<&(Bytes, String)> {
        self.gzip
            .get_or_init(|| {
                if self.body.len() < GZIP_MIN {
                    return None;
                }
                let compressed = gzip_bytes(&self.body).ok()?;
                // Each encoding is its own representation, with its own strong ETag.
                let etag = format!("{}-gz\"", self.etag.trim_end_matches('"'));
                Some((Bytes::from(compressed), etag))
            })
            .as_ref()
    }
}

/// Answers `req` with a prepared body.
pub fn respond_prepared(req: &HttpRequest, prepared: &Prepared, how: Rendered<'_>) -> HttpResponse {
    let wants_gzip = prepared.body.len() >= GZIP_MIN
        && req
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| accepts_encoding(v, "gzip"));
    let (bytes, etag, gzip) = match wants_gzip.then(|| prepared.gzipped()).flatten() {
        Some((compressed, etag)) => (compressed.clone(), etag.as_str(), true),
        None => (prepared.body.clone(), prepared.etag.as_str(), false),
    };
    let matched = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| crate::serve::tag_list_matches(v, etag, true));
    let vary = if how.vary.is_empty() {
        "Accept-Encoding".to_owned()
    } else {
        format!("{}, Accept-Encoding", how.vary)
    };
    let mut response = HttpResponse::build(if matched {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    response
        .insert_header((header::VARY, vary))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, how.cache_control))
        .insert_header((header::CONTENT_TYPE, how.content_type));
    if matched {
        return response.finish();
    }
    if gzip {
        response.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    if req.method() == Method::HEAD {
        return crate::serve::head_response(response, bytes.len() as u64);
    }
    response.body(bytes)
}

fn gzip_bytes(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use std::io::Read as _;

    const HOW: Rendered<'static> = Rendered {
        content_type: "text/html; charset=utf-8",
        cache_control: "public, max-age=60",
        vary: "Accept",
    };

    #[actix_web::test]
    async fn etag_304_and_gzip() {
        let body = "<a>x</a>\n".repeat(500);
        let plain = respond(&TestRequest::get().to_http_request(), body.clone(), HOW);
        assert_eq!(plain.status(), 200);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let etag = plain.headers().get(header::ETAG).expect("header").clone();
        let again = respond(
            &TestRequest::get()
                .insert_header((header::IF_NONE_MATCH, etag.clone()))
                .to_http_request(),
            body.clone(),
            HOW,
        );
        assert_eq!(again.status(), 304);
        let gz = respond(
            &TestRequest::get()
                .insert_header((header::ACCEPT_ENCODING, "gzip, deflate, zstd"))
                .to_http_request(),
            body.clone(),
            HOW,
        );
        assert_eq!(
            gz.headers().get(header::CONTENT_ENCODING).expect("header"),
            "gzip"
        );
        assert_eq!(
            gz.headers().get(header::VARY).expect("header"),
            "Accept, Accept-Encoding"
        );
        assert_ne!(
            gz.headers().get(header::ETAG).expect("header"),
            plain.headers().get(header::ETAG).expect("header")
        );
        let bytes = actix_web::body::to_bytes(gz.into_body())
            .await
            .expect("body");
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_ref())
            .read_to_string(&mut text)
            .expect("gunzip");
        assert_eq!(text, body);
        let small = respond(
            &TestRequest::get()
                .insert_header((header::ACCEPT_ENCODING, "gzip"))
                .to_http_request(),
            "tiny".into(),
            HOW,
        );
        assert!(small.headers().get(header::CONTENT_ENCODING).is_none());
    }
}
