//! The one outbound client: HTTP(S) with timeouts, retries, proxy and per-upstream
//! credentials, and `file://` trees (an upstream can be a directory, such as a
//! copied Go module cache).

use crate::config::UpstreamSettings;
use bytes::Bytes;
use reqwest::{StatusCode, Url};
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// Why an upstream fetch failed. Only [`UpstreamError::NotFound`] means "not there";
/// every other variant is a fault, and a fault must cache nothing.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream answered 404 or 410 (or the file does not exist).
    #[error("upstream {url} has no such file ({status})")]
    NotFound {
        /// The URL, without credentials.
        url: String,
        /// 404 or 410.
        status: u16,
    },
    /// The upstream answered another non-success status.
    #[error("upstream {url} answered {status}")]
    Status {
        /// The URL, without credentials.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The upstream answered 429 or 503 with `Retry-After`: it asks not to
    /// be asked again before `retry_after` has passed.
    #[error("upstream {url} answered {status} and asks to wait {}s", retry_after.as_secs())]
    RetryAfter {
        /// The URL, without credentials.
        url: String,
        /// 429 or 503.
        status: u16,
        /// How long to wait before the next request.
        retry_after: Duration,
    },
    /// The fetch took longer than the configured deadline.
    #[error("upstream {url} did not answer within {secs}s")]
    Timeout {
        /// The URL, without credentials.
        url: String,
        /// The deadline in seconds.
        secs: u64,
    },
    /// The body ended before its declared length.
    #[error("upstream {url} sent {got} of {expected} bytes")]
    Truncated {
        /// The URL, without credentials.
        url: String,
        /// `Content-Length`.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// Connection, TLS, protocol or file errors.
    #[error("upstream {url}: {message}")]
    Transport {
        /// The URL, without credentials.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The body is larger than the caller accepts.
    #[error("upstream {url} sent more than {limit} bytes")]
    TooLarge {
        /// The URL, without credentials.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The URL is not usable (bad syntax or scheme).
    #[error("bad upstream URL {0:?}")]
    BadUrl(String),
    /// The upstream answered 401; `challenge` is its `WWW-Authenticate`
    /// header, which says how to get credentials (e.g. a registry's bearer token).
    #[error("upstream {url} asks for credentials (401)")]
    Unauthorized {
        /// The URL, without credentials.
        url: String,
        /// The `WWW-Authenticate` header, if any.
        challenge: Option<String>,
        /// The URL that answered, when redirects led away from the one asked
        /// (its host issued the challenge: retry there). Never logged: a
        /// signed redirect URL carries its signature.
        answered_by: Option<String>,
    },
}

impl UpstreamError {
    /// True for "the upstream does not have it" (404/410), false for faults.
    pub fn is_not_found(&self) -> bool {
        matches!(self, UpstreamError::NotFound { .. })
    }
}

/// The shared outbound client.
#[derive(Clone, Debug)]
pub struct Upstream {
    settings: UpstreamSettings,
    /// One client (and connection pool) per thread. actix runs one runtime per
    /// worker thread; a pooled connection is driven by the runtime that opened
    /// it, so sharing one pool across workers adds cross-thread wake-ups to every
    /// request (measured on loopback: upstream response headers 235 -> 165 us,
    /// whole cold `.mod` request 0.41 -> 0.31 ms, medians of 100).
    clients: Arc<Mutex<HashMap<std::thread::ThreadId, reqwest::Client>>>,
}

/// A response body being received. Enforces the fetch deadline and checks the
/// length against `Content-Length` at the end.
pub struct UpstreamBody {
    url: String,
    source: BodySource,
    /// The declared length, when the upstream sent one.
    pub content_length: Option<u64>,
    /// The response headers (empty for `file://`); boxed to keep the body small.
    headers: Box<reqwest::header::HeaderMap>,
    received: u64,
    deadline: Instant,
    timeout: Duration,
}

enum BodySource {
    Http(reqwest::Response),
    File(tokio::fs::File),
    /// The answer to a `HEAD`: headers only.
    Empty,
}

/// A request with more than [`Upstream::get`] says: a method (`GET` or
/// `HEAD`) and headers, such as a registry's `Accept` and `Authorization`.
#[derive(Clone, Debug)]
pub struct UpstreamRequest<'a> {
    /// The URL (`http`, `https` or `file`).
    pub url: &'a str,
    /// `HEAD` instead of `GET`: the answer has headers and no body.
    pub head: bool,
    /// Headers to send.
    pub headers: reqwest::header::HeaderMap,
}

/// A URL string as it may appear in logs and errors: without user info.
pub fn redact_str(url: &str) -> String {
    Url::parse(url)
        .map(|u| redact(&u))
        .unwrap_or_else(|_| "<invalid URL>".into())
}

/// The URL as it may appear in logs and errors: without user info.
pub fn redact(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// The `Via` sent with every outbound request: `1.1 airlock-<id>`, one random
/// id per process. A request that comes back to the process that sent it (an
/// upstream, a token realm or a page link that names airlock itself) is
/// recognised by it ([`came_from_here`]) and refused, instead of being
/// fetched again without end.
pub fn via() -> &'static str {
    static VIA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VIA.get_or_init(|| format!("1.1 airlock-{:016x}", rand::random::<u64>()))
}

/// Whether a request's `Via` value includes this process's own.
pub fn came_from_here(header: Option<&str>) -> bool {
    header.is_some_and(|v| v.split(',').any(|hop| hop.trim() == via()))
}

/// Whether a URL that upstream content names (a page's link, a token realm)
/// may be fetched: http(s), or `file://` only when that content itself came
/// from a `file://` upstream the admin configured. [`Upstream`] speaks
/// `file://` for configured local upstreams; a remote answer naming a local
/// path would have airlock read and serve its own disk.
pub fn may_follow(from: &Url, to: &Url) -> bool {
    match to.scheme() {
        "http" | "https" => true,
        "file" => from.scheme() == "file",
        _ => false,
    }
}

impl Upstream {
    /// Builds the client from the settings.
    pub fn new(settings: &UpstreamSettings) -> Result<Self, reqwest::Error> {
        let upstream = Upstream {
            settings: settings.clone(),
            clients: Arc::default(),
        };
        upstream.build_client()?; // report a bad proxy URL now, not at the first fetch
        Ok(upstream)
    }

    fn build_client(&self) -> Result<reqwest::Client, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.settings.connect_timeout)
            .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION")))
            .default_headers(reqwest::header::HeaderMap::from_iter([(
                reqwest::header::VIA,
                reqwest::header::HeaderValue::from_static(via()),
            )]))
            .tcp_nodelay(true);
        match self.settings.proxy.as_deref() {
            None | Some("") => {}
            Some("none") => builder = builder.no_proxy(),
            Some(url) => builder = builder.proxy(reqwest::Proxy::all(url)?),
        }
        builder.build()
    }

    /// This thread's client.
    fn http(&self) -> Result<reqwest::Client, reqwest::Error> {
        let id = std::thread::current().id();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&id) {
            return Ok(client.clone());
        }
        let client = self.build_client()?;
        clients.insert(id, client.clone());
        Ok(client)
    }

    /// Starts fetching `url` (`http`, `https` or `file`). Retries connection
    /// failures, 429 and 5xx before the body starts; the whole fetch, body included,
    /// must finish within the fetch timeout.
    pub async fn get(&self, url: &str) -> Result<UpstreamBody, UpstreamError> {
        self.send(&UpstreamRequest {
            url,
            head: false,
            headers: reqwest::header::HeaderMap::new(),
        })
        .await
    }

    /// [`Upstream::get`] with a method and headers. A 401 is
    /// [`UpstreamError::Unauthorized`], with the upstream's challenge.
    pub async fn send(&self, req: &UpstreamRequest<'_>) -> Result<UpstreamBody, UpstreamError> {
        let url = req.url;
        let mut url = Url::parse(url).map_err(|_| UpstreamError::BadUrl(url.to_owned()))?;
        let shown = redact(&url);
        let deadline = Instant::now() + self.settings.fetch_timeout;
        let body = |source, content_length, headers| UpstreamBody {
            url: shown.clone(),
            source,
            content_length,
            headers: Box::new(headers),
            received: 0,
            deadline,
            timeout: self.settings.fetch_timeout,
        };
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| UpstreamError::BadUrl(shown.clone()))?;
                match tokio::fs::File::open(&path).await {
                    Ok(file) => {
                        let meta = file.metadata().await.map_err(|e| transport(&shown, e))?;
                        if meta.is_dir() {
                            return Err(UpstreamError::NotFound {
                                url: shown,
                                status: 404,
                            });
                        }
                        let source = match req.head {
                            true => BodySource::Empty,
                            false => BodySource::File(file),
                        };
                        Ok(body(source, Some(meta.len()), Default::default()))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Err(UpstreamError::NotFound {
                        url: shown,
                        status: 404,
                    }),
                    Err(e) => Err(transport(&shown, e)),
                }
            }
            "http" | "https" => {
                let http = self.http().map_err(|e| transport(&shown, e))?;
                let user = url.username().to_owned();
                let password = url.password().map(str::to_owned);
                let _ = url.set_username("");
                let _ = url.set_password(None);
                let mut attempt = 0;
                loop {
                    let method = match req.head {
                        true => reqwest::Method::HEAD,
                        false => reqwest::Method::GET,
                    };
                    let mut request = http
                        .request(method, url.clone())
                        .headers(req.headers.clone());
                    if !user.is_empty() {
                        request = request.basic_auth(&user, password.as_deref());
                    }
                    let result = tokio::time::timeout_at(deadline, request.send()).await;
                    let retryable = match result {
                        Err(_) => {
                            return Err(UpstreamError::Timeout {
                                url: shown,
                                secs: self.settings.fetch_timeout.as_secs(),
                            })
                        }
                        Ok(Ok(response)) => {
                            let status = response.status();
                            if status.is_success() {
                                let headers = response.headers().clone();
                                if req.head {
                                    // A HEAD's body is empty; its length is in the header.
                                    let len = headers
                                        .get(reqwest::header::CONTENT_LENGTH)
                                        .and_then(|v| v.to_str().ok())
                                        .and_then(|v| v.parse().ok());
                                    return Ok(body(BodySource::Empty, len, headers));
                                }
                                let len = response.content_length();
                                return Ok(body(BodySource::Http(response), len, headers));
                            }
                            if status == StatusCode::UNAUTHORIZED {
                                let challenge = response
                                    .headers()
                                    .get(reqwest::header::WWW_AUTHENTICATE)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned);
                                let answered_by =
                                    (response.url() != &url).then(|| response.url().to_string());
                                return Err(UpstreamError::Unauthorized {
                                    url: shown,
                                    challenge,
                                    answered_by,
                                });
                            }
                            if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
                                return Err(UpstreamError::NotFound {
                                    url: shown,
                                    status: status.as_u16(),
                                });
                            }
                            let wait = (status == StatusCode::TOO_MANY_REQUESTS
                                || status == StatusCode::SERVICE_UNAVAILABLE)
                                .then(|| retry_after(response.headers()))
                                .flatten();
                            if let Some(wait) = wait {
                                // Asked again sooner, it would only refuse again
                                // (and may count it): wait here if that is short
                                // and a retry is left, else tell the caller.
                                let short = wait <= RETRY_AFTER_WAIT_MAX
                                    && attempt < self.settings.retries
                                    && Instant::now() + wait < deadline;
                                if !short {
                                    return Err(UpstreamError::RetryAfter {
                                        url: shown,
                                        status: status.as_u16(),
                                        retry_after: wait,
                                    });
                                }
                                attempt += 1;
                                tracing::debug!(url = %shown, attempt, ?wait, "upstream asks to wait; retrying after it");
                                tokio::time::sleep(wait).await;
                                continue;
                            }
                            let error = UpstreamError::Status {
                                url: shown.clone(),
                                status: status.as_u16(),
                            };
                            (
                                status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
                                error,
                            )
                        }
                        Ok(Err(e)) => {
                            let retry = e.is_connect() || e.is_timeout() || e.is_request();
                            (retry, transport(&shown, e))
                        }
                    };
                    let (retry, error) = retryable;
                    if !retry || attempt >= self.settings.retries {
                        return Err(error);
                    }
                    attempt += 1;
                    let backoff = Duration::from_millis(200 * 2u64.pow(attempt.min(6)));
                    if Instant::now() + backoff >= deadline {
                        return Err(error);
                    }
                    tracing::debug!(url = %shown, attempt, %error, "retrying upstream fetch");
                    tokio::time::sleep(backoff).await;
                }
            }
            _ => Err(UpstreamError::BadUrl(shown)),
        }
    }
}

