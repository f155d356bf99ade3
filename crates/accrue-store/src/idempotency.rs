//! Replays: every face's repeatable operation keeps its outcome under (program, scope,
//! key) — the admin API's `Idempotency-Key`, a till's `operationId` — claimed in the same
//! transaction as the write it guards, so a concurrent repeat waits for the first and
//! then reads its outcome. Scopes keep the keys of different faces apart.

use crate::{StoreError, Tx};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The scope of the admin API's keys.
pub const ADMIN: &str = "admin";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyKey {
    /// Whose key it is: a face, or a part of one.
    pub scope: String,
    pub key: String,
    /// Fingerprint of the request the key was first used with.
    pub fingerprint: String,
}

impl IdempotencyKey {
    /// An admin API key.
    pub fn new(key: &str, request: &serde_json::Value) -> Result<IdempotencyKey, StoreError> {
        IdempotencyKey::scoped(ADMIN, key, request)
    }

    pub fn scoped(scope: &str, key: &str, request: &serde_json::Value) -> Result<IdempotencyKey, StoreError> {
        accrue_core::idempotency::validate_key(key).map_err(|e| StoreError::Invalid(e.into()))?;
        Ok(IdempotencyKey {
            scope: scope.into(),
            key: key.into(),
            fingerprint: accrue_core::idempotency::fingerprint(request),
        })
    }
}

/// Claims the key, or returns the stored outcome of its first use; the same key with
/// another request is [`StoreError::IdempotencyMismatch`].
pub(crate) async fn claim<T: DeserializeOwned>(
    tx: &mut Tx,
    program_id: i64,
    key: &IdempotencyKey,
) -> Result<Option<T>, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO replays (program_id, scope, key, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (program_id, scope, key) DO NOTHING",
    )
    .bind(program_id)
    .bind(&key.scope)
    .bind(&key.key)
    .bind(&key.fingerprint)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT fingerprint, outcome FROM replays WHERE program_id = $1 AND scope = $2 AND key = $3")
        .bind(program_id)
        .bind(&key.scope)
        .bind(&key.key)
        .fetch_one(tx.conn())
        .await?;
    let fingerprint: String = row.try_get("fingerprint")?;
    if fingerprint != key.fingerprint {
        return Err(StoreError::IdempotencyMismatch);
    }
    let outcome: Option<String> = row.try_get("outcome")?;
    let outcome = outcome.ok_or_else(|| StoreError::Internal("a replay key without its outcome".into()))?;
    Ok(Some(serde_json::from_str(&outcome)?))
}

/// Keeps the outcome of the operation that claimed the key.
pub(crate) async fn record(
    tx: &mut Tx,
    program_id: i64,
    key: &IdempotencyKey,
    outcome: &impl Serialize,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE replays SET outcome = $1 WHERE program_id = $2 AND scope = $3 AND key = $4")
        .bind(serde_json::to_string(outcome)?)
        .bind(program_id)
        .bind(&key.scope)
        .bind(&key.key)
        .execute(tx.conn())
        .await?;
    Ok(())
}
