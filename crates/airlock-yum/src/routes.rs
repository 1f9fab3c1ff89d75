//! `/yum/…` over HTTP, served the way nginx serves a static tree: GET and
//! HEAD with `Range`, `ETag`/`If-None-Match` and `Last-Modified`/
//! `If-Modified-Since`, an `autoindex`-style listing for directories; PUT and
//! DELETE of packages in hosted repositories with write credentials.
//!
//! A path is split into a configured repository and a path inside it, which is
//! looked up in the repository's snapshot in the index: nothing is ever read
//! from a directory named by a client.

use crate::error::YumError;
use crate::index::{self, StoredFile};
use crate::publish::REPOMD;
use crate::pull::{self, Pulled};
use crate::{Added, RepoKind, Yum};
use actix_web::http::header::{self, HttpDate};
use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest as _, HttpRequest, HttpResponse};
use airlock_core::auth::Writer;
use airlock_core::metrics::CacheResult;
use airlock_core::serve::{self, BlobResponse};
use futures_util::StreamExt as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// Mounts the routes; use inside `web::scope("/yum")`.
///
/// Every path under the scope goes to `dispatch` as the scope's default
/// service, reached without a pattern match (a `/{tail:.*}` resource runs a
/// regex per request); the method picks the handler.
pub fn configure(yum: Arc<Yum>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(yum))
            .default_service(web::to(dispatch));
    }
}

/// GET/HEAD read (`/yum` itself redirects to `/yum/`), PUT uploads, DELETE
/// deletes; other methods are a 405 that says which are allowed.
async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let yum = web::Data::<Yum>::extract(&req).await?;
    let method = req.method().clone();
    let read = method == Method::GET || method == Method::HEAD;
    if req.uri().path() == "/yum" {
        return Ok(if read {
            redirect_to_directory(&req)
        } else {
            method_not_allowed(READ_METHODS)
        });
    }
    if read {
        return Ok(get(req, yum).await?);
    }
    if method != Method::PUT && method != Method::DELETE {
        return Ok(method_not_allowed("GET, HEAD, PUT, DELETE"));
    }
    let writer = Writer::extract(&req).await?;
    if method == Method::PUT {
        Ok(put(req, yum, writer, payload).await?)
    } else {
        Ok(delete(req, yum, writer).await?)
    }
}

/// What a mirror repository, or anything that is not a file of a hosted
/// one, answers to.
pub(crate) const READ_METHODS: &str = "GET, HEAD";

/// 405, with the `Allow` header RFC 9110 requires.
fn method_not_allowed(allow: &str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(format!("method not allowed here; allowed: {allow}\n"))
}

/// The path after `/yum/`, percent-decoded once, with `.`, `..` and empty
/// segments refused (a trailing `/` marks a directory and is kept).
fn request_path(req: &HttpRequest) -> Result<String, YumError> {
    let raw = req.uri().path();
    let tail = raw
        .strip_prefix("/yum")
        .map(|t| t.strip_prefix('/').unwrap_or(t))
        .unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(tail)
        .decode_utf8()
        .map_err(|_| YumError::BadPath("the path is not UTF-8".into()))?
        .into_owned();
    let inner = decoded.strip_suffix('/').unwrap_or(&decoded);
    if !inner.is_empty()
        && inner
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains(['\\', '\0']))
    {
        return Err(YumError::BadPath(format!(
            "{decoded:?}: no empty, '.' or '..' segments"
        )));
    }
    Ok(decoded)
}