/// The longest `Retry-After` a fetch waits out itself before retrying; a
/// longer one is the caller's to honour ([`UpstreamError::RetryAfter`]).
const RETRY_AFTER_WAIT_MAX: Duration = Duration::from_secs(1);

/// A `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at: std::time::SystemTime = value
        .parse::<actix_web::http::header::HttpDate>()
        .ok()?
        .into();
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn transport(url: &str, e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Transport {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

impl UpstreamBody {
    /// The next chunk of the body, `None` at the end. A body shorter than its
    /// `Content-Length`, or one that outlives the deadline, is an error.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        let next = tokio::time::timeout_at(self.deadline, async {
            match &mut self.source {
                BodySource::Http(response) => {
                    response
                        .chunk()
                        .await
                        .map_err(|e| match self.content_length {
                            // hyper reports a connection closed early as a decode error; say what it is.
                            Some(expected) if self.received < expected => {
                                UpstreamError::Truncated {
                                    url: self.url.clone(),
                                    expected,
                                    got: self.received,
                                }
                            }
                            _ => transport(&self.url, e),
                        })
                }
                BodySource::File(file) => {
                    // Never more than what is left: small files must not cost a 1 MiB buffer.
                    let left = self
                        .content_length
                        .map_or(1 << 20, |len| len.saturating_sub(self.received));
                    let mut buf = vec![0u8; left.clamp(1, 1 << 20) as usize];
                    let n = file
                        .read(&mut buf)
                        .await
                        .map_err(|e| transport(&self.url, e))?;
                    buf.truncate(n);
                    Ok((n > 0).then(|| Bytes::from(buf)))
                }
                BodySource::Empty => Ok(None),
            }
        })
        .await
        .map_err(|_| UpstreamError::Timeout {
            url: self.url.clone(),
            secs: self.timeout.as_secs(),
        })??;
        match next {
            Some(chunk) => {
                self.received += chunk.len() as u64;
                if let Some(expected) = self.content_length {
                    if self.received > expected {
                        return Err(transport(&self.url, "body longer than Content-Length"));
                    }
                }
                Ok(Some(chunk))
            }
            None => match self.content_length {
                Some(_) if matches!(self.source, BodySource::Empty) => Ok(None),
                Some(expected) if expected != self.received => Err(UpstreamError::Truncated {
                    url: self.url.clone(),
                    expected,
                    got: self.received,
                }),
                _ => Ok(None),
            },
        }
    }

    /// Reads the whole body, refusing more than `limit` bytes (for small metadata only).
    pub async fn bytes(mut self, limit: u64) -> Result<Vec<u8>, UpstreamError> {
        let too_large = |url: &str| UpstreamError::TooLarge {
            url: url.to_owned(),
            limit,
        };
        if self.content_length.is_some_and(|len| len > limit) {
            return Err(too_large(&self.url));
        }
        let mut out = Vec::with_capacity(self.content_length.unwrap_or(0) as usize);
        while let Some(chunk) = self.chunk().await? {
            if out.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large(&self.url));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The response headers (none for `file://`).
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        &self.headers
    }

    /// The URL this body comes from, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The `file://` URL of a local path, for reading it through [`Upstream::get`].
