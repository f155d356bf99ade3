//! A Payment on PostgreSQL in one round trip: `accrue_pay` (migration 0030) runs the
//! general path's statements in its order — lock the member and the purchase, open or
//! update the purchase, hold the points, write the operation's row and keep its outcome —
//! and needs no `BEGIN` and `COMMIT` of its own. Every payment the general path would
//! refuse (and one whose webhooks must hear of the hold) is left to that path, which
//! tells the till why: the call writes nothing then.

use super::{Call, Done, PricedCheque, Step};
use crate::ledger::{existing_wallet, system_account};
use crate::{outbox, StoreError, Tx};
use accrue_core::ledger::AccountKind;
use accrue_core::outbox::EventType;
use accrue_core::Millis;
use sqlx::Row;

/// A payment as the service decided it.
pub(super) struct Payment {
    pub currency_id: i64,
    pub amount: i64,
    pub max_total: i64,
    pub cheque: PricedCheque,
}

impl Payment {
    /// The step's payment, if it is one.
    pub fn of(step: &Step) -> Option<Payment> {
        match step {
            Step::Payment {
                currency_id,
                amount,
                max_total,
                cheque,
            } => Some(Payment {
                currency_id: *currency_id,
                amount: *amount,
                max_total: *max_total,
                cheque: cheque.clone(),
            }),
            _ => None,
        }
    }
}

/// The payment, or `None` for the general path (nothing written).
pub(super) async fn pay(
    tx: &mut Tx,
    call: &Call,
    payment: &Payment,
    cancel_at: Millis,
) -> Result<Option<Done>, StoreError> {
    let Some(member_id) = call.till.member_id else {
        return Ok(None);
    };
    let (program_id, currency_id, amount) = (call.program_id, payment.currency_id, payment.amount);
    let currency = crate::programs::currency_in(tx, program_id, currency_id).await?;
    let announced = !outbox::subscribers(tx, program_id, EventType::PointsHeld, None)
        .await?
        .is_empty();
    if amount <= 0 || amount > currency.limits.max_operation || announced {
        return Ok(None);
    }
    let Some(wallet) = existing_wallet(tx, program_id, currency_id, member_id).await? else {
        return Ok(None);
    };
    let holding = system_account(tx, program_id, currency_id, AccountKind::Holding).await?;
    let calculation = &payment.cheque.calculation;
    let mut done = Done {
        amount,
        calculation: Some(calculation.clone()),
        ..Done::default()
    };
    let row = sqlx::query(
        "SELECT o_operation, o_hold FROM accrue_pay($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
         $14, $15, $16, $17, $18, $19, $20, $21)",
    )
    .bind(program_id)
    .bind(&call.purchase_key)
    .bind(&call.key.key)
    .bind(call.till.device_id)
    .bind(member_id)
    .bind(currency_id)
    .bind(wallet)
    .bind(holding)
    .bind(AccountKind::Holding.balance_shards())
    .bind(amount)
    .bind(payment.max_total)
    .bind(serde_json::to_string(&payment.cheque)?)
    .bind(serde_json::to_string(calculation)?)
    .bind(&call.cheque)
    .bind(format!("purchase {}", call.purchase_key))
    .bind(cancel_at)
    .bind(super::HOLD_AFTER_CANCEL)
    .bind(tx.now)
    .bind(&call.key.scope)
    .bind(&call.key.fingerprint)
    .bind(serde_json::to_string(&done)?)
    .fetch_one(tx.conn())
    .await
    .map_err(StoreError::on_unique(StoreError::IdempotencyMismatch))?;
    let Some(operation) = row.try_get::<Option<i64>, _>(0)? else {
        return Ok(None);
    };
    done.transaction_id = Some(operation);
    done.hold_id = row.try_get(1)?;
    Ok(Some(done))
}
