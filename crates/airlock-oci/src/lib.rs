//! airlock's OCI registry: the distribution-spec v1.1 API at `/v2/` for podman,
//! skopeo, containerd, docker and helm. This crate holds **hosted** repositories
//! (they take pushes); pull-through mirrors of upstream registries come next and
//! fit the same tables (`oci_repository.kind`, `upstream`).
//!
//! Spec: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>.
//! Client setup: `docs/oci.md`.
//!
//! # Data model (`migrations/0003_oci.sql`, SQL in [`index`])
//!
//! Every layer, config and manifest is an ordinary blob of the shared store
//! (sha256), so the registry, the Go proxy and the other protocols share one
//! copy of any content. Rows say what a repository holds:
//!
//! - `oci_repository`: name, kind (`hosted`, later `mirror`), upstream.
//! - `oci_repository_blob`: the blobs visible in a repository (pushed or mounted).
//! - `oci_manifest`: a manifest of a repository. Its bytes are stored exactly as
//!   pushed and served with the media type they were pushed with, whatever the
//!   client's `Accept`; `subject`, `artifact_type` and `annotations` answer the
//!   referrers API with one indexed query.
//! - `oci_manifest_reference`: what a manifest references (config, layers,
//!   index children); a push is refused with `MANIFEST_BLOB_UNKNOWN` while any
//!   of them is missing (a `subject` may be), and garbage collection will follow
//!   these rows.
//! - `oci_tag`: tag → manifest, moved in one statement.
//! - `oci_upload`: upload sessions. Their bytes live in `<data>/tmp/uploads/<id>`
//!   ([`airlock_core::upload`]), hashed as they arrive; the recorded offset is
//!   the truth, so a session survives a restart and resumes where it stood.
//!
//! # Endpoints ([`path::Endpoint`], handled in `routes`)
//!
//! | Request | Answer |
//! |---|---|
//! | `GET/HEAD /v2/` | 200 `{}`; 401 with a `Bearer` challenge when users exist and no credentials are given |
//! | `GET /v2/_token` | a bearer token ([`auth`]) |
//! | `GET/HEAD /v2/<name>/manifests/<tag\|digest>` | stored bytes, `Docker-Content-Digest` |
//! | `PUT /v2/<name>/manifests/<tag\|digest>[?tag=…]` | 201 (write) |
//! | `DELETE /v2/<name>/manifests/<tag\|digest>` | 202 (write) |
//! | `GET/HEAD /v2/<name>/blobs/<digest>` | the blob, `Range` supported |
//! | `DELETE /v2/<name>/blobs/<digest>` | 202 (write) |
//! | `POST /v2/<name>/blobs/uploads/[?digest=\|?mount=&from=]` | 202 session, or 201 (write) |
//! | `GET/PATCH/PUT/DELETE /v2/<name>/blobs/uploads/<id>` | status 204, append 202, finish 201, cancel 204 (write) |
//! | `GET /v2/<name>/tags/list[?n=&last=]`, `GET /v2/_catalog[?n=&last=]` | pages with `Link` |
//! | `GET /v2/<name>/referrers/<digest>[?artifactType=]` | an image index |
//!
//! Writes need a `[[users]]` entry (HTTP basic, or a bearer token from the
//! handshake docker and podman follow); reads are anonymous. `[[oci.namespaces]]`
//! rules can restrict both per name prefix ([`auth`]).
#![warn(missing_docs)]

pub mod auth;
pub mod error;
pub mod gc;
pub mod index;
pub mod manifest;
pub mod path;
mod registry;
mod routes;

pub use error::OciError;
pub use registry::Registry;
pub use routes::configure;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `[oci]` section of the configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OciSettings {
    /// Largest manifest accepted, in bytes (the spec asks for at least 4 MiB).
    pub max_manifest_size: u64,
    /// Upload sessions idle for this long are removed with their bytes.
    #[serde(with = "humantime_serde")]
    pub upload_expiry: Duration,
    /// Most entries in one tag list or catalog answer; longer lists are paged with `Link`.
    pub page_size: u32,
    /// Who may read and write which repositories (`[[oci.namespaces]]`).
    /// Without a rule, anyone reads and every user writes.
    pub namespaces: Vec<NamespaceRule>,
}

/// Access to the repositories under one name prefix. The longest matching
/// prefix decides.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceRule {
    /// The repository `prefix` and every repository under `prefix/`; `""`
    /// covers every repository.
    pub prefix: String,
    /// Users who may pull; unset: anyone, anonymous clients included.
    pub read: Option<Vec<String>>,
    /// Users who may push and delete; unset: every user.
    pub write: Option<Vec<String>>,
}

impl OciSettings {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        for rule in &self.namespaces {
            if !rule.prefix.is_empty() {
                path::Name::parse(&rule.prefix)
                    .map_err(|e| format!("namespace prefix {:?}: {e}", rule.prefix))?;
            }
        }
        Ok(())
    }
}

impl Default for OciSettings {
    fn default() -> Self {
        OciSettings {
            max_manifest_size: 4 << 20,
            upload_expiry: Duration::from_secs(24 * 3600),
            page_size: 1000,
            namespaces: Vec::new(),
        }
    }
}
