//! HTTP routes under `/go`: one resource that parses its path into a
//! [`GoRequest`] and dispatches on it.

use crate::error::GoError;
use crate::proxy::{Found, GoProxy};
use crate::request::{self, FileKind, GoRequest, SumDbPath};
use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use airlock_core::serve::{self, BlobResponse};
use serde::Deserialize;
use std::sync::Arc;

/// Mounts the Go proxy. Call inside `web::scope("/go")`.
///
/// Every path under the scope goes to one handler that parses it itself: as the
/// scope's default service it is reached without a pattern match (a `/{tail:.*}`
/// resource costs a regex run per request, a third of a small GET's CPU).
pub fn configure(proxy: Arc<GoProxy>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(proxy))
            .default_service(web::to(handle));
    }
}

/// The header goproxy users send to ask for cached content only.
const DISABLE_FETCH: &str = "disable-module-fetch";

const IMMUTABLE: &str = "public, max-age=604800, immutable";
const MUTABLE: &str = "public, max-age=60";

#[derive(Deserialize)]
struct CatalogQuery {
    token: Option<String>,
    pagesize: Option<u32>,
}

async fn handle(req: HttpRequest, proxy: web::Data<GoProxy>) -> Result<HttpResponse, GoError> {
    // The raw path: `go` percent-encodes `!`, and `+` must not become a space.
    let raw = req.uri().path();
    // `/go` itself: the server's plain 404, as for any path nothing is mounted at.
    let Some((_, tail)) = raw.split_once("/go/") else {
        return Ok(HttpResponse::NotFound().finish());
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(GoError::MethodNotAllowed(req.method().to_string()));
    }
    let parsed = request::parse(tail).map_err(|e| GoError::BadPath(e.0))?;
    let disable_fetch = req
        .headers()
        .get(DISABLE_FETCH)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let fetch = proxy.may_fetch(disable_fetch);
    match parsed {
        GoRequest::File {
            module,
            version,
            kind,
        } => {
            let found = proxy
                .clone()
                .into_inner()
                .file(&module, &version, kind, fetch)
                .await?;
            let content_type = match kind {
                FileKind::Info => "application/json; charset=utf-8",
                FileKind::Mod => "text/plain; charset=utf-8",
                FileKind::Zip => "application/zip",
            };
            let how = BlobResponse {
                content_type,
                cache_control: IMMUTABLE,
                cache: found.cache(),
                last_modified: None,
            };
            send(&req, &proxy, found, how).await
        }
        GoRequest::List { module } => {
            let body = proxy.list_body(&module, fetch).await?;
            Ok(small(&req, "text/plain; charset=utf-8", body))
        }
        GoRequest::Latest { module } => {
            let body = proxy.latest_body(&module, fetch).await?;
            Ok(small(&req, "application/json; charset=utf-8", body))
        }
        GoRequest::Query { module, query } => {
            let body = proxy
                .clone()
                .into_inner()
                .query(&module, &query, fetch)
                .await?;
            Ok(small(&req, "application/json; charset=utf-8", body))
        }
        GoRequest::SumDb { name, path } => {
            let path = match path {
                SumDbPath::Supported => {
                    if proxy.sumdbs.iter().any(|s| s.name == name) {
                        return Ok(HttpResponse::Ok()
                            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
                            .finish());
                    }
                    return Err(GoError::NotFound(format!(
                        "checksum database {name:?} is not proxied by this airlock"
                    )));
                }
                SumDbPath::Latest => "latest".to_owned(),
                SumDbPath::Immutable(p) => p,
            };
            let found = proxy.sumdb_file(&name, &path, fetch).await?;
            let how = BlobResponse {
                content_type: if path.starts_with("tile/") {
                    "application/octet-stream"
                } else {
                    "text/plain; charset=utf-8"
                },
                cache_control: if path == "latest" { MUTABLE } else { IMMUTABLE },
                cache: found.cache(),
                last_modified: None,
            };
            send(&req, &proxy, found, how).await
        }
        GoRequest::Catalog => {
            let query = web::Query::<CatalogQuery>::from_query(req.query_string())
                .map_err(|e| GoError::BadPath(format!("catalog query: {e}")))?;
            let limit = query.pagesize.unwrap_or(1000).clamp(1, 10_000);
            let after = query.token.as_deref().and_then(|t| t.rsplit_once('@'));
            let page = crate::index::catalog(&proxy.db, after, limit).await?;
            let next = (page.len() as u32 == limit)
                .then(|| page.last().map(|e| format!("{}@{}", e.module, e.version)))
                .flatten();
            let modules: Vec<_> = page
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "module": e.module,
                        "version": e.version,
                        "verification": e.verification,
                    })
                })
                .collect();
            let body = serde_json::json!({ "modules": modules, "next": next });
            Ok(small(
                &req,
                "application/json",
                body.to_string().into_bytes(),
            ))
        }
    }
}

/// Sends a stored file, or one just fetched and not yet committed.
async fn send(
    req: &HttpRequest,
    proxy: &GoProxy,
    found: Found,
    how: BlobResponse<'_>,
) -> Result<HttpResponse, GoError> {
    match found {
        Found::Fresh { body, .. } => Ok(serve::fresh(req, body, how)),
        Found::Stored { file, .. } => {
            Ok(serve::blob(req, proxy.store.as_ref(), &file.digest, file.size, how).await?)
        }
    }
}

/// A small computed body (`list`, `@latest`, queries): not cached by clients for long.
fn small(req: &HttpRequest, content_type: &str, body: impl Into<bytes::Bytes>) -> HttpResponse {
    let body: bytes::Bytes = body.into();
    let mut resp = HttpResponse::Ok();
    resp.content_type(content_type)
        .insert_header((header::CACHE_CONTROL, MUTABLE));
    if req.method() == Method::HEAD {
        return serve::head_response(resp, body.len() as u64);
    }
    resp.body(body)
}
