//! Talking to one upstream registry: its URL layout, the `Accept` list, and
//! authentication. A `401` with `WWW-Authenticate: Bearer realm=…,service=…`
//! (Docker Hub, ghcr.io, quay.io, another airlock) is answered by fetching a
//! token from the realm, anonymously or with the configured credentials, and
//! retrying once; tokens are cached per scope until they expire. A `Basic`
//! challenge is answered with the credentials.
//!
//! An upstream that answers 429 or 503 with `Retry-After` is not asked again
//! before that time has passed: meanwhile every request to it fails at once
//! with [`UpstreamError::RetryAfter`] (the registry then serves what it has
//! stored, and answers a miss with 429 `TOOMANYREQUESTS` and `Retry-After`).

use crate::UpstreamRegistry;
use airlock_core::digest::AnyDigest;
use airlock_core::upstream::{Upstream, UpstreamBody, UpstreamError, UpstreamRequest};
use airlock_core::Digest;
use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a manifest request accepts: every manifest type airlock stores.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Largest token answer read.
const TOKEN_MAX: u64 = 1 << 20;
/// A token without `expires_in` lives this long (the token spec's default).
const TOKEN_DEFAULT_LIFE: Duration = Duration::from_secs(60);
/// Tokens are dropped this long before they expire.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// One upstream registry.
#[derive(Debug)]
pub struct Remote {
    /// Its configuration.
    pub config: UpstreamRegistry,
    endpoint: String,
    upstream: Upstream,
    /// `Authorization` values per scope, with when they expire.
    tokens: Mutex<HashMap<String, (HeaderValue, Instant)>>,
    /// Until when the upstream asked not to be asked (its `Retry-After`).
    quiet_until: Mutex<Option<Instant>>,
}

/// The longest `Retry-After` honoured: a longer one (or a wrong clock) must
/// not cut a mirror off from its upstream for days.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

impl Remote {
    /// A client for `config`, sending through `upstream`.
    pub fn new(config: UpstreamRegistry, upstream: Upstream) -> Remote {
        Remote {
            endpoint: config.endpoint(),
            config,
            upstream,
            tokens: Mutex::default(),
            quiet_until: Mutex::default(),
        }
    }

    /// The error for a request while the upstream asked to wait, if it did.
    fn quiet(&self, url: &str) -> Option<UpstreamError> {
        let mut until = self.quiet_until.lock().unwrap_or_else(|p| p.into_inner());
        let left = until.and_then(|at| at.checked_duration_since(Instant::now()));
        if left.is_none() {
            *until = None;
        }
        left.map(|left| UpstreamError::RetryAfter {
            url: airlock_core::upstream::redact_str(url),
            status: 429,
            // Rounded up: a client told "0" would come back at once.
            retry_after: Duration::from_secs(left.as_secs() + 1),
        })
    }

    /// Remembers an upstream's `Retry-After`.
    fn note_retry_after(&self, error: &UpstreamError) {
        if let UpstreamError::RetryAfter { retry_after, .. } = error {
            let wait = (*retry_after).min(RETRY_AFTER_MAX);
            tracing::warn!(upstream = %self.config.name, wait_secs = wait.as_secs(),
                "oci: upstream asks to wait (Retry-After); not asking it again before then");
            let mut until = self.quiet_until.lock().unwrap_or_else(|p| p.into_inner());
            *until = Instant::now().checked_add(wait);
        }
    }

