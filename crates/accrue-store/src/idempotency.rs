//! Replays: every face's repeatable operation keeps its outcome under (program, scope,
//! key) — the admin API's `Idempotency-Key`, a till's `operationId` — kept in the same
//! transaction as the write it guards (see [`Store::write_once`]), so a concurrent repeat
//! waits for the first and then reads its outcome. Scopes keep the keys of different
//! faces apart.

use crate::{BoxFuture, Store, StoreError, Tx};
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

/// Keeps the outcome of an operation under its key, in the operation's transaction:
/// one statement. `false` when the key is taken — by an earlier use, or by a concurrent
/// one that committed first — and the transaction must be rolled back.
pub(crate) async fn keep(
    tx: &mut Tx,
    program_id: i64,
    key: &IdempotencyKey,
    outcome: &impl Serialize,
) -> Result<bool, StoreError> {
    let kept = sqlx::query(
        "INSERT INTO replays (program_id, scope, key, fingerprint, outcome, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (program_id, scope, key) DO NOTHING",
    )
    .bind(program_id)
    .bind(&key.scope)
    .bind(&key.key)
    .bind(&key.fingerprint)
    .bind(serde_json::to_string(outcome)?)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(kept.rows_affected() == 1)
}

impl Store {
    /// Runs `op` in one write and keeps its outcome under `key`; returns the outcome and
    /// whether it is the kept outcome of an earlier use of the key.
    ///
    /// The key is not claimed before the work (that would cost a second statement per
    /// write): a repeat does the work again, finds the key taken when it keeps the
    /// outcome, and is rolled back. Whenever the write fails, the kept outcome of the key
    /// is looked for. It is found once the first use has committed, and a repeat fails
    /// only after that: on SQLite a write's answer waits for its batch's commit, and on
    /// PostgreSQL a concurrent repeat waits for the first use on the row locks both take
    /// (the member, the purchase) or, at the latest, on the key's unique index. The same
    /// key with another request is [`StoreError::IdempotencyMismatch`].
    pub(crate) async fn write_once<T, F>(
        &self,
        program_id: i64,
        key: IdempotencyKey,
        op: F,
    ) -> Result<(T, bool), StoreError>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, StoreError>> + Send + 'static,
    {
        let ours = key.clone();
        self.write_once_keeping(program_id, key, false, move |tx| {
            Box::pin(async move {
                let outcome = op(tx).await?;
                let kept = keep(tx, program_id, &ours, &outcome).await?;
                Ok((outcome, kept))
            })
        })
        .await
    }

    /// [`Store::write_once`] for a write that keeps its outcome under `key` itself, in its
    /// last statement: `op` returns the outcome and whether the key was free. When
    /// `one_statement`, that statement is all the write changes (see [`Store::write_as`]).
    pub(crate) async fn write_once_keeping<T, F>(
        &self,
        program_id: i64,
        key: IdempotencyKey,
        one_statement: bool,
        op: F,
    ) -> Result<(T, bool), StoreError>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<(T, bool), StoreError>> + Send + 'static,
    {
        let ran = self
            .write_as(one_statement, move |tx| {
                Box::pin(async move {
                    match op(tx).await? {
                        (outcome, true) => Ok(outcome),
                        (_, false) => Err(StoreError::IdempotencyMismatch),
                    }
                })
            })
            .await;
        match ran {
            Ok(outcome) => Ok((outcome, false)),
            Err(e) => self.kept_or(program_id, &key, e).await,
        }
    }

    /// After a guarded write failed: the key's kept outcome (a replay), else the failure.
    pub(crate) async fn kept_or<T: DeserializeOwned>(
        &self,
        program_id: i64,
        key: &IdempotencyKey,
        failure: StoreError,
    ) -> Result<(T, bool), StoreError> {
        match self.kept(program_id, key).await? {
            Some(outcome) => Ok((outcome, true)),
            None => Err(failure),
        }
    }

    /// The outcome kept under the key, if it was used with the same request.
    async fn kept<T: DeserializeOwned>(&self, program_id: i64, key: &IdempotencyKey) -> Result<Option<T>, StoreError> {
        let row =
            sqlx::query("SELECT fingerprint, outcome FROM replays WHERE program_id = $1 AND scope = $2 AND key = $3")
                .bind(program_id)
                .bind(&key.scope)
                .bind(&key.key)
                .fetch_optional(self.reads())
                .await?;
        let Some(row) = row else { return Ok(None) };
        let fingerprint: String = row.try_get("fingerprint")?;
        if fingerprint != key.fingerprint {
            return Err(StoreError::IdempotencyMismatch);
        }
        let outcome: Option<String> = row.try_get("outcome")?;
        let outcome = outcome.ok_or_else(|| StoreError::Internal("a replay key without its outcome".into()))?;
        Ok(Some(serde_json::from_str(&outcome)?))
    }
}
