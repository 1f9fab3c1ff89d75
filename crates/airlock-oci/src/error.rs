//! The registry's errors, answered in the distribution-spec's JSON form:
//! `{"errors":[{"code":"…","message":"…","detail":…}]}` with the spec's codes
//! and the statuses distribution uses for them. Internal causes (index, store)
//! are logged here once and hidden from clients.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use airlock_core::digest::AnyDigest;
use airlock_core::store::StoreError;
use airlock_core::upstream::UpstreamError;

/// Everything a registry request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The blob is not in this repository.
    #[error("blob unknown to registry")]
    BlobUnknown(AnyDigest),
    /// The upload session is not known (never started, finished, cancelled or expired).
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    /// The upload cannot go on as asked (e.g. a `Content-Range` that is not a range).
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// A chunk that does not start where the upload stands: 416, with the
    /// current offset in `Range`.
    #[error("chunk out of order: the upload has {size} bytes")]
    ChunkOutOfOrder {
        /// The upload's path, for `Location`.
        location: String,
        /// Bytes the upload holds.
        size: u64,
    },
    /// A malformed digest, an unsupported algorithm, or bytes that do not hash to it.
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    /// The manifest references blobs or manifests this repository lacks.
    #[error("blob unknown to registry")]
    ManifestBlobUnknown(Vec<AnyDigest>),
    /// A `?digest-algorithm=` this registry does not hash with.
    #[error("the digest algorithm is unsupported: {0}")]
    AlgorithmUnsupported(String),
    /// The manifest cannot be parsed or is not accepted (schema 1, a media type mismatch).
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// The manifest is larger than the configured limit.
    #[error("manifest exceeds the limit of {0} bytes")]
    ManifestTooLarge(u64),
    /// No such tag or manifest in this repository.
    #[error("manifest unknown to registry")]
    ManifestUnknown(String),
    /// A repository name outside the grammar or too long.
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    /// No such repository.
    #[error("repository name not known to registry")]
    NameUnknown(String),
    /// A tag outside the grammar.
    #[error("invalid tag: {0}")]
    TagInvalid(String),
    /// The body's length does not match what the request declared.
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    /// Credentials are needed (writes) or were wrong.
    #[error("authentication required: {reason}")]
    Unauthorized {
        /// What was wrong.
        reason: &'static str,
        /// The `WWW-Authenticate` challenge.
        challenge: String,
    },
    /// The user may not do this to this repository.
    #[error("requested access to the resource is denied: {0}")]
    Denied(String),
    /// A path that is no registry endpoint.
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    /// A method the endpoint does not take.
    #[error("the operation is unsupported: {method} on this endpoint")]
    MethodNotAllowed {
        /// The methods it takes (the `Allow` header).
        allow: &'static str,
        /// The method asked for.
        method: String,
    },
    /// A `n` that is not a number.
    #[error("invalid pagination: {0}")]
    PaginationInvalid(String),
    /// A write to a mirrored repository (it holds only what its upstream has).
    #[error("the repository is a mirror of an upstream and is read-only: {what}")]
    ReadOnly {
        /// The methods the endpoint takes in a mirror (the `Allow` header).
        allow: &'static str,
        /// The method and repository asked for.
        what: String,
    },
    /// The upstream registry failed (down, timeout, refused), with nothing stored to serve instead.
    #[error("upstream registry: {0}")]
    Upstream(#[from] UpstreamError),
    /// The upstream sent something unusable (a wrong digest, schema 1); nothing was stored.
    #[error("upstream registry sent bad content: {0}")]
    UpstreamContent(String),
    /// The index failed.
    #[error("index error: {0}")]
    Db(#[from] sqlx::Error),
    /// The blob store failed.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

impl From<std::io::Error> for OciError {
    fn from(e: std::io::Error) -> Self {
        OciError::Store(StoreError::Io(e))
    }
}

impl OciError {
    /// The spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            OciError::BlobUnknown(_) => "BLOB_UNKNOWN",
            OciError::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            OciError::BlobUploadInvalid(_) | OciError::ChunkOutOfOrder { .. } => {
                "BLOB_UPLOAD_INVALID"
            }
            OciError::DigestInvalid(_) => "DIGEST_INVALID",
            OciError::ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            OciError::ManifestInvalid(_) | OciError::TagInvalid(_) => "MANIFEST_INVALID",
            OciError::ManifestTooLarge(_) | OciError::SizeInvalid(_) => "SIZE_INVALID",
            OciError::ManifestUnknown(_) => "MANIFEST_UNKNOWN",
            OciError::NameInvalid(_) => "NAME_INVALID",
            OciError::NameUnknown(_) => "NAME_UNKNOWN",
            OciError::Unauthorized { .. } => "UNAUTHORIZED",
            OciError::Denied(_) => "DENIED",
            OciError::Unsupported(_)
            | OciError::PaginationInvalid(_)
            | OciError::MethodNotAllowed { .. }
            | OciError::ReadOnly { .. }
            | OciError::AlgorithmUnsupported(_) => "UNSUPPORTED",
            OciError::Upstream(
                UpstreamError::Status { status: 429, .. } | UpstreamError::RetryAfter { .. },
            ) => "TOOMANYREQUESTS",
            OciError::Upstream(_) | OciError::UpstreamContent(_) => "UNAVAILABLE",
            OciError::Db(_) | OciError::Store(_) => "UNKNOWN",
        }
    }

    /// The spec's `detail`: what the error is about.
    fn details(&self) -> Vec<(String, serde_json::Value)> {
        use serde_json::json;
        let message = self.to_string();
        match self {
            OciError::BlobUnknown(d) => vec![(message, json!({ "digest": d.to_string() }))],
            OciError::ManifestBlobUnknown(missing) => missing
                .iter()
                .map(|d| (message.clone(), json!({ "digest": d.to_string() })))
                .collect(),
            OciError::ManifestUnknown(r) => vec![(message, json!({ "reference": r }))],
            OciError::NameUnknown(n) | OciError::NameInvalid(n) => {
                vec![(message, json!({ "name": n }))]
            }
            OciError::Db(_) | OciError::Store(_) => {
                vec![("internal error (see the airlock log)".into(), json!(null))]
            }
            _ => vec![(message, json!(null))],
        }
    }
}

