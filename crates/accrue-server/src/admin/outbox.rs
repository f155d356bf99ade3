//! The outbox seen by the operator: messages, their attempts, retry by hand, and
//! messages queued by hand (partner notifications, e-mail, SMS).

use super::views::{time, Items};
use super::{Paging, ProgramParam};
use crate::extract::{Json, Path, Query};
use crate::outbound::guard::{self, Allowlist};
use crate::{ApiError, AppState};
use accrue_core::outbox::{MessageKind, MessageState};
use accrue_core::template::UrlTemplate;
use accrue_store::outbox::{Attempt, Message, MessageFilter, NewMessage};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Placeholders a partner-notification or postback URL template may use.
pub const URL_PLACEHOLDERS: &[&str] = &["amount", "clickid", "currency", "event", "hash", "id", "status", "tid"];

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    /// webhook, http_get, http_post, email, sms or push.
    pub kind: String,
    pub target: String,
    pub event_type: Option<String>,
    pub endpoint_id: Option<i64>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// pending, delivered or failed.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempted_at: String,
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub message: MessageView,
    pub attempt_log: Vec<AttemptView>,
}

fn view(m: Message) -> MessageView {
    MessageView {
        id: m.uid,
        kind: m.kind.as_str().into(),
        target: m.target,
        event_type: m.event_type,
        endpoint_id: m.endpoint_id,
        payload: m.payload,
        state: m.state.as_str().into(),
        attempts: m.attempts,
        next_attempt_at: (m.state == MessageState::Pending).then(|| time(m.next_attempt_at)),
        last_error: m.last_error,
        created_at: time(m.created_at),
        delivered_at: m.delivered_at.map(time),
    }
}

fn attempt_view(a: Attempt) -> AttemptView {
    AttemptView {
        attempted_at: time(a.attempted_at),
        status_code: a.status_code,
        duration_ms: a.duration_ms,
        response_body: a.response_body,
        error: a.error,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    pub program: Option<String>,
    pub state: Option<String>,
    pub kind: Option<String>,
    /// Part of the target (URL, address, phone).
    pub target: Option<String>,
    pub event_type: Option<String>,
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

fn parse_or<T>(text: Option<&str>, parse: fn(&str) -> Option<T>, what: &str) -> Result<Option<T>, ApiError> {
    text.map(|t| parse(t).ok_or_else(|| ApiError::invalid(format!("unknown {what} {t:?}"))))
        .transpose()
}

#[utoipa::path(operation_id = "outbox_list", get, path = "/admin/v1/outbox/messages", params(MessageQuery),
    responses((status = 200, body = Items<MessageView>)), tag = "outbox")]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<MessageQuery>,
) -> Result<axum::Json<Items<MessageView>>, ApiError> {
    let program = ProgramParam {
        program: q.program.clone(),
    }
    .resolve(&state.store)
    .await?;
    let (offset, count) = Paging {
        offset: q.offset,
        count: q.count,
    }
    .bounds()?;
    let filter = MessageFilter {
        state: parse_or(q.state.as_deref(), MessageState::parse, "state")?,
        kind: parse_or(q.kind.as_deref(), MessageKind::parse, "kind")?,
        target: q.target,
        event_type: q.event_type,
        offset,
        count,
    };
    let items = state
        .store
        .messages(program.id, filter)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(axum::Json(Items { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevealQuery {
    pub program: Option<String>,
    /// Show the payload with its sealed secrets (a confirmation code) filled in, while
    /// the message still has them: until delivery, and always on the log channel.
    pub reveal: Option<bool>,
}

#[utoipa::path(operation_id = "outbox_get", get, path = "/admin/v1/outbox/messages/{id}", params(RevealQuery),
    responses((status = 200, body = MessageDetail), (status = 404), (status = 409, description = "nothing to reveal any more")),
    tag = "outbox")]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RevealQuery>,
) -> Result<axum::Json<MessageDetail>, ApiError> {
    let program = ProgramParam { program: q.program }.resolve(&state.store).await?;
    let (mut message, attempts) = state.store.message(program.id, &id).await?;
    if q.reveal == Some(true) {
        let (payload, _) = message
            .open(state.store.sealer())
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, "purged", e))?;
        message.payload = payload;
    }
    Ok(axum::Json(MessageDetail {
        message: view(message),
        attempt_log: attempts.into_iter().map(attempt_view).collect(),
    }))
}

