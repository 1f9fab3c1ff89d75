//! Write authentication shared by every protocol: users from the config with
//! argon2 password hashes, presented as HTTP basic auth.
//!
//! Reads are anonymous. A write handler takes a [`Writer`] argument; the extractor
//! answers 401 with a `WWW-Authenticate` challenge when credentials are missing or
//! wrong, before the handler reads any body.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// A user allowed to write (upload, push).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The login name.
    pub name: String,
    /// An argon2 PHC string (`airlock hash-password` prints one).
    pub password_hash: String,
}

/// The configured writers, shared as `web::Data<Users>`.
#[derive(Clone, Debug, Default)]
pub struct Users(pub Vec<User>);

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
    /// The user named `name` if `password` matches. Unknown users and bad hashes
    /// are simply "no".
    pub fn verify(&self, name: &str, password: &str) -> bool {
        self.0.iter().any(|user| {
            user.name == name
                && PasswordHash::new(&user.password_hash).is_ok_and(|hash| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &hash)
                        .is_ok()
                })
        })
    }
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
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
        let credentials = basic_credentials(req);
        Box::pin(async move {
            let users = users.ok_or(Unauthorized("no users are configured"))?;
            let (name, password) =
                credentials.ok_or(Unauthorized("send HTTP basic credentials"))?;
            // argon2 is slow on purpose; keep it off the async workers.
            let check_name = name.clone();
            let ok = tokio::task::spawn_blocking(move || users.verify(&check_name, &password))
                .await
                .unwrap_or(false);
            if ok {
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
        let users = Users(vec![User {
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
