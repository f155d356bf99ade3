//! `POST /authorizationService/token` (form-encoded, OAuth style): the password grant
//! by phone, e-mail, card number or login, and the refresh grant. Errors are HTTP 400
//! `{"error", "error_description"}` as real clients expect.

use crate::{passwords, AppState};
use accrue_store::member_auth::{TokenOwner, TokenPair};
use accrue_store::{Member, MemberSearch, StoreError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

pub const ACCESS_TTL_MS: i64 = 3600 * 1000;
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The OAuth token answer, also returned inside `data` by registration steps.
pub fn token_json(pair: &TokenPair) -> serde_json::Value {
    json!({
        "token_type": "Bearer",
        "access_token": pair.access,
        "refresh_token": pair.refresh,
        "expires_in": pair.expires_in,
    })
}

fn tokens(pair: TokenPair) -> Response {
    axum::Json(token_json(&pair)).into_response()
}

fn failed(e: StoreError) -> Response {
    let id = format!("{:016x}", rand::random::<u64>());
    tracing::error!(error_id = %id, error = %e, "token endpoint failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"error": "server_error", "error_description": id})),
    )
        .into_response()
}

/// The member a login names: e-mail when it has `@`, otherwise phone, card or login.
async fn find(state: &AppState, program_id: i64, login: &str) -> Result<Option<Member>, StoreError> {
    let login = login.trim().to_string();
    let searches = if login.contains('@') {
        vec![MemberSearch::Email(login)]
    } else {
        vec![
            MemberSearch::Phone(login.clone()),
            MemberSearch::Card(login.clone()),
            MemberSearch::Login(login),
        ]
    };
    for search in searches {
        match state.store.find_member(program_id, search).await {
            Ok(member) => return Ok(Some(member)),
            Err(StoreError::NotFound(_) | StoreError::Invalid(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

pub async fn issue(State(state): State<AppState>, Form(request): Form<TokenRequest>) -> Response {
    match request.grant_type.as_deref() {
        Some("password") => password_grant(&state, request).await,
        Some("refresh_token") => {
            let Some(refresh) = request.refresh_token else {
                return oauth_error("invalid_request", "refresh_token is required");
            };
            match state
                .store
                .refresh_tokens(&refresh, ACCESS_TTL_MS, REFRESH_TTL_MS)
                .await
            {
                Ok(Some(pair)) => tokens(pair),
                Ok(None) => oauth_error("invalid_grant", "Токен обновления недействителен или истёк."),
                Err(e) => failed(e),
            }
        }
        _ => oauth_error("unsupported_grant_type", "grant_type must be password or refresh_token"),
    }
}

async fn password_grant(state: &AppState, request: TokenRequest) -> Response {
    let (Some(login), Some(password)) = (request.username, request.password) else {
        return oauth_error("invalid_request", "username and password are required");
    };
    let wrong = || oauth_error("IncorrectLoginOrPassword", "Неверный логин или пароль.");
    let program = match state.store.program(&state.loymax_program).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let member = match find(state, program.id, &login).await {
        Ok(Some(m)) => m,
        Ok(None) => return wrong(),
        Err(e) => return failed(e),
    };
    let stored = match state.store.password_hash(member.id).await {
        Ok(Some(hash)) => hash,
        Ok(None) => return wrong(),
        Err(e) => return failed(e),
    };
    if !passwords::verify(password, stored).await {
        return wrong();
    }
    if !member.state.may_transact() {
        return oauth_error("UserBlocked", "Пользователь заблокирован.");
    }
    let owner = TokenOwner {
        program_id: program.id,
        member_id: member.id,
    };
    match state.store.issue_tokens(owner, ACCESS_TTL_MS, REFRESH_TTL_MS).await {
        Ok(pair) => tokens(pair),
        Err(e) => failed(e),
    }
}
