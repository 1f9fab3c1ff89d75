//! One host for many upstream registries: pull-through and offline serving.
//!
//! # Names
//!
//! A client names a proxied image in one of two ways, and both map onto one
//! stored repository (so a pod and a podman user share the cache):
//!
//! - a path prefix: `/v2/docker.io/library/alpine/manifests/3.20`;
//! - containerd's mirror parameter: `/v2/library/alpine/manifests/3.20?ns=docker.io`.
//!
//! Both are stored as `docker.io/library/alpine` (Docker Hub's one-component
//! names get their implicit `library/`). A name whose first component is no
//! configured upstream is a hosted repository; `?ns=` naming no upstream is
//! `NAME_UNKNOWN`. Mirrored repositories take no pushes or deletes.
//!
//! # Pull-through (online)
//!
//! - A manifest miss, by tag or by digest, is fetched from the upstream,
//!   checked (size limit, its digest when asked by digest and against the
//!   upstream's `Docker-Content-Digest`, schema 1 refused), stored byte-exact
//!   with its media type, then served. An index's children are fetched when a
//!   client asks for them, like any manifest by digest.
//! - A stored tag is served as is for `tag_ttl` after its last check; then a
//!   `HEAD` asks the upstream where it points, for at most 10 s. When the
//!   upstream is down, slow, rate-limited or lost the tag, the stored tag is
//!   served, a warning logged, and the tag not asked for again before
//!   `tag_ttl`. Manifests by digest never go upstream once stored.
//! - A blob miss starts one background fetch per digest (single-flight),
//!   received into staging through a `BlobWriter`. Every client asking while
//!   it arrives follows the staged file ([`airlock_core::follow::shared`]),
//!   all but the last [`HOLD_BACK`] bytes as they land; the tail comes once
//!   the digest matched. A fetch that fails (timeout, truncated, wrong digest)
//!   stores nothing and ends every follower's body short with an error, so a
//!   client's connection is cut rather than given bad bytes.
//!
//! - Referrers are asked of the upstream's referrers API. An upstream
//!   without one (404: registry:2 / docker-registry 2.8 and other registries
//!   older than distribution-spec v1.1) is read the way v1.1 clients read it:
//!   the index under the tag `<alg>-<hex>` (the "referrers tag schema"),
//!   pulled through like any tag and answered as the referrers index,
//!   filtered by `artifactType`. When the upstream fails, the stored
//!   referrers (and stored schema tag) answer.
//!
//! # Offline
//!
//! Only what is stored is served, under both name forms; a miss is the spec's
//! `MANIFEST_UNKNOWN` or `BLOB_UNKNOWN`, and no connection is ever opened.

use crate::error::OciError;
use crate::index::{self, StoredManifest};
use crate::manifest;
use crate::path::{Name, Reference};
use crate::registry::Registry;
use crate::remote::Remote;
use crate::OciSettings;
use airlock_core::digest::{AnyDigest, HashAlgorithm, Hashes};
use airlock_core::follow::{self, Shared};
use airlock_core::inflight::Inflight;
use airlock_core::metrics::CacheResult;
use airlock_core::store::{BlobBody, StoreError};
use airlock_core::upstream::{Upstream, UpstreamBody, UpstreamError};
use airlock_core::{unix_now, Digest, Mode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes of a blob held back from followers until its digest matched.
pub const HOLD_BACK: u64 = 64 << 10;

/// Docker Hub's other names, which mean `docker.io` in `?ns=`.
const DOCKER_HUB_ALIASES: [&str; 2] = ["index.docker.io", "registry-1.docker.io"];

/// The upstream registries and the pull-through state.
#[derive(Debug)]
pub struct Mirrors {
    /// Online (pull-through) or offline (stored content only).
    pub mode: Mode,
    remotes: HashMap<String, Arc<Remote>>,
    /// Where reads of unprefixed names that are no hosted repository go.
    default: Option<Arc<Remote>>,
    /// Single-flight per tag, manifest and blob fetch.
    fetching: Inflight,
    /// Blobs arriving from an upstream, which clients follow (by [`share_key`]).
    arriving: Mutex<HashMap<String, Shared>>,
}

/// Where a request's repository name leads.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The stored repository name.
    pub name: Name,
    /// For a mirrored name: the upstream and the repository's name there.
    pub upstream: Option<(Arc<Remote>, String)>,
    /// Mirrored only because of `default_upstream`: a hosted repository of
    /// the name as asked (`hosted`) wins, and writes go to it.
    pub hosted: Option<Name>,
}

