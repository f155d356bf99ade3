//! The outbox: messages are written in the transaction of the change that caused them,
//! claimed by delivery workers under a lease, and every attempt is kept.

use crate::cache::memoized_in_tx;
use crate::{found, Dialect, Sealer, Store, StoreError, Tx};
use accrue_core::outbox::{fill_secrets, EventType, MessageKind, MessageState};
use accrue_core::Millis;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMessage {
    pub kind: MessageKind,
    /// URL, e-mail address or phone number.
    pub target: String,
    /// webhook: the event; http_post: the JSON body; email: `{"subject","body"}`;
    /// sms: `{"text"}`; http_get: `{}` (everything is in the URL).
    pub payload: Value,
    /// Secrets the payload's text names as `{name}` (a confirmation code), sealed: a JSON
    /// object of names and values. Filled in at send time, purged after delivery.
    pub sealed_secrets: Option<String>,
}

impl NewMessage {
    pub fn new(kind: MessageKind, target: String, payload: Value) -> NewMessage {
        NewMessage {
            kind,
            target,
            payload,
            sealed_secrets: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    /// Stable id, sent as `webhook-id`: receivers deduplicate by it.
    pub uid: String,
    pub program_id: i64,
    pub kind: MessageKind,
    pub target: String,
    pub event_type: Option<String>,
    pub endpoint_id: Option<i64>,
    pub payload: Value,
    /// See [`NewMessage::sealed_secrets`]; empty once purged.
    pub sealed_secrets: Option<String>,
    pub state: MessageState,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

impl Message {
    /// The payload to send, with its sealed secrets filled in, and the secrets' values (to
    /// keep out of what is stored of the attempt). Fails when the secrets were purged
    /// (the message was done) or cannot be opened with this server's key.
    pub fn open(&self, sealer: &Sealer) -> Result<(Value, Vec<String>), String> {
        match self.sealed_secrets.as_deref() {
            None => Ok((self.payload.clone(), Vec::new())),
            Some("") => Err("its secrets were purged when it was done; it cannot be sent again".into()),
            Some(sealed) => {
                let secrets: BTreeMap<String, String> =
                    serde_json::from_str(&sealer.open(sealed)?).map_err(|e| format!("sealed secrets: {e}"))?;
                let payload = fill_secrets(&self.payload, &secrets);
                Ok((payload, secrets.into_values().collect()))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempted_at: Millis,
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    /// The first 20 KB of the answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// What an attempt leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(Millis),
    Failed,
    /// The endpoint answered 410: disable it and fail its pending messages.
    EndpointGone,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    pub state: Option<MessageState>,
    pub kind: Option<MessageKind>,
    /// Part of the target.
    pub target: Option<String>,
    pub event_type: Option<String>,
    pub offset: i64,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: i64,
    pub program_id: i64,
    pub url: String,
    pub description: String,
    /// Event types, or `["*"]` for all.
    pub event_types: Vec<String>,
    /// Sealed signing secret (the store never sees it in clear).
    pub secret: String,
    /// Sealed previous secret, valid until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<Millis>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub secret: String,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointUpdate {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

fn uid(prefix: &str) -> String {
    let mut bytes = [0_u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// A message due for delivery at `$1`, unclaimed or with its claim run out.
const DUE: &str = "state = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)";

const MESSAGE_COLUMNS: &str = "id, uid, program_id, kind, target, event_type, endpoint_id, payload, sealed_secrets, \
     state, attempts, next_attempt_at, last_error, created_at, delivered_at";

fn message_from(row: &AnyRow) -> Result<Message, StoreError> {
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    let payload: String = row.try_get("payload")?;
    Ok(Message {
        id: row.try_get("id")?,
        uid: row.try_get("uid")?,
        program_id: row.try_get("program_id")?,
        kind: MessageKind::parse(&kind).ok_or_else(|| StoreError::Internal(format!("bad message kind {kind}")))?,
        target: row.try_get("target")?,
        event_type: row.try_get("event_type")?,
        endpoint_id: row.try_get("endpoint_id")?,
        payload: serde_json::from_str(&payload)?,
        sealed_secrets: row.try_get("sealed_secrets")?,
        state: MessageState::parse(&state).ok_or_else(|| StoreError::Internal(format!("bad message state {state}")))?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

async fn insert_message(
    tx: &mut Tx,
    program_id: i64,
    new: &NewMessage,
    event: Option<(&str, i64)>,
) -> Result<String, StoreError> {
    let uid = uid("msg");
    tx.queued_messages = true;
    sqlx::query(
        "INSERT INTO outbox_messages (uid, program_id, kind, target, event_type, endpoint_id, payload, sealed_secrets, \
         state, attempts, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9, $9)",
    )
    .bind(&uid)
    .bind(program_id)
    .bind(new.kind.as_str())
    .bind(&new.target)
    .bind(event.map(|e| e.0))
    .bind(event.map(|e| e.1))
    .bind(new.payload.to_string())
    .bind(&new.sealed_secrets)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(uid)
}

/// Queues a message in the current transaction.
pub(crate) async fn enqueue(tx: &mut Tx, program_id: i64, new: &NewMessage) -> Result<String, StoreError> {
    insert_message(tx, program_id, new, None).await
}

/// The enabled endpoints of the program subscribed to `event` (or just `only`).
pub(crate) async fn subscribers(
    tx: &mut Tx,
    program_id: i64,
    event: EventType,
    only: Option<i64>,
) -> Result<Vec<(i64, String)>, StoreError> {
    let endpoints = subscriptions(tx, program_id).await?;
    let wanted = |(id, _, types): &&Subscription| match only {
        Some(only) => only == *id,
        None => types.iter().any(|t| t == "*" || t == event.as_str()),
    };
    Ok(endpoints
        .iter()
        .filter(wanted)
        .map(|(id, url, _)| (*id, url.clone()))
        .collect())
}

/// An enabled webhook endpoint: its id, URL and the event types it takes.
pub(crate) type Subscription = (i64, String, Vec<String>);

/// The program's enabled endpoints with the event types they take: from the cache,
/// unless this transaction changed them.
async fn subscriptions(tx: &mut Tx, program_id: i64) -> Result<Arc<[Subscription]>, StoreError> {
    memoized_in_tx!(tx, subscriptions, program_id, enabled_endpoints(tx, program_id).await)
}

async fn enabled_endpoints(tx: &mut Tx, program_id: i64) -> Result<Arc<[Subscription]>, StoreError> {
    let rows =
        sqlx::query("SELECT id, url, event_types FROM webhook_endpoints WHERE program_id = $1 AND state = 'enabled'")
            .bind(program_id)
            .fetch_all(tx.conn())
            .await?;
    rows.iter()
        .map(|row| {
            let types: String = row.try_get(2)?;
            Ok((row.try_get(0)?, row.try_get(1)?, serde_json::from_str(&types)?))
        })
        .collect()
}

/// Queues one delivery of the event per endpoint, in the current transaction. The
/// event has one id for all of them; each delivery is a message of its own.
pub(crate) async fn emit_to(
    tx: &mut Tx,
    program_id: i64,
    endpoints: &[(i64, String)],
    event: EventType,
    data: Value,
) -> Result<(), StoreError> {
    let payload = json!({"type": event.as_str(), "id": uid("evt"), "timestamp": rfc3339(tx.now), "data": data});
    for (id, url) in endpoints {
        let new = NewMessage::new(MessageKind::Webhook, url.clone(), payload.clone());
        insert_message(tx, program_id, &new, Some((event.as_str(), *id))).await?;
    }
    Ok(())
}

/// Announces an event to the program's subscribed endpoints, in the current transaction.
pub(crate) async fn emit(
    tx: &mut Tx,
    program_id: i64,
    event: EventType,
    data: Value,
    only: Option<i64>,
) -> Result<(), StoreError> {
    let endpoints = subscribers(tx, program_id, event, only).await?;
    emit_to(tx, program_id, &endpoints, event, data).await
}

pub(crate) fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

const ENDPOINT_COLUMNS: &str = "id, program_id, url, description, event_types, secret, previous_secret, \
     previous_secret_expires_at, state, disabled_reason, created_at, updated_at";

fn endpoint_from(row: &AnyRow) -> Result<Endpoint, StoreError> {
    let types: String = row.try_get("event_types")?;
    let state: String = row.try_get("state")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        program_id: row.try_get("program_id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        event_types: serde_json::from_str(&types)?,
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_secret_expires_at: row.try_get("previous_secret_expires_at")?,
        enabled: state == "enabled",
        disabled_reason: row.try_get("disabled_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Event types must be known ones or `*`.
fn validate_event_types(types: &[String]) -> Result<(), StoreError> {
    if types.is_empty() {
        return Err(StoreError::Invalid(
            "subscribe to at least one event type, or \"*\" for all".into(),
        ));
    }
    match types.iter().find(|t| *t != "*" && EventType::parse(t).is_none()) {
        Some(t) => Err(StoreError::Invalid(format!("unknown event type {t:?}"))),
        None => Ok(()),
    }
}

impl Store {
    /// Queues one message on its own (faces queue theirs inside their own writes).
    pub async fn enqueue_message(&self, program_id: i64, new: NewMessage) -> Result<String, StoreError> {
        self.write(move |tx| Box::pin(async move { enqueue(tx, program_id, &new).await }))
            .await
    }

    /// Claims up to `limit` due messages for `worker` until `lease_until`. A claim that
    /// runs out (a worker that died) makes the message due again. Looks first outside a
    /// write, so that the idle worker's polls cost no write transaction.
    pub async fn claim_messages(
        &self,
        worker: &str,
        limit: i64,
        lease_until: Millis,
    ) -> Result<Vec<Message>, StoreError> {
        let due = sqlx::query(&format!("SELECT 1 FROM outbox_messages WHERE {DUE} LIMIT 1"))
            .bind(self.now())
            .fetch_optional(self.reads())
            .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let worker = worker.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let skip_locked = match tx.dialect {
                    Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
                    Dialect::Sqlite => "",
                };
                let sql = format!(
                    "UPDATE outbox_messages SET locked_by = $2, locked_until = $3 WHERE id IN (SELECT id FROM outbox_messages \
                     WHERE {DUE} ORDER BY next_attempt_at, id LIMIT $4{skip_locked}) RETURNING {MESSAGE_COLUMNS}"
                );
                let rows = sqlx::query(&sql)
                    .bind(tx.now)
                    .bind(&worker)
                    .bind(lease_until)
                    .bind(limit)
                    .fetch_all(tx.conn())
                    .await?;
                rows.iter().map(message_from).collect()
            })
        })
        .await
    }

    /// Stores an attempt and its outcome, if `worker` still holds the message; a message
    /// that is done (delivered or failed) loses its sealed secrets unless `keep_secrets`
    /// (the log channel, where the outbox itself is the mailbox). Returns false when the
    /// claim was lost (the lease ran out and another worker took it).
    pub async fn record_attempt(
        &self,
        message_id: i64,
        worker: &str,
        attempt: Attempt,
        outcome: AttemptOutcome,
        keep_secrets: bool,
    ) -> Result<bool, StoreError> {
        let worker = worker.to_string();
        self.write(move |tx| {
            Box::pin(async move {
                let (state, next, delivered_at) = match outcome {
                    AttemptOutcome::Delivered => ("delivered", tx.now, Some(tx.now)),
                    AttemptOutcome::RetryAt(at) => ("pending", at, None),
                    AttemptOutcome::Failed | AttemptOutcome::EndpointGone => ("failed", tx.now, None),
                };
                let purge = state != "pending" && !keep_secrets;
                let updated = sqlx::query(
                    "UPDATE outbox_messages SET state = $1, attempts = attempts + 1, next_attempt_at = $2, delivered_at = $3, \
                     last_error = $4, locked_by = NULL, locked_until = NULL, updated_at = $5, \
                     sealed_secrets = CASE WHEN $8 = 1 AND sealed_secrets IS NOT NULL THEN '' ELSE sealed_secrets END \
                     WHERE id = $6 AND locked_by = $7 AND state = 'pending'",
                )
                .bind(state)
                .bind(next)
                .bind(delivered_at)
                .bind(&attempt.error)
                .bind(tx.now)
                .bind(message_id)
                .bind(&worker)
                .bind(i64::from(purge))
                .execute(tx.conn())
                .await?;
                if updated.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO outbox_attempts (message_id, attempted_at, status_code, duration_ms, response_body, error) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(message_id)
                .bind(attempt.attempted_at)
                .bind(attempt.status_code.map(i64::from))
                .bind(attempt.duration_ms)
                .bind(&attempt.response_body)
                .bind(&attempt.error)
                .execute(tx.conn())
                .await?;
                if outcome == AttemptOutcome::EndpointGone {
                    disable_endpoint_of(tx, message_id).await?;
                }
                Ok(true)
            })
        })
        .await
    }

    pub async fn messages(&self, program_id: i64, f: MessageFilter) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox_messages WHERE program_id = $1 AND ($2 = '' OR state = $2) \
             AND ($3 = '' OR kind = $3) AND ($4 = '' OR target LIKE $4) AND ($5 = '' OR event_type = $5) \
             ORDER BY id DESC LIMIT $6 OFFSET $7"
        );
        let target = f.target.map(|t| format!("%{}%", t.replace('%', "")));
        let rows = sqlx::query(&sql)
            .bind(program_id)
            .bind(f.state.map_or("", MessageState::as_str))
            .bind(f.kind.map_or("", MessageKind::as_str))
            .bind(target.unwrap_or_default())
            .bind(f.event_type.unwrap_or_default())
            .bind(f.count)
            .bind(f.offset)
            .fetch_all(self.reads())
            .await?;
        rows.iter().map(message_from).collect()
    }

    pub async fn message(&self, program_id: i64, uid: &str) -> Result<(Message, Vec<Attempt>), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox_messages WHERE program_id = $1 AND uid = $2"
        ))
        .bind(program_id)
        .bind(uid)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("message"))?;
        let message = message_from(&row)?;
        let rows = sqlx::query(
            "SELECT attempted_at, status_code, duration_ms, response_body, error FROM outbox_attempts \
             WHERE message_id = $1 ORDER BY id",
        )
        .bind(message.id)
        .fetch_all(self.reads())
        .await?;
        let attempts = rows
            .iter()
            .map(|r| {
                Ok(Attempt {
                    attempted_at: r.try_get(0)?,
                    status_code: r.try_get::<Option<i64>, _>(1)?.map(|s| s as u16),
                    duration_ms: r.try_get(2)?,
                    response_body: r.try_get(3)?,
                    error: r.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok((message, attempts))
    }

    /// Makes a failed (or pending) message due now; delivered ones stay delivered.
    pub async fn retry_message(&self, program_id: i64, uid: String) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let updated = sqlx::query(
                    "UPDATE outbox_messages SET state = 'pending', next_attempt_at = $1, locked_by = NULL, locked_until = NULL, \
                     updated_at = $1 WHERE program_id = $2 AND uid = $3 AND state <> 'delivered'",
                )
                .bind(tx.now)
                .bind(program_id)
                .bind(&uid)
                .execute(tx.conn())
                .await?;
                found(updated.rows_affected(), "undelivered message")
            })
        })
        .await
    }

    /// Messages waiting to be delivered, for the metrics.
    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM outbox_messages WHERE state = 'pending'")
            .fetch_one(self.reads())
            .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn create_endpoint(&self, program_id: i64, new: NewEndpoint) -> Result<Endpoint, StoreError> {
        validate_event_types(&new.event_types)?;
        self.write(move |tx| {
            Box::pin(async move {
                tx.changes_config().await?;
                let row = sqlx::query(&format!(
                    "INSERT INTO webhook_endpoints (program_id, url, description, event_types, secret, state, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'enabled', $6, $6) RETURNING {ENDPOINT_COLUMNS}"
                ))
                .bind(program_id)
                .bind(&new.url)
                .bind(&new.description)
                .bind(serde_json::to_string(&new.event_types)?)
                .bind(&new.secret)
                .bind(tx.now)
                .fetch_one(tx.conn())
                .await?;
                endpoint_from(&row)
            })
        })
        .await
    }

    pub async fn endpoints(&self, program_id: i64) -> Result<Vec<Endpoint>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE program_id = $1 ORDER BY id"
        ))
        .bind(program_id)
        .fetch_all(self.reads())
        .await?;
        rows.iter().map(endpoint_from).collect()
    }

    pub async fn endpoint(&self, program_id: i64, id: i64) -> Result<Endpoint, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE program_id = $1 AND id = $2"
        ))
        .bind(program_id)
        .bind(id)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("webhook endpoint"))?;
        endpoint_from(&row)
    }

    pub async fn update_endpoint(
        &self,
        program_id: i64,
        id: i64,
        update: EndpointUpdate,
    ) -> Result<Endpoint, StoreError> {
        if let Some(types) = &update.event_types {
            validate_event_types(types)?;
        }
        let current = self.endpoint(program_id, id).await?;
        let types = serde_json::to_string(update.event_types.as_ref().unwrap_or(&current.event_types))?;
        let enabled = update.enabled.unwrap_or(current.enabled);
        // Enabling again clears the reason it was disabled.
        let reason = if enabled {
            None
        } else {
            current.disabled_reason.or(Some("disabled by an operator".into()))
        };
        self.write(move |tx| {
            Box::pin(async move {
                tx.changes_config().await?;
                sqlx::query(
                    "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, state = $4, disabled_reason = $5, \
                     updated_at = $6 WHERE id = $7 AND program_id = $8",
                )
                .bind(update.url.unwrap_or(current.url))
                .bind(update.description.unwrap_or(current.description))
                .bind(types)
                .bind(if enabled { "enabled" } else { "disabled" })
                .bind(reason)
                .bind(tx.now)
                .bind(id)
                .bind(program_id)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await?;
        self.endpoint(program_id, id).await
    }

    /// Replaces the signing secret; the old one keeps signing until `old_valid_until`.
    pub async fn rotate_endpoint_secret(
        &self,
        program_id: i64,
        id: i64,
        sealed: String,
        old_valid_until: Millis,
    ) -> Result<Endpoint, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                tx.changes_config().await?;
                let updated = sqlx::query(
                    "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $1, secret = $2, \
                     updated_at = $3 WHERE id = $4 AND program_id = $5",
                )
                .bind(old_valid_until)
                .bind(&sealed)
                .bind(tx.now)
                .bind(id)
                .bind(program_id)
                .execute(tx.conn())
                .await?;
                found(updated.rows_affected(), "webhook endpoint")
            })
        })
        .await?;
        self.endpoint(program_id, id).await
    }

    /// Removes an endpoint; its undelivered messages fail.
    pub async fn delete_endpoint(&self, program_id: i64, id: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                fail_pending_of(tx, id, "endpoint deleted").await?;
                tx.changes_config().await?;
                let deleted = sqlx::query("UPDATE webhook_endpoints SET state = 'deleted', updated_at = $1 WHERE id = $2 AND program_id = $3 AND state <> 'deleted'")
                    .bind(tx.now)
                    .bind(id)
                    .bind(program_id)
                    .execute(tx.conn())
                    .await?;
                found(deleted.rows_affected(), "webhook endpoint")
            })
        })
        .await
    }

    /// Queues a `webhook.test` event for one endpoint.
    pub async fn send_test_event(&self, program_id: i64, endpoint_id: i64) -> Result<(), StoreError> {
        self.endpoint(program_id, endpoint_id).await?;
        self.write(move |tx| {
            Box::pin(async move {
                emit(
                    tx,
                    program_id,
                    EventType::WebhookTest,
                    json!({"endpoint_id": endpoint_id}),
                    Some(endpoint_id),
                )
                .await
            })
        })
        .await
    }
}

async fn fail_pending_of(tx: &mut Tx, endpoint_id: i64, reason: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox_messages SET state = 'failed', last_error = $1, updated_at = $2 \
         WHERE endpoint_id = $3 AND state = 'pending'",
    )
    .bind(reason)
    .bind(tx.now)
    .bind(endpoint_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn disable_endpoint_of(tx: &mut Tx, message_id: i64) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT endpoint_id FROM outbox_messages WHERE id = $1")
        .bind(message_id)
        .fetch_one(tx.conn())
        .await?;
    let Some(endpoint_id) = row.try_get::<Option<i64>, _>(0)? else {
        return Ok(());
    };
    let reason = "the endpoint answered 410 Gone";
    tx.changes_config().await?;
    sqlx::query("UPDATE webhook_endpoints SET state = 'disabled', disabled_reason = $1, updated_at = $2 WHERE id = $3")
        .bind(reason)
        .bind(tx.now)
        .bind(endpoint_id)
        .execute(tx.conn())
        .await?;
    fail_pending_of(tx, endpoint_id, reason).await
}
