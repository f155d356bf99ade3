//! `GET|POST /api/postbacks/{integration}/tracker-postback?tracker.event=…&clickid=…`
//!
//! Every postback is kept in the postback log with its outcome, the shared secret's
//! value masked; rate-limited ones excepted: they are refused before any write, and
//! the network sends them again.

use super::limiter::{UNKNOWN, UNKNOWN_PER_MINUTE};
use crate::outbound::sealing::Sealer;
use crate::AppState;
use accrue_core::tracker::params::{self, ParamError, Postback};
use accrue_core::tracker::{currency, event, ids};
use accrue_store::tracker::{Ingest, Integration, LogEntry, Outcome};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ipnet::IpNet;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// A postback refused before it was counted: its status, outcome and reason.
struct Refusal {
    status: StatusCode,
    outcome: Outcome,
    message: String,
}

impl Refusal {
    fn rejected(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            outcome: Outcome::Rejected,
            message: message.into(),
        }
    }

    fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            outcome: Outcome::Forbidden,
            message: message.into(),
        }
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn too_many(retry_after: u64) -> Response {
    let body = json!({"status": "rate_limited", "error": "too many postbacks for this integration; retry later"});
    let mut response = answer(StatusCode::TOO_MANY_REQUESTS, body);
    response.headers_mut().insert(RETRY_AFTER, retry_after.into());
    response
}

pub async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(uid): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri.query().unwrap_or("");
    let body_text = String::from_utf8_lossy(&body);
    let raw = if body.is_empty() {
        clip(query, super::MAX_QUERY).to_string()
    } else {
        format!("{}\n{}", clip(query, super::MAX_QUERY), body_text)
    };
    let mut log = LogEntry {
        integration_uid: clip(&uid, 64).to_string(),
        method: method.to_string(),
        raw,
        source_ip: peer.ip().to_string(),
        ..LogEntry::default()
    };
    let integration = if ids::is_uuid(&uid) {
        match state.store.integration_by_uid(&uid.to_ascii_lowercase()).await {
            Ok(found) => found,
            Err(e) => return crate::ApiError::from(e).into_response(),
        }
    } else {
        None
    };
    let Some(integration) = integration else {
        if let Err(seconds) = state.tracker.take(UNKNOWN, UNKNOWN_PER_MINUTE, Instant::now()) {
            return too_many(seconds);
        }
        let refusal = Refusal {
            status: StatusCode::NOT_FOUND,
            outcome: Outcome::UnknownIntegration,
            message: "no integration has this id".into(),
        };
        return refuse(&state, log, refusal).await;
    };
    if let Err(seconds) = state
        .tracker
        .take(integration.id, integration.rate_limit_per_minute, Instant::now())
    {
        tracing::warn!(integration = %integration.uid, "postback rate limit reached; answered 429");
        return too_many(seconds);
    }
    log.raw = params::redact(&log.raw, &integration.secret_param);
    log.program_id = Some(integration.program_id);
    log.integration_id = Some(integration.id);
    let pairs = match read_pairs(&integration, &state.sealer, peer.ip(), query, &headers, &body) {
        Ok(pairs) => pairs,
        Err(refusal) => return refuse(&state, log, refusal).await,
    };
    log.click_id = params::value(&pairs, params::CLICK_ID)
        .or(params::value(&pairs, &integration.click_param))
        .map(|c| clip(c, 100).to_string());
    log.event = params::value(&pairs, params::EVENT).map(|e| clip(e, 64).to_string());
    let ingest = match understand(&integration, &pairs) {
        Ok((postback, event, amount, currency)) => Ingest {
            integration,
            postback,
            event,
            amount,
            currency,
            log,
        },
        Err(refusal) => return refuse(&state, log, refusal).await,
    };
    match state.store.ingest_postback(ingest).await {
        Ok(done) => answer(
            StatusCode::OK,
            json!({
                "status": done.outcome.as_str(),
                "kind": done.kind.map(|k| k.as_str()),
                "conversion_id": done.conversion_id,
                "ignored_fields": done.ignored_fields,
            }),
        ),
        Err(e) => crate::ApiError::from(e).into_response(),
    }
}

