//! Who may write, and the bearer-token handshake docker, podman and helm expect.
//!
//! Reads are anonymous. Writes need a `[[users]]` entry, given either as HTTP
//! basic credentials on each request or as a bearer token from the token
//! endpoint (`/v2/_token`, the `realm` of the challenge). The token flow is
//! what clients follow after `/v2/` answers 401 with a `Bearer` challenge: they
//! ask the realm for a token, with their credentials if they have any, and
//! send it on every request. Anonymous clients get an anonymous token, which
//! reads (as everyone can) but never writes; docker refuses a `Basic` challenge
//! it has no credentials for, so the challenge is `Bearer`.
//!
//! A token is `<payload>.<mac>`, both base64url: the payload is
//! `<expiry unix seconds>:<user or empty>`, the mac its HMAC-SHA256 under a
//! key drawn at start. Tokens therefore end with the process; clients ask for
//! a new one when they meet a 401.

use crate::error::OciError;
use actix_web::http::header;
use actix_web::{FromRequest as _, HttpRequest};
use airlock_core::auth::Writer;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use std::time::Duration;

/// How long a token is good for.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// The `service` named in challenges and tokens.
const SERVICE: &str = "airlock";

/// Issues and checks bearer tokens.
pub struct Tokens {
    key: [u8; 32],
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            key: rand::random(),
        }
    }
}

impl Tokens {
    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(payload);
        mac
    }

    /// A token for `user` (`None`: anonymous), valid for [`TOKEN_LIFETIME`].
    pub fn issue(&self, user: Option<&str>) -> String {
        let expiry = airlock_core::unix_now() + TOKEN_LIFETIME.as_secs() as i64;
        let payload = format!("{expiry}:{}", user.unwrap_or(""));
        let mac = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!("{}.{}", B64.encode(payload), B64.encode(mac))
    }

    /// The user a token was issued to: `Some(None)` for an anonymous token,
    /// `None` when it is forged, malformed or expired.
    pub fn verify(&self, token: &str) -> Option<Option<String>> {
        let (payload, mac) = token.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        self.mac(&payload)
            .verify_slice(&B64.decode(mac).ok()?)
            .ok()?;
        let text = String::from_utf8(payload).ok()?;
        let (expiry, user) = text.split_once(':')?;
        if expiry.parse::<i64>().ok()? < airlock_core::unix_now() {
            return None;
        }
        Some((!user.is_empty()).then(|| user.to_owned()))
    }
}

/// The credentials a request carries.
enum Presented {
    None,
    Bearer(String),
    Basic,
}

fn presented(req: &HttpRequest) -> Presented {
    let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Presented::None;
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Presented::Bearer(token.trim().to_owned())
        }
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("basic") => Presented::Basic,
        _ => Presented::None,
    }
}

/// The `WWW-Authenticate` challenge: where to get a token, and for what.
pub fn challenge(req: &HttpRequest, scope: Option<&str>) -> String {
    let conn = req.connection_info();
    let mut challenge = format!(
        "Bearer realm=\"{}://{}/v2/_token\",service=\"{SERVICE}\"",
        conn.scheme(),
        conn.host()
    );
    if let Some(scope) = scope {
        challenge.push_str(&format!(",scope=\"{scope}\""));
    }
    challenge
}

fn unauthorized(req: &HttpRequest, scope: Option<&str>, reason: &'static str) -> OciError {
    OciError::Unauthorized {
        reason,
        challenge: challenge(req, scope),
    }
}

/// The writer a request authenticates as (basic credentials or a user's
/// token); 401 with a challenge for `scope` otherwise.
pub async fn writer(
    req: &HttpRequest,
    tokens: &Tokens,
    scope: Option<&str>,
) -> Result<String, OciError> {
    const NEED: &str = "pushes and deletes need the credentials of a [[users]] entry";
    match presented(req) {
        Presented::Bearer(token) => match tokens.verify(&token) {
            Some(Some(user)) => Ok(user),
            Some(None) => Err(unauthorized(req, scope, NEED)),
            None => Err(unauthorized(req, scope, "the token is invalid or expired")),
        },
        Presented::Basic => Writer::extract(req)
            .await
            .map(|w| w.0)
            .map_err(|_| unauthorized(req, scope, "wrong user name or password")),
        Presented::None => Err(unauthorized(req, scope, NEED)),
    }
}

/// `/v2/` when users exist: any valid credentials or token (anonymous ones
/// included) pass; none at all gets the challenge that starts the handshake.
pub async fn version_check(req: &HttpRequest, tokens: &Tokens) -> Result<(), OciError> {
    match presented(req) {
        Presented::Bearer(token) if tokens.verify(&token).is_some() => Ok(()),
        Presented::Bearer(_) => Err(unauthorized(req, None, "the token is invalid or expired")),
        Presented::Basic => writer(req, tokens, None).await.map(drop),
        Presented::None => Err(unauthorized(req, None, "send credentials, or get a token")),
    }
}

/// `GET /v2/_token`: a token for the presented basic credentials, or an
/// anonymous one without credentials. Wrong credentials are refused, so
/// `docker login` reports them.
pub async fn token(req: &HttpRequest, tokens: &Tokens) -> Result<serde_json::Value, OciError> {
    let user = match presented(req) {
        Presented::Basic => Some(writer(req, tokens, None).await?),
        _ => None,
    };
    let token = tokens.issue(user.as_deref());
    Ok(serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_LIFETIME.as_secs(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_when_issued_here_and_intact() {
        let tokens = Tokens::default();
        let t = tokens.issue(Some("ci"));
        assert_eq!(tokens.verify(&t), Some(Some("ci".to_owned())));
        assert_eq!(tokens.verify(&tokens.issue(None)), Some(None));
        assert_eq!(Tokens::default().verify(&t), None, "another process's key");
        let (payload, mac) = t.split_once('.').expect("two parts");
        let forged = B64.encode("9999999999:admin");
        assert_eq!(tokens.verify(&format!("{forged}.{mac}")), None);
        assert_eq!(tokens.verify(payload), None);
        assert_eq!(tokens.verify("x.y"), None);
        let expired = format!("{}:ci", airlock_core::unix_now() - 1);
        let mac = tokens.mac(expired.as_bytes()).finalize().into_bytes();
        let expired = format!("{}.{}", B64.encode(expired), B64.encode(mac));
        assert_eq!(tokens.verify(&expired), None);
    }
}
