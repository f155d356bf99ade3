//! Devices sign in with their client credentials at the token endpoint
//! (`grant_type=client_credentials&client_id&client_secret`) and get a token for their
//! processing calls: anonymous, or — with `identifier=<card number | phone | QR content>`
//! — for the member the cashier identified.

use super::super::envelope::unauthorized;
use super::super::programs::ServedProgram;
use super::super::token::{failed, find, oauth_error};
use crate::AppState;
use accrue_store::devices::DeviceSession;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The client-credentials grant.
pub async fn grant(state: &AppState, served: i64, client_id: &str, secret: &str, identifier: Option<&str>) -> Response {
    let device = match state.store.device_by_credentials(client_id, secret).await {
        // A device of another program (sharing the database) is unknown here.
        Ok(Some(device)) if device.program_id == served => device,
        Ok(_) => return oauth_error("invalid_client", "Неверные учётные данные устройства."),
        Err(e) => return failed(e),
    };
    let member = match identifier.map(str::trim).filter(|i| !i.is_empty()) {
        None => None,
        Some(identifier) => match find(state, device.program_id, identifier).await {
            Ok(Some(member)) if member.state.may_transact() => Some(member.id),
            Ok(Some(_)) => return oauth_error("UserBlocked", "Счёт участника заблокирован."),
            Ok(None) => return oauth_error("CardNotFound", "Участник с таким идентификатором не найден."),
            Err(e) => return failed(e),
        },
    };
    let ttl_ms = match state.store.processing_settings(device.program_id).await {
        Ok(settings) => i64::from(settings.device_token_minutes) * 60_000,
        Err(e) => return failed(e),
    };
    match state.store.issue_device_token(device.id, member, ttl_ms).await {
        Ok(token) => axum::Json(json!({
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": ttl_ms / 1000,
        }))
        .into_response(),
        Err(e) => failed(e),
    }
}

/// A processing call's device (and member, when its token names one).
pub struct Device(pub DeviceSession);

impl FromRequestParts<AppState> for Device {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let served = ServedProgram::from_request_parts(parts, state).await?.id;
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(unauthorized)?;
        match state.store.device_session(token).await {
            Ok(Some(session)) if session.program_id == served => Ok(Device(session)),
            Ok(_) => Err(unauthorized()),
            Err(e) => Err(failed(e)),
        }
    }
}
