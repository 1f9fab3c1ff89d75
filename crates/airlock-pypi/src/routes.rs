//! HTTP routes under `/pypi`: one default service whose raw path is parsed
//! into a [`Target`], GET/HEAD for pages and files, POST for uploads.
//!
//! The raw path is percent-decoded once per segment (a `+` stays a `+`, and
//! `%2B` becomes one), so `foo-1.0+local.whl` and `foo-1.0%2Blocal.whl` name the
//! same file. Redirects (missing slash, unnormalized project name) are relative,
//! so they stay right behind a reverse proxy that adds a prefix. The upload URL
//! never redirects: twine aborts on any redirect.

use crate::error::PypiError;
use crate::mirror::{self, MirrorFile};
use crate::root::{self, RootPage};
use crate::simple::{self, Format};
use crate::{index, inherit, name, upload, IndexKind, Pypi};
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest as _, HttpRequest, HttpResponse};
use airlock_core::auth::Writer;
use airlock_core::metrics::CacheResult;
use airlock_core::rendered::{self, Rendered};
use airlock_core::serve::{self, BlobResponse};
use percent_encoding::percent_decode_str;
use std::sync::Arc;

/// Mounts the Python index. Call inside `web::scope("/pypi")`.
///
/// Every path under the scope goes to `dispatch` as the scope's default
/// service, reached without a pattern match (a `/{tail:.*}` resource runs a
/// regex per request); the method picks the handler.
pub fn configure(pypi: Arc<Pypi>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(pypi))
            .default_service(web::to(dispatch));
    }
}

/// GET/HEAD read pages and files, POST uploads, PUT/DELETE yank and delete.
async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let pypi = web::Data::<Pypi>::extract(&req).await?;
    // Every answer about a configured index, errors too, is counted for it.
    let counters = index_of(req.path()).and_then(|index| pypi.counters.get(index).cloned());
    let mut response = match route(req, pypi, payload).await {
        Ok(response) => response,
        Err(e) => e.error_response(),
    };
    if let Some(counters) = counters {
        response.extensions_mut().insert(counters);
    }
    Ok(response)
}

/// The `<user>/<index>` a path under `/pypi/` names, unchecked.
fn index_of(path: &str) -> Option<&str> {
    let tail = path.split_once("/pypi/")?.1;
    let end = tail
        .match_indices('/')
        .nth(1)
        .map_or(tail.len(), |(i, _)| i);
    Some(&tail[..end])
}

async fn route(
    req: HttpRequest,
    pypi: web::Data<Pypi>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return Ok(read(req, pypi).await?);
    }
    // What the URL answers decides before credentials are asked for.
    let change = change_of(&req, &pypi)?;
    let writer = Writer::extract(&req).await?;
    match change {
        Change::Upload { index } => {
            Ok(upload::upload(&pypi, &index, &writer.0, &req, payload).await?)
        }
        Change::Edit(edit) => {
            let body = web::Bytes::from_request(&req, &mut payload.into_inner()).await?;
            Ok(manage(&pypi, &writer, edit, body).await?)
        }
    }
}

/// Files never change under their URL.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What a request path names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `/<user>/<index>` or `/<user>/<index>/`: the upload URL.
    IndexRoot { index: String },
    /// `/<user>/<index>/simple` without its slash.
    SimpleNoSlash,
    /// `/<user>/<index>/simple/`.
    ProjectList { index: String },
    /// `/<user>/<index>/simple/<project>[/]`, as written.
    Project {
        index: String,
        project: String,
        slash: bool,
    },
    /// `/<user>/<index>/files/<filename>[.metadata]`.
    File {
        index: String,
        filename: String,
        metadata: bool,
    },
    /// `/<user>/<index>/yanked/<filename>`: PUT yanks, DELETE unyanks.
    Yanked { index: String, filename: String },
    /// `/<user>/<index>/versions/<project>/<version>`: DELETE removes its files.
    Version {
        index: String,
        project: String,
        version: String,
    },
}