#[utoipa::path(operation_id = "outbox_retry", post, path = "/admin/v1/outbox/messages/{id}/retry", params(ProgramParam),
    responses((status = 202, body = MessageView), (status = 404, description = "unknown or already delivered")), tag = "outbox")]
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<ProgramParam>,
) -> Result<(StatusCode, axum::Json<MessageView>), ApiError> {
    let program = p.resolve(&state.store).await?;
    state.store.retry_message(program.id, id.clone()).await?;
    let (message, _) = state.store.message(program.id, &id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(view(message))))
}

/// A message queued by hand. HTTP kinds take a `url` or a `template` with `values`
/// (placeholders: amount, clickid, currency, event, hash, id, status, tid); e-mail takes
/// `to`, `subject`, `body`; SMS takes `to` and `text`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueMessage {
    /// http_get, http_post, email or sms.
    pub kind: String,
    pub url: Option<String>,
    pub template: Option<String>,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// http_post: the JSON body.
    #[schema(value_type = Option<Object>)]
    pub json: Option<serde_json::Value>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub text: Option<String>,
}

fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value.ok_or_else(|| ApiError::invalid(format!("{field} is required for this kind")))
}

fn message_of(allow: &Allowlist, q: QueueMessage) -> Result<NewMessage, ApiError> {
    let kind = MessageKind::parse(&q.kind).ok_or_else(|| ApiError::invalid(format!("unknown kind {:?}", q.kind)))?;
    let (target, payload) = match kind {
        MessageKind::HttpGet | MessageKind::HttpPost => {
            let url = match (q.url, q.template) {
                (Some(url), None) => url,
                (None, Some(template)) => UrlTemplate::parse(&template, URL_PLACEHOLDERS)
                    .map_err(|e| ApiError::invalid(format!("template: {e}")))?
                    .render(&q.values),
                _ => return Err(ApiError::invalid("give either url or template")),
            };
            guard::check_url(&url, allow).map_err(|e| ApiError::invalid(format!("url: {e}")))?;
            (url, q.json.unwrap_or(serde_json::json!({})))
        }
        MessageKind::Email => {
            let payload =
                serde_json::json!({"subject": required(q.subject, "subject")?, "body": required(q.body, "body")?});
            (required(q.to, "to")?, payload)
        }
        MessageKind::Sms => (
            required(q.to, "to")?,
            serde_json::json!({"text": required(q.text, "text")?}),
        ),
        MessageKind::Webhook => return Err(ApiError::invalid("webhooks are sent for events; use a test event")),
        MessageKind::Push => {
            return Err(ApiError::invalid(
                "pushes go to members' devices; use /admin/v1/subscribers/messages",
            ))
        }
    };
    Ok(NewMessage::new(kind, target, payload))
}

#[utoipa::path(operation_id = "outbox_queue", post, path = "/admin/v1/outbox/messages", params(ProgramParam), request_body = QueueMessage,
    responses((status = 202, body = MessageView), (status = 400, description = "bad template, refused address, missing field")), tag = "outbox")]
pub async fn queue(
    State(state): State<AppState>,
    State(allow): State<Allowlist>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<QueueMessage>,
) -> Result<(StatusCode, axum::Json<MessageView>), ApiError> {
    let program = p.resolve(&state.store).await?;
    let new = message_of(&allow, body)?;
    let uid = state.store.enqueue_message(program.id, new).await?;
    let (message, _) = state.store.message(program.id, &uid).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(view(message))))
}
