//! Request body limits: a body declared larger than the limit is refused before it is
//! read; one that grows past it while streaming is cut off by the extractor.

use crate::ApiError;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

pub fn payload_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body is larger than {limit} bytes"),
    )
}

/// Applies a body limit of `limit` bytes to every route of `router`.
pub fn with_body_limit<S: Clone + Send + Sync + 'static>(router: Router<S>, limit: usize) -> Router<S> {
    router
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            refuse_declared(limit, req, next)
        }))
        .layer(DefaultBodyLimit::max(limit))
}

async fn refuse_declared(limit: usize, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return payload_too_large(limit).into_response();
    }
    next.run(req).await
}