/// Parses the path after `/pypi/`. `None` is a 404.
fn parse(tail: &str) -> Option<Target> {
    let segments: Vec<String> = tail
        .split('/')
        .map(|s| {
            percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        })
        .collect::<Option<_>>()?;
    let (user, index_part, rest) = match segments.as_slice() {
        [user, index, rest @ ..] => (user, index, rest),
        _ => return None,
    };
    let index = format!("{user}/{index_part}");
    if !crate::is_valid_index_name(&index) {
        return None;
    }
    Some(match rest {
        [] | [_] if rest.first().is_none_or(|s| s.is_empty()) => Target::IndexRoot { index },
        [simple] if simple == "simple" => Target::SimpleNoSlash,
        [simple, empty] if simple == "simple" && empty.is_empty() => Target::ProjectList { index },
        [simple, project] if simple == "simple" => Target::Project {
            index,
            project: project.clone(),
            slash: false,
        },
        [simple, project, empty] if simple == "simple" && empty.is_empty() => Target::Project {
            index,
            project: project.clone(),
            slash: true,
        },
        [files, filename] if files == "files" => match filename.strip_suffix(".metadata") {
            Some(dist) => Target::File {
                index,
                filename: dist.to_owned(),
                metadata: true,
            },
            None => Target::File {
                index,
                filename: filename.clone(),
                metadata: false,
            },
        },
        [yanked, filename] if yanked == "yanked" => Target::Yanked {
            index,
            filename: filename.clone(),
        },
        [versions, project, version] if versions == "versions" => Target::Version {
            index,
            project: project.clone(),
            version: version.clone(),
        },
        _ => return None,
    })
}

impl Target {
    /// The index the URL is under, if any.
    fn index(&self) -> Option<&str> {
        match self {
            Target::SimpleNoSlash => None,
            Target::IndexRoot { index }
            | Target::ProjectList { index }
            | Target::Project { index, .. }
            | Target::File { index, .. }
            | Target::Yanked { index, .. }
            | Target::Version { index, .. } => Some(index),
        }
    }

    /// The methods this URL answers (the `Allow` of a 405). A mirror's files
    /// follow its upstream, so it takes no changes.
    fn allow(&self, hosted: bool) -> &'static str {
        match self {
            Target::IndexRoot { .. } if hosted => "GET, HEAD, POST",
            Target::File {
                metadata: false, ..
            } if hosted => "GET, HEAD, DELETE",
            Target::Yanked { .. } if hosted => "PUT, DELETE",
            Target::Version { .. } if hosted => "DELETE",
            Target::Yanked { .. } | Target::Version { .. } => "",
            _ => "GET, HEAD",
        }
    }
}

/// A change to a hosted index's files, as a POST, PUT or DELETE asks for it.
enum Change {
    /// POST to the index: its body streams to [`upload::upload`].
    Upload {
        index: String,
    },
    Edit(Edit),
}

/// A change to files already in a hosted index.
enum Edit {
    /// PUT on `yanked/<filename>`, with the reason as its body.
    Yank {
        index: String,
        filename: String,
    },
    Unyank {
        index: String,
        filename: String,
    },
    DeleteFile {
        index: String,
        filename: String,
    },
    DeleteVersion {
        index: String,
        project: String,
        version: String,
    },
}

/// The change a POST, PUT or DELETE asks for, or the 405 that says what the
/// URL answers instead.
fn change_of(req: &HttpRequest, pypi: &Pypi) -> Result<Change, PypiError> {
    let target = target(req)?;
    let index = target.index().map(str::to_owned);
    let hosted = match &index {
        Some(index) => known_index(pypi, index)?.kind == IndexKind::Hosted,
        None => false,
    };
    let allow = target.allow(hosted);
    let method = req.method();
    let (put, delete) = (method == Method::PUT, method == Method::DELETE);
    let change = match target {
        Target::IndexRoot { index } if method == Method::POST => Change::Upload { index },
        Target::Yanked { index, filename } if put => Change::Edit(Edit::Yank { index, filename }),
        Target::Yanked { index, filename } if delete => {
            Change::Edit(Edit::Unyank { index, filename })
        }
        Target::File {
            index,
            filename,
            metadata: false,
        } if delete => Change::Edit(Edit::DeleteFile { index, filename }),
        Target::Version {
            index,
            project,
            version,
        } if delete => Change::Edit(Edit::DeleteVersion {
            index,
            project,
            version,
        }),
        _ => {
            return Err(PypiError::MethodNotAllowed {
                allow,
                why: format!("{method} does not apply to {}", req.uri().path()),
            })
        }
    };
    if !hosted {
        let index = index.unwrap_or_default();
        return Err(PypiError::MethodNotAllowed {
            allow,
            why: format!(
                "{index} is a mirror index: its files follow the upstream's; \
                 upload, yank and delete in a hosted index"
            ),
        });
    }
    Ok(change)
}

