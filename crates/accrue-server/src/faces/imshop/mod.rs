//! The IMSHOP face: the webhooks an IMSHOP app's server calls on a shop's back-end, under
//! one path prefix per program (`/imshop/{prefix}/…`; the prefix is the program's
//! `imshop` face binding, or its code). Every call is a POST of JSON from IMSHOP's server,
//! authenticated with the program's API key (`Authorization: Bearer`, HTTP Basic with the
//! key as password, or a `key` field in the body) and, when set, a list of addresses.
//!
//! Answers: what the user should read (a wrong code, an unknown user) is HTTP 200 with
//! `{"error": {"message"}}`, since IMSHOP reads any answer with an `error` key as a
//! refusal; a malformed or unauthenticated call gets a 4xx in the same envelope.

pub(crate) mod cart;
mod referral;
mod sign_in;

pub(crate) use crate::format::{decimal, number};
use crate::limits::{address_allowed, refuse_nul};
use crate::AppState;
use accrue_store::imshop::ImshopSettings;
use accrue_store::{Program, Store, StoreError};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

/// The face's name in face bindings.
pub const FACE: &str = "imshop";

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/imshop/{prefix}/otp/request", post(sign_in::request_code))
        .route("/imshop/{prefix}/otp/confirm", post(sign_in::confirm_code))
        .route("/imshop/{prefix}/user", post(sign_in::user_data))
        .route("/imshop/{prefix}/cart", post(cart::calculate))
        .route("/imshop/{prefix}/orders", post(cart::place))
        .route("/imshop/{prefix}/referral/stats", post(referral::stats))
        .route("/imshop/{prefix}/referral/invite", post(referral::invite))
        .layer(axum::middleware::from_fn(refuse_nul))
        .with_state(app)
}

/// Whether a path belongs to this face.
pub fn owns(path: &str) -> bool {
    path.starts_with("/imshop/")
}

/// `{"error": {"message"}}` with `status`.
pub fn stray(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"message": message}}))).into_response()
}

/// A refusal the app shows its user: HTTP 200, IMSHOP reads the `error` key.
fn refusal(message: &str) -> Response {
    stray(StatusCode::OK, message)
}

fn failed(e: StoreError) -> Response {
    match e {
        StoreError::Invalid(message) => stray(StatusCode::BAD_REQUEST, &message),
        StoreError::NotFound(what) => stray(StatusCode::NOT_FOUND, &format!("{what} not found")),
        e => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "imshop face failed");
            stray(StatusCode::INTERNAL_SERVER_ERROR, &format!("internal error, id {id}"))
        }
    }
}

/// The program a call is for and its IMSHOP settings, once the caller proved who it is.
pub(crate) struct Caller {
    pub program: Program,
    pub settings: ImshopSettings,
}

async fn program_of(store: &Store, prefix: &str) -> Result<Program, StoreError> {
    let prefix = prefix.to_ascii_lowercase();
    let bound = store.face_bindings(FACE).await?;
    match bound
        .into_iter()
        .find(|b| b.path_prefix.as_deref() == Some(prefix.as_str()))
    {
        Some(binding) => store.program(&binding.program).await,
        None => store.program(&prefix).await,
    }
}

/// The key a call carries: a Bearer token, the password of HTTP Basic, or `key` in
/// the body.
fn key_of(headers: &HeaderMap, body: &Value) -> Option<String> {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(token) = header.strip_prefix("Bearer ") {
        return Some(token.trim().to_string());
    }
    if let Some(basic) = header.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text.split_once(':').map(|(_, password)| password.to_string());
    }
    body.get("key").and_then(Value::as_str).map(String::from)
}

/// A webhook call, authenticated, with its JSON body read as `T`; the refusal to send
/// otherwise (see the module's answers).
pub(crate) struct Webhook<T> {
    pub caller: Caller,
    pub body: T,
    pub headers: HeaderMap,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Webhook<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let source = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let prefix = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| stray(StatusCode::NOT_FOUND, "no such route"))?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| stray(e.status(), &e.body_text()))?;
        let source = source.ok_or_else(|| failed(StoreError::Internal("no peer address".into())))?;
        let (caller, body) = accept(state, &prefix.0, source, &parts.headers, &bytes).await?;
        Ok(Webhook {
            caller,
            body,
            headers: parts.headers,
        })
    }
}

/// Reads the JSON body and authenticates the call; the refusal to send otherwise.
async fn accept<T: DeserializeOwned>(
    state: &AppState,
    prefix: &str,
    source: IpAddr,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Caller, T), Response> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| stray(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")))?;
    let program = match program_of(&state.store, prefix).await {
        Ok(program) => program,
        Err(StoreError::NotFound(_)) => return Err(stray(StatusCode::NOT_FOUND, "no program has this IMSHOP path")),
        Err(e) => return Err(failed(e)),
    };
    let settings = match state.store.imshop_settings(program.id).await {
        Ok(Some(settings)) => settings,
        Ok(None) => return Err(stray(StatusCode::NOT_FOUND, "IMSHOP is not set up for this program")),
        Err(e) => return Err(failed(e)),
    };
    if !address_allowed(&settings.allowed_ips, source) {
        return Err(stray(StatusCode::FORBIDDEN, "calls from this address are not allowed"));
    }
    if !key_of(headers, &value).is_some_and(|key| settings.accepts(&key)) {
        return Err(stray(StatusCode::UNAUTHORIZED, "a valid API key is required"));
    }
    let request =
        serde_json::from_value(value).map_err(|e| stray(StatusCode::BAD_REQUEST, &format!("unexpected body: {e}")))?;
    Ok((Caller { program, settings }, request))
}
