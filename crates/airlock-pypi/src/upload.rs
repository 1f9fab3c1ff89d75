//! The legacy upload API that twine and `uv publish` speak: a
//! `multipart/form-data` POST with `:action=file_upload`, the metadata as text
//! fields and the file as the `content` field.
//!
//! The file streams into staging while it is hashed (never whole in memory);
//! the text fields are bounded. Nothing is visible until the file is complete,
//! its digests match the form's, its name matches the form's name and version,
//! and the archive is readable with metadata that agrees. An identical
//! re-upload answers 200; the same filename with other bytes 409.

use crate::dist;
use crate::error::PypiError;
use crate::index::{self, NewUpload, StoredBlob};
use crate::name;
use crate::Pypi;
use actix_web::{web, HttpRequest, HttpResponse};
use airlock_core::store::{BlobStore as _, StagedBlob, StoreError};
use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::Digest as _;

/// The text fields kept from an upload form, at most this large each.
const TEXT_FIELD_LIMIT: u64 = 1 << 20;
/// All text fields together (twine sends the long description), at most.
const TEXT_TOTAL_LIMIT: u64 = 16 << 20;
/// Body chunks queued between the connection and the parser.
const QUEUE: usize = 4;

/// The form fields an upload is checked against.
#[derive(Debug, Default)]
struct Form {
    action: Option<String>,
    name: Option<String>,
    version: Option<String>,
    sha256: Option<String>,
    md5: Option<String>,
    requires_python: Option<String>,
}

/// The `content` field, staged.
struct Content {
    filename: String,
    staged: StagedBlob,
    /// Computed only when no `sha256_digest` came before the file.
    md5: Option<String>,
}

fn bad(message: impl Into<String>) -> PypiError {
    PypiError::BadRequest(message.into())
}

/// `POST /pypi/<index>/`: one file upload by `user`.
pub async fn upload(
    pypi: &Pypi,
    index: &str,
    user: &str,
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, PypiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| bad("the upload must be multipart/form-data with a boundary"))?;
    // The connection's body stream is not `Send`; the parser wants one. Chunks
    // cross through a small channel, pumped in this same task.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUE);
    let pump = async move {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    };
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let limits = multer::SizeLimit::new()
        .whole_stream(pypi.max_upload.saturating_add(TEXT_TOTAL_LIMIT + (1 << 20)));
    let multipart = multer::Multipart::with_constraints(
        body,
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let (_, parsed) = futures_util::join!(pump, read_form(pypi, multipart));
    let (form, content) = parsed?;
    store(pypi, index, user, form, content).await
}

/// Reads every part: text fields into `Form`, the file into staging.
async fn read_form(
    pypi: &Pypi,
    mut multipart: multer::Multipart<'_>,
) -> Result<(Form, Content), PypiError> {
    let malformed = |e: multer::Error| bad(format!("malformed multipart body: {e}"));
    let mut form = Form::default();
    let mut content = None;
    let mut text_total = 0u64;
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let field_name = field.name().unwrap_or_default().to_owned();
        if field_name == "content" {
            if content.is_some() {
                return Err(bad("more than one content field"));
            }
            let filename = field
                .file_name()
                .filter(|f| !f.is_empty())
                .ok_or_else(|| bad("the content field has no filename"))?
                .to_owned();
            let mut writer = pypi.staging.writer(Some(pypi.max_upload)).await?;
            let mut md5 = form.sha256.is_none().then(md5::Md5::new);
            while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                if let Some(md5) = &mut md5 {
                    md5.update(&chunk);
                }
                writer.write(chunk).await.map_err(too_large)?;
            }
            let staged = writer.finish(None).await.map_err(too_large)?;
            content = Some(Content {
                filename,
                staged,
                md5: md5.map(|m| hex::encode(m.finalize())),
            });
            continue;
        }
        let mut text = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            text_total += chunk.len() as u64;
            if text_total > TEXT_TOTAL_LIMIT {
                return Err(bad("the form's text fields are too large"));
            }
            let slot = form_slot(&mut form, &field_name);
            if slot.is_some() {
                if (text.len() + chunk.len()) as u64 > TEXT_FIELD_LIMIT {
                    return Err(bad(format!("the field {field_name} is too large")));
                }
                text.extend_from_slice(&chunk);
            }
        }
        if let Some(slot) = form_slot(&mut form, &field_name) {
            let value = String::from_utf8(text)
                .map_err(|_| bad(format!("the field {field_name} is not UTF-8")))?;
            *slot = Some(value.trim().to_owned());
        }
    }
    let content = content.ok_or_else(|| bad("the upload has no content field (the file)"))?;
    Ok((form, content))
}

/// Where a text field is kept, for the fields an upload is checked against.
fn form_slot<'a>(form: &'a mut Form, field: &str) -> Option<&'a mut Option<String>> {
    match field {
        ":action" => Some(&mut form.action),
        "name" => Some(&mut form.name),
        "version" => Some(&mut form.version),
        "sha256_digest" => Some(&mut form.sha256),
        "md5_digest" => Some(&mut form.md5),
        "requires_python" => Some(&mut form.requires_python),
        _ => None,
    }
}