fn target(req: &HttpRequest) -> Result<Target, PypiError> {
    let raw = req.uri().path();
    let tail = raw.split_once("/pypi/").map(|(_, t)| t).unwrap_or("");
    parse(tail).ok_or_else(|| PypiError::NotFound(format!("no such page: {raw}")))
}

fn known_index<'a>(pypi: &'a Pypi, index: &str) -> Result<&'a crate::IndexSettings, PypiError> {
    pypi.index(index)
        .ok_or_else(|| PypiError::NotFound(format!("no index {index:?}")))
}

/// The longest yank reason accepted.
const YANK_REASON_LIMIT: usize = 1024;

/// PUT and DELETE: yanking, unyanking and deleting, by a configured user.
async fn manage(
    pypi: &Pypi,
    writer: &Writer,
    edit: Edit,
    body: web::Bytes,
) -> Result<HttpResponse, PypiError> {
    let done = |what: String| {
        pypi.pages.changed();
        tracing::info!(user = %writer.0, change = %what, "pypi index changed");
        HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(format!("{what}\n"))
    };
    let no_file = |index: &str, filename: &str| {
        PypiError::NotFound(format!("no file {filename:?} in index {index:?}"))
    };
    match edit {
        Edit::Yank { index, filename } => {
            let reason = std::str::from_utf8(&body)
                .map_err(|_| PypiError::BadRequest("the yank reason is not UTF-8".into()))?
                .trim();
            if reason.len() > YANK_REASON_LIMIT || reason.chars().any(char::is_control) {
                return Err(PypiError::BadRequest(format!(
                    "the yank reason must be one line of at most {YANK_REASON_LIMIT} bytes"
                )));
            }
            if !index::set_yanked(&pypi.db, &index, &filename, Some(reason)).await? {
                return Err(no_file(&index, &filename));
            }
            Ok(done(format!("yanked {filename} in {index}")))
        }
        Edit::Unyank { index, filename } => {
            if !index::set_yanked(&pypi.db, &index, &filename, None).await? {
                return Err(no_file(&index, &filename));
            }
            Ok(done(format!("unyanked {filename} in {index}")))
        }
        Edit::DeleteFile { index, filename } => {
            if !index::delete_file(&pypi.db, &index, &filename).await? {
                return Err(no_file(&index, &filename));
            }
            Ok(done(format!("deleted {filename} from {index}")))
        }
        Edit::DeleteVersion {
            index,
            project,
            version,
        } => {
            let project = name::project_name(&project).map_err(|e| PypiError::NotFound(e.0))?;
            let version =
                name::normalize_version(&version).map_err(|e| PypiError::NotFound(e.0))?;
            let deleted = index::delete_version(&pypi.db, &index, &project, &version).await?;
            if deleted == 0 {
                return Err(PypiError::NotFound(format!(
                    "no files of {project} {version} in index {index:?}"
                )));
            }
            Ok(done(format!(
                "deleted {deleted} files of {project} {version} from {index}"
            )))
        }
    }
}

