//! The YUM side's errors and how clients see them: plain-text bodies, 4xx for
//! what the client can fix, 5xx (details only in the log) for faults.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use airlock_core::store::StoreError;

/// Everything a YUM request or command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum YumError {
    /// No such repository, file or directory.
    #[error("not found: {0}")]
    NotFound(String),
    /// A path that can never name a file (`..`, empty segments, bad characters).
    #[error("bad path: {0}")]
    BadPath(String),
    /// An upload that is not a complete, readable RPM; nothing was stored.
    #[error("bad RPM: {0}")]
    BadRpm(String),
    /// The upload conflicts with a stored package (same path, other bytes; or
    /// the same NEVRA under another path).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A write to a repository that does not take uploads (a mirror).
    #[error("method not allowed: {0}")]
    NotHosted(String),
    /// The upload exceeds `yum.max_upload`.
    #[error("too large: {0}")]
    TooLarge(String),
    /// A mirror's upstream failed or sent something that fails its checks
    /// (timeout, 5xx, truncated body, size or checksum mismatch, bad
    /// metadata); nothing of that file was stored.
    #[error("upstream: {0}")]
    Upstream(String),
    /// The database failed.
    #[error("index error: {0}")]
    Db(#[from] sqlx::Error),
    /// The blob store failed.
    #[error("store error: {0}")]
    Store(StoreError),
    /// Anything else internal.
    #[error("internal error: {0}")]
    Internal(String),
}

impl YumError {
    /// A file-system error while reading an upload or writing metadata.
    pub fn io(e: std::io::Error) -> YumError {
        YumError::Store(StoreError::Io(e))
    }
}

impl From<StoreError> for YumError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TooLarge { limit } => {
                YumError::TooLarge(format!("uploads are limited to {limit} bytes"))
            }
            e => YumError::Store(e),
        }
    }
}

impl From<std::io::Error> for YumError {
    fn from(e: std::io::Error) -> Self {
        YumError::io(e)
    }
}

impl ResponseError for YumError {
    fn status_code(&self) -> StatusCode {
        match self {
            YumError::NotFound(_) => StatusCode::NOT_FOUND,
            YumError::BadPath(_) | YumError::BadRpm(_) => StatusCode::BAD_REQUEST,
            YumError::Conflict(_) => StatusCode::CONFLICT,
            YumError::NotHosted(_) => StatusCode::METHOD_NOT_ALLOWED,
            YumError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            YumError::Upstream(_) => StatusCode::BAD_GATEWAY,
            YumError::Db(_) | YumError::Store(_) | YumError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = if status.is_server_error() {
            tracing::error!(error = %self, "yum internal error");
            "internal error (see the airlock log)\n".to_owned()
        } else {
            format!("{self}\n")
        };
        let mut response = HttpResponse::build(status);
        if let YumError::NotHosted(_) = self {
            // A mirror is read-only.
            response.insert_header((header::ALLOW, crate::routes::READ_METHODS));
        }
        response
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body(body)
    }
}
