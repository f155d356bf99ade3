//! Idempotency keys: claimed in the same transaction as the write they guard, so a
//! concurrent repeat waits for the first and then reads its stored result.

use crate::{StoreError, Tx};
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyKey {
    pub key: String,
    /// Fingerprint of the request the key was first used with.
    pub fingerprint: String,
}

impl IdempotencyKey {
    pub fn new(key: &str, request: &serde_json::Value) -> Result<IdempotencyKey, StoreError> {
        accrue_core::idempotency::validate_key(key).map_err(|e| StoreError::Invalid(e.into()))?;
        Ok(IdempotencyKey {
            key: key.into(),
            fingerprint: accrue_core::idempotency::fingerprint(request),
        })
    }
}

/// Claims the key, or returns the stored response of its first use.
pub(crate) async fn claim(
    tx: &mut Tx,
    program_id: i64,
    key: &IdempotencyKey,
) -> Result<Option<serde_json::Value>, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (program_id, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (program_id, key) DO NOTHING",
    )
    .bind(program_id)
    .bind(&key.key)
    .bind(&key.fingerprint)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT fingerprint, response FROM idempotency_keys WHERE program_id = $1 AND key = $2")
        .bind(program_id)
        .bind(&key.key)
        .fetch_one(tx.conn())
        .await?;
    let fingerprint: String = row.try_get("fingerprint")?;
    if fingerprint != key.fingerprint {
        return Err(StoreError::IdempotencyMismatch);
    }
    let response: Option<String> = row.try_get("response")?;
    let response = response.ok_or_else(|| StoreError::Internal("idempotency key without a response".into()))?;
    Ok(Some(serde_json::from_str(&response)?))
}

pub(crate) async fn record(
    tx: &mut Tx,
    program_id: i64,
    key: &IdempotencyKey,
    response: &impl Serialize,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE idempotency_keys SET response = $1 WHERE program_id = $2 AND key = $3")
        .bind(serde_json::to_string(response)?)
        .bind(program_id)
        .bind(&key.key)
        .execute(tx.conn())
        .await?;
    Ok(())
}
