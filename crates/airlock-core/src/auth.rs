//! Write authentication shared by every protocol: users from the config with
//! argon2 password hashes, presented as HTTP basic auth.
//!
//! Reads are anonymous. A write handler takes a [`Writer`] argument; the extractor
//! answers 401 with a `WWW-Authenticate` challenge when credentials are missing or
//! wrong, before the handler reads any body.
//!
//! argon2 is slow on purpose (tens of milliseconds), and clients send the same
//! credentials on every request: twine on each of hundreds of uploads, skopeo on
//! each chunk. An `Authorization` header that passed is remembered for a minute
//! (by its sha256, never the password), so only the first request pays.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// How long verified credentials are remembered, in seconds.
const VERIFIED_FOR: i64 = 60;

/// Remembered credentials at most (the memory is emptied beyond).
const VERIFIED_MAX: usize = 1024;

/// sha256 of an `Authorization` header that passed → (user, until).
type Verified = HashMap<[u8; 32], (String, i64)>;

/// A user allowed to write (upload, push).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The login name.
    pub name: String,
    /// An argon2 PHC string (`airlock hash-password` prints one).
    pub password_hash: String,
}

/// The configured writers, shared as `web::Data<Users>`, and the credentials
/// verified lately.
#[derive(Clone, Debug, Default)]
pub struct Users {
    list: Vec<User>,
    verified: Arc<Mutex<Verified>>,
}

/// An authenticated writer: the user's name.
#[derive(Clone, Debug)]
pub struct Writer(pub String);

/// Credentials were missing or wrong.
#[derive(Debug, thiserror::Error)]
#[error("authentication required: {0}")]
pub struct Unauthorized(&'static str);

impl ResponseError for Unauthorized {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::UNAUTHORIZED
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"airlock\""))
            .content_type("text/plain; charset=utf-8")
            .body(format!("{self}\n"))
    }
}

/// Hashes a password into an argon2id PHC string.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

impl Users {
    /// The configured users.
    pub fn new(list: Vec<User>) -> Users {
        Users {
            list,
            verified: Arc::default(),
        }
    }

    /// Whether no user is configured (nobody can write).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The user named `name` if `password` matches. Unknown users and bad hashes
    /// are simply "no".
    pub fn verify(&self, name: &str, password: &str) -> bool {
        self.list.iter().any(|user| {
            user.name == name
                && PasswordHash::new(&user.password_hash).is_ok_and(|hash| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &hash)
                        .is_ok()
                })
        })
    }

    /// The user a header verified less than a minute ago.
    fn remembered(&self, key: &[u8; 32], now: i64) -> Option<String> {
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified
            .get(key)
            .filter(|(_, until)| *until >= now)
            .map(|(user, _)| user.clone())
    }

    fn remember(&self, key: [u8; 32], user: &str, now: i64) {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_MAX {
            verified.clear();
        }
        verified.insert(key, (user.to_owned(), now + VERIFIED_FOR));
    }
}

fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl FromRequest for Writer {
    type Error = Unauthorized;
    type Future = Pin<Box<dyn Future<Output = Result<Writer, Unauthorized>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let users = req.app_data::<web::Data<Users>>().cloned();
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let users = users.ok_or(Unauthorized("no users are configured"))?;
            let header = header.ok_or(Unauthorized("send HTTP basic credentials"))?;
            let key: [u8; 32] = Sha256::digest(header.as_bytes()).into();
            let now = crate::unix_now();
            if let Some(user) = users.remembered(&key, now) {
                return Ok(Writer(user));
            }
            let (name, password) =
                basic_credentials(&header).ok_or(Unauthorized("send HTTP basic credentials"))?;
            // argon2 is slow on purpose; keep it off the async workers.
            let check_name = name.clone();
            let checker = users.clone();
            let ok = tokio::task::spawn_blocking(move || checker.verify(&check_name, &password))
                .await
                .unwrap_or(false);
            if ok {
                users.remember(key, &name, now);
                Ok(Writer(name))
            } else {
                Err(Unauthorized("wrong user name or password"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, App};

    async fn write_route(writer: Writer) -> HttpResponse {
        HttpResponse::Ok().body(writer.0)
    }

    #[actix_web::test]
    async fn writes_need_a_configured_user() {
        let hash = hash_password("s3cret").expect("hash");
        let users = Users::new(vec![User {
            name: "ci".into(),
            password_hash: hash,
        }]);
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(users))
                .route("/w", web::put().to(write_route)),
        )
        .await;
        let basic = |user: &str, pass: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            )
        };
        let cases = [
            (None, 401),
            (Some(basic("ci", "wrong")), 401),
            (Some(basic("nobody", "s3cret")), 401),
            (Some("Bearer abc".to_owned()), 401),
            (Some("Basic !!!".to_owned()), 401),
            (Some(basic("ci", "s3cret")), 200),
            // Remembered now; other credentials still go through argon2.
            (Some(basic("ci", "s3cret")), 200),
            (Some(basic("ci", "wrong")), 401),
        ];
        for (auth, status) in cases {
            let mut req = test::TestRequest::put().uri("/w");
            if let Some(auth) = &auth {
                req = req.insert_header((header::AUTHORIZATION, auth.as_str()));
            }
            let resp = test::call_service(&app, req.to_request()).await;
            assert_eq!(resp.status().as_u16(), status, "{auth:?}");
            if status == 401 {
                assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
            }
        }
    }
}
