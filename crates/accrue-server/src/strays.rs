//! Errors that arise outside a face's handlers — an extractor's rejection, an unknown
//! route or method, a body over the limit, a timeout, an over-long URI — come out of
//! axum and our limits as plain text. [`render`] turns each into the envelope of the
//! face the path belongs to, keeping the status, so a client never meets a shape its
//! protocol does not have.

use crate::faces::{batch, imshop, integra, loymax, referral, social, tracker};
use crate::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The longest message kept from a stray answer's text.
const MESSAGE_LIMIT: usize = 1024;

/// A stray error: plain text with a status, to be put in the face's envelope by [`render`].
pub fn stray(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

/// The faces a path can belong to (and, for Loymax, the version asked for and whether it
/// is the token endpoint, which answers as OAuth does). Decided from the path as sent,
/// because errors may arise before any face has seen the request.
enum Face {
    Loymax(loymax::Version, bool),
    Tracker,
    Batch,
    Social,
    Imshop,
    Integra,
    Referral,
    Admin,
}

fn face_of(req: &Request) -> Face {
    let path = req.uri().path();
    if tracker::owns(path) {
        return Face::Tracker;
    }
    if imshop::owns(path) {
        return Face::Imshop;
    }
    if integra::owns(path) {
        return Face::Integra;
    }
    if batch::owns(path) {
        return Face::Batch;
    }
    if social::owns(path) {
        return Face::Social;
    }
    if referral::owns(path) {
        return Face::Referral;
    }
    if path.starts_with("/admin/") {
        return Face::Admin;
    }
    match loymax::envelope_of(path) {
        Some((version, token)) => Face::Loymax(version, token),
        None => Face::Admin,
    }
}

/// Renders error answers that are not JSON (so no face rendered them) in the envelope
/// of the request's face.
pub async fn render(req: Request, next: Next) -> Response {
    let face = face_of(&req);
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) || is_html(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MESSAGE_LIMIT).await.unwrap_or_default();
    let mut message = String::from_utf8_lossy(&text).trim().to_string();
    if message.is_empty() {
        message = status.canonical_reason().unwrap_or("error").to_lowercase();
    }
    let mut rendered = match face {
        Face::Loymax(version, token) => loymax::stray(version, token, status, &message),
        Face::Tracker => tracker::stray(status, &message),
        Face::Imshop => imshop::stray(status, &message),
        Face::Integra => integra::stray(status, &message),
        Face::Batch => batch::stray(status, &message),
        Face::Social => social::stray(status, &message),
        Face::Referral => referral::stray(status, &message),
        Face::Admin => ApiError::stray(status, &message).into_response(),
    };
    // Headers such as Allow, Retry-After and Connection stay.
    for (name, value) in parts.headers.iter() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// A page a face rendered for people (the Integra cabinet's), left as it is.
fn is_html(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"))
}

fn is_json(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.contains("+json"))
}
