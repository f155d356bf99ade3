//! The referral program's webhooks: statistics (`{"userId"}` → `{"stats": […]}`) and the
//! invite (`{"userIdentity": {"userId"}}` → the link and code to share).

use super::{decimal, failed, stray, Webhook};
use crate::format::public_base;
use crate::service::referral;
use crate::AppState;
use accrue_store::StoreError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsAsked {
    user_id: String,
}

/// The member's referral statistics, with the program's titles; an unknown user gets
/// 404 with an `error`, which the app reads as "no data".
pub async fn stats(State(state): State<AppState>, call: Webhook<StatsAsked>) -> Response {
    let (caller, asked) = (call.caller, call.body);
    let store = &state.store;
    let program_id = caller.program.id;
    let member = match referral::member_by_user_id(store, program_id, &asked.user_id).await {
        Ok(member) => member,
        Err(StoreError::NotFound(_)) => return stray(StatusCode::NOT_FOUND, "no such user"),
        Err(e) => return failed(e),
    };
    match referral::statistics(store, program_id, member.id).await {
        Ok(lines) => {
            let stats: Vec<_> = lines
                .into_iter()
                .map(|(title, value)| json!({"title": title, "value": decimal(value)}))
                .collect();
            Json(json!({ "stats": stats })).into_response()
        }
        Err(e) => failed(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    user_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteAsked {
    user_identity: Identity,
}

/// The member's invite link (on the program's link domain, or this server) and code.
pub async fn invite(State(state): State<AppState>, call: Webhook<InviteAsked>) -> Response {
    let (caller, asked, headers) = (call.caller, call.body, call.headers);
    let store = &state.store;
    let program_id = caller.program.id;
    let member = match referral::member_by_user_id(store, program_id, &asked.user_identity.user_id).await {
        Ok(member) => member,
        Err(StoreError::NotFound(_)) => return Json(json!({"success": false})).into_response(),
        Err(e) => return failed(e),
    };
    let base = caller
        .settings
        .link_base
        .clone()
        .unwrap_or_else(|| public_base(&headers));
    match referral::invite_link(store, program_id, &member, &base).await {
        Ok((url, code)) => Json(json!({"success": true, "url": url, "referralCode": code})).into_response(),
        Err(e) => failed(e),
    }
}
