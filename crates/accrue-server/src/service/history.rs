//! What a member's history adds up to: per currency, what the member bought for
//! (refunds take away), the bonuses that left and those received — for the Loymax
//! history aggregate and for statuses.

use accrue_core::ledger::PostingKind;
use accrue_core::Millis;
use accrue_store::member_history::{HistoryQuery, HistoryRow, Operation};
use accrue_store::{Store, StoreError};
use std::collections::BTreeMap;

/// The most history rows one sum reads.
const MAX_SUMMED: i64 = 100_000;

/// One currency's sums, minor units.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sums {
    pub purchases: i64,
    /// Negative: bonuses that left the member.
    pub withdraws: i64,
    pub rewards: i64,
}

pub struct Totals {
    /// By currency id.
    pub sums: BTreeMap<i64, Sums>,
    /// Purchases, refunds not counted.
    pub purchase_count: usize,
}

/// The member's totals of what happened within `from`..`to` (either open).
pub async fn totals(
    store: &Store,
    program_id: i64,
    member_id: i64,
    from: Option<Millis>,
    to: Option<Millis>,
) -> Result<Totals, StoreError> {
    let query = HistoryQuery {
        member_id,
        card_id: None,
        from,
        to,
        kinds: Operation::KINDS.to_vec(),
        purchases: true,
        activations: false,
        offset: 0,
        count: MAX_SUMMED,
    };
    let (_, rows) = store.member_history(program_id, &query).await?;
    Ok(add_up(&rows))
}

fn add_up(rows: &[HistoryRow]) -> Totals {
    let mut totals = Totals {
        sums: BTreeMap::new(),
        purchase_count: 0,
    };
    for r in rows {
        let s = totals.sums.entry(r.currency_id()).or_default();
        match r {
            HistoryRow::Purchase(p) => {
                let e = &p.entry;
                s.purchases += if e.is_refund { -e.amount } else { e.amount };
                s.withdraws -= e.withdrawn;
                // Discounts are money off the cheque, not bonuses received.
                s.rewards += e.rewards.iter().filter(|r| !r.discount).map(|r| r.amount).sum::<i64>();
                totals.purchase_count += usize::from(!e.is_refund);
            }
            HistoryRow::Operation(op) if op.kind == PostingKind::Accrual => s.rewards += op.amount,
            HistoryRow::Operation(op) => s.withdraws += op.amount,
            // Not asked for: the accrual counted the points already.
            HistoryRow::Activation(_) => {}
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use accrue_core::purchase::{EntryReward, PurchaseEntry};
    use accrue_store::member_history::PurchaseRecord;

    fn purchase(is_refund: bool, amount: i64, withdrawn: i64, reward: i64) -> HistoryRow {
        // A discount the cheque got is not a bonus received: it does not count.
        let discount = EntryReward {
            offer_id: None,
            amount: 999,
            discount: true,
        };
        let rewards = vec![
            EntryReward {
                offer_id: None,
                amount: reward,
                discount: false,
            },
            discount,
        ];
        let entry = PurchaseEntry {
            is_refund,
            items: Vec::new(),
            amount,
            withdrawn,
            rewards,
            cheque_number: None,
        };
        HistoryRow::Purchase(PurchaseRecord {
            entry_id: 1,
            purchase_key: "p".into(),
            currency_id: 1,
            entry,
            created_at: 0,
            device_id: 1,
        })
    }

    fn operation(kind: PostingKind, amount: i64) -> HistoryRow {
        let op = Operation {
            posting_id: 1,
            kind,
            currency_id: 1,
            amount,
            card: None,
            description: String::new(),
            created_at: 0,
            place: None,
            occurred_at: None,
            batch: None,
        };
        HistoryRow::Operation(op)
    }

    #[test]
    fn sums_of_purchases_refunds_and_operations() {
        let rows = [
            purchase(false, 10_000, 3_000, 350),
            // The refund of half: half the cheque back, the accrual taken back, the payment returned.
            purchase(true, 5_000, 175, 1_500),
            operation(PostingKind::Accrual, 1_000),
            operation(PostingKind::Expiry, -200),
        ];
        let totals = add_up(&rows);
        let s = &totals.sums[&1];
        assert_eq!(
            (s.purchases, s.withdraws, s.rewards, totals.purchase_count),
            (5_000, -3_375, 2_850, 1)
        );
    }
}
