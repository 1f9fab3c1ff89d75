//! The Python index's errors and the status codes clients act on.
//!
//! uv moves on to its next index only on 404 and fails hard on anything else, so
//! "no such project / file / index" is always 404. twine shows an upload's status
//! and, with `--verbose`, the body: the body is one plain-text line saying what
//! was wrong. Internal causes are logged here, once, and hidden.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use airlock_core::store::StoreError;

/// Everything a Python index request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PypiError {
    /// No such index, project or file.
    #[error("not found: {0}")]
    NotFound(String),
    /// A malformed request or upload; nothing was changed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The filename is taken by a file with other bytes.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The upload is larger than the configured limit.
    #[error("upload too large: {0}")]
    TooLarge(String),
    /// None of the page formats the client accepts.
    #[error("not acceptable: this page is served as application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html or text/html")]
    NotAcceptable,
    /// The method does not apply to this URL.
    #[error("method not allowed: {why}")]
    MethodNotAllowed {
        /// The methods that do (the `Allow` header): empty when none does,
        /// as for yanking in a mirror.
        allow: &'static str,
        /// What to do instead.
        why: String,
    },
    /// A mirror's upstream failed and nothing stored can answer.
    #[error("upstream error: {0}")]
    Upstream(String),
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

impl From<std::io::Error> for PypiError {
    fn from(e: std::io::Error) -> Self {
        PypiError::Store(StoreError::Io(e))
    }
}

impl ResponseError for PypiError {
    fn status_code(&self) -> StatusCode {
        match self {
            PypiError::NotFound(_) => StatusCode::NOT_FOUND,
            PypiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PypiError::Conflict(_) => StatusCode::CONFLICT,
            PypiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PypiError::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            PypiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            PypiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            PypiError::Db(_) | PypiError::Store(_) | PypiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        // An internal error's details stay in the log; an upstream's (502,
        // URLs redacted) are what the client needs to see.
        let body = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "pypi internal error");
            "internal error (see the airlock log)\n".to_owned()
        } else {
            if status.is_server_error() {
                tracing::warn!(error = %self, "pypi upstream error");
            }
            format!("{self}\n")
        };
        let mut response = HttpResponse::build(status);
        if let PypiError::MethodNotAllowed { allow, .. } = self {
            response.insert_header((header::ALLOW, *allow));
        }
        response
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body)
    }
}
