//! HTTP routes under `/v2`: one default service that parses its path into an
//! [`Endpoint`] and dispatches on it and the method.

use crate::auth::Access;
use crate::error::OciError;
use crate::mirror::{self, MirrorBlob, Resolved};
use crate::path::{self, parse_algorithm, parse_digest, Endpoint, Name, Reference};
use crate::registry::{Registry, TagPage};
use crate::{index, manifest};
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use airlock_core::auth::Users;
use airlock_core::digest::{AnyDigest, HashAlgorithm, Hashes};
use airlock_core::metrics::CacheResult;
use airlock_core::serve::{self, BlobResponse};
use airlock_core::store::StoreError;
use airlock_core::upload::UploadArea;
use bytes::BytesMut;
use futures_util::StreamExt as _;
use std::sync::Arc;

/// Sent on every answer: docker clients check it on `/v2/`.
pub(crate) const API_VERSION: (&str, &str) = ("docker-distribution-api-version", "registry/2.0");
const CONTENT_DIGEST: &str = "docker-content-digest";
const UPLOAD_UUID: &str = "docker-upload-uuid";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const BY_TAG: &str = "no-cache";

/// Mounts the registry. Call inside `web::scope("/v2")`.
///
/// Every path under the scope (and `/v2` itself) goes to `handle`, which
/// parses it once: as the scope's default service it is reached without a
/// pattern match (a `{tail:.*}` resource runs a regex per request).
pub fn configure(registry: Arc<Registry>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(registry))
            .default_service(web::to(handle));
    }
}

