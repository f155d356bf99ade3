//! A member's status in the program's status system: what the member bought for within
//! the system's period (refunds take away), and the level that reaches.

use accrue_core::status::StatusSystem;
use accrue_store::{Currency, Store, StoreError};

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
    let from = store.now() - i64::from(system.period_days) * DAY_MS;
    let currency = super::pricing::currency(store, program_id).await?;
    let totals = super::history::totals(store, program_id, member_id, Some(from), None).await?;
    let value = totals.sums.get(&currency.id).map_or(0, |s| s.purchases);
    Ok(Some(MemberStatus {
        system,
        value,
        currency,
    }))
}
