//! A member's history as they see it: one row per ledger operation, except that a
//! confirmed purchase, and each refund of it, is one row carrying its cheque items and the
//! postings it made; and a row when points accrued with a delay became spendable.

use crate::{Store, StoreError};
use accrue_core::batch::BatchType;
use accrue_core::ledger::PostingKind;
use accrue_core::purchase::PurchaseEntry;
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// Which of a member's operations to list; `count` 0 asks for the total only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    pub member_id: i64,
    /// Only the operations with this card (purchases are not tied to a card).
    pub card_id: Option<i64>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// Ledger operations of these kinds (those outside purchases).
    pub kinds: Vec<PostingKind>,
    /// Purchases and refunds too.
    pub purchases: bool,
    /// Activations of points accrued with a delay too (those that happened by now).
    pub activations: bool,
    pub offset: i64,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HistoryRow {
    Operation(Operation),
    Purchase(PurchaseRecord),
    Activation(Activation),
}

impl HistoryRow {
    pub fn currency_id(&self) -> i64 {
        match self {
            HistoryRow::Operation(o) => o.currency_id,
            HistoryRow::Purchase(p) => p.currency_id,
            HistoryRow::Activation(a) => a.currency_id,
        }
    }
}

/// Points accrued with a delay that became spendable: not a posting of its own (the
/// accrual posted them), so never counted in sums twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// The lot of points that activated.
    pub lot_id: i64,
    pub currency_id: i64,
    pub amount: i64,
    pub card: Option<String>,
    /// The accrual's description.
    pub description: String,
    pub activated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    pub posting_id: i64,
    pub kind: PostingKind,
    pub currency_id: i64,
    /// Positive for points received, negative for points spent or expired.
    pub amount: i64,
    pub card: Option<String>,
    pub description: String,
    pub created_at: Millis,
    /// Where the operation says it happened (a batch row's merchant).
    pub place: Option<String>,
    /// When it says it happened, if not when it was posted (a batch row's date).
    pub occurred_at: Option<Millis>,
    /// The type of the batch request that posted it, if one did.
    pub batch: Option<BatchType>,
}

impl Operation {
    /// The postings a member sees as operations.
    pub const KINDS: [PostingKind; 6] = [
        PostingKind::Accrual,
        PostingKind::Withdrawal,
        PostingKind::HoldCapture,
        PostingKind::Expiry,
        PostingKind::Refund,
        PostingKind::AccrualReversal,
    ];
}

/// A purchase's confirmation or one of its refunds.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseRecord {
    pub entry_id: i64,
    /// The id the till gave the purchase.
    pub purchase_key: String,
    pub currency_id: i64,
    pub entry: PurchaseEntry,
    pub created_at: Millis,
    /// The till (or web shop) the purchase was made at.
    pub device_id: i64,
}