/// The `Range` value of an upload holding `size` bytes: the inclusive end,
/// with no `bytes=` prefix (`0-0` when empty, as distribution answers).
pub(crate) fn range_value(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn respond(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header(API_VERSION);
    b
}

#[derive(Default)]
struct Query {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
    n: Option<String>,
    last: Option<String>,
    artifact_type: Option<String>,
    /// The algorithm the client will name an upload's bytes by (distribution-spec main).
    digest_algorithm: Option<String>,
    /// containerd's mirror parameter: the registry the client's reference names.
    ns: Option<String>,
}

/// The query parameters, each parameter's first value: a repeated one
/// (`?digest=a&digest=b`) must not make every parameter vanish, as a
/// deserializer that refuses duplicates would.
fn parse_query(query: &str) -> Query {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let first = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    Query {
        digest: first("digest"),
        mount: first("mount"),
        from: first("from"),
        n: first("n"),
        last: first("last"),
        artifact_type: first("artifactType"),
        digest_algorithm: first("digest-algorithm"),
        ns: first("ns"),
    }
}

async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    reg: web::Data<Registry>,
) -> Result<HttpResponse, OciError> {
    let raw = req.uri().path();
    let tail = match raw.strip_prefix("/v2") {
        Some("") | Some("/") => "",
        Some(rest) => rest.strip_prefix('/').unwrap_or(rest),
        None => raw,
    };
    let endpoint = path::parse(tail)?;
    let query = parse_query(req.query_string());
    let method = req.method().clone();
    let read = method == Method::GET || method == Method::HEAD;
    let (allow, allow_read_only) = (endpoint.allow(), endpoint.allow_read_only());
    let not_allowed = || OciError::MethodNotAllowed {
        allow,
        method: method.to_string(),
    };
    match endpoint {
        Endpoint::Base if read => base(&req, &reg).await,
        Endpoint::Token if method == Method::GET => {
            let body = reg.auth.token(&req).await?;
            Ok(respond(StatusCode::OK)
                .content_type("application/json")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(body.to_string()))
        }
        Endpoint::Catalog if method == Method::GET => catalog(&req, &reg, &query).await,
        Endpoint::Tags(name) if method == Method::GET => {
            let target = reg
                .mirrors
                .resolve_read(&reg.db, name, query.ns.as_deref())
                .await?;
            reg.auth.check(&req, &target.name, Access::Read).await?;
            tags(&reg, &target, &query).await
        }
        Endpoint::Manifest(name, reference) if read => {
            let target = reg
                .mirrors
                .resolve_read(&reg.db, name, query.ns.as_deref())
                .await?;
            reg.auth.check(&req, &target.name, Access::Read).await?;
            get_manifest(&req, &reg, &target, &reference).await
        }
        Endpoint::Blob(name, digest) if read => {
            let target = reg
                .mirrors
                .resolve_read(&reg.db, name, query.ns.as_deref())
                .await?;
            reg.auth.check(&req, &target.name, Access::Read).await?;
            get_blob(&req, &reg, &target, &digest).await
        }
        Endpoint::Referrers(name, digest) if method == Method::GET => {
            let target = reg
                .mirrors
                .resolve_read(&reg.db, name, query.ns.as_deref())
                .await?;
            reg.auth.check(&req, &target.name, Access::Read).await?;
            referrers(&reg, &target, &digest, &query).await
        }
        Endpoint::Manifest(name, _)
        | Endpoint::Blob(name, _)
        | Endpoint::Uploads(name)
        | Endpoint::Upload(name, _)
            if reg
                .mirrors
                .resolve_write(name.clone(), query.ns.as_deref())?
                .is_none() =>
        {
            Err(OciError::ReadOnly {
                allow: allow_read_only,
                what: format!("{method} {name}"),
            })
        }
        Endpoint::Manifest(name, reference) if method == Method::PUT => {
            let user = authorize(&req, &reg, &name).await?;
            put_manifest(&req, payload, &reg, &name, &reference, &user).await
        }
        Endpoint::Manifest(name, reference) if method == Method::DELETE => {
            let user = authorize(&req, &reg, &name).await?;
            delete_manifest(&reg, &name, &reference).await?;
            tracing::info!(%user, repository = %name, %reference, "oci: deleted manifest or tag");
            Ok(respond(StatusCode::ACCEPTED).finish())
        }
        Endpoint::Blob(name, digest) if method == Method::DELETE => {
            let user = authorize(&req, &reg, &name).await?;
            let deleted = match index::resolve(&reg.db, &digest).await? {
                Some(stored) => index::delete_blob(&reg.db, &name, &stored).await?,
                None => false,
            };
            if !deleted {
                return Err(OciError::BlobUnknown(digest));
            }
            tracing::info!(%user, repository = %name, %digest, "oci: deleted blob");
            Ok(respond(StatusCode::ACCEPTED).finish())
        }
        Endpoint::Uploads(name) if method == Method::POST => {
            let user = authorize(&req, &reg, &name).await?;
            start_upload(&req, payload, &reg, &name, &query, &user).await
        }
        Endpoint::Upload(name, id) => {
            authorize(&req, &reg, &name).await?;
            let _turn = reg.locks.lock(&id).await;
            let upload = index::find_upload(&reg.db, &id)
                .await?
                .filter(|u| u.repository == name.as_str())
                .ok_or(OciError::BlobUploadUnknown)?;
            let session = Session {
                name: &name,
                id: &id,
                received: upload.received,
                algorithm: upload.algorithm,
            };
            match method {
                Method::GET => Ok(session.status(StatusCode::NO_CONTENT)),
                Method::PATCH => session.patch(&req, payload, &reg).await,
                Method::PUT => session.finish(&req, payload, &reg, &query).await,
                Method::DELETE => {
                    reg.uploads.remove(&id).await?;
                    index::delete_upload(&reg.db, &id).await?;
                    Ok(respond(StatusCode::NO_CONTENT).finish())
                }
                _ => Err(not_allowed()),
            }
        }
        _ => Err(not_allowed()),
    }
}

/// Writes need a user the namespace rules let write `name`.
async fn authorize(req: &HttpRequest, reg: &Registry, name: &Name) -> Result<String, OciError> {
    let user = reg.auth.check(req, name, Access::Write).await?;
    // A write check never passes without a user.
    user.ok_or_else(|| OciError::Denied(format!("anonymous clients may not write to {name}")))
}