pub fn file_url(path: &Path) -> io::Result<String> {
    let absolute = std::path::absolute(path)?;
    Url::from_file_path(&absolute)
        .map(String::from)
        .map_err(|()| io::Error::other(format!("{} cannot be a file URL", absolute.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_from_upstream_content_stay_remote_unless_the_content_is_local() {
        let url = |u: &str| Url::parse(u).expect("url");
        let remote = url("https://pypi.example/simple/foo/");
        let local = url("file:///srv/simple/foo/");
        assert!(may_follow(&remote, &url("https://files.example/a.whl")));
        assert!(may_follow(&remote, &url("http://files.example/a.whl")));
        assert!(!may_follow(&remote, &url("file:///etc/passwd")));
        assert!(!may_follow(&remote, &url("ftp://files.example/a.whl")));
        assert!(may_follow(&local, &url("file:///srv/files/a.whl")));
    }

    #[test]
    fn a_request_from_this_process_is_recognised_by_its_via() {
        assert!(via().starts_with("1.1 airlock-"));
        assert!(came_from_here(Some(via())));
        assert!(came_from_here(Some(&format!(
            "1.1 proxy.example, {}",
            via()
        ))));
        assert!(!came_from_here(Some("1.1 airlock-0000000000000000")));
        assert!(!came_from_here(None));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "120".parse().expect("value"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        let later = std::time::SystemTime::now() + Duration::from_secs(600);
        let date = actix_web::http::header::HttpDate::from(later).to_string();
        headers.insert(reqwest::header::RETRY_AFTER, date.parse().expect("value"));
        let wait = retry_after(&headers).expect("a date");
        assert!(
            wait > Duration::from_secs(590) && wait <= Duration::from_secs(600),
            "{wait:?}"
        );
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().expect("value"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a past date");
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().expect("value"));
        assert_eq!(retry_after(&headers), None);
    }
}
