//! `GET /t/{slug}?lead=…`: records the click (one durable write) and answers 302 to
//! the link's final URL with the new click id. An admin-rendered link comes back with
//! `click=<id>`; its visit is recorded on that click instead of a new one.

use super::{failed, stray};
use crate::AppState;
use accrue_core::tracker::{ids, params};
use accrue_store::tracker::NewClick;
use accrue_store::StoreError;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, REFERER, USER_AGENT};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use std::net::SocketAddr;

/// Incoming sub-parameters kept per click, at most.
const MAX_SUBS: usize = 20;

pub async fn follow(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let query = uri.query().unwrap_or("");
    if query.len() > super::MAX_QUERY {
        return stray(StatusCode::URI_TOO_LONG, "query string too long");
    }
    let Ok(pairs) = params::decode_pairs(query) else {
        return stray(StatusCode::BAD_REQUEST, "query string is not valid UTF-8");
    };
    let link = match state.store.link_by_slug(&slug).await {
        Ok(link) => link,
        Err(StoreError::NotFound(_)) => return stray(StatusCode::NOT_FOUND, "no such link"),
        Err(e) => return failed(e),
    };
    let value = |name: &str| params::value(&pairs, name).filter(|v| !v.is_empty()).map(String::from);
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    let mut random = [0_u8; ids::CLICK_ID_BYTES];
    rand::thread_rng().fill_bytes(&mut random);
    let click = NewClick {
        click_id: ids::click_id(state.store.now(), random),
        reuse: value("click").filter(|c| ids::is_click_id(c)),
        lead: value("lead"),
        source: "redirect",
        ip: Some(peer.ip().to_string()),
        user_agent: header(USER_AGENT),
        referrer: header(REFERER),
        subs: pairs
            .iter()
            .filter(|(name, _)| name != "lead" && name != "click")
            .take(MAX_SUBS)
            .map(|(n, v)| (n.chars().take(64).collect(), v.chars().take(256).collect()))
            .collect(),
    };
    match state.store.record_click(&link, click).await {
        Ok(recorded) => (
            StatusCode::FOUND,
            [(LOCATION, recorded.final_url), (CACHE_CONTROL, "no-store".to_string())],
        )
            .into_response(),
        Err(e) => failed(e),
    }
}