async fn get(req: HttpRequest, yum: web::Data<Yum>) -> Result<HttpResponse, YumError> {
    let path = request_path(&req)?;
    let Some((repo, rest)) = yum.resolve(path.trim_end_matches('/')) else {
        return repo_directory(&req, &yum, &path);
    };
    let rest = match rest {
        // `/yum/<repo>` without its slash, or with it.
        None if !path.ends_with('/') => return Ok(redirect_to_directory(&req)),
        None => String::new(),
        Some(_) => path[repo.name.len() + 1..].to_owned(),
    };
    if rest.is_empty() || rest.ends_with('/') {
        let files = index::list_files(&yum.db, &repo.name, &rest).await?;
        if files.is_empty() && !rest.is_empty() {
            return Err(YumError::NotFound(format!("/yum/{path}")));
        }
        return Ok(listing(&req, &rest, &files));
    }
    // repomd.xml only ever from the current snapshot; the files it lists also
    // from snapshots superseded within the grace period.
    let superseded_since = if rest == REPOMD {
        i64::MAX
    } else {
        airlock_core::unix_now() - yum.grace_period.as_secs() as i64
    };
    let key = (repo.name.clone(), rest);
    let found = match yum.kept_files.get(&key) {
        Some(kept) => Some(kept),
        None => {
            let ticket = yum.kept_files.ticket();
            let found = index::find_file(&yum.db, &key.0, &key.1, superseded_since).await?;
            if let Some(found) = &found {
                yum.kept_files.put(ticket, key.clone(), found.clone(), 1);
            }
            found
        }
    };
    let rest = key.1;
    match found {
        Some(file) => serve_file(&req, &yum, &file).await,
        None if repo.kind == RepoKind::Mirror => {
            let yum_arc = yum.clone().into_inner();
            match pull::pull(&yum_arc, &repo.name, &rest, superseded_since).await? {
                Some(Pulled::Stored(file)) => serve_file(&req, &yum, &file).await,
                Some(Pulled::Streaming(body)) => {
                    let how = BlobResponse {
                        content_type: content_type(&rest),
                        cache_control: "public, max-age=3600",
                        cache: CacheResult::Miss,
                        last_modified: None,
                    };
                    Ok(serve::fresh(&req, body, how))
                }
                None => not_found_or_directory(&req, &yum, &repo.name, &path, &rest).await,
            }
        }
        None => not_found_or_directory(&req, &yum, &repo.name, &path, &rest).await,
    }
}

/// A path with no file: a directory (redirected to its `/` form) or a 404.
async fn not_found_or_directory(
    req: &HttpRequest,
    yum: &Yum,
    repo: &str,
    path: &str,
    rest: &str,
) -> Result<HttpResponse, YumError> {
    let under = index::list_files(&yum.db, repo, &format!("{rest}/")).await?;
    if under.is_empty() {
        Err(YumError::NotFound(format!("/yum/{path}")))
    } else {
        Ok(redirect_to_directory(req))
    }
}

/// nginx answers a directory without its trailing slash with a redirect.
fn redirect_to_directory(req: &HttpRequest) -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, format!("{}/", req.uri().path())))
        .finish()
}

/// A directory above the repositories (`/yum/`, `/yum/rocky/`): their names' next segments.
fn repo_directory(req: &HttpRequest, yum: &Yum, path: &str) -> Result<HttpResponse, YumError> {
    let prefix = if path.is_empty() || path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    };
    // A set: `rocky/10/baseos` and `rocky/10/appstream` share `rocky/`.
    let children: std::collections::BTreeSet<String> = yum
        .repos
        .iter()
        .filter_map(|r| r.name.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('/').next())
        .map(|child| format!("{child}/"))
        .collect();
    if children.is_empty() && !path.is_empty() {
        return Err(YumError::NotFound(format!("/yum/{path}")));
    }
    if !path.is_empty() && !path.ends_with('/') {
        return Ok(redirect_to_directory(req));
    }
    let entries = children
        .into_iter()
        .map(|name| Entry {
            name,
            modified_at: None,
            size: None,
        })
        .collect();
    Ok(listing_page(req, entries))
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "rpm" => "application/x-rpm",
        "xml" => "text/xml",
        "gz" => "application/gzip",
        "xz" => "application/x-xz",
        "zst" => "application/zstd",
        "bz2" => "application/x-bzip2",
        "asc" | "txt" => "text/plain",
        "yaml" => "application/yaml",
        _ => "application/octet-stream",
    }
}

