//! The tracker face: postbacks from partner programs
//! (`/api/postbacks/{integration}/tracker-postback`, GET or POST) and the short
//! redirect links `/t/{slug}` handed to leads. Answers are small JSON objects; a
//! refused postback gets a 4xx that says why, a rate-limited one 429 so the network
//! retries.

pub(crate) mod postback;
mod redirect;

use crate::limits::refuse_nul;
use crate::AppState;
use accrue_store::StoreError;
use axum::http::header::RETRY_AFTER;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use axum::Router;
use serde_json::json;

/// The largest postback query string accepted, in bytes.
pub const MAX_QUERY: usize = 8 * 1024;
/// The largest postback body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;
/// The rate limit that postbacks naming unknown integrations share, per minute.
pub const UNKNOWN_PER_MINUTE: i64 = 600;

/// The face's routes. It needs nothing beyond what every face shares. Postbacks read
/// (and limit) their own bodies and keep even the malformed ones in the log; the redirect
/// refuses NUL characters at the door like the other faces.
pub fn router(app: AppState) -> Router {
    let redirect = Router::new()
        .route("/t/{slug}", get(redirect::follow))
        .layer(axum::middleware::from_fn(refuse_nul));
    Router::new()
        .route(
            "/api/postbacks/{uid}/tracker-postback",
            get(postback::receive).post(postback::receive),
        )
        .merge(redirect)
        .with_state(app)
}

/// Whether a path belongs to this face.
pub fn owns(path: &str) -> bool {
    path.starts_with("/t/") || path.starts_with("/api/postbacks/")
}

/// The face's answer to an error: `{"status", "error"}` with the HTTP status.
pub fn stray(status: StatusCode, message: &str) -> Response {
    let word = match status.as_u16() {
        400 => "rejected",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        413 => "too_large",
        414 => "uri_too_long",
        429 => "rate_limited",
        500.. => "error",
        _ => "refused",
    };
    (status, Json(json!({"status": word, "error": message}))).into_response()
}

/// A store failure in the face's envelope: 429 with `Retry-After` over the rate limit.
pub(super) fn failed(e: StoreError) -> Response {
    match e {
        StoreError::RateLimited { retry_after } => {
            tracing::warn!("postback rate limit reached; answered 429");
            let mut response = stray(
                StatusCode::TOO_MANY_REQUESTS,
                "too many postbacks for this integration; retry later",
            );
            response.headers_mut().insert(RETRY_AFTER, retry_after.into());
            response
        }
        StoreError::Invalid(message) => stray(StatusCode::BAD_REQUEST, &message),
        e => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "tracker face failed");
            stray(StatusCode::INTERNAL_SERVER_ERROR, &format!("internal error, id {id}"))
        }
    }
}