/// Logs a refused postback and answers with the reason.
async fn refuse(state: &AppState, mut log: LogEntry, refusal: Refusal) -> Response {
    log.detail = Some(refusal.message.clone());
    if let Err(e) = state.store.log_postback(log, refusal.outcome).await {
        return crate::ApiError::from(e).into_response();
    }
    answer(
        refusal.status,
        json!({"status": refusal.outcome.as_str(), "error": refusal.message}),
    )
}

fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The checks before the parameters are believed: size, source address, secret.
fn read_pairs(
    integration: &Integration,
    sealer: &Sealer,
    source: IpAddr,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Refusal> {
    if query.len() > super::MAX_QUERY {
        return Err(Refusal {
            status: StatusCode::URI_TOO_LONG,
            outcome: Outcome::Rejected,
            message: format!("query string is longer than {} bytes", super::MAX_QUERY),
        });
    }
    if !source_allowed(&integration.allowed_ips, source) {
        return Err(Refusal::forbidden(format!("source address {source} is not allowed")));
    }
    let bad_utf8 = |_: ParamError| Refusal::rejected("parameters are not valid UTF-8");
    let mut pairs = params::decode_pairs(query).map_err(bad_utf8)?;
    pairs.extend(body_pairs(headers, body)?);
    if let Some(sealed) = &integration.sealed_secret {
        let expected = sealer
            .open(sealed)
            .map_err(|_| Refusal::forbidden("the integration's secret cannot be read"))?;
        let given = params::value(&pairs, &integration.secret_param).unwrap_or("");
        if !same(given.as_bytes(), expected.as_bytes()) {
            return Err(Refusal::forbidden(format!(
                "missing or wrong shared secret ({})",
                integration.secret_param
            )));
        }
    }
    Ok(pairs)
}

/// A POST's parameters: a form, or a flat JSON object.
fn body_pairs(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let json_body = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !json_body {
        let text = std::str::from_utf8(body).map_err(|_| Refusal::rejected("body is not valid UTF-8"))?;
        return params::decode_pairs(text.trim()).map_err(|_| Refusal::rejected("body is not valid UTF-8"));
    }
    let object: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| Refusal::rejected(format!("body must be a flat JSON object: {e}")))?;
    Ok(object
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::String(s) => Some((name, s)),
            Value::Number(n) => Some((name, n.to_string())),
            Value::Bool(b) => Some((name, b.to_string())),
            _ => None,
        })
        .collect())
}

fn source_allowed(allowed: &[String], source: IpAddr) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|entry| match entry.parse::<IpNet>() {
            Ok(net) => net.contains(&source),
            Err(_) => entry.parse::<IpAddr>().is_ok_and(|ip| ip == source),
        })
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads the postback's event, click id, amount and currency.
fn understand(
    integration: &Integration,
    pairs: &[(String, String)],
) -> Result<(Postback, event::Event, i64, Option<String>), Refusal> {
    let postback = params::read(pairs, &integration.click_param, &integration.secret_param)
        .map_err(|e| Refusal::rejected(e.to_string()))?;
    let event =
        event::parse(&postback.event, &integration.custom_events()).map_err(|e| Refusal::rejected(e.to_string()))?;
    let amount = match &postback.amount {
        Some(text) => currency::parse_amount(text).map_err(|e| Refusal::rejected(format!("tracker.cost: {e}")))?,
        None => 0,
    };
    let currency = match (&postback.currency, &postback.amount) {
        (Some(code), _) => Some(currency::normalize(code).map_err(|e| Refusal::rejected(e.to_string()))?),
        (None, Some(_)) => Some(integration.default_currency.clone()),
        (None, None) => None,
    };
    Ok((postback, event, amount, currency))
}