async fn serve_file(
    req: &HttpRequest,
    yum: &Yum,
    file: &StoredFile,
) -> Result<HttpResponse, YumError> {
    let how = BlobResponse {
        content_type: content_type(&file.path),
        cache_control: cache_control(&file.path),
        cache: CacheResult::Hit,
        last_modified: Some(UNIX_EPOCH + Duration::from_secs(file.modified_at.max(0) as u64)),
    };
    Ok(serve::blob(req, yum.store.as_ref(), &file.digest, file.size, how).await?)
}

/// `repomd.xml` is revalidated every time; metadata files named by their
/// checksum (`<hex>-primary.xml.gz`, createrepo_c's default) never change
/// under their name. Anything else may (a mirror keeps upstream's names,
/// which `--simple-md-filenames` makes `repodata/primary.xml.gz`).
fn cache_control(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let checksum_named = name
        .split_once('-')
        .is_some_and(|(hex, _)| hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if path == REPOMD {
        "no-cache"
    } else if path.starts_with("repodata/") && checksum_named {
        "public, max-age=604800, immutable"
    } else {
        "public, max-age=3600"
    }
}

/// One line of a listing.
struct Entry {
    /// Ends in `/` for a directory.
    name: String,
    modified_at: Option<i64>,
    size: Option<u64>,
}

/// The listing of directory `dir` (relative to the repository, `""` or ending
/// in `/`) from the snapshot's files under it.
fn listing(req: &HttpRequest, dir: &str, files: &[StoredFile]) -> HttpResponse {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for file in files {
        let Some(rest) = file.path.strip_prefix(dir) else {
            continue;
        };
        let (name, size) = match rest.split_once('/') {
            Some((sub, _)) => (format!("{sub}/"), None),
            None => (rest.to_owned(), Some(file.size)),
        };
        let entry = entries.entry(name.clone()).or_insert(Entry {
            name,
            modified_at: None,
            size,
        });
        entry.modified_at = entry.modified_at.max(Some(file.modified_at));
    }
    listing_page(req, entries.into_values().collect())
}

/// nginx `autoindex` layout: directories first, then files; name, date, size.
fn listing_page(req: &HttpRequest, mut entries: Vec<Entry>) -> HttpResponse {
    entries
        .sort_by(|a, b| (!a.name.ends_with('/'), &a.name).cmp(&(!b.name.ends_with('/'), &b.name)));
    let title = quick_xml::escape::escape(req.uri().path()).into_owned();
    let mut body = format!(
        "<html>\r\n<head><title>Index of {title}</title></head>\r\n<body>\r\n<h1>Index of {title}</h1><hr><pre><a href=\"../\">../</a>\r\n"
    );
    for e in &entries {
        let href = percent_encoding::utf8_percent_encode(&e.name, LISTING_ESCAPE).to_string();
        let shown: String = if e.name.chars().count() > 50 {
            e.name.chars().take(47).collect::<String>() + "..>"
        } else {
            e.name.clone()
        };
        let pad = 51usize.saturating_sub(shown.chars().count());
        let date = e
            .modified_at
            .map(listing_date)
            .unwrap_or_else(|| "-".into());
        let size = e.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        body.push_str(&format!(
            "<a href=\"{href}\">{}</a>{:pad$}{date:<17} {size:>19}\r\n",
            quick_xml::escape::escape(shown.as_str()),
            ""
        ));
    }
    body.push_str("</pre><hr></body>\r\n</html>\r\n");
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(body)
}

/// Characters escaped in listing links: what would end or change the meaning
/// of the relative URL (`#`, `%`, `?`, a `:` that would make `a:b.rpm` a
/// scheme) or of the HTML attribute (`"`, `&`, `'`, `<`, `>`), as nginx's
/// autoindex escapes them; the server decodes them back.
pub(crate) const LISTING_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b':')
    .add(b';')
    .add(b'?')
    .add(b'<')
    .add(b'>');