impl Mirrors {
    /// The upstreams of `settings`, reached through `upstream`.
    pub fn new(settings: &OciSettings, mode: Mode, upstream: &Upstream) -> Mirrors {
        let remotes = settings
            .upstreams
            .iter()
            .map(|u| {
                let remote = Remote::new(u.clone(), upstream.clone());
                (u.name.clone(), Arc::new(remote))
            })
            .collect::<HashMap<_, _>>();
        let default = settings
            .default_upstream
            .as_ref()
            .and_then(|name| remotes.get(name).cloned());
        Mirrors {
            mode,
            default,
            remotes,
            fetching: Inflight::default(),
            arriving: Mutex::default(),
        }
    }

    /// Maps a request's name (and its `?ns=`) onto the stored repository.
    pub fn resolve(&self, name: Name, ns: Option<&str>) -> Result<Resolved, OciError> {
        let (remote, rest) = match ns.filter(|ns| !ns.is_empty()) {
            Some(ns) => {
                let ns = match DOCKER_HUB_ALIASES.contains(&ns) {
                    true => "docker.io",
                    false => ns,
                };
                let remote = self.remotes.get(ns).ok_or_else(|| {
                    OciError::NameUnknown(format!("{ns} is no upstream of this registry"))
                })?;
                // A mirror entry with a path (`/v2/docker.io`) sends both forms at once.
                let rest = match name.as_str().split_once('/') {
                    Some((first, rest)) if first == ns || first == remote.config.name => rest,
                    _ => name.as_str(),
                };
                (remote, rest.to_owned())
            }
            None => match name.as_str().split_once('/') {
                Some((first, rest)) if self.remotes.contains_key(first) => {
                    (&self.remotes[first], rest.to_owned())
                }
                _ if self.remotes.contains_key(name.as_str()) => {
                    return Err(OciError::NameInvalid(format!(
                        "{name} is an upstream: name a repository under it"
                    )))
                }
                _ => match &self.default {
                    Some(remote) => {
                        let rest = name.as_str().to_owned();
                        let mut resolved = self.under(remote, rest)?;
                        resolved.hosted = Some(name);
                        return Ok(resolved);
                    }
                    None => {
                        return Ok(Resolved {
                            name,
                            upstream: None,
                            hosted: None,
                        })
                    }
                },
            },
        };
        self.under(remote, rest)
    }

    /// The repository `rest` of `remote`, and its stored name.
    fn under(&self, remote: &Arc<Remote>, rest: String) -> Result<Resolved, OciError> {
        let repo = match (remote.config.name.as_str(), rest.contains('/')) {
            ("docker.io", false) => format!("library/{rest}"),
            _ => rest,
        };
        let stored = Name::parse(&format!("{}/{repo}", remote.config.name))?;
        Ok(Resolved {
            name: stored,
            upstream: Some((Arc::clone(remote), repo)),
            hosted: None,
        })
    }

    /// [`Mirrors::resolve`] for a read: a hosted repository of the name as
    /// asked wins over `default_upstream`.
    pub async fn resolve_read(
        &self,
        db: &airlock_core::Db,
        name: Name,
        ns: Option<&str>,
    ) -> Result<Resolved, OciError> {
        let resolved = self.resolve(name, ns)?;
        match resolved.hosted {
            Some(hosted) if index::repository_known(db, &hosted).await? => Ok(Resolved {
                name: hosted,
                upstream: None,
                hosted: None,
            }),
            _ => Ok(resolved),
        }
    }

    /// [`Mirrors::resolve`] for a write: `None` for a mirrored name (read-only).
    pub fn resolve_write(&self, name: Name, ns: Option<&str>) -> Result<Option<Name>, OciError> {
        let resolved = self.resolve(name, ns)?;
        Ok(match (resolved.hosted, resolved.upstream) {
            (Some(hosted), _) => Some(hosted),
            (None, Some(_)) => None,
            (None, None) => Some(resolved.name),
        })
    }

    fn online(&self) -> bool {
        self.mode == Mode::Online
    }