/// `/v2/`: 200, or, when users are configured and the client sent nothing,
/// 401 with the `Bearer` challenge: that is how clients learn to fetch a
/// token (with their credentials, if they have any) and send it.
async fn base(req: &HttpRequest, reg: &Registry) -> Result<HttpResponse, OciError> {
    let has_users = req
        .app_data::<web::Data<Users>>()
        .is_some_and(|u| !u.is_empty());
    if has_users {
        reg.auth.version_check(req).await?;
    }
    Ok(respond(StatusCode::OK)
        .content_type("application/json")
        .body("{}"))
}

/// The `n` of a listing: absent → a full page; more than a page → a page.
fn page_limit(reg: &Registry, n: Option<&str>) -> Result<u32, OciError> {
    let max = reg.settings.page_size.max(1);
    match n {
        None => Ok(max),
        Some(n) => n
            .parse::<u32>()
            .map(|n| n.min(max))
            .map_err(|_| OciError::PaginationInvalid(format!("n={n:?} is not a count"))),
    }
}

/// A page of a listing (`items` holds up to `limit + 1` entries: one more
/// means there is a next page), with a `Link` to the next when there is one.
/// `keep` hides entries after the page is cut, so the `Link` still leads on.
fn page(
    mut items: Vec<String>,
    limit: u32,
    next: impl Fn(&str) -> String,
    keep: impl Fn(&str) -> bool,
    body: impl FnOnce(&[String]) -> serde_json::Value,
) -> HttpResponse {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let mut response = respond(StatusCode::OK);
    response.content_type("application/json");
    if more {
        if let Some(last) = items.last() {
            response.insert_header((header::LINK, format!("<{}>; rel=\"next\"", next(last))));
        }
    }
    items.retain(|item| keep(item));
    response.body(body(&items).to_string())
}

/// A repository's tags: a mirror's from its upstream when online (falling
/// back to the stored ones), a hosted repository's from the index.
async fn tags(reg: &Registry, target: &Resolved, q: &Query) -> Result<HttpResponse, OciError> {
    let name = &target.name;
    let limit = page_limit(reg, q.n.as_deref())?;
    let last = q.last.as_deref();
    let listed = match &target.upstream {
        Some(upstream) => mirror::upstream_tags(reg, name, upstream, limit, last).await?,
        None => None,
    };
    let (found, limit) = match listed {
        // The upstream's page may be shorter than asked; when it has more,
        // one entry past the page makes `page` link to the next.
        Some((mut tags, true)) if !tags.is_empty() => {
            let shown = tags.len().min(limit as usize) as u32;
            tags.push(String::new());
            (tags, shown)
        }
        Some((tags, _)) => (tags, limit),
        None => return hosted_tags(reg, name, last, limit).await,
    };
    Ok(page(
        found,
        limit,
        |last| format!("/v2/{name}/tags/list?n={limit}&last={last}"),
        |_| true,
        |tags| serde_json::json!({ "name": name.as_str(), "tags": tags }),
    ))
}

/// A page of a hosted repository's tags, kept in memory once rendered.
async fn hosted_tags(
    reg: &Registry,
    name: &Name,
    last: Option<&str>,
    limit: u32,
) -> Result<HttpResponse, OciError> {
    let key = (name.as_str().to_owned(), last.map(str::to_owned), limit);
    let tag_page = match reg.kept.tag_pages.get(&key) {
        Some(kept) => kept,
        None => {
            let ticket = reg.kept.tag_pages.ticket();
            let mut tags = index::tags(&reg.db, name, last, limit.saturating_add(1))
                .await?
                .ok_or_else(|| OciError::NameUnknown(name.to_string()))?;
            let more = tags.len() > limit as usize;
            tags.truncate(limit as usize);
            let link = match tags.last() {
                Some(last) if more => Some(format!(
                    "</v2/{name}/tags/list?n={limit}&last={last}>; rel=\"next\""
                )),
                _ => None,
            };
            let body = serde_json::json!({ "name": name.as_str(), "tags": tags }).to_string();
            let tag_page = TagPage {
                body: body.into(),
                link,
            };
            let weight = tag_page.body.len() + key.0.len();
            reg.kept
                .tag_pages
                .put(ticket, key, tag_page.clone(), weight);
            tag_page
        }
    };
    let mut response = respond(StatusCode::OK);
    response.content_type("application/json");
    if let Some(link) = tag_page.link {
        response.insert_header((header::LINK, link));
    }
    Ok(response.body(tag_page.body))
}

