//! Postings by request rather than by purchase: accrue, withdraw, hold, capture, void.
//! Every face that moves points outside a purchase (the admin API today; batch files and
//! partner payments next) comes through here, so each posting is checked, made once per
//! key and announced the same way (the store emits every posting's event).

use accrue_core::Millis;
use accrue_store::ledger::{IdempotencyKey, Lifetime, Movement, Receipt};
use accrue_store::{Currency, Store, StoreError};

/// Holds last an hour unless told otherwise.
pub const DEFAULT_HOLD_MS: Millis = 3600 * 1000;

/// Points to move for a member, once per key.
#[derive(Debug, Clone)]
pub struct Order {
    pub program_id: i64,
    pub key: IdempotencyKey,
    pub movement: Movement,
}

/// A posting made (or, `replayed`, made before under the same key).
#[derive(Debug, Clone)]
pub struct Posted {
    pub receipt: Receipt,
    pub replayed: bool,
}

impl From<(Receipt, bool)> for Posted {
    fn from((receipt, replayed): (Receipt, bool)) -> Posted {
        Posted { receipt, replayed }
    }
}

/// The currency of the program a caller names; the default one when it names none.
pub async fn currency(store: &Store, program_id: i64, code: Option<&str>) -> Result<Currency, StoreError> {
    let currencies = store.currencies(program_id).await?;
    let found = match code {
        Some(code) => currencies.into_iter().find(|c| c.code == code),
        None => currencies.into_iter().find(|c| c.is_default),
    };
    found.ok_or(StoreError::NotFound("currency"))
}

/// When points accrued now under a lifetime definition of the program activate and expire.
pub async fn named_lifetime(store: &Store, program_id: i64, external_id: &str) -> Result<Lifetime, StoreError> {
    let named = store
        .lifetime(program_id, Some(external_id))
        .await?
        .ok_or(StoreError::NotFound("lifetime definition"))?;
    let utc_offset = store.processing_settings(program_id).await?.utc_offset_minutes;
    Ok(named.definition.span(store.now(), utc_offset).into())
}

pub async fn accrue(store: &Store, o: Order, life: Lifetime) -> Result<Posted, StoreError> {
    Ok(store.accrue(o.program_id, o.key, o.movement, life).await?.into())
}

pub async fn withdraw(store: &Store, o: Order) -> Result<Posted, StoreError> {
    Ok(store.withdraw(o.program_id, o.key, o.movement).await?.into())
}

/// Reserves points until `expires_at` (in an hour when absent).
pub async fn hold(store: &Store, o: Order, expires_at: Option<Millis>) -> Result<Posted, StoreError> {
    let expires_at = expires_at.unwrap_or(store.now() + DEFAULT_HOLD_MS);
    Ok(store.hold(o.program_id, o.key, o.movement, expires_at).await?.into())
}

/// Captures `amount` of a hold (all of it when absent); the rest is released.
pub async fn capture(
    store: &Store,
    program_id: i64,
    key: IdempotencyKey,
    hold_id: i64,
    amount: Option<i64>,
) -> Result<Posted, StoreError> {
    Ok(store.capture(program_id, key, hold_id, amount).await?.into())
}

pub async fn void(store: &Store, program_id: i64, key: IdempotencyKey, hold_id: i64) -> Result<Posted, StoreError> {
    Ok(store.void(program_id, key, hold_id).await?.into())
}
