//! The invite-link face: `GET /r/{code}` (a click kept, the device sent to its store or
//! a page), the well-known files of Universal Links and App Links, and
//! `POST /referral/first-open`, which an app calls on its first launch to learn the
//! referral code it was installed with. A request's program is the one whose link
//! domain (a `referral` face binding of hosts) it came to, or the server's default.

mod links;

use crate::limits::refuse_nul;
use crate::AppState;
use accrue_store::{Program, Store, StoreError};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

/// The face's name in face bindings.
pub const FACE: &str = "referral";

#[derive(Clone)]
pub(crate) struct LinkState {
    app: AppState,
    default_program: String,
}

pub fn router(app: AppState, default_program: &str) -> Router {
    let state = LinkState {
        app,
        default_program: default_program.to_string(),
    };
    Router::new()
        .route("/r/{code}", get(links::follow))
        .route(
            "/.well-known/apple-app-site-association",
            get(links::apple_app_site_association),
        )
        .route("/.well-known/assetlinks.json", get(links::assetlinks))
        .route("/referral/first-open", post(links::first_open))
        .layer(axum::middleware::from_fn(refuse_nul))
        .with_state(state)
}

/// Whether a path belongs to this face.
pub fn owns(path: &str) -> bool {
    path.starts_with("/r/") || path.starts_with("/.well-known/") || path.starts_with("/referral/")
}

/// The face's answer to an error: `{"error": {"message"}}` with the HTTP status.
pub fn stray(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"message": message}}))).into_response()
}

pub(crate) fn failed(e: StoreError) -> Response {
    match e {
        StoreError::Invalid(message) => stray(StatusCode::BAD_REQUEST, &message),
        e => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "referral face failed");
            stray(StatusCode::INTERNAL_SERVER_ERROR, &format!("internal error, id {id}"))
        }
    }
}

/// The program of the link domain the request came to, or the default one.
async fn program_of(store: &Store, default_program: &str, headers: &HeaderMap) -> Result<Program, StoreError> {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).map(|h| {
        h.split(':')
            .next()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase()
    });
    if let Some(host) = host {
        let bound = store.face_bindings(FACE).await?;
        if let Some(binding) = bound.into_iter().find(|b| b.hosts.contains(&host)) {
            return store.program(&binding.program).await;
        }
    }
    store.program(default_program).await
}