/// The repositories this client may read. (With read rules, a page may hold
/// fewer than `n` names; `Link` still leads on.)
async fn catalog(req: &HttpRequest, reg: &Registry, q: &Query) -> Result<HttpResponse, OciError> {
    let limit = page_limit(reg, q.n.as_deref())?;
    let found = index::catalog(&reg.db, q.last.as_deref(), limit.saturating_add(1)).await?;
    let user = match reg.auth.all_public() {
        true => None,
        false => reg.auth.user(req, None).await.ok(),
    };
    let readable = |name: &str| {
        Name::parse(name).is_ok_and(|n| reg.auth.allows(user.as_deref(), &n, Access::Read))
    };
    Ok(page(
        found,
        limit,
        |last| format!("/v2/_catalog?n={limit}&last={last}"),
        readable,
        |repositories| serde_json::json!({ "repositories": repositories }),
    ))
}

/// Adds the registry's headers to an answer built by `serve::blob`:
/// `digest` is the one the client knows the content by (sha256 or sha512).
fn with_digest(mut response: HttpResponse, digest: &AnyDigest) -> HttpResponse {
    let headers = response.headers_mut();
    for (name, value) in [API_VERSION, (CONTENT_DIGEST, &digest.to_string())] {
        if let Ok(value) = header::HeaderValue::from_str(value) {
            headers.insert(header::HeaderName::from_static(name), value);
        }
    }
    response
}

async fn get_manifest(
    req: &HttpRequest,
    reg: &Registry,
    target: &Resolved,
    reference: &Reference,
) -> Result<HttpResponse, OciError> {
    let name = &target.name;
    let cache_control = match reference {
        Reference::Tag(_) => BY_TAG,
        Reference::Digest(_) => IMMUTABLE,
    };
    let found = match &target.upstream {
        Some(upstream) => mirror::manifest(reg, name, upstream, reference).await?,
        None => hosted_manifest(reg, name, reference)
            .await?
            .map(|m| (m, CacheResult::Hit)),
    };
    let (found, cache) = found.ok_or_else(|| OciError::ManifestUnknown(reference.to_string()))?;
    // By digest, the one asked for; by tag, the one it was pushed by.
    let named = match reference {
        Reference::Digest(d) => d.clone(),
        Reference::Tag(_) => found.named(),
    };
    let how = BlobResponse {
        content_type: &found.media_type,
        cache_control,
        cache,
        last_modified: None,
    };
    let response = serve::blob(req, reg.store.as_ref(), &found.digest, found.size, how).await?;
    Ok(with_digest(response, &named))
}

/// A hosted repository's manifest by tag or digest, kept in memory once found.
async fn hosted_manifest(
    reg: &Registry,
    name: &Name,
    reference: &Reference,
) -> Result<Option<index::StoredManifest>, OciError> {
    let key = (name.as_str().to_owned(), reference.to_string());
    if let Some(found) = reg.kept.manifests.get(&key) {
        return Ok(Some(found));
    }
    let ticket = reg.kept.manifests.ticket();
    let found = match reference {
        Reference::Tag(tag) => index::find_tag(&reg.db, name, tag).await?,
        Reference::Digest(d) => match index::resolve(&reg.db, d).await? {
            Some(stored) => index::find_manifest(&reg.db, name, &stored).await?,
            None => None,
        },
    };
    if let Some(found) = &found {
        reg.kept.manifests.put(ticket, key, found.clone(), 1);
    }
    Ok(found)
}