fn too_large(e: StoreError) -> PypiError {
    match e {
        StoreError::TooLarge { limit } => {
            PypiError::TooLarge(format!("the file exceeds the limit of {limit} bytes"))
        }
        e => PypiError::Store(e),
    }
}

/// Checks the upload against its form and its own metadata, then stores it.
async fn store(
    pypi: &Pypi,
    index: &str,
    user: &str,
    form: Form,
    content: Content,
) -> Result<HttpResponse, PypiError> {
    match form.action.as_deref() {
        Some("file_upload") => {}
        Some(other) => return Err(bad(format!("unsupported :action {other:?}"))),
        None => return Err(bad("missing :action (expected file_upload)")),
    }
    let filename = name::parse_filename(&content.filename).map_err(|e| bad(e.0))?;
    let display_name = form.name.as_deref().ok_or_else(|| bad("missing name"))?;
    if name::project_name(display_name).map_err(|e| bad(e.0))? != filename.project {
        return Err(bad(format!(
            "the filename {:?} is not of project {display_name:?}",
            content.filename
        )));
    }
    let version = form
        .version
        .as_deref()
        .ok_or_else(|| bad("missing version"))?;
    name::normalize_version(version).map_err(|e| bad(e.0))?;
    // Compared as versions (`1.1` is `1.1.0`); the file keeps its filename's.
    let version_norm = name::normalize_version(&filename.version).map_err(|e| bad(e.0))?;
    if !name::same_version(version, &filename.version) {
        return Err(bad(format!(
            "the filename {:?} is not of version {version:?}",
            content.filename
        )));
    }
    let sha256 = content.staged.digest.hex().to_owned();
    match (&form.sha256, &form.md5, &content.md5) {
        (Some(expected), _, _) if !expected.eq_ignore_ascii_case(&sha256) => {
            return Err(bad(format!(
                "sha256_digest {expected} does not match the file's {sha256}"
            )))
        }
        (Some(_), _, _) => {}
        (None, Some(expected), Some(actual)) if !expected.eq_ignore_ascii_case(actual) => {
            return Err(bad(format!(
                "md5_digest {expected} does not match the file's {actual}"
            )))
        }
        (None, Some(_), Some(_)) => {}
        _ => return Err(bad("send sha256_digest (or md5_digest) with the file")),
    }
    // The file itself, or the same distribution under another spelling of
    // its filename (`Foo.Bar_baz-1.0-…` and `foo_bar_baz-1.0-…` name one
    // wheel): files are immutable whatever the spelling, and a yanked
    // release stays yanked. A stored filename of this project and version
    // is among the release's files, so one query answers both.
    // Checked here before the file is stored, and again where it is recorded.
    let same_distribution =
        |other: &str| name::parse_filename(other).is_ok_and(|o| o.same_distribution(&filename));
    for (other, existing) in
        index::release_files(&pypi.db, index, &filename.project, &version_norm).await?
    {
        if other == content.filename || same_distribution(&other) {
            return same_or_conflict(&other, &existing, &sha256);
        }
    }
    let info = {
        let path = content.staged.path().to_owned();
        let checked = filename.clone();
        tokio::task::spawn_blocking(move || dist::check(&path, &checked))
            .await
            .map_err(|e| PypiError::Internal(e.to_string()))?
            .map_err(|e| bad(format!("{}: {e}", content.filename)))?
    };
    let metadata = match info.metadata {
        Some(bytes) => {
            let size = bytes.len() as u64;
            let digest = pypi.store.put_bytes(&pypi.staging, bytes.into()).await?;
            Some(StoredBlob { digest, size })
        }
        None => None,
    };
    let blob = StoredBlob {
        digest: content.staged.digest.clone(),
        size: content.staged.size,
    };
    pypi.store.commit(content.staged).await?;
    let requires_python = info
        .requires_python
        .or(form.requires_python.filter(|r| !r.is_empty()));
    let existing = index::insert_upload(
        &pypi.db,
        NewUpload {
            index,
            project: &filename.project,
            display_name,
            filename: &content.filename,
            version: &version_norm,
            blob: &blob,
            metadata: metadata.as_ref(),
            requires_python: requires_python.as_deref(),
            origin: &format!("upload:{user}"),
            upload_time_us: now_us(),
        },
        same_distribution,
    )
    .await?;
    if let Some((other, existing)) = existing {
        // Another upload of this distribution won the race.
        return same_or_conflict(&other, &existing, &sha256);
    }
    pypi.pages.changed();
    tracing::info!(index, user, filename = %content.filename, size = blob.size, "pypi upload stored");
    Ok(ok(&format!("stored {}", content.filename)))
}

/// An identical re-upload succeeds; other bytes under a taken name do not.
fn same_or_conflict(
    filename: &str,
    existing: &str,
    sha256: &str,
) -> Result<HttpResponse, PypiError> {
    if existing.eq_ignore_ascii_case(sha256) {
        Ok(ok(&format!(
            "{filename} is already stored with these bytes"
        )))
    } else {
        Err(PypiError::Conflict(format!(
            "{filename} already exists with other content (sha256 {existing}); files are immutable"
        )))
    }
}

fn ok(message: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{message}\n"))
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
