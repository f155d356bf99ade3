//! Signing in and out, the session cookie and the form token. The cookie holds a random
//! token (kept as SHA-256 in the database), is `HttpOnly`, `SameSite=Strict`, limited to
//! `/console`, and `Secure` unless the console is reached on this machine itself. Every
//! form that changes something carries a token derived from the session's, so a page of
//! another site cannot post one.

use super::html::{document, field, notice};
use super::roles::Role;
use super::ConsoleState;
use crate::passwords;
use accrue_store::operators::Operator;
use accrue_store::StoreError;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

const COOKIE: &str = "accrue_console";
/// How long a session lasts.
const SESSION_MS: i64 = 12 * 3600 * 1000;

/// A signed-in operator, with the session's token and its form token.
pub struct Signed {
    pub operator: Operator,
    pub role: Role,
    token: String,
    pub csrf: String,
    /// The request's `Host` and `X-Forwarded-*` headers: the admin API builds public
    /// links (postback URLs) from them.
    pub forwarded: Vec<(header::HeaderName, HeaderValue)>,
}

/// The headers that say how the browser reached the server.
const FORWARDED: [&str; 3] = ["host", "x-forwarded-host", "x-forwarded-proto"];

impl Signed {
    /// Whether a posted form token is this session's.
    pub fn checks(&self, csrf: &str) -> bool {
        // Both are hex digests of the same length: a plain comparison tells nothing useful.
        !csrf.is_empty() && csrf == self.csrf
    }
}

fn form_token(token: &str) -> String {
    hex::encode(Sha256::digest(format!("accrue-console-form:{token}").as_bytes()))
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Signed, Response> {
        let to_sign_in = || Redirect::to("/console/sign-in").into_response();
        let token = cookie_token(&parts.headers).ok_or_else(to_sign_in)?;
        let operator = match state.app.store.console_session(&token).await {
            Ok(Some(operator)) => operator,
            Ok(None) => return Err(to_sign_in()),
            Err(e) => return Err(failure(&e.to_string())),
        };
        let role = Role::parse(&operator.role).ok_or_else(|| failure("this operator's role is unknown"))?;
        let forwarded = FORWARDED
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(*name)?.clone();
                Some((header::HeaderName::from_static(name), value))
            })
            .collect();
        Ok(Signed {
            csrf: form_token(&token),
            operator,
            role,
            token,
            forwarded,
        })
    }
}

pub fn failure(message: &str) -> Response {
    document(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something failed",
        &format!("<main>{}</main>", notice(true, message)),
    )
}

fn sign_in_form(status: StatusCode, message: Option<&str>, login: &str) -> Response {
    let said = message.map(|m| notice(true, m)).unwrap_or_default();
    let body = format!(
        "<main class=\"narrow\"><h1>Accrue console</h1>{said}\
         <form method=\"post\" action=\"/console/sign-in\" class=\"stack\">{login}{password}\
         <button type=\"submit\">Sign in</button></form></main>",
        login = field("login", "Login", "text", login, true),
        password = field("password", "Password", "password", "", true),
    );
    document(status, "Sign in", &body)
}

pub async fn sign_in_page() -> Response {
    sign_in_form(StatusCode::OK, None, "")
}

#[derive(Deserialize)]
pub struct SignIn {
    login: String,
    password: String,
}

pub async fn sign_in(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let login = form.login.trim().to_string();
    let store = &state.app.store;
    let wrong = || sign_in_form(StatusCode::UNAUTHORIZED, Some("Wrong login or password."), &login);
    let (operator, hash) = match store.console_attempt(login.clone(), peer.ip().to_string()).await {
        Ok(Some(found)) => found,
        Ok(None) => return wrong(),
        Err(StoreError::RateLimited { retry_after }) => {
            let message = format!("Too many attempts. Try again in {retry_after} s.");
            return sign_in_form(StatusCode::TOO_MANY_REQUESTS, Some(&message), &login);
        }
        Err(e) => return failure(&e.to_string()),
    };
    if !passwords::verify(form.password, hash).await {
        return wrong();
    }
    let token = accrue_store::imshop::prefixed_key("cs").0;
    if let Err(e) = store.begin_console_session(operator.id, &token, SESSION_MS).await {
        return failure(&e.to_string());
    }
    let secure = if reached_locally(&headers) { "" } else { "; Secure" };
    let cookie = format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_MS / 1000
    );
    let mut response = Redirect::to("/console").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whether the browser came to this machine itself (`localhost`, `127.0.0.1`, `[::1]`)
/// and not through a proxy that says it spoke HTTPS: only then may the cookie go
/// without `Secure`, since browsers do not keep a secure cookie from plain HTTP elsewhere.
fn reached_locally(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if text("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https")) {
        return false;
    }
    let host = text("host").unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

#[derive(Deserialize)]
pub struct Posted {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(State(state): State<ConsoleState>, who: Signed, Form(form): Form<Posted>) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    if let Err(e) = state.app.store.end_console_session(&who.token).await {
        return failure(&e.to_string());
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    let expired = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The answer to a form without this session's token.
pub fn forged() -> Response {
    let body = format!(
        "<main>{}<p><a href=\"/console\">Back to the console</a></p></main>",
        notice(true, "This form is stale or came from elsewhere; nothing was changed.")
    );
    document(StatusCode::FORBIDDEN, "Refused", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str, proto: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        if let Some(proto) = proto {
            headers.insert("x-forwarded-proto", HeaderValue::from_str(proto).unwrap());
        }
        headers
    }

    #[test]
    fn only_this_machine_over_plain_http_goes_without_secure() {
        assert!(reached_locally(&host("127.0.0.1:8080", None)));
        assert!(reached_locally(&host("localhost", None)));
        assert!(reached_locally(&host("[::1]:8080", None)));
        assert!(!reached_locally(&host("bonus.example:8080", None)));
        assert!(!reached_locally(&host("localhost:8080", Some("https"))));
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; accrue_console=cs_abc; b=2"),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("cs_abc"));
        assert_ne!(form_token("cs_abc"), form_token("cs_abd"));
    }
}