/// `06-Dec-2026 11:55`, from the HTTP date (`Sun, 06 Dec 2026 11:55:00 GMT`).
fn listing_date(unix: i64) -> String {
    let http = HttpDate::from(UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)).to_string();
    let parts: Vec<&str> = http.split(' ').collect();
    match parts.as_slice() {
        [_, day, month, year, time, _] => {
            format!("{day}-{month}-{year} {}", time.get(..5).unwrap_or(time))
        }
        _ => http,
    }
}

/// The hosted repository and package path a write names.
fn write_target<'p>(yum: &Yum, path: &'p str) -> Result<(String, &'p str), YumError> {
    match yum.resolve(path) {
        Some((repo, Some(rest))) if !rest.is_empty() => {
            crate::check_upload_path(rest)?;
            Ok((repo.name.clone(), rest))
        }
        _ => Err(YumError::NotFound(format!(
            "/yum/{path} is not a package path in a configured repository"
        ))),
    }
}

/// `PUT /yum/<repo>/<path>.rpm`: streams the body into staging while hashing
/// it, checks it as an RPM, stores it and republishes the repository.
async fn put(
    req: HttpRequest,
    yum: web::Data<Yum>,
    writer: Writer,
    mut body: web::Payload,
) -> Result<HttpResponse, YumError> {
    let path = request_path(&req)?;
    let (repo, href) = write_target(&yum, &path)?;
    yum.hosted(&repo)?;
    let mut staging = yum.staging.writer(Some(yum.max_upload)).await?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| YumError::BadRpm(format!("upload interrupted: {e}")))?;
        staging.write(chunk).await?;
    }
    let staged = staging.finish(None).await?;
    let digest = staged.digest.clone();
    let added = yum.add_package(&repo, href, staged).await?;
    yum.publish(&repo).await?;
    tracing::info!(repo, href, %digest, user = %writer.0, ?added, "yum package uploaded");
    let (status, what) = match added {
        Added::New => (StatusCode::CREATED, "stored"),
        Added::Unchanged => (StatusCode::OK, "already stored"),
    };
    Ok(HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(format!("{what}: /yum/{path} {digest}\n")))
}

/// `DELETE /yum/<repo>/<path>.rpm`: removes the package and republishes.
async fn delete(
    req: HttpRequest,
    yum: web::Data<Yum>,
    writer: Writer,
) -> Result<HttpResponse, YumError> {
    let path = request_path(&req)?;
    let (repo, href) = write_target(&yum, &path)?;
    yum.delete_package(&repo, href).await?;
    yum.publish(&repo).await?;
    tracing::info!(repo, href, user = %writer.0, "yum package deleted");
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body(format!("deleted: /yum/{path}\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_links_keep_names_whole() {
        let req = actix_web::test::TestRequest::default().to_http_request();
        let entry = |name: &str| Entry {
            name: name.to_owned(),
            modified_at: Some(0),
            size: Some(1),
        };
        let page = listing_page(&req, vec![entry("a:b.rpm"), entry("x&amp;y'z.rpm")]);
        let body = actix_web::body::to_bytes(page.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .expect("a ready body")
            .expect("body");
        let body = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(body.contains("<a href=\"a%3Ab.rpm\">a:b.rpm</a>"), "{body}");
        assert!(
            body.contains("<a href=\"x%26amp%3By%27z.rpm\">x&amp;amp;y&apos;z.rpm</a>"),
            "{body}"
        );
    }

    #[test]
    fn only_checksum_named_metadata_is_immutable() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(cache_control(REPOMD), "no-cache");
        let named = format!("repodata/{hex}-primary.xml.gz");
        assert_eq!(cache_control(&named), "public, max-age=604800, immutable");
        for mutable in [
            "repodata/primary.xml.gz",
            "repodata/comps.xml",
            "repodata/abc-comps.xml",
            "Packages/a.rpm",
        ] {
            assert_eq!(cache_control(mutable), "public, max-age=3600", "{mutable}");
        }
    }

    #[test]
    fn listing_dates_look_like_nginx() {
        assert_eq!(listing_date(1_796_558_100), "06-Dec-2026 11:55");
    }
}