async fn read(req: HttpRequest, pypi: web::Data<Pypi>) -> Result<HttpResponse, PypiError> {
    match target(&req)? {
        Target::Yanked { .. } | Target::Version { .. } => {
            Err(PypiError::NotFound("not a page".into()))
        }
        Target::IndexRoot { index } => {
            known_index(&pypi, &index)?;
            // Absolute: relative to `/pypi/root/dev` (no slash), `simple/`
            // would be `/pypi/root/simple/`.
            Ok(redirect(&format!("/pypi/{index}/simple/")))
        }
        Target::SimpleNoSlash => Ok(redirect("simple/")),
        Target::ProjectList { index } => {
            known_index(&pypi, &index)?;
            let settings = known_index(&pypi, &index)?;
            let format = format_of(&req)?;
            let cache_control = format!("public, max-age={}", pypi.page_max_age.as_secs());
            let how = page_how(format, &cache_control);
            // Kept with the project pages, under a key no project has.
            let kept = all_hosted(&pypi, settings);
            if let Some(body) = kept.then(|| pypi.pages.get(&index, "/", format)).flatten() {
                return Ok(rendered::respond_prepared(&req, &body, how));
            }
            let generation = pypi.pages.generation();
            Ok(match root::root_page(&pypi, settings, format).await? {
                RootPage::Rendered(body) if kept => {
                    let body = Arc::new(rendered::Prepared::new(body.into_bytes()));
                    pypi.pages
                        .put(&index, "/", format, generation, Arc::clone(&body));
                    rendered::respond_prepared(&req, &body, how)
                }
                RootPage::Rendered(body) => rendered::respond(&req, body, how),
                RootPage::Prepared(body) => rendered::respond_prepared(&req, &body, how),
            })
        }
        Target::Project {
            index,
            project,
            slash,
        } => {
            known_index(&pypi, &index)?;
            let normalized = name::project_name(&project).map_err(|e| PypiError::NotFound(e.0))?;
            if normalized != project {
                let up = if slash { "../" } else { "" };
                return Ok(redirect(&format!(
                    "{up}{}/",
                    simple::encode_segment(&normalized)
                )));
            }
            if !slash {
                return Ok(redirect(&format!("{}/", simple::encode_segment(&project))));
            }
            let format = format_of(&req)?;
            let settings = known_index(&pypi, &index)?;
            let kept = all_hosted(&pypi, settings);
            let cache_control = format!("public, max-age={}", pypi.page_max_age.as_secs());
            let how = page_how(format, &cache_control);
            if let Some(body) = kept
                .then(|| pypi.pages.get(&index, &normalized, format))
                .flatten()
            {
                return Ok(rendered::respond_prepared(&req, &body, how));
            }
            let generation = pypi.pages.generation();
            let files = inherit::project_files(&pypi, settings, &normalized).await?;
            if files.is_empty() {
                return Err(PypiError::NotFound(format!(
                    "no project {normalized:?} in index {index:?}"
                )));
            }
            let body = simple::project_page(format, &normalized, &files);
            if !kept {
                return Ok(rendered::respond(&req, body, how));
            }
            let body = Arc::new(rendered::Prepared::new(body.into_bytes()));
            pypi.pages
                .put(&index, &normalized, format, generation, Arc::clone(&body));
            Ok(rendered::respond_prepared(&req, &body, how))
        }
        Target::File {
            index,
            filename,
            metadata,
        } => {
            let settings = known_index(&pypi, &index)?;
            name::parse_filename(&filename).map_err(|e| PypiError::NotFound(e.0))?;
            let not_found =
                || PypiError::NotFound(format!("no file {filename:?} in index {index:?}"));
            let holder = inherit::holder(&pypi, settings, &filename)
                .await?
                .ok_or_else(not_found)?;
            let content_type = if metadata {
                "text/plain; charset=utf-8"
            } else {
                // Never `application/x-tar` + `Content-Encoding: gzip` for a
                // .tar.gz: clients would unpack it and its hash would not match.
                "application/octet-stream"
            };
            let how = |cache| BlobResponse {
                content_type,
                cache_control: IMMUTABLE,
                cache,
                last_modified: None,
            };
            let mut stored = index::file_blob(&pypi.db, &holder.name, &filename, metadata).await?;
            if stored.is_none() && !metadata && holder.kind == IndexKind::Mirror {
                let pypi_arc = pypi.clone().into_inner();
                match mirror::fetch_file(&pypi_arc, holder, &filename).await? {
                    Some(MirrorFile::Arriving(body)) => {
                        return Ok(serve::fresh(&req, body, how(CacheResult::Miss)));
                    }
                    Some(MirrorFile::Stored(blob)) => stored = Some(blob),
                    None => {
                        stored = index::file_blob(&pypi.db, &holder.name, &filename, false).await?
                    }
                }
            }
            if stored.is_none() && metadata && holder.kind == IndexKind::Mirror {
                stored = mirror::fetch_metadata(&pypi, holder, &filename).await?;
            }
            let stored = stored.ok_or_else(not_found)?;
            Ok(serve::blob(
                &req,
                &*pypi.store,
                &stored.digest,
                stored.size,
                how(CacheResult::Hit),
            )
            .await?)
        }
    }
}

/// Mounts devpi's URL shapes at the server's root, to be registered after
/// every other mount: `/<user>/<index>/+simple/…` and `/<user>/<index>/+f/…/<filename>`
/// answer with a relative redirect to the same page or file under `/pypi`, so
/// `pip.conf` files written for devpi keep working after a host change.
pub fn configure_devpi(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/{user}/{index}/+simple{tail:.*}").to(devpi_redirect))
        .service(web::resource("/{user}/{index}/+f/{tail:.*}").to(devpi_redirect));
}