    fn arriving(&self, key: &str) -> Option<Shared> {
        let arriving = self.arriving.lock().unwrap_or_else(|p| p.into_inner());
        arriving.get(key).cloned()
    }

    fn set_arriving(&self, key: &str, shared: Option<Shared>) {
        let mut arriving = self.arriving.lock().unwrap_or_else(|p| p.into_inner());
        match shared {
            Some(shared) => arriving.insert(key.to_owned(), shared),
            None => arriving.remove(key),
        };
    }
}

/// A stored manifest of a mirrored repository, fetched first when it is
/// missing (or, for a tag, due for revalidation) and the registry is online.
pub async fn manifest(
    reg: &Registry,
    name: &Name,
    (remote, repo): &(Arc<Remote>, String),
    reference: &Reference,
) -> Result<Option<(StoredManifest, CacheResult)>, OciError> {
    let mirrors = &reg.mirrors;
    match reference {
        Reference::Digest(digest) => {
            let stored = async {
                match index::resolve(&reg.db, digest).await? {
                    Some(stored) => index::find_manifest(&reg.db, name, &stored).await,
                    None => Ok(None),
                }
            };
            let found = stored.await?;
            if found.is_some() || !mirrors.online() {
                return Ok(found.map(hit));
            }
            let _turn = mirrors.fetching.lock(&format!("m {name}@{digest}")).await;
            let again = match index::resolve(&reg.db, digest).await? {
                Some(stored) => index::find_manifest(&reg.db, name, &stored).await?,
                None => None,
            };
            if let Some(found) = again {
                return Ok(Some(hit(found)));
            }
            fetch_manifest(
                reg,
                name,
                remote,
                repo,
                &digest.to_string(),
                Some(digest),
                None,
            )
            .await
            .map(|fetched| fetched.map(miss))
        }
        Reference::Tag(tag) => {
            let fresh = |checked: Option<i64>| {
                let ttl = i64::try_from(reg.settings.tag_ttl.as_secs()).unwrap_or(i64::MAX);
                // A tag never checked was pushed or imported: the store is its truth.
                checked.is_none_or(|at| unix_now() < at.saturating_add(ttl))
            };
            let found = index::find_tag_checked(&reg.db, name, tag).await?;
            if !mirrors.online() {
                return Ok(found.map(|(m, _)| hit(m)));
            }
            if let Some((m, checked)) = &found {
                if fresh(*checked) {
                    return Ok(Some(hit(m.clone())));
                }
            }
            let _turn = mirrors.fetching.lock(&format!("t {name}:{tag}")).await;
            let Some((stored, checked)) = index::find_tag_checked(&reg.db, name, tag).await? else {
                let fetched = fetch_manifest(reg, name, remote, repo, tag, None, Some(tag)).await?;
                return Ok(fetched.map(miss));
            };
            if fresh(checked) {
                return Ok(Some(hit(stored))); // revalidated while this request waited
            }
            revalidate(reg, name, remote, repo, tag, stored).await
        }
    }
}

/// How long a stored tag's check waits for the upstream's answer.
const REVALIDATE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks the upstream (`HEAD`) where a stored tag points now: the same
/// manifest, another one (fetched), or no answer (the stored one is served).
async fn revalidate(
    reg: &Registry,
    name: &Name,
    remote: &Remote,
    repo: &str,
    tag: &str,
    stored: StoredManifest,
) -> Result<Option<(StoredManifest, CacheResult)>, OciError> {
    let upstream = &remote.config.name;
    // A stored tag can be served: the check waits a little, not the whole
    // fetch timeout, and a failed one counts as a check, so the clients that
    // waited for it (and those of the next `tag_ttl`) get the stored tag at
    // once instead of each waiting for an upstream that does not answer.
    let head =
        match tokio::time::timeout(REVALIDATE_PATIENCE, remote.manifest(repo, tag, true)).await {
            Ok(Ok(head)) => head,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer in {} s", REVALIDATE_PATIENCE.as_secs()),
                };
                tracing::warn!(repository = %name, tag, upstream, error, digest = %stored.digest,
                "oci: upstream unavailable; serving the cached tag");
                index::tag_checked(&reg.db, name, tag).await?;
                return Ok(Some(hit(stored)));
            }
        };
    let current = head
        .headers()
        .get(CONTENT_DIGEST)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok());
    if current.as_ref() == Some(&stored.digest) {
        index::tag_checked(&reg.db, name, tag).await?;
        return Ok(Some(hit(stored)));
    }
    match fetch_manifest(reg, name, remote, repo, tag, None, Some(tag)).await {
        Ok(Some(moved)) => {
            tracing::info!(repository = %name, tag, upstream, from = %stored.digest, to = %moved.digest,
                "oci: upstream moved the tag");
            Ok(Some(miss(moved)))
        }
        Ok(None) => Ok(Some(hit(stored))),
        Err(e) => {
            tracing::warn!(repository = %name, tag, upstream, error = %e, digest = %stored.digest,
                "oci: upstream unavailable; serving the cached tag");
            Ok(Some(hit(stored)))
        }
    }
}