async fn get_blob(
    req: &HttpRequest,
    reg: &Arc<Registry>,
    target: &Resolved,
    named: &AnyDigest,
) -> Result<HttpResponse, OciError> {
    let Some(digest) = index::resolve(&reg.db, named).await? else {
        // A sha512 digest no stored blob has: only an upstream could have it.
        if target.upstream.is_some() && reg.mirrors.mode == airlock_core::Mode::Online {
            return Err(OciError::AlgorithmUnsupported(format!(
                "{named}: blobs are pulled through by sha256 digest only"
            )));
        }
        return Err(OciError::BlobUnknown(named.clone()));
    };
    let digest = &digest;
    let found = match &target.upstream {
        Some(upstream) => mirror::blob(reg, &target.name, upstream, digest).await?,
        None => index::find_blob(&reg.db, &target.name, digest)
            .await?
            .map(MirrorBlob::Stored),
    };
    let mut how = BlobResponse {
        content_type: "application/octet-stream",
        cache_control: IMMUTABLE,
        cache: CacheResult::Hit,
        last_modified: None,
    };
    let response = match found.ok_or_else(|| OciError::BlobUnknown(named.clone()))? {
        MirrorBlob::Stored(size) => serve::blob(req, reg.store.as_ref(), digest, size, how).await?,
        MirrorBlob::Arriving(body) => {
            how.cache = CacheResult::Miss;
            serve::fresh(req, body, how)
        }
    };
    Ok(with_digest(response, named))
}

/// The request's `Content-Length`, when it sent one.
fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

