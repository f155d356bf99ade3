//! Where events come from besides the admin API: VK's Callback API receiver at
//! `POST /social/vk/{program}`, and any server's signed events at `POST /events/{program}`
//! (Standard Webhooks signatures with the program's event secret). VK sends
//! a confirmation request when the address is set (answered with the community's
//! confirmation string) and then each event, signed with the community's secret key;
//! every handled call is answered `ok` as VK requires, or VK sends it again.

use crate::service::events::{self as service, Signed, SignedError, VkAnswer};
use crate::AppState;
use accrue_store::StoreError;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/social/vk/{program}", post(vk))
        .route("/events/{program}", post(signed))
        .route("/social/vk/{program}/link", post(vk_link))
        .route("/social/vk/{program}/callback", get(vk_callback))
        .with_state(app)
}

/// Whether a path belongs to this face.
pub fn owns(path: &str) -> bool {
    path.starts_with("/social/") || path.starts_with("/events/")
}

/// Errors in VK's terms: a short text with the status.
pub fn stray(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

async fn vk(State(app): State<AppState>, Path(program): Path<String>, body: Bytes) -> Response {
    let program = match app.store.program(&program).await {
        Ok(program) => program,
        Err(_) => return stray(StatusCode::NOT_FOUND, "no such program"),
    };
    match service::vk_callback(&app.store, program.id, &body).await {
        Ok(VkAnswer::Confirmation(code)) => code.into_response(),
        Ok(VkAnswer::Ok) => "ok".into_response(),
        Ok(VkAnswer::Refused(why)) => stray(StatusCode::FORBIDDEN, why),
        Err(StoreError::Invalid(m)) => stray(StatusCode::BAD_REQUEST, &m),
        Err(StoreError::NotFound(what)) => stray(StatusCode::NOT_FOUND, &format!("{what} not set up")),
        Err(e) => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "VK callback failed");
            stray(StatusCode::INTERNAL_SERVER_ERROR, &format!("internal error, id {id}"))
        }
    }
}

/// `POST /events/{program}`: a server's event, signed; answers what the offers did.
async fn signed(State(app): State<AppState>, Path(program): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let refuse =
        |status: StatusCode, message: &str| (status, Json(json!({"error": {"message": message}}))).into_response();
    let Ok(program) = app.store.program(&program).await else {
        return refuse(StatusCode::NOT_FOUND, "no such program");
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Ok(body) = std::str::from_utf8(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    let call = Signed {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
    };
    match service::record_signed(&app.store, program.id, call).await {
        Ok(recorded) => Json(recorded).into_response(),
        Err(SignedError::Unauthorized) => refuse(
            StatusCode::UNAUTHORIZED,
            "sign with the program's event secret: webhook-id, webhook-timestamp (within 5 minutes), webhook-signature",
        ),
        Err(SignedError::Store(StoreError::Invalid(m))) => refuse(StatusCode::BAD_REQUEST, &m),
        Err(SignedError::Store(StoreError::NotFound(what))) => {
            refuse(StatusCode::NOT_FOUND, &format!("{what} not found"))
        }
        Err(SignedError::Store(e)) => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "signed event failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, &format!("internal error, id {id}"))
        }
    }
}

/// `POST /social/vk/{program}/link` with the member's access token (as the Loymax face
/// issues it): the VK ID address to send the member to.
async fn vk_link(State(app): State<AppState>, Path(program): Path<String>, headers: HeaderMap) -> Response {
    let refuse =
        |status: StatusCode, message: &str| (status, Json(json!({"error": {"message": message}}))).into_response();
    let Ok(program) = app.store.program(&program).await else {
        return refuse(StatusCode::NOT_FOUND, "no such program");
    };
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let owner = app
        .store
        .token_owner(program.id, token.trim(), accrue_store::member_auth::TokenKind::Access)
        .await;
    let member_id = match owner {
        Ok(Some(owner)) => owner.member_id,
        Ok(None) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "send the member's access token as Authorization: Bearer",
            )
        }
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    match service::vk_sign_in_url(&app.store, program.id, member_id).await {
        Ok(url) => Json(json!({ "url": url })).into_response(),
        Err(StoreError::NotFound(what)) => refuse(StatusCode::NOT_FOUND, &format!("{what} is not set up")),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    device_id: Option<String>,
}

/// `GET /social/vk/{program}/callback`: VK ID sends the member back here.
async fn vk_callback(
    State(app): State<AppState>,
    Path(program): Path<String>,
    axum::extract::Query(q): axum::extract::Query<Callback>,
) -> Response {
    let page = |status: StatusCode, text: &str| {
        let body = format!(
            "<!doctype html><html lang=\"ru\"><meta charset=\"utf-8\"><title>ВКонтакте</title><p>{}</p></html>",
            accrue_core::mustache::escape_html(text)
        );
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    };
    let Ok(program) = app.store.program(&program).await else {
        return page(StatusCode::NOT_FOUND, "Программа не найдена.");
    };
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return page(StatusCode::BAD_REQUEST, "Вход через VK ID не завершён.");
    };
    let http = reqwest::Client::new();
    match service::vk_link(&app.store, &http, program.id, &code, &state, q.device_id.as_deref()).await {
        Ok(_) => page(
            StatusCode::OK,
            "Профиль ВКонтакте привязан. Можно вернуться в приложение.",
        ),
        Err(StoreError::Conflict(m) | StoreError::Invalid(m)) => page(StatusCode::BAD_REQUEST, &m),
        Err(e) => {
            let id = format!("{:016x}", rand::random::<u64>());
            tracing::error!(error_id = %id, error = %e, "VK ID link failed");
            page(StatusCode::INTERNAL_SERVER_ERROR, &format!("Ошибка, код {id}."))
        }
    }
}