    /// `GET` (or `HEAD`) `/v2/<repo>/manifests/<reference>`.
    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        head: bool,
    ) -> Result<UpstreamBody, UpstreamError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.endpoint);
        self.send(repo, &url, head, Some(MANIFEST_ACCEPT)).await
    }

    /// `GET /v2/<repo>/tags/list?n=<n>[&last=<last>]`.
    pub async fn tags(
        &self,
        repo: &str,
        n: u32,
        last: Option<&str>,
    ) -> Result<UpstreamBody, UpstreamError> {
        let mut url = format!("{}/v2/{repo}/tags/list?n={n}", self.endpoint);
        if let Some(last) = last {
            url.push_str("&last=");
            url.extend(percent_encoding::utf8_percent_encode(
                last,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
        self.send(repo, &url, false, Some("application/json")).await
    }

    /// `GET /v2/<repo>/referrers/<digest>[?artifactType=<type>]`.
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &AnyDigest,
        artifact_type: Option<&str>,
    ) -> Result<UpstreamBody, UpstreamError> {
        let mut url = format!("{}/v2/{repo}/referrers/{subject}", self.endpoint);
        if let Some(artifact_type) = artifact_type {
            url.push_str("?artifactType=");
            url.extend(percent_encoding::utf8_percent_encode(
                artifact_type,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
        let accept = "application/vnd.oci.image.index.v1+json";
        self.send(repo, &url, false, Some(accept)).await
    }

    /// `GET /v2/<repo>/blobs/<digest>`.
    pub async fn blob(&self, repo: &str, digest: &Digest) -> Result<UpstreamBody, UpstreamError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.endpoint);
        self.send(repo, &url, false, None).await
    }

    async fn send(
        &self,
        repo: &str,
        url: &str,
        head: bool,
        accept: Option<&'static str>,
    ) -> Result<UpstreamBody, UpstreamError> {
        if let Some(error) = self.quiet(url) {
            return Err(error);
        }
        let result = self.send_authorized(repo, url, head, accept).await;
        if let Err(error) = &result {
            self.note_retry_after(error);
        }
        result
    }

    /// [`Remote::send`], answering the upstream's authentication challenge.
    async fn send_authorized(
        &self,
        repo: &str,
        url: &str,
        head: bool,
        accept: Option<&'static str>,
    ) -> Result<UpstreamBody, UpstreamError> {
        let scope = format!("repository:{repo}:pull");
        let mut authorization = self.cached(&scope);
        let mut url = url.to_owned();
        let (mut answered, mut moved) = (false, false);
        loop {
            let mut headers = HeaderMap::new();
            if let Some(accept) = accept {
                headers.insert(ACCEPT, HeaderValue::from_static(accept));
            }
            if let Some(value) = &authorization {
                headers.insert(AUTHORIZATION, value.clone());
            }
            let request = UpstreamRequest {
                url: &url,
                head,
                headers,
            };
            let (shown, challenge) = match self.upstream.send(&request).await {
                Err(UpstreamError::Unauthorized {
                    url: shown,
                    challenge,
                    answered_by,
                }) => {
                    // A redirect to another host (registry.k8s.io sends clients
                    // to its storage) drops `Authorization`: ask that host itself.
                    if let Some(there) = answered_by.filter(|_| !moved) {
                        moved = true;
                        url = there;
                        if authorization.is_some() {
                            continue; // the cached token may be that host's
                        }
                    }
                    (shown, challenge)
                }
                result => return result,
            };
            let refused = |challenge| UpstreamError::Unauthorized {
                url: shown,
                challenge,
                answered_by: None,
            };
            if answered {
                return Err(refused(challenge));
            }
            answered = true;
            match self.authorize(challenge.as_deref(), &scope).await? {
                Some(value) => authorization = Some(value),
                None => return Err(refused(challenge)),
            }
        }
    }

    /// A cached, unexpired `Authorization` for `scope`.
    fn cached(&self, scope: &str) -> Option<HeaderValue> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        tokens.retain(|_, (_, expiry)| *expiry > now);
        tokens.get(scope).map(|(value, _)| value.clone())
    }

    /// `Basic <user:password>`, when credentials are configured.
    fn basic(&self) -> Option<HeaderValue> {
        let user = self.config.username.as_deref()?;
        let password = self.config.password.as_deref().unwrap_or("");
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).ok()
    }

    /// Answers a challenge: the `Authorization` to retry with, or `None`
    /// when there is nothing to answer it with.
    async fn authorize(
        &self,
        challenge: Option<&str>,
        scope: &str,
    ) -> Result<Option<HeaderValue>, UpstreamError> {
        let Some((scheme, params)) = challenge.and_then(parse_challenge) else {
            return Ok(self.basic());
        };
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(self.basic());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let Some(realm) = params.get("realm") else {
            return Ok(None);
        };
        let mut token_url = reqwest::Url::parse(realm)
            .ok()
            // A `file://` realm would have airlock read its own disk (and
            // send what it found as a token).
            .filter(|url| {
                reqwest::Url::parse(&self.endpoint)
                    .is_ok_and(|from| airlock_core::upstream::may_follow(&from, url))
            })
            .ok_or_else(|| UpstreamError::BadUrl(airlock_core::upstream::redact_str(realm)))?;
        {
            let mut query = token_url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                query.append_pair("service", service);
            }
            query.append_pair("scope", params.get("scope").map_or(scope, String::as_str));
        }
        let mut headers = HeaderMap::new();
        if let Some(basic) = self.basic() {
            headers.insert(AUTHORIZATION, basic);
        }
        let request = UpstreamRequest {
            url: token_url.as_str(),
            head: false,
            headers,
        };
        let answer = self.upstream.send(&request).await?.bytes(TOKEN_MAX).await?;
        let bad = |what: &str| UpstreamError::Transport {
            url: airlock_core::upstream::redact(&token_url),
            message: format!("token answer: {what}"),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&answer).map_err(|_| bad("not JSON"))?;
        let token = json["token"]
            .as_str()
            .or_else(|| json["access_token"].as_str())
            .ok_or_else(|| bad("no token"))?;
        let value =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| bad("bad token"))?;
        let life = json["expires_in"]
            .as_u64()
            .map_or(TOKEN_DEFAULT_LIFE, Duration::from_secs);
        if let Some(expiry) = Instant::now().checked_add(life.saturating_sub(TOKEN_MARGIN)) {
            let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            tokens.insert(scope.to_owned(), (value.clone(), expiry));
        }
        Ok(Some(value))
    }
}

/// Splits `Bearer realm="…",service="…",scope="…"` into its scheme and
/// parameters (quoted values may hold commas).
fn parse_challenge(header: &str) -> Option<(String, HashMap<String, String>)> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    Some((scheme.to_owned(), params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_commas_in_quotes() {
        let (scheme, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        )
        .expect("parse");
        assert_eq!(scheme, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/alpine:pull,push");
        let (scheme, p) = parse_challenge(r#"Basic realm=x"#).expect("parse");
        assert_eq!(scheme, "Basic");
        assert_eq!(p["realm"], "x");
    }
}