async fn put_manifest(
    req: &HttpRequest,
    mut payload: web::Payload,
    reg: &Registry,
    name: &Name,
    reference: &Reference,
    user: &str,
) -> Result<HttpResponse, OciError> {
    let tags = match reference {
        Reference::Tag(tag) => vec![tag.clone()],
        Reference::Digest(_) => tag_params(req)?,
    };
    let max = reg.settings.max_manifest_size;
    if content_length(req).is_some_and(|len| len > max) {
        return Err(OciError::ManifestTooLarge(max));
    }
    // A manifest is a small document that must be parsed whole: read it into memory, capped.
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| OciError::ManifestInvalid(format!("reading the body: {e}")))?;
        if (body.len() + chunk.len()) as u64 > max {
            return Err(OciError::ManifestTooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    let algorithm = match reference {
        Reference::Digest(expected) => expected.algorithm(),
        Reference::Tag(_) => HashAlgorithm::Sha256,
    };
    let mut hashes = Hashes::new(algorithm);
    hashes.update(&body);
    let hashed = hashes.finish();
    let (digest, named) = (hashed.sha256, hashed.named);
    if let Reference::Digest(expected) = reference {
        if *expected != named {
            return Err(OciError::DigestInvalid(format!(
                "the manifest's bytes hash to {named}, not {expected}"
            )));
        }
    }
    let pushed_as = (named.algorithm() != HashAlgorithm::Sha256).then_some(&named);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    let info = manifest::parse(&body, content_type)?;
    // Served back under this type: nothing a browser would render (a pushed
    // `text/html` would be a page on the registry's origin).
    if !manifest::is_manifest_type(&info.media_type) {
        return Err(OciError::ManifestInvalid(format!(
            "media type {} is not a manifest's: push {}, {}, {} or {}",
            info.media_type,
            manifest::OCI_MANIFEST,
            manifest::OCI_INDEX,
            manifest::DOCKER_MANIFEST,
            manifest::DOCKER_LIST
        )));
    }
    let missing = index::missing(&reg.db, name, &info).await?;
    if !missing.is_empty() {
        return Err(OciError::ManifestBlobUnknown(missing));
    }
    let size = body.len() as u64;
    reg.store.put_bytes(&reg.staging, body.freeze()).await?;
    let new = index::NewManifest {
        repository: name,
        digest: &digest,
        size,
        info: &info,
        tags: &tags,
        pushed_as,
    };
    let missing = index::insert_manifest(&reg.db, new).await?;
    reg.kept.changed();
    if !missing.is_empty() {
        return Err(OciError::ManifestBlobUnknown(missing)); // deleted meanwhile
    }
    tracing::info!(%user, repository = %name, digest = %named, tags = %tags.join(","), media_type = %info.media_type, "oci: pushed manifest");
    let mut response = respond(StatusCode::CREATED);
    response
        .insert_header((header::LOCATION, format!("/v2/{name}/manifests/{named}")))
        .insert_header((CONTENT_DIGEST, named.to_string()));
    if matches!(reference, Reference::Digest(_)) && !tags.is_empty() {
        response.insert_header(("oci-tag", tags.join(", ")));
    }
    if let Some(subject) = &info.subject {
        response.insert_header(("oci-subject", subject.to_string()));
    }
    Ok(response.finish())
}

/// Most `?tag=` parameters on one manifest PUT (the spec asks for at least 10).
const TAGS_PER_PUT: usize = 32;

/// The `?tag=` parameters of a PUT by digest (distribution-spec main): each
/// becomes a tag of the manifest, echoed in `OCI-Tag`.
fn tag_params(req: &HttpRequest) -> Result<Vec<String>, OciError> {
    let mut tags: Vec<String> = Vec::new();
    for pair in req.query_string().split('&') {
        if let Some(value) = pair.strip_prefix("tag=") {
            let tag = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            path::check_tag(&tag)?;
            if !tags.iter().any(|t| *t == tag) {
                tags.push(tag.into_owned());
            }
        }
    }
    if tags.len() > TAGS_PER_PUT {
        return Err(OciError::TagInvalid(format!(
            "at most {TAGS_PER_PUT} tags per manifest PUT"
        )));
    }
    Ok(tags)
}

async fn delete_manifest(
    reg: &Registry,
    name: &Name,
    reference: &Reference,
) -> Result<(), OciError> {
    let deleted = match reference {
        Reference::Tag(tag) => index::delete_tag(&reg.db, name, tag).await?,
        Reference::Digest(d) => match index::resolve(&reg.db, d).await? {
            Some(stored) => index::delete_manifest(&reg.db, name, &stored).await?,
            None => false,
        },
    };
    reg.kept.changed();
    if !deleted {
        return Err(OciError::ManifestUnknown(reference.to_string()));
    }
    Ok(())
}

fn blob_created(name: &Name, digest: &AnyDigest) -> HttpResponse {
    respond(StatusCode::CREATED)
        .insert_header((header::LOCATION, format!("/v2/{name}/blobs/{digest}")))
        .insert_header((CONTENT_DIGEST, digest.to_string()))
        .finish()
}

/// `POST …/blobs/uploads/`: a mount, a whole blob (`?digest=`), or a new session.
async fn start_upload(
    req: &HttpRequest,
    payload: web::Payload,
    reg: &Registry,
    name: &Name,
    q: &Query,
    user: &str,
) -> Result<HttpResponse, OciError> {
    if let Some(mount) = &q.mount {
        let digest = parse_digest(mount)?;
        // A `from` that is invalid or that this user may not read is no
        // source: fall back to an upload, as the spec allows. Without `from`,
        // any repository is a source only when every repository is public.
        let from = q
            .from
            .as_deref()
            .map(Name::parse)
            .transpose()
            .ok()
            .flatten();
        let readable = match (&q.from, &from) {
            (None, _) => reg.auth.all_public(),
            (Some(_), Some(from)) => reg.auth.allows(Some(user), from, Access::Read),
            (Some(_), None) => false,
        };
        if readable {
            if let Some(stored) = index::resolve(&reg.db, &digest).await? {
                if index::mount_blob(&reg.db, name, &stored, from.as_ref())
                    .await?
                    .is_some()
                {
                    return Ok(blob_created(name, &digest));
                }
            }
        }
    }
    // The algorithm the bytes will be named by, so they are hashed with it as
    // they arrive: asked for, or that of a whole blob's `?digest=`.
    let algorithm = match (&q.digest_algorithm, &q.digest) {
        (Some(algorithm), _) => parse_algorithm(algorithm)?,
        (None, Some(digest)) => parse_digest(digest)?.algorithm(),
        (None, None) => HashAlgorithm::Sha256,
    };
    let id = UploadArea::new_id();
    let turn = reg.locks.lock(&id).await;
    reg.uploads.create(&id).await?;
    index::create_upload(&reg.db, &id, name, algorithm).await?;
    let session = Session {
        name,
        id: &id,
        received: 0,
        algorithm,
    };
    if q.digest.is_some() {
        // A whole blob in one POST.
        let response = session.finish(req, payload, reg, q).await;
        drop(turn);
        return response;
    }
    Ok(session.status(StatusCode::ACCEPTED))
}

/// An upload session, locked for this request.
struct Session<'a> {
    name: &'a Name,
    id: &'a str,
    received: u64,
    /// What the bytes are hashed with besides sha256.
    algorithm: HashAlgorithm,
}