fn hit(m: StoredManifest) -> (StoredManifest, CacheResult) {
    (m, CacheResult::Hit)
}

fn miss(m: StoredManifest) -> (StoredManifest, CacheResult) {
    (m, CacheResult::Miss)
}

const CONTENT_DIGEST: &str = "docker-content-digest";

/// Fetches a manifest, checks it, stores its bytes and records it (with
/// `tag` pointing at it). `None` when the upstream does not have it.
async fn fetch_manifest(
    reg: &Registry,
    name: &Name,
    remote: &Remote,
    repo: &str,
    reference: &str,
    expected: Option<&AnyDigest>,
    tag: Option<&str>,
) -> Result<Option<StoredManifest>, OciError> {
    let body = match remote.manifest(repo, reference, false).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let announced = header_digest(&body);
    let content_type = body
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
    let origin = body.url().to_owned();
    let bytes = body
        .bytes(reg.settings.max_manifest_size)
        .await
        .map_err(OciError::from)?;
    // Hashed with sha256 (its name in the store) and the algorithm asked for.
    let mut hashes = Hashes::new(expected.map_or(HashAlgorithm::Sha256, AnyDigest::algorithm));
    hashes.update(&bytes);
    let hashed = hashes.finish();
    let (digest, named) = (hashed.sha256, hashed.named);
    for (what, want) in [("asked for", expected), ("announced", announced.as_ref())] {
        let Some(want) = want else { continue };
        let got: AnyDigest = match want.algorithm() {
            HashAlgorithm::Sha256 => digest.clone().into(),
            algorithm if algorithm == named.algorithm() => named.clone(),
            _ => continue, // announced under an algorithm not computed
        };
        if *want != got {
            return Err(OciError::UpstreamContent(format!(
                "{origin}: the manifest hashes to {got}, not the {what} {want}"
            )));
        }
    }
    let pushed_as = (named.algorithm() != HashAlgorithm::Sha256).then_some(named);
    // Only a manifest media type may decide; a generic one (`application/json`) may not.
    let content_type = content_type.filter(|t| manifest::is_manifest_type(t));
    let info = manifest::parse(&bytes, content_type.as_deref())
        .map_err(|e| OciError::UpstreamContent(format!("{origin}: {e}")))?;
    // Served back under its own media type, as pushes are: an upstream's
    // `text/html` would be a page on airlock's origin, and a CR/LF in it a
    // header that cannot be sent.
    if !manifest::is_manifest_type(&info.media_type) {
        return Err(OciError::UpstreamContent(format!(
            "{origin}: media type {:?} is not a manifest's",
            info.media_type
        )));
    }
    let size = bytes.len() as u64;
    reg.store
        .put_bytes(&reg.staging, bytes::Bytes::from(bytes))
        .await?;
    let tags: Vec<String> = tag.map(str::to_owned).into_iter().collect();
    let new = index::NewManifest {
        repository: name,
        digest: &digest,
        size,
        info: &info,
        tags: &tags,
        pushed_as: pushed_as.as_ref(),
    };
    index::insert_mirror_manifest(&reg.db, new, &remote.config.name).await?;
    tracing::info!(repository = %name, %reference, %digest, upstream = %remote.config.name,
        media_type = %info.media_type, "oci: fetched manifest");
    Ok(Some(StoredManifest {
        digest,
        media_type: info.media_type,
        size,
        pushed_as,
    }))
}