impl Store {
    /// A member's history, newest first, with the total for paging. Amounts of operations
    /// are signed from the member's side; hold reservations and voids are not operations
    /// of their own, and postings a purchase made show only inside its row.
    pub async fn member_history(
        &self,
        program_id: i64,
        q: &HistoryQuery,
    ) -> Result<(i64, Vec<HistoryRow>), StoreError> {
        let mut branches = Vec::new();
        if !q.kinds.is_empty() {
            let kinds: Vec<String> = q.kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
            branches.push(format!(
                "SELECT CAST(0 AS BIGINT) AS src, p.id, p.kind, p.currency_id, p.amount, c.number, p.description, \
                 p.created_at, n.place, n.occurred_at, n.batch_type FROM postings p LEFT JOIN cards c ON c.id = p.card_id \
                 LEFT JOIN posting_notes n ON n.posting_id = p.id \
                 WHERE p.program_id = $1 AND p.member_id = $2 AND ($3 = 0 OR p.card_id = $3) \
                 AND p.created_at >= $4 AND p.created_at < $5 AND p.kind IN ({}) \
                 AND NOT EXISTS (SELECT 1 FROM purchase_postings l WHERE l.posting_id = p.id)",
                kinds.join(", ")
            ));
        }
        if q.purchases {
            branches.push(
                "SELECT CAST(1 AS BIGINT) AS src, e.id, u.purchase_key, e.currency_id, u.device_id, NULL, \
                 e.entry, e.created_at, CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) \
                 FROM purchase_entries e JOIN purchases u ON u.id = e.purchase_id \
                 WHERE e.program_id = $1 AND e.member_id = $2 AND $3 = 0 \
                 AND e.created_at >= $4 AND e.created_at < $5"
                    .to_string(),
            );
        }
        if q.activations {
            // Lots that began later than they were made, by the time they began.
            branches.push(
                "SELECT CAST(2 AS BIGINT) AS src, l.id, p.kind, p.currency_id, l.amount, c.number, p.description, \
                 l.activates_at, CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) \
                 FROM lots l JOIN postings p ON p.id = l.posting_id LEFT JOIN cards c ON c.id = p.card_id \
                 WHERE p.program_id = $1 AND p.member_id = $2 AND ($3 = 0 OR p.card_id = $3) \
                 AND l.activates_at > l.created_at AND l.activates_at <= $6 \
                 AND l.activates_at >= $4 AND l.activates_at < $5"
                    .to_string(),
            );
        }
        if branches.is_empty() {
            return Ok((0, Vec::new()));
        }
        let union = branches.join(" UNION ALL ");
        let (from, to) = (q.from.unwrap_or(i64::MIN), q.to.unwrap_or(i64::MAX));
        let mut args = vec![program_id, q.member_id, q.card_id.unwrap_or(0), from, to];
        if q.activations {
            args.push(self.now());
        }
        let count_sql = format!("SELECT COUNT(*) FROM ({union}) AS h");
        let total: i64 = bound(&count_sql, &args).fetch_one(self.reads()).await?.try_get(0)?;
        if q.count == 0 {
            return Ok((total, Vec::new()));
        }
        let (limit, offset) = (args.len() + 1, args.len() + 2);
        let page_sql = format!("{union} ORDER BY 8 DESC, 1 DESC, 2 DESC LIMIT ${limit} OFFSET ${offset}");
        let rows = bound(&page_sql, &args)
            .bind(q.count)
            .bind(q.offset)
            .fetch_all(self.reads())
            .await?;
        let rows = rows.iter().map(history_row).collect::<Result<Vec<_>, StoreError>>()?;
        Ok((total, rows))
    }
}

fn bound<'q>(sql: &'q str, args: &[i64]) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    args.iter().fold(sqlx::query(sql), |query, arg| query.bind(*arg))
}

fn history_row(r: &sqlx::any::AnyRow) -> Result<HistoryRow, StoreError> {
    if r.try_get::<i64, _>(0)? == 2 {
        return Ok(HistoryRow::Activation(Activation {
            lot_id: r.try_get(1)?,
            currency_id: r.try_get(3)?,
            amount: r.try_get(4)?,
            card: r.try_get(5)?,
            description: r.try_get(6)?,
            activated_at: r.try_get(7)?,
        }));
    }
    if r.try_get::<i64, _>(0)? == 1 {
        return Ok(HistoryRow::Purchase(PurchaseRecord {
            entry_id: r.try_get(1)?,
            purchase_key: r.try_get(2)?,
            currency_id: r.try_get(3)?,
            entry: serde_json::from_str(&r.try_get::<String, _>(6)?)?,
            created_at: r.try_get(7)?,
            device_id: r.try_get(4)?,
        }));
    }
    let kind: String = r.try_get(2)?;
    let kind = PostingKind::parse(&kind).ok_or_else(|| StoreError::Internal(format!("bad posting kind {kind}")))?;
    let amount: i64 = r.try_get(4)?;
    let received = matches!(kind, PostingKind::Accrual | PostingKind::Refund);
    Ok(HistoryRow::Operation(Operation {
        posting_id: r.try_get(1)?,
        kind,
        currency_id: r.try_get(3)?,
        amount: if received { amount } else { -amount },
        card: r.try_get(5)?,
        description: r.try_get(6)?,
        created_at: r.try_get(7)?,
        place: r.try_get(8)?,
        occurred_at: r.try_get(9)?,
        batch: r.try_get::<Option<i64>, _>(10)?.and_then(BatchType::from_code),
    }))
}
