//! The Go proxy's errors and how `go` sees them.
//!
//! `go` treats only 404 and 410 as "not here, try the next proxy"; anything else
//! stops a `,`-separated GOPROXY list. So "not stored", "not upstream" and "not a
//! valid path" are 404 with a short plain-text reason (go prints up to 8 lines of
//! it), and faults are 5xx. Internal causes are logged here, once, and hidden.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use airlock_core::store::StoreError;
use airlock_core::upstream::UpstreamError;

/// Everything a Go proxy request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GoError {
    /// Not a valid module path, version or protocol path.
    #[error("not found: {0}")]
    BadPath(String),
    /// Nothing stored, and nothing upstream (or offline).
    #[error("not found: {0}")]
    NotFound(String),
    /// A method other than GET or HEAD: the proxy is read-only over HTTP
    /// (modules come in through upstreams and `airlock import`).
    #[error("method {0} is not allowed: the Go module proxy answers GET and HEAD")]
    MethodNotAllowed(String),
    /// The upstreams failed (connection, 5xx, truncated body).
    #[error("bad upstream: {0}")]
    Upstream(UpstreamError),
    /// An upstream did not answer in time.
    #[error("upstream timeout: {0}")]
    UpstreamTimeout(UpstreamError),
    /// An upstream served content that fails validation; nothing was stored.
    #[error("bad upstream: {0}")]
    BadContent(String),
    /// A fetched `.mod` or `.zip` differs from the checksum database's record;
    /// nothing was stored. Logged (`security=true`) where it was found.
    #[error("{0}")]
    ChecksumMismatch(String),
    /// A fetched file could not be verified against the checksum database
    /// (unreachable, no record, an invalid answer); nothing was stored.
    #[error("{0}")]
    Unverifiable(String),
    /// The database failed.
    #[error("index error: {0}")]
    Db(#[from] sqlx::Error),
    /// The blob store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    /// Anything else internal.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<UpstreamError> for GoError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::NotFound { .. } => GoError::NotFound(e.to_string()),
            UpstreamError::Timeout { .. } => GoError::UpstreamTimeout(e),
            e => GoError::Upstream(e),
        }
    }
}

impl From<std::io::Error> for GoError {
    fn from(e: std::io::Error) -> Self {
        GoError::Store(StoreError::Io(e))
    }
}

impl ResponseError for GoError {
    fn status_code(&self) -> StatusCode {
        match self {
            GoError::BadPath(_) | GoError::NotFound(_) => StatusCode::NOT_FOUND,
            GoError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            GoError::Upstream(_)
            | GoError::BadContent(_)
            | GoError::ChecksumMismatch(_)
            | GoError::Unverifiable(_) => StatusCode::BAD_GATEWAY,
            GoError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GoError::Db(_) | GoError::Store(_) | GoError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = if status.is_server_error()
            && !matches!(
                status,
                StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
            ) {
            tracing::error!(error = %self, "go proxy internal error");
            "internal error (see the airlock log)\n".to_owned()
        } else {
            if status.is_server_error() && !matches!(self, GoError::ChecksumMismatch(_)) {
                // Upstream URLs in these messages are already stripped of credentials.
                tracing::warn!(error = %self, "go proxy upstream fault");
            }
            format!("{self}\n")
        };
        let mut response = HttpResponse::build(status);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response.insert_header((header::ALLOW, "GET, HEAD"));
        }
        response
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((airlock_core::serve::CACHE_HEADER, "MISS"))
            .body(body)
    }
}