fn header_digest(body: &UpstreamBody) -> Option<AnyDigest> {
    body.headers()
        .get(CONTENT_DIGEST)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The tag under which a registry without the referrers API keeps the
/// referrers of `subject` (distribution-spec v1.1, "referrers tag schema"):
/// `<alg>-<hex>`, the algorithm cut to 32 characters and the hex to 64.
pub fn referrers_tag(subject: &AnyDigest) -> String {
    let alg = subject.algorithm().name();
    let hex = subject.hex();
    format!(
        "{}-{}",
        &alg[..alg.len().min(32)],
        &hex[..hex.len().min(64)]
    )
}

/// The descriptors of an image index, those of `artifact_type` only when given.
fn index_descriptors(
    bytes: &[u8],
    artifact_type: Option<&str>,
) -> Result<Vec<serde_json::Value>, String> {
    #[derive(serde::Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<serde_json::Value>,
    }
    let index: Index = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(index
        .manifests
        .into_iter()
        .filter(|d| artifact_type.is_none_or(|t| d["artifactType"].as_str() == Some(t)))
        .collect())
}

/// The referrers of `subject` in a mirrored repository, as descriptors:
/// from the upstream's referrers API, else from its referrers tag schema,
/// else (upstream failing, or offline) from the store. The caller adds the
/// referrers stored locally (manifests with this `subject`) when the
/// upstream did not answer.
pub async fn referrers(
    reg: &Registry,
    name: &Name,
    upstream: &(Arc<Remote>, String),
    subject: &AnyDigest,
    artifact_type: Option<&str>,
) -> Result<Option<Vec<serde_json::Value>>, OciError> {
    let (remote, repo) = upstream;
    let tag = Reference::Tag(referrers_tag(subject));
    if reg.mirrors.online() {
        let asked = async {
            let body = remote.referrers(repo, subject, artifact_type).await?;
            let origin = body.url().to_owned();
            let bytes = body.bytes(reg.settings.max_manifest_size).await?;
            index_descriptors(&bytes, artifact_type)
                .map_err(|e| OciError::UpstreamContent(format!("{origin}: referrers index: {e}")))
        };
        let failed = match asked.await {
            Ok(found) => return Ok(Some(found)),
            Err(OciError::Upstream(e)) if e.is_not_found() => {
                // No referrers API: the tag schema, pulled through like any tag.
                match manifest(reg, name, upstream, &tag).await {
                    Ok(Some((found, _))) => {
                        return stored_index(reg, &found, artifact_type).await.map(Some)
                    }
                    Ok(None) => return Ok(Some(Vec::new())),
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        tracing::warn!(repository = %name, %subject, upstream = %remote.config.name, error = %failed,
            "oci: upstream unavailable; answering referrers from the store");
    }
    match index::find_tag(&reg.db, name, &tag.to_string()).await? {
        Some(found) => stored_index(reg, &found, artifact_type).await.map(Some),
        None => Ok(None),
    }
}

/// The descriptors of a stored index (a referrers tag schema index).
async fn stored_index(
    reg: &Registry,
    found: &StoredManifest,
    artifact_type: Option<&str>,
) -> Result<Vec<serde_json::Value>, OciError> {
    let bytes = reg
        .store
        .open(&found.digest, None)
        .await?
        .into_bytes()
        .await?;
    index_descriptors(&bytes, artifact_type)
        .map_err(|e| OciError::UpstreamContent(format!("referrers tag {}: {e}", found.digest)))
}

/// Largest tag list read from an upstream.
const TAGS_MAX: u64 = 4 << 20;

/// A page of the upstream's tags of a mirrored repository (online): up to
/// `n` tags after `last`, and whether the upstream has more. `None` when the
/// upstream failed or the registry is offline: the caller lists stored tags.
pub async fn upstream_tags(
    reg: &Registry,
    name: &Name,
    (remote, repo): &(Arc<Remote>, String),
    n: u32,
    last: Option<&str>,
) -> Result<Option<(Vec<String>, bool)>, OciError> {
    #[derive(serde::Deserialize)]
    struct TagList {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    if !reg.mirrors.online() {
        return Ok(None);
    }
    let listed = async {
        let body = remote.tags(repo, n, last).await?;
        let more = body.headers().contains_key(reqwest::header::LINK);
        let bytes = body.bytes(TAGS_MAX).await?;
        let list: TagList =
            serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Transport {
                url: format!("{}: tag list", remote.config.name),
                message: e.to_string(),
            })?;
        let mut tags = list.tags.unwrap_or_default();
        // Only tags a client can use (a CR/LF one broke the listing). A page
        // that gets no further than `last` is the end, whatever its `Link`
        // says: an upstream ignoring `last` made an endless chain of pages.
        tags.retain(|tag| crate::path::check_tag(tag).is_ok());
        let more = more && tags.iter().any(|tag| last.is_none_or(|l| tag.as_str() > l));
        Ok::<_, UpstreamError>((tags, more))
    }
    .await;
    match listed {
        Ok(listed) => Ok(Some(listed)),
        Err(e) => {
            tracing::warn!(repository = %name, upstream = %remote.config.name, error = %e,
                "oci: upstream unavailable; listing the stored tags");
            Ok(None)
        }
    }
}

/// What blob fetches share. When every repository is public, bytes are
/// bytes: a blob stored (or arriving) for any repository serves every other
/// one. With read rules, a repository gets only what its own upstream sent,
/// so that knowing a digest opens no repository one may not read.
fn share_key(reg: &Registry, name: &Name, digest: &Digest) -> String {
    match reg.auth.all_public() {
        true => format!("b {digest}"),
        false => format!("b {name}@{digest}"),
    }
}

/// A blob stored for another repository, when sharing is allowed: linked
/// into `name` and its size returned.
async fn stored_elsewhere(
    reg: &Registry,
    name: &Name,
    upstream: &str,
    digest: &Digest,
) -> Result<Option<u64>, OciError> {
    if !reg.auth.all_public() {
        return Ok(None);
    }
    let Some(size) = reg.db.blob_size(digest).await? else {
        return Ok(None);
    };
    index::insert_mirror_blob(&reg.db, name, upstream, digest, size).await?;
    Ok(Some(size))
}

/// A blob of a mirrored repository.
pub enum MirrorBlob {
    /// Stored: serve it from the store.
    Stored(u64),
    /// Arriving from the upstream: this body follows it.
    Arriving(BlobBody),
}

/// A blob of a mirrored repository: stored, being fetched (followed), or
/// fetched now. `None` when neither the store nor the upstream has it.
pub async fn blob(
    reg: &Arc<Registry>,
    name: &Name,
    (remote, repo): &(Arc<Remote>, String),
    digest: &Digest,
) -> Result<Option<MirrorBlob>, OciError> {
    if let Some(size) = index::find_blob(&reg.db, name, digest).await? {
        return Ok(Some(MirrorBlob::Stored(size)));
    }
    let mirrors = &reg.mirrors;
    if !mirrors.online() {
        return Ok(None);
    }
    if let Some(body) = join(reg, name, digest) {
        return Ok(Some(body));
    }
    let key = share_key(reg, name, digest);
    let turn = mirrors.fetching.lock(&key).await;
    if let Some(body) = join(reg, name, digest) {
        return Ok(Some(body));
    }
    if let Some(size) = index::find_blob(&reg.db, name, digest).await? {
        return Ok(Some(MirrorBlob::Stored(size))); // stored while this request waited
    }
    if let Some(size) = stored_elsewhere(reg, name, &remote.config.name, digest).await? {
        return Ok(Some(MirrorBlob::Stored(size)));
    }
    let body = match remote.blob(repo, digest).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let max = reg.settings.max_blob_size;
    if body.content_length.is_some_and(|len| len > max) {
        return Err(UpstreamError::TooLarge {
            url: body.url().to_owned(),
            limit: max,
        }
        .into());
    }
    let writer = reg.staging.writer(Some(max)).await?;
    let Some(len) = body.content_length else {
        // No length to promise a follower: receive it whole, then serve it stored.
        let staged = receive(body, writer, digest).await?;
        store(reg, name, &remote.config.name, staged).await?;
        return Ok(Some(MirrorBlob::Stored(len_of(reg, name, digest).await?)));
    };
    let (verdict, shared) = follow::shared(writer.path()?, len, HOLD_BACK, writer.in_file())?;
    let served = shared.follow();
    // From here on, the map is the single flight: later requests follow this
    // fetch instead of waiting for the lock until the blob is stored.
    mirrors.set_arriving(&key, Some(shared));
    drop(turn);
    let (reg, name, digest) = (Arc::clone(reg), name.clone(), digest.clone());
    let upstream = remote.config.name.clone();
    // The fetch goes on when the client that started it leaves: others may follow it.
    let background = reg.background.clone();
    background.spawn(async move {
        let mut verdict = Some(verdict);
        let result = async {
            let staged = receive(body, writer, &digest).await?;
            if staged.size != len {
                return Err(OciError::UpstreamContent(format!(
                    "{} bytes received, {len} announced",
                    staged.size
                )));
            }
            if let Some(verdict) = verdict.take() {
                verdict.verified();
            }
            store(&reg, &name, &upstream, staged).await
        }
        .await;
        // Logged first, so the line is there when the followers see the
        // outcome. Stored and recorded, or failed: new requests look in the
        // index (and fetch again); then the followers learn a failure.
        match result {
            Ok(()) => {
                tracing::info!(repository = %name, %digest, upstream, size = len, "oci: fetched blob")
            }
            Err(e) => {
                tracing::warn!(repository = %name, %digest, upstream, error = %e, "oci: blob fetch failed; nothing stored")
            }
        }
        reg.mirrors.set_arriving(&key, None);
        drop(verdict);
    });
    Ok(Some(MirrorBlob::Arriving(served)))
}

/// Follows a blob another request is fetching, if one is. The fetch stays
/// followable until its row is written (or it failed), so no request falls
/// between the two.
fn join(reg: &Registry, name: &Name, digest: &Digest) -> Option<MirrorBlob> {
    let shared = reg.mirrors.arriving(&share_key(reg, name, digest))?;
    Some(MirrorBlob::Arriving(shared.follow()))
}

/// Receives an upstream body into `writer` and checks its digest.
async fn receive(
    mut body: UpstreamBody,
    mut writer: airlock_core::store::BlobWriter,
    digest: &Digest,
) -> Result<airlock_core::store::StagedBlob, OciError> {
    while let Some(chunk) = body.chunk().await? {
        // Past `max_blob_size` it is the upstream's fault (502), not ours.
        writer.write(chunk).await.map_err(|e| match e {
            StoreError::TooLarge { limit } => OciError::from(UpstreamError::TooLarge {
                url: body.url().to_owned(),
                limit,
            }),
            e => e.into(),
        })?;
    }
    let origin = body.url().to_owned();
    writer.finish(Some(digest)).await.map_err(|e| match e {
        StoreError::DigestMismatch { actual, .. } => OciError::UpstreamContent(format!(
            "{origin}: the blob hashes to {actual}, not {digest}"
        )),
        e => e.into(),
    })
}

/// Makes a fetched blob durable, then records it in the mirror repository.
async fn store(
    reg: &Registry,
    name: &Name,
    upstream: &str,
    staged: airlock_core::store::StagedBlob,
) -> Result<(), OciError> {
    let (digest, size) = (staged.digest.clone(), staged.size);
    reg.store.commit(staged).await?;
    index::insert_mirror_blob(&reg.db, name, upstream, &digest, size).await?;
    Ok(())
}

async fn len_of(reg: &Registry, name: &Name, digest: &Digest) -> Result<u64, OciError> {
    index::find_blob(&reg.db, name, digest)
        .await?
        .ok_or_else(|| OciError::BlobUnknown(digest.clone().into()))
}

/// A blob of a mirrored repository, fetched and stored whole when missing
/// (for `airlock sync oci`, which serves no client). Returns its size and
/// whether it was fetched now; `None` when the upstream does not have it.
pub async fn store_blob(
    reg: &Registry,
    name: &Name,
    (remote, repo): &(Arc<Remote>, String),
    digest: &Digest,
) -> Result<Option<(u64, bool)>, OciError> {
    if let Some(size) = index::find_blob(&reg.db, name, digest).await? {
        return Ok(Some((size, false)));
    }
    let _turn = reg
        .mirrors
        .fetching
        .lock(&share_key(reg, name, digest))
        .await;
    if let Some(size) = stored_elsewhere(reg, name, &remote.config.name, digest).await? {
        return Ok(Some((size, false)));
    }
    if let Some(size) = index::find_blob(&reg.db, name, digest).await? {
        return Ok(Some((size, false)));
    }
    if !reg.mirrors.online() {
        return Ok(None);
    }
    let body = match remote.blob(repo, digest).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let writer = reg.staging.writer(Some(reg.settings.max_blob_size)).await?;
    let staged = receive(body, writer, digest).await?;
    let size = staged.size;
    store(reg, name, &remote.config.name, staged).await?;
    Ok(Some((size, true)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UpstreamRegistry;

    fn mirrors(default_upstream: Option<&str>) -> Mirrors {
        let upstream = |name: &str| UpstreamRegistry {
            name: name.into(),
            url: None,
            username: None,
            password: None,
        };
        let settings = OciSettings {
            upstreams: vec![upstream("docker.io"), upstream("registry.k8s.io")],
            default_upstream: default_upstream.map(str::to_owned),
            ..OciSettings::default()
        };
        let client = Upstream::new(&Default::default()).expect("client");
        Mirrors::new(&settings, Mode::Online, &client)
    }

    fn resolve(m: &Mirrors, name: &str, ns: Option<&str>) -> (String, Option<String>) {
        let r = m.resolve(Name::parse(name).expect("name"), ns).expect(name);
        (r.name.to_string(), r.upstream.map(|(_, repo)| repo))
    }

    #[test]
    fn both_name_forms_map_onto_one_repository() {
        let m = mirrors(None);
        let alpine = (
            "docker.io/library/alpine".to_owned(),
            Some("library/alpine".to_owned()),
        );
        assert_eq!(resolve(&m, "docker.io/library/alpine", None), alpine);
        assert_eq!(resolve(&m, "docker.io/alpine", None), alpine);
        assert_eq!(resolve(&m, "library/alpine", Some("docker.io")), alpine);
        assert_eq!(resolve(&m, "alpine", Some("index.docker.io")), alpine);
        assert_eq!(
            resolve(&m, "docker.io/library/alpine", Some("docker.io")),
            alpine
        );
        assert_eq!(
            resolve(&m, "pause", Some("registry.k8s.io")),
            ("registry.k8s.io/pause".to_owned(), Some("pause".to_owned()))
        );
        assert_eq!(resolve(&m, "team/app", None), ("team/app".to_owned(), None));
        let unknown = m.resolve(Name::parse("x/y").expect("name"), Some("ghcr.io"));
        assert_eq!(
            unknown.map(|_| ()).map_err(|e| e.code()),
            Err("NAME_UNKNOWN")
        );
        let bare = m.resolve(Name::parse("docker.io").expect("name"), None);
        assert_eq!(bare.map(|_| ()).map_err(|e| e.code()), Err("NAME_INVALID"));
    }

    #[test]
    fn referrers_tag_schema() {
        let sha256: AnyDigest = format!("sha256:{}", "ab".repeat(32))
            .parse()
            .expect("digest");
        assert_eq!(
            referrers_tag(&sha256),
            format!("sha256-{}", "ab".repeat(32))
        );
        let sha512: AnyDigest = format!("sha512:{}", "cd".repeat(64))
            .parse()
            .expect("digest");
        let tag = referrers_tag(&sha512);
        assert_eq!(
            tag,
            format!("sha512-{}", "cd".repeat(32)),
            "the hex is cut to 64"
        );
        assert!(crate::path::check_tag(&tag).is_ok());
        let index = br#"{"schemaVersion":2,"manifests":[
            {"digest":"a","artifactType":"x/sig"},{"digest":"b","artifactType":"x/sbom"},{"digest":"c"}]}"#;
        assert_eq!(index_descriptors(index, None).expect("index").len(), 3);
        let sigs = index_descriptors(index, Some("x/sig")).expect("index");
        assert_eq!(
            sigs,
            vec![serde_json::json!({"digest":"a","artifactType":"x/sig"})]
        );
        assert!(index_descriptors(b"not json", None).is_err());
    }

    #[test]
    fn default_upstream_takes_unprefixed_reads_and_leaves_writes_hosted() {
        let m = mirrors(Some("docker.io"));
        let name = |n: &str| Name::parse(n).expect("name");
        let r = m.resolve(name("library/alpine"), None).expect("resolve");
        assert_eq!(r.name.as_str(), "docker.io/library/alpine");
        assert_eq!(r.hosted.as_ref().map(Name::as_str), Some("library/alpine"));
        assert_eq!(
            m.resolve_write(name("library/alpine"), None)
                .expect("write"),
            Some(name("library/alpine"))
        );
        assert_eq!(
            m.resolve_write(name("docker.io/x"), None).expect("write"),
            None
        );
    }
}
