//! `POST Pushes`: the member's app registers the device it runs on for push messages.
//! The device names itself in `X-DeviceId` (with `X-PlatformType`,
//! `X-PlatformVersion`, `User-Agent`); the body carries the push service's token.
//! Pushes reach it when the operator sends to subscribers by push.

use super::auth::Member;
use super::envelope::{Answer, Body};
use crate::AppState;
use accrue_store::subscriptions::PushDevice;
use axum::extract::State;
use axum::http::header::USER_AGENT;
use axum::http::HeaderMap;
use serde::Deserialize;

const PLATFORMS: [&str; 3] = ["Android", "Ios", "Harmony"];
const SERVICES: [&str; 3] = ["Fcm", "Apns", "HMS"];
const MAX_HEADER: usize = 256;
const MAX_TOKEN: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    token: Option<String>,
    platform_type: Option<String>,
    push_service_type: Option<String>,
}

/// One of `allowed`, in any case, as written there.
fn one_of(value: &str, allowed: &[&'static str]) -> Option<&'static str> {
    allowed.iter().copied().find(|a| a.eq_ignore_ascii_case(value))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.chars().take(MAX_HEADER).collect())
}

pub async fn register(
    State(state): State<AppState>,
    m: Member,
    headers: HeaderMap,
    Body(r): Body<Registration>,
) -> Answer {
    let v = m.version;
    let Some(device_id) = header(&headers, "x-deviceid") else {
        return Answer::error(v, "Метод доступен только для мобильных устройств");
    };
    let Some(token) = r.token.filter(|t| !t.trim().is_empty() && t.len() <= MAX_TOKEN) else {
        return Answer::invalid(v, "token", "Укажите токен устройства.");
    };
    let platform = r.platform_type.or_else(|| header(&headers, "x-platformtype"));
    let Some(platform) = platform.as_deref().and_then(|p| one_of(p, &PLATFORMS)) else {
        return Answer::invalid(v, "platformType", "Ожидается Android, Ios или Harmony.");
    };
    let push_service = match r.push_service_type.as_deref().map(|s| one_of(s, &SERVICES)) {
        None => None,
        Some(Some(service)) => Some(service.to_string()),
        Some(None) => return Answer::invalid(v, "pushServiceType", "Ожидается Fcm, Apns или HMS."),
    };
    let device = PushDevice {
        device_id,
        platform: platform.to_string(),
        platform_version: header(&headers, "x-platformversion"),
        push_service,
        user_agent: header(&headers, USER_AGENT.as_str()),
        token: token.trim().to_string(),
    };
    match state
        .store
        .register_push_device(m.owner.program_id, m.owner.member_id, device)
        .await
    {
        Ok(()) => Answer::success(v, serde_json::Value::Null),
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}