async fn devpi_redirect(req: HttpRequest) -> Result<HttpResponse, PypiError> {
    let path = req.uri().path();
    let location =
        devpi_location(path).ok_or_else(|| PypiError::NotFound(format!("no such page: {path}")))?;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(PypiError::MethodNotAllowed {
            allow: "GET, HEAD",
            why: "devpi URLs are read-only here; upload to /pypi/<user>/<index>/".into(),
        });
    }
    Ok(redirect(&location))
}

/// The relative location under `/pypi` of a devpi-shaped path.
fn devpi_location(path: &str) -> Option<String> {
    let mut parts = path.strip_prefix('/')?.splitn(4, '/');
    let (user, index, kind) = (parts.next()?, parts.next()?, parts.next()?);
    let rest = parts.next().unwrap_or("");
    let index_name = format!("{user}/{index}");
    if !crate::is_valid_index_name(&index_name) {
        return None;
    }
    let target = match kind {
        "+simple" => format!("pypi/{index_name}/simple/{rest}"),
        "+f" => {
            let filename = rest.rsplit('/').next().filter(|f| !f.is_empty())?;
            format!("pypi/{index_name}/files/{filename}")
        }
        _ => return None,
    };
    let up = "../".repeat(path.matches('/').count().saturating_sub(1));
    Some(format!("{up}{target}"))
}

/// The page format the request asks for (`?format=` wins over `Accept`).
fn format_of(req: &HttpRequest) -> Result<Format, PypiError> {
    let format_param = req.query_string().split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "format").then(|| percent_decode_str(value).decode_utf8_lossy().into_owned())
    });
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    simple::negotiate(accept, format_param.as_deref()).ok_or(PypiError::NotAcceptable)
}

/// Whether `index`'s pages depend only on hosted indexes (kept in `Pypi::pages`).
fn all_hosted(pypi: &Pypi, index: &crate::IndexSettings) -> bool {
    inherit::chain(pypi, index)
        .iter()
        .all(|member| member.kind == IndexKind::Hosted)
}

fn page_how(format: Format, cache_control: &str) -> Rendered<'_> {
    Rendered {
        content_type: format.content_type(),
        cache_control,
        vary: "Accept",
    }
}

fn redirect(location: &str) -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let idx = || "root/dev".to_owned();
        assert_eq!(parse("root/dev"), Some(Target::IndexRoot { index: idx() }));
        assert_eq!(parse("root/dev/"), Some(Target::IndexRoot { index: idx() }));
        assert_eq!(parse("root/dev/simple"), Some(Target::SimpleNoSlash));
        assert_eq!(
            parse("root/dev/simple/"),
            Some(Target::ProjectList { index: idx() })
        );
        assert_eq!(
            parse("root/dev/simple/Foo.Bar/"),
            Some(Target::Project {
                index: idx(),
                project: "Foo.Bar".into(),
                slash: true
            })
        );
        assert_eq!(
            parse("root/dev/files/foo-1.0%2Blocal-py3-none-any.whl.metadata"),
            Some(Target::File {
                index: idx(),
                filename: "foo-1.0+local-py3-none-any.whl".into(),
                metadata: true
            })
        );
        for bad in [
            "root",
            "Root/dev/simple/",
            "root/../simple/",
            "root/dev/files/a/b",
            "root/dev/other/",
            "root/dev/simple/a/b/",
            "root/dev/files/%ff",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_index_of_a_path() {
        assert_eq!(index_of("/pypi/root/pypi/simple/foo/"), Some("root/pypi"));
        assert_eq!(index_of("/pypi/root/prod"), Some("root/prod"));
        assert_eq!(index_of("/pypi/root/prod/"), Some("root/prod"));
        assert_eq!(index_of("/other"), None);
    }

    #[test]
    fn devpi_paths_redirect_under_pypi() {
        assert_eq!(
            devpi_location("/root/pypi/+simple/foo/").as_deref(),
            Some("../../../../pypi/root/pypi/simple/foo/")
        );
        assert_eq!(
            devpi_location("/root/pypi/+simple/").as_deref(),
            Some("../../../pypi/root/pypi/simple/")
        );
        assert_eq!(
            devpi_location("/root/pypi/+f/ab1/cdef/foo-1.0%2Bx.tar.gz").as_deref(),
            Some("../../../../../pypi/root/pypi/files/foo-1.0%2Bx.tar.gz")
        );
        assert_eq!(devpi_location("/Root/pypi/+simple/"), None);
        assert_eq!(devpi_location("/root/pypi/+f/"), None);
    }
}