impl Session<'_> {
    fn location(&self) -> String {
        format!("/v2/{}/blobs/uploads/{}", self.name, self.id)
    }

    /// Where the session stands: `Location`, `Range`, `Docker-Upload-UUID`.
    fn status(&self, status: StatusCode) -> HttpResponse {
        respond(status)
            .insert_header((header::LOCATION, self.location()))
            .insert_header(("range", range_value(self.received)))
            .insert_header((UPLOAD_UUID, self.id))
            .finish()
    }

    /// Checks a `Content-Range: <start>-<end>` against where the upload stands;
    /// returns how many bytes the chunk must have.
    fn chunk_length(&self, req: &HttpRequest) -> Result<Option<u64>, OciError> {
        let Some(value) = req.headers().get(header::CONTENT_RANGE) else {
            return Ok(None);
        };
        let text = value.to_str().unwrap_or("");
        let range = text
            .trim()
            .trim_start_matches("bytes ")
            .trim_start_matches("bytes=");
        let (start, end) = range
            .split_once('-')
            .and_then(|(s, e)| {
                Some((
                    s.parse::<u64>().ok()?,
                    e.split('/').next()?.parse::<u64>().ok()?,
                ))
            })
            .filter(|(s, e)| e >= s)
            .ok_or_else(|| {
                OciError::BlobUploadInvalid(format!("Content-Range {text:?} is not <start>-<end>"))
            })?;
        if start != self.received {
            return Err(OciError::ChunkOutOfOrder {
                location: self.location(),
                size: self.received,
            });
        }
        let length = (end - start).checked_add(1).ok_or_else(|| {
            OciError::BlobUploadInvalid(format!("Content-Range {text:?} is out of range"))
        })?;
        if let Some(declared) = content_length(req) {
            if declared != length {
                return Err(OciError::SizeInvalid(format!(
                    "Content-Range covers {length} bytes, Content-Length says {declared}"
                )));
            }
        }
        Ok(Some(length))
    }

    /// Streams the request body onto the upload and records the new offset.
    async fn append(
        &mut self,
        req: &HttpRequest,
        mut payload: web::Payload,
        reg: &Registry,
    ) -> Result<(), OciError> {
        let expected = self.chunk_length(req)?;
        let appending = reg.uploads.append(self.id, self.received, self.algorithm);
        let mut appender = match appending.await {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                index::delete_upload(&reg.db, self.id).await?;
                return Err(OciError::BlobUploadUnknown);
            }
            Err(e) => return Err(e.into()),
        };
        while let Some(chunk) = payload.next().await {
            // On an error the appender is dropped: the offset stays where it was.
            let chunk =
                chunk.map_err(|e| OciError::BlobUploadInvalid(format!("reading the body: {e}")))?;
            appender.write(chunk).await?;
        }
        let received = appender.finish().await?;
        if let Some(expected) = expected {
            if received - self.received != expected {
                return Err(OciError::SizeInvalid(format!(
                    "the chunk has {} bytes, Content-Range says {expected}",
                    received - self.received
                )));
            }
        }
        index::set_received(&reg.db, self.id, received).await?;
        self.received = received;
        Ok(())
    }

    /// `PATCH`: appends a chunk.
    async fn patch(
        mut self,
        req: &HttpRequest,
        payload: web::Payload,
        reg: &Registry,
    ) -> Result<HttpResponse, OciError> {
        self.append(req, payload, reg).await?;
        Ok(self.status(StatusCode::ACCEPTED))
    }

    /// `PUT ?digest=` (or a `POST ?digest=`): appends the last chunk if any,
    /// checks the digest, stores the blob and ends the session.
    async fn finish(
        mut self,
        req: &HttpRequest,
        payload: web::Payload,
        reg: &Registry,
        q: &Query,
    ) -> Result<HttpResponse, OciError> {
        let digest = parse_digest(q.digest.as_deref().ok_or_else(|| {
            OciError::DigestInvalid("the digest query parameter is missing".into())
        })?)?;
        if digest.algorithm() != HashAlgorithm::Sha256 {
            self.algorithm = digest.algorithm(); // a last chunk is hashed with it too
        }
        if content_length(req) != Some(0) {
            self.append(req, payload, reg).await?;
        }
        let staged = match reg.uploads.finish(self.id, self.received, &digest).await {
            Ok(staged) => staged,
            Err(StoreError::DigestMismatch { actual, .. }) => {
                reg.uploads.remove(self.id).await?;
                index::delete_upload(&reg.db, self.id).await?;
                return Err(OciError::DigestInvalid(format!(
                    "the uploaded bytes hash to {actual}, not {digest}"
                )));
            }
            Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                index::delete_upload(&reg.db, self.id).await?;
                return Err(OciError::BlobUploadUnknown);
            }
            Err(e) => return Err(e.into()),
        };
        let (stored, size) = (staged.digest.clone(), staged.size);
        reg.store.commit(staged).await?;
        index::insert_blob(&reg.db, self.name, &stored, size, &digest).await?;
        index::delete_upload(&reg.db, self.id).await?;
        reg.uploads.remove(self.id).await?; // only the hash state is left
        Ok(blob_created(self.name, &digest))
    }
}