impl ResponseError for OciError {
    fn status_code(&self) -> StatusCode {
        match self {
            OciError::BlobUnknown(_)
            | OciError::BlobUploadUnknown
            | OciError::ManifestUnknown(_)
            | OciError::NameUnknown(_) => StatusCode::NOT_FOUND,
            OciError::BlobUploadInvalid(_)
            | OciError::DigestInvalid(_)
            | OciError::ManifestBlobUnknown(_)
            | OciError::ManifestInvalid(_)
            | OciError::NameInvalid(_)
            | OciError::TagInvalid(_)
            | OciError::SizeInvalid(_)
            | OciError::PaginationInvalid(_)
            | OciError::AlgorithmUnsupported(_) => StatusCode::BAD_REQUEST,
            OciError::ChunkOutOfOrder { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            OciError::ManifestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            OciError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            OciError::Denied(_) => StatusCode::FORBIDDEN,
            OciError::Unsupported(_) => StatusCode::NOT_FOUND,
            OciError::MethodNotAllowed { .. } | OciError::ReadOnly { .. } => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            OciError::Upstream(UpstreamError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            // The client may wait and retry, as it would with the upstream itself.
            OciError::Upstream(
                UpstreamError::Status { status: 429, .. } | UpstreamError::RetryAfter { .. },
            ) => StatusCode::TOO_MANY_REQUESTS,
            OciError::Upstream(_) | OciError::UpstreamContent(_) => StatusCode::BAD_GATEWAY,
            OciError::Db(_) | OciError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            OciError::Upstream(_) | OciError::UpstreamContent(_) => {
                tracing::warn!(error = %self, "oci: upstream registry failed");
            }
            _ if status.is_server_error() => {
                tracing::error!(error = %self, "oci registry internal error");
            }
            _ => {}
        }
        let errors: Vec<_> = self
            .details()
            .into_iter()
            .map(|(message, detail)| {
                serde_json::json!({ "code": self.code(), "message": message, "detail": detail })
            })
            .collect();
        let mut response = HttpResponse::build(status);
        response
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(crate::routes::API_VERSION);
        match self {
            OciError::Unauthorized { challenge, .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
            }
            OciError::ChunkOutOfOrder { location, size } => {
                response
                    .insert_header((header::LOCATION, location.as_str()))
                    .insert_header(("range", crate::routes::range_value(*size)));
            }
            OciError::MethodNotAllowed { allow, .. } | OciError::ReadOnly { allow, .. } => {
                response.insert_header((header::ALLOW, *allow));
            }
            OciError::Upstream(UpstreamError::RetryAfter { retry_after, .. }) => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().to_string()));
            }
            _ => {}
        }
        response.body(serde_json::json!({ "errors": errors }).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody as _;

    #[test]
    fn errors_are_spec_json() {
        let d: AnyDigest = format!("sha256:{}", "a".repeat(64))
            .parse()
            .expect("digest");
        let e = OciError::ManifestBlobUnknown(vec![d.clone(), d]);
        assert_eq!(e.status_code(), StatusCode::BAD_REQUEST);
        let body = e
            .error_response()
            .into_body()
            .try_into_bytes()
            .expect("bytes");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let errors = json["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 2, "one error per missing digest");
        assert_eq!(errors[0]["code"], "MANIFEST_BLOB_UNKNOWN");
        assert!(errors[0]["detail"]["digest"].is_string());
    }
}
