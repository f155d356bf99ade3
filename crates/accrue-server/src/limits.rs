//! What every request passes before its handler: limits on the URI and the body, a
//! body that is read in full when it is small, and text without NUL characters.

use crate::strays::stray;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use http_body::{Body as _, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// The longest path and query accepted, in bytes.
pub const MAX_URI: usize = 16 * 1024;
/// Bodies declared at most this large are read before the handler runs.
const READ_AHEAD: u64 = 64 * 1024;

pub fn payload_too_large(limit: usize) -> Response {
    stray(
        StatusCode::PAYLOAD_TOO_LARGE,
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
    if declared_length(&req).is_some_and(|n| n > limit as u64) {
        return payload_too_large(limit);
    }
    next.run(req).await
}

fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// A body that [`intake`] read in full.
#[derive(Clone)]
pub struct ReadAhead(pub Bytes);

/// A body a handler left unread (a refusal, a 401) is read and dropped up to this size
/// before the answer goes: a client still sending when the server closes gets a reset
/// connection instead of the answer (reqwest, curl and PHP's streams report a broken
/// pipe then). Beyond it, or after [`DISCARD_WITHIN`], the connection is closed anyway.
const DISCARD_AT_MOST: u64 = 16 * 1024 * 1024;
const DISCARD_WITHIN: Duration = Duration::from_secs(2);

/// Refuses over-long URIs; reads small bodies before the handler runs, so that a
/// handler that answers without reading (a 401, say) leaves the connection usable; and
/// when a larger body was left unread, reads the rest of it (bounded) and marks the
/// answer `Connection: close`.
pub async fn intake(req: Request, next: Next) -> Response {
    let uri_length = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_length > MAX_URI {
        return stray(
            StatusCode::URI_TOO_LONG,
            format!("the path and query are longer than {MAX_URI} bytes"),
        );
    }
    let chunked = req.headers().contains_key(TRANSFER_ENCODING);
    match declared_length(&req) {
        Some(0) | None if !chunked => next.run(req).await,
        Some(n) if n <= READ_AHEAD && !chunked => {
            let (mut parts, body) = req.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, READ_AHEAD as usize).await else {
                return stray(StatusCode::BAD_REQUEST, "the request body could not be read");
            };
            parts.extensions.insert(ReadAhead(bytes.clone()));
            next.run(Request::from_parts(parts, Body::from(bytes))).await
        }
        declared => {
            let (parts, body) = req.into_parts();
            let watched = Arc::new(Mutex::new(Watched { body, finished: false }));
            let shared = Body::new(Shared(watched.clone()));
            let mut response = next.run(Request::from_parts(parts, shared)).await;
            if !watched.lock().unwrap().finished {
                if declared.is_none_or(|n| n <= DISCARD_AT_MOST) {
                    tokio::time::timeout(DISCARD_WITHIN, discard(&watched)).await.ok();
                }
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    }
}

/// Reads and drops what is left of a body, at most [`DISCARD_AT_MOST`] bytes.
async fn discard(watched: &Mutex<Watched>) {
    let mut read = 0;
    while read <= DISCARD_AT_MOST {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut watched.lock().unwrap().body).poll_frame(cx)).await;
        match frame {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

/// A request body, and whether it has been read to its end.
struct Watched {
    body: Body,
    finished: bool,
}

/// The handler's side of a [`Watched`] body; the rest stays with [`intake`].
struct Shared(Arc<Mutex<Watched>>);

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut watched = self.0.lock().unwrap();
        let polled = Pin::new(&mut watched.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || watched.body.is_end_stream() {
            watched.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().unwrap().body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.lock().unwrap().body.size_hint()
    }
}

/// Refuses (400) a request with a NUL character in its path, query or read-ahead body:
/// no text Accrue stores may hold one (PostgreSQL cannot). Larger bodies are checked
/// where they are parsed.
pub async fn refuse_nul(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let in_uri = has_encoded_nul(uri.path()) || uri.query().is_some_and(has_encoded_nul);
    let in_body = req.extensions().get::<ReadAhead>().is_some_and(|body| {
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        body.0.contains(&0) || json_has_nul(&body.0) || (form && has_encoded_nul_bytes(&body.0))
    });
    if in_uri || in_body {
        return stray(StatusCode::BAD_REQUEST, "text must not contain NUL characters");
    }
    next.run(req).await
}

fn has_encoded_nul(text: &str) -> bool {
    has_encoded_nul_bytes(text.as_bytes())
}

fn has_encoded_nul_bytes(bytes: &[u8]) -> bool {
    bytes.contains(&0) || bytes.windows(3).any(|w| w == b"%00")
}

/// Whether JSON text holds the escape `\u0000` (an escaped backslash before `u0000`
/// is text, not a NUL).
pub fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Whether `source` is in `allowed` (addresses and networks); any is when it is empty.
pub(crate) fn address_allowed(allowed: &[String], source: std::net::IpAddr) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|entry| match entry.parse::<ipnet::IpNet>() {
            Ok(net) => net.contains(&source),
            Err(_) => entry.parse::<std::net::IpAddr>().is_ok_and(|ip| ip == source),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_in_json() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(!json_has_nul(br#"{"a":"x\\u0000y"}"#), "an escaped backslash");
        assert!(json_has_nul(br#"{"a":"x\\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"\u0001 %00"}"#));
        assert!(!json_has_nul(b"\\"));
    }

    #[test]
    fn nul_in_urls_and_forms() {
        assert!(has_encoded_nul("a=%00"));
        assert!(!has_encoded_nul("a=%200"));
        assert!(has_encoded_nul_bytes(b"a\0"));
    }
}
