//! airlock's OCI registry: the distribution-spec v1.1 API at `/v2/` for podman,
//! skopeo, containerd, docker and helm. It holds **hosted** repositories (they
//! take pushes) and **mirrors** of upstream registries (`[[oci.upstreams]]`),
//! pulled through online and served from the store offline ([`mirror`]); both
//! are rows of the same tables (`oci_repository.kind`, `upstream`).
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
//! - `oci_repository`: name, kind (`hosted` or `mirror`), upstream (a mirror's
//!   `[[oci.upstreams]]` name).
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
//! - `oci_digest_alias` (`migrations/0007_oci_digests.sql`): content that
//!   clients name by sha512 (distribution-spec main): the sha512 → the blob's
//!   sha256. `oci_manifest.pushed_as` keeps the digest a manifest was pushed
//!   by; `oci_upload.algorithm` the one an upload is hashed with besides sha256.
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
//! Names under an upstream (`docker.io/library/alpine`, or `library/alpine`
//! with `?ns=docker.io`) are mirrors: reads pull through, writes are 405
//! `UNSUPPORTED`. `?ns=` is accepted on every read.
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
pub mod mirror;
pub mod path;
mod registry;
pub mod remote;
mod routes;
pub mod sync;

pub use error::OciError;
pub use registry::{Kept, Registry};
pub use routes::configure;

use airlock_core::Mode;
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
    /// Overrides the global mode for the registry: offline serves only what
    /// is stored, online pulls misses of mirrored names through.
    pub mode: Option<Mode>,
    /// A mirrored tag is served from the store without asking its upstream
    /// for this long after it was last checked; then a `HEAD` revalidates it.
    #[serde(with = "humantime_serde")]
    pub tag_ttl: Duration,
    /// Largest blob fetched from an upstream, in bytes.
    pub max_blob_size: u64,
    /// The upstream registries pulled through (`[[oci.upstreams]]`).
    pub upstreams: Vec<UpstreamRegistry>,
    /// The upstream that pulls of names under no upstream and of no hosted
    /// repository go to (docker's `registry-mirrors` sends Docker Hub images
    /// as `/v2/library/alpine/…`). Unset: such names are hosted only.
    pub default_upstream: Option<String>,
}

/// An upstream registry. Its repositories are served as `<name>/<repository>`
/// (`/v2/docker.io/library/alpine/…`), or under their own name with
/// containerd's `?ns=<name>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamRegistry {
    /// The registry as clients name it in image references: `docker.io`,
    /// `quay.io`, `registry.k8s.io`. It must be a valid repository name
    /// component (no `:port`: give such a registry an alias and its `url`).
    pub name: String,
    /// Its API endpoint; default `https://<name>`, and for `docker.io`
    /// Docker Hub's `https://registry-1.docker.io`.
    pub url: Option<String>,
    /// Credentials for it (basic auth, or to obtain its bearer tokens).
    pub username: Option<String>,
    /// The password or access token of `username`.
    pub password: Option<String>,
}

impl UpstreamRegistry {
    /// The API endpoint, without a trailing slash.
    pub fn endpoint(&self) -> String {
        let url = match (&self.url, self.name.as_str()) {
            (Some(url), _) => url.clone(),
            (None, "docker.io") => "https://registry-1.docker.io".into(),
            (None, name) => format!("https://{name}"),
        };
        url.trim_end_matches('/').to_owned()
    }
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
        for (i, upstream) in self.upstreams.iter().enumerate() {
            if upstream.name.contains('/') || path::Name::parse(&upstream.name).is_err() {
                return Err(format!(
                    "upstream name {:?} is not one repository name component (lowercase, no port)",
                    upstream.name
                ));
            }
            if self.upstreams[..i].iter().any(|u| u.name == upstream.name) {
                return Err(format!("upstream {:?} is declared twice", upstream.name));
            }
            let url = upstream.endpoint();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("upstream {:?}: url must be http(s)", upstream.name));
            }
        }
        if let Some(name) = &self.default_upstream {
            if !self.upstreams.iter().any(|u| u.name == *name) {
                return Err(format!(
                    "default_upstream {name:?} is no [[oci.upstreams]] entry"
                ));
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
            mode: None,
            tag_ttl: Duration::from_secs(300),
            max_blob_size: 16 << 30,
            upstreams: Vec::new(),
            default_upstream: None,
        }
    }
}