/// The referrers API: the manifests whose `subject` is the digest asked
/// about, stored ones and, for a mirror, its upstream's ([`mirror::referrers`]).
async fn referrers(
    reg: &Registry,
    target: &Resolved,
    subject: &AnyDigest,
    q: &Query,
) -> Result<HttpResponse, OciError> {
    let name = &target.name;
    let filter = q.artifact_type.as_deref().filter(|t| !t.is_empty());
    let upstream = match &target.upstream {
        Some(upstream) => mirror::referrers(reg, name, upstream, subject, filter).await?,
        None => None,
    };
    let found = index::referrers(&reg.db, name, subject, filter).await?;
    let mut manifests: Vec<serde_json::Value> = found
        .into_iter()
        .map(|r| {
            let mut d = serde_json::json!({
                "mediaType": r.media_type,
                "digest": r.digest.to_string(),
                "size": r.size,
            });
            if let Some(t) = r.artifact_type {
                d["artifactType"] = t.into();
            }
            if let Some(a) = r
                .annotations
                .and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok())
            {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    // The upstream's, and those stored only here (fetched by digest before).
    if let Some(mut listed) = upstream {
        for d in manifests {
            if !listed.iter().any(|l| l["digest"] == d["digest"]) {
                listed.push(d);
            }
        }
        manifests = listed;
    }
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": manifests,
    });
    let mut response = respond(StatusCode::OK);
    response.content_type(manifest::OCI_INDEX);
    if filter.is_some() {
        response.insert_header(("oci-filters-applied", "artifactType"));
    }
    Ok(response.body(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_query_parameter_keeps_its_first_value_and_the_others() {
        let q = parse_query("digest=sha256%3Aaa&digest=sha256%3Abb&from=a&from=b&n=3");
        assert_eq!(q.digest.as_deref(), Some("sha256:aa"));
        assert_eq!(q.from.as_deref(), Some("a"));
        assert_eq!(q.n.as_deref(), Some("3"));
        assert_eq!(
            parse_query("artifactType=x&digest-algorithm=sha512")
                .artifact_type
                .as_deref(),
            Some("x")
        );
        assert!(parse_query("").digest.is_none());
    }
}
