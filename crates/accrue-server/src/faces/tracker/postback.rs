//! `GET|POST /api/postbacks/{integration}/tracker-postback?tracker.event=…&clickid=…`
//!
//! Every postback is kept in the postback log with its outcome, the shared secret
//! masked in whatever encoding it came; rate-limited ones excepted: they are refused
//! before any write, and the network sends them again.

use super::{failed, UNKNOWN_PER_MINUTE};
use crate::limits::address_allowed;
use crate::AppState;
use accrue_core::signature::constant_time_eq;
use accrue_core::tracker::params::{self, ParamError, Postback};
use accrue_core::tracker::{currency, event, ids};
use accrue_store::tracker::{Ingest, Integration, LogEntry, Outcome};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

/// The most parameters a postback may have (query and body together).
const MAX_PAIRS: usize = 256;

/// A postback refused before it was counted: its status, outcome and reason.
pub(crate) struct Refusal {
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

pub async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(uid): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let query = uri.query().unwrap_or("");
    let body = read_body(&headers, body).await;
    let mut log = LogEntry {
        integration_uid: clip(&uid, 64).to_string(),
        method: method.to_string(),
        raw: raw_text(query, body.as_ref().map_or(&[][..], |b| &b[..])),
        source_ip: peer.ip().to_string(),
        ..LogEntry::default()
    };
    let integration = if ids::is_uuid(&uid) {
        match state.store.integration_by_uid(&uid.to_ascii_lowercase()).await {
            Ok(found) => found,
            Err(e) => return failed(e),
        }
    } else {
        None
    };
    let Some(integration) = integration else {
        let refusal = Refusal {
            status: StatusCode::NOT_FOUND,
            outcome: Outcome::UnknownIntegration,
            message: "no integration has this id".into(),
        };
        return refuse(&state, log, refusal, UNKNOWN_PER_MINUTE).await;
    };
    let limit = integration.rate_limit_per_minute;
    log.raw = masked(&log.raw, &headers, &integration.secret_param);
    log.program_id = Some(integration.program_id);
    log.integration_id = Some(integration.id);
    let secret = match &integration.sealed_secret {
        Some(sealed) => match state.store.sealer().open(sealed) {
            Ok(secret) => Some(secret),
            Err(_) => {
                let refusal = Refusal::forbidden("the integration's secret cannot be read");
                return refuse(&state, log, refusal, limit).await;
            }
        },
        None => None,
    };
    log.raw = accrue_core::redact::erase(&log.raw, secret.as_deref().unwrap_or_default());
    let body = match body {
        Ok(body) => body,
        Err(refusal) => return refuse(&state, log, refusal, limit).await,
    };
    let pairs = match read_pairs(&integration, secret.as_deref(), peer.ip(), query, &headers, &body) {
        Ok(pairs) => pairs,
        Err(refusal) => return refuse(&state, log, refusal, limit).await,
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
        Err(refusal) => return refuse(&state, log, refusal, limit).await,
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
        Err(e) => failed(e),
    }
}

/// The body, at most `MAX_BODY` bytes of it; a larger one is refused (and logged).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Refusal> {
    let too_large = || Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        outcome: Outcome::Rejected,
        message: format!("body is larger than {} bytes", super::MAX_BODY),
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > super::MAX_BODY as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, super::MAX_BODY)
        .await
        .map_err(|_| too_large())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"))
}

/// What the log keeps: the query, and the body after a newline (masked once the
/// integration, and so its secret, is known).
fn raw_text(query: &str, body: &[u8]) -> String {
    let query = clip(query, super::MAX_QUERY);
    if body.is_empty() {
        return query.to_string();
    }
    format!("{query}\n{}", String::from_utf8_lossy(body))
}

/// The log's text with the integration's secret parameter masked in the query and in
/// the body, whether a form or JSON.
fn masked(raw: &str, headers: &HeaderMap, name: &str) -> String {
    let (query, body) = raw.split_once('\n').unwrap_or((raw, ""));
    let query = params::redact(query, name);
    if body.is_empty() {
        return query;
    }
    let body = if is_json(headers) {
        params::redact_json(body, name)
    } else {
        params::redact(body, name)
    };
    format!("{query}\n{body}")
}

/// Logs a refused postback and answers with the reason.
async fn refuse(state: &AppState, mut log: LogEntry, refusal: Refusal, per_minute: i64) -> Response {
    log.detail = Some(refusal.message.clone());
    if let Err(e) = state.store.log_postback(log, refusal.outcome, per_minute).await {
        return failed(e);
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
    secret: Option<&str>,
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
    if !address_allowed(&integration.allowed_ips, source) {
        return Err(Refusal::forbidden(format!("source address {source} is not allowed")));
    }
    let bad_utf8 = |_: ParamError| Refusal::rejected("parameters are not valid UTF-8");
    let mut pairs = params::decode_pairs(query).map_err(bad_utf8)?;
    pairs.extend(body_pairs(headers, body)?);
    if pairs.len() > MAX_PAIRS {
        return Err(Refusal::rejected(format!("more than {MAX_PAIRS} parameters")));
    }
    if pairs.iter().any(|(n, v)| n.contains('\0') || v.contains('\0')) {
        return Err(Refusal::rejected("text must not contain NUL characters"));
    }
    if let Some(expected) = secret {
        let given = params::value(&pairs, &integration.secret_param).unwrap_or("");
        if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return Err(Refusal::forbidden(format!(
                "missing or wrong shared secret ({})",
                integration.secret_param
            )));
        }
    }
    Ok(pairs)
}

/// A POST's parameters: a form, or a flat JSON object.
pub(crate) fn body_pairs(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    if !is_json(headers) {
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
