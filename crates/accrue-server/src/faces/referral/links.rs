//! Following an invite link, the well-known files, and an app's first open.

use super::{failed, program_of, stray, LinkState};
use crate::service::referral::{self, FirstOpen, Followed, LinkClick};
use accrue_core::referral::Platform;
use accrue_store::StoreError;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    /// The banner the app opens after install (`banner_id` is read too).
    banner: Option<String>,
    banner_id: Option<String>,
}

/// `GET /r/{code}`: keeps the click and sends the device on (302), or shows a page with
/// the code where no store is set for it.
pub async fn follow(
    State(state): State<LinkState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(code): Path<String>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
) -> Response {
    let program = match program_of(&state.app.store, &state.default_program, &headers).await {
        Ok(program) => program,
        Err(StoreError::NotFound(_)) => return page(StatusCode::NOT_FOUND, "Приглашение не найдено", None),
        Err(e) => return failed(e),
    };
    let click = LinkClick {
        code,
        banner_id: q.banner.or(q.banner_id).map(|b| b.chars().take(100).collect()),
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        ip: peer.ip().to_string(),
    };
    match referral::follow(&state.app.store, program.id, click).await {
        Ok(Followed::Redirect(url)) => {
            (StatusCode::FOUND, [(LOCATION, url), (CACHE_CONTROL, "no-store".into())]).into_response()
        }
        Ok(Followed::Page { code, banner_id }) => {
            page(StatusCode::OK, &program.name, Some((&code, banner_id.as_deref())))
        }
        Ok(Followed::UnknownCode) => page(StatusCode::NOT_FOUND, "Приглашение не найдено", None),
        Err(e) => failed(e),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A small page for browsers: the program's name and the invite code to enter in the app.
fn page(status: StatusCode, title: &str, code: Option<(&str, Option<&str>)>) -> Response {
    let body = match code {
        Some((code, banner)) => format!(
            "<p>Ваш код приглашения:</p><p><strong id=\"code\" data-banner=\"{}\">{}</strong></p>\
             <p>Установите приложение и введите код при регистрации.</p>",
            escape(banner.unwrap_or_default()),
            escape(code)
        ),
        None => "<p>Ссылка недействительна.</p>".to_string(),
    };
    let html = format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn well_known(
    state: &LinkState,
    headers: &HeaderMap,
    pick: fn(&accrue_core::referral::LinkSettings) -> Option<Value>,
) -> Response {
    let store = &state.app.store;
    let program = match program_of(store, &state.default_program, headers).await {
        Ok(program) => program,
        Err(StoreError::NotFound(_)) => return stray(StatusCode::NOT_FOUND, "no program"),
        Err(e) => return failed(e),
    };
    match store.referral_settings(program.id).await {
        Ok(settings) => match pick(&settings.links) {
            Some(document) => (StatusCode::OK, axum::Json(document)).into_response(),
            None => stray(StatusCode::NOT_FOUND, "not configured for this program"),
        },
        Err(e) => failed(e),
    }
}

/// `GET /.well-known/apple-app-site-association` from the program's link settings.
pub async fn apple_app_site_association(State(state): State<LinkState>, headers: HeaderMap) -> Response {
    well_known(&state, &headers, |l| l.apple_app_site_association.clone()).await
}

/// `GET /.well-known/assetlinks.json` from the program's link settings.
pub async fn assetlinks(State(state): State<LinkState>, headers: HeaderMap) -> Response {
    well_known(&state, &headers, |l| l.assetlinks.clone()).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstOpenBody {
    /// `ios` or `android`.
    platform: String,
    /// Android: the Install Referrer string the Play Store gave the app.
    #[serde(default)]
    install_referrer: Option<String>,
    /// The app's install id, the one it will sign in with.
    #[serde(default)]
    install_id: Option<String>,
}

/// `POST /referral/first-open`: the referral code and banner the app was installed
/// with, or nulls.
pub async fn first_open(
    State(state): State<LinkState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: FirstOpenBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return stray(
                StatusCode::BAD_REQUEST,
                &format!("body must be JSON {{\"platform\", \"installReferrer\"}}: {e}"),
            )
        }
    };
    let Some(platform) = Platform::parse(&body.platform) else {
        return stray(StatusCode::BAD_REQUEST, "platform must be ios, android or web");
    };
    let store = &state.app.store;
    let program = match program_of(store, &state.default_program, &headers).await {
        Ok(program) => program,
        Err(e) => return failed(e),
    };
    let open = FirstOpen {
        platform,
        install_referrer: body.install_referrer,
        install_id: body.install_id,
        ip: peer.ip().to_string(),
    };
    match referral::first_open(store, program.id, open).await {
        Ok(Some(found)) => axum::Json(json!({
            "referralCode": found.code, "bannerId": found.banner_id, "matchedBy": found.matched_by,
        }))
        .into_response(),
        Ok(None) => axum::Json(json!({"referralCode": null, "bannerId": null, "matchedBy": null})).into_response(),
        Err(e) => failed(e),
    }
}
