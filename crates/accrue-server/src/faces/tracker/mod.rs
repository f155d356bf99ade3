//! The tracker face: postbacks from partner programs
//! (`/api/postbacks/{integration}/tracker-postback`, GET or POST) and the short
//! redirect links `/t/{slug}` handed to leads. Answers are small JSON objects; a
//! refused postback gets a 4xx that says why, a rate-limited one 429 so the network
//! retries.

mod limiter;
mod postback;
mod redirect;

pub use limiter::RateLimiter;

use crate::limits::with_body_limit;
use crate::AppState;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;

/// The largest postback query string accepted, in bytes.
pub const MAX_QUERY: usize = 8 * 1024;
/// The largest postback body accepted, in bytes.
pub const MAX_BODY: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    let postbacks = Router::new().route(
        "/api/postbacks/{uid}/tracker-postback",
        get(postback::receive).post(postback::receive),
    );
    Router::new()
        .route("/t/{slug}", get(redirect::follow))
        .merge(with_body_limit(postbacks, MAX_BODY))
}

/// The server's public address as the caller reached it (`X-Forwarded-Proto` and
/// `Host`), for the links the admin API shows.
pub fn public_base(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("x-forwarded-host").or(header("host")).unwrap_or("localhost");
    let proto = header("x-forwarded-proto").unwrap_or("http");
    format!("{proto}://{host}")
}
