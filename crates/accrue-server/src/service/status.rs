//! A member's status in the program's status system: what the member bought for within
//! the system's period (refunds take away), and the level that reaches.

use accrue_core::status::StatusSystem;
use accrue_store::member_history::{HistoryQuery, HistoryRow};
use accrue_store::{Currency, Store, StoreError};

/// The most purchases summed for a status.
const MAX_PURCHASES: i64 = 100_000;
const DAY_MS: i64 = 86_400_000;

pub struct MemberStatus {
    pub system: StatusSystem,
    /// What the member bought for within the period, minor units of `currency`.
    pub value: i64,
    pub currency: Currency,
}

/// `None` when the program has no status system.
pub async fn member_status(store: &Store, program_id: i64, member_id: i64) -> Result<Option<MemberStatus>, StoreError> {
    let settings = store.processing_settings(program_id).await?;
    let Some(system) = settings.status else {
        return Ok(None);
    };
    let query = HistoryQuery {
        member_id,
        card_id: None,
        from: Some(store.now() - i64::from(system.period_days) * DAY_MS),
        to: None,
        kinds: Vec::new(),
        purchases: true,
        offset: 0,
        count: MAX_PURCHASES,
    };
    let (_, rows) = store.member_history(program_id, &query).await?;
    let value = rows
        .iter()
        .map(|r| match r {
            HistoryRow::Purchase(p) if p.entry.is_refund => -p.entry.amount,
            HistoryRow::Purchase(p) => p.entry.amount,
            HistoryRow::Operation(_) => 0,
        })
        .sum();
    let currency = super::pricing::currency(store, program_id).await?;
    Ok(Some(MemberStatus {
        system,
        value,
        currency,
    }))
}
