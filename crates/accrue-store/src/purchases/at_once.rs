//! Payment, Bonus and Confirm on PostgreSQL in one round trip each: `accrue_pay`,
//! `accrue_bonus` and `accrue_confirm` (migrations 0030 to 0032, as 0035 left them) run the
//! general path's writes in its order — lock the member (Bonus, which moves no points, the
//! purchase alone) and the purchase, hold or capture the points, set the accrual or post
//! it, record the purchase, write the operation's row and keep its outcome — and need no
//! `BEGIN` and `COMMIT` of their own. `accrue_pay` answers with the purchase as the payment
//! left it; Bonus and Confirm run on the purchase as the call before them left it, kept in
//! memory, and their functions check under their locks that it is still so. Every call the
//! general path would refuse, and every one that sets more off (webhooks, coupons,
//! referral rewards, hooks), is left to that path, which tells the till why: the function
//! writes nothing then.

use super::{load, with_bonus, AnyQuery, Call, Done, Live, PricedCheque, Step, Written};
use crate::ledger::{existing_wallet, system_account, Lifetime};
use crate::purchase_records::named;
use crate::{hooks, outbox, StoreError, Tx};
use accrue_core::ledger::AccountKind;
use accrue_core::outbox::EventType;
use accrue_core::purchase::{PurchaseEntry, State};
use accrue_core::Millis;
use sqlx::Row;

/// A step that may run in one round trip, as the service decided it.
pub(super) enum Quick {
    Payment(Box<Payment>),
    Bonus {
        currency_id: i64,
        cheque: Box<PricedCheque>,
    },
    Confirm {
        cheque_total: Option<i64>,
        life: Lifetime,
    },
}

impl Quick {
    pub fn of(step: &Step) -> Option<Quick> {
        match step {
            Step::Payment {
                currency_id,
                amount,
                max_total,
                cheque,
            } => Some(Quick::Payment(Box::new(Payment {
                currency_id: *currency_id,
                amount: *amount,
                max_total: *max_total,
                cheque: cheque.clone(),
            }))),
            Step::Bonus { currency_id, cheque } => Some(Quick::Bonus {
                currency_id: *currency_id,
                cheque: Box::new(cheque.clone()),
            }),
            Step::Confirm { cheque_total, life } => Some(Quick::Confirm {
                cheque_total: *cheque_total,
                life: life.clone(),
            }),
            _ => None,
        }
    }
}

/// The step done, with the purchase as it left it when that is known, or `None` for the
/// general path (nothing written).
pub(super) async fn run(
    tx: &mut Tx,
    call: &Call,
    quick: &Quick,
    cancel_at: Millis,
) -> Result<Option<(Done, Option<Written>)>, StoreError> {
    let Some(member_id) = call.till.member_id else {
        return Ok(None);
    };
    match quick {
        Quick::Payment(payment) => pay(tx, call, member_id, payment, cancel_at).await,
        Quick::Bonus { currency_id, cheque } => bonus(tx, call, member_id, *currency_id, cheque).await,
        Quick::Confirm { cheque_total, life } => {
            let done = confirm(tx, call, member_id, *cheque_total, life).await?;
            Ok(done.map(|done| (done, None)))
        }
    }
}

/// The purchase with its live operations as this server's last step of it left it (kept
/// in memory), or else as read now, without a lock: the functions check under their
/// locks that it is still so.
async fn known(tx: &mut Tx, call: &Call) -> Result<Option<Written>, StoreError> {
    let purchase = (call.program_id, call.purchase_key.clone());
    match tx.cache.open_purchases.get(&purchase, tx.cache.generation.current()) {
        Some(written) => Ok(Some(written)),
        None => load(tx, call.program_id, &call.purchase_key).await,
    }
}

pub(super) struct Payment {
    currency_id: i64,
    amount: i64,
    max_total: i64,
    cheque: PricedCheque,
}

/// A call of `accrue_pay` or `accrue_confirm` with the arguments both begin with: the
/// program, the purchase, the operation, the till and its member.
fn called<'q>(sql: &'q str, call: &'q Call, member_id: i64) -> AnyQuery<'q> {
    sqlx::query(sql)
        .bind(call.program_id)
        .bind(&call.purchase_key)
        .bind(&call.key.key)
        .bind(call.till.device_id)
        .bind(member_id)
}

/// What `accrue_pay` fails with when the purchase was opened meanwhile by another member:
/// the call is undone and the general path refuses the payment.
const CHANGED_MEANWHILE: &str = "AC001";

/// Runs the call with the arguments both end with — the time, and the replay key with
/// the outcome to keep under it. A key or operation id already taken is a reused key;
/// `None` when the call was undone for the general path.
async fn run_keeping(
    tx: &mut Tx,
    query: AnyQuery<'_>,
    call: &Call,
    done: &Done,
) -> Result<Option<sqlx::any::AnyRow>, StoreError> {
    let query = query
        .bind(tx.now)
        .bind(call.key.scope.clone())
        .bind(call.key.fingerprint.clone())
        .bind(serde_json::to_string(done)?);
    match query.fetch_one(tx.conn()).await {
        Ok(row) => Ok(Some(row)),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(CHANGED_MEANWHILE) => Ok(None),
        Err(e) => Err(StoreError::on_unique(StoreError::IdempotencyMismatch)(e)),
    }
}

/// Whether no webhook of the program hears of any of these events.
async fn unheard(tx: &mut Tx, program_id: i64, events: &[EventType]) -> Result<bool, StoreError> {
    for &event in events {
        if !outbox::subscribers(tx, program_id, event, None).await?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn pay(
    tx: &mut Tx,
    call: &Call,
    member_id: i64,
    payment: &Payment,
    cancel_at: Millis,
) -> Result<Option<(Done, Option<Written>)>, StoreError> {
    let (program_id, currency_id, amount) = (call.program_id, payment.currency_id, payment.amount);
    let cheque = &payment.cheque;
    let currency = crate::programs::currency_in(tx, program_id, currency_id).await?;
    let within = amount > 0 && amount <= currency.limits.max_operation;
    if !within || !unheard(tx, program_id, &[EventType::PointsHeld]).await? {
        return Ok(None);
    }
    let Some(wallet) = existing_wallet(tx, program_id, currency_id, member_id).await? else {
        return Ok(None);
    };
    let holding = system_account(tx, program_id, currency_id, AccountKind::Holding).await?;
    let mut done = Done {
        amount,
        calculation: Some(cheque.calculation.clone()),
        ..Done::default()
    };
    let sql = "SELECT * FROM accrue_pay($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
               $15, $16, $17, $18, $19, $20, $21)";
    let query = called(sql, call, member_id)
        .bind(currency_id)
        .bind(wallet)
        .bind(holding)
        .bind(AccountKind::Holding.balance_shards())
        .bind(amount)
        .bind(payment.max_total)
        .bind(serde_json::to_string(cheque)?)
        .bind(serde_json::to_string(&cheque.calculation)?)
        .bind(&call.cheque)
        .bind(format!("purchase {}", call.purchase_key))
        .bind(cancel_at)
        .bind(super::HOLD_AFTER_CANCEL);
    let Some(row) = run_keeping(tx, query, call, &done).await? else {
        return Ok(None);
    };
    // The purchase's columns as `load` reads them, its live operations, then the call's.
    let Some(operation) = row.try_get::<Option<i64>, _>(16)? else {
        return Ok(None);
    };
    done.transaction_id = Some(operation);
    done.hold_id = row.try_get(17)?;
    let written = match row.try_get::<Option<i64>, _>(0)? {
        Some(_) => {
            let live = Live(serde_json::from_str(&row.try_get::<String, _>(15)?)?);
            Some((super::purchase(&row)?, live))
        }
        None => None,
    };
    Ok(Some((done, written)))
}

/// Bonus, on an open purchase of the member as [`known`]: `accrue_bonus` checks under its
/// locks that it is still so — open, the member's, its payments, accrual and live
/// operations the same — and leaves any other (and a new purchase) to the general path.
async fn bonus(
    tx: &mut Tx,
    call: &Call,
    member_id: i64,
    currency_id: i64,
    cheque: &PricedCheque,
) -> Result<Option<(Done, Option<Written>)>, StoreError> {
    let Some((p, live)) = known(tx, call).await? else {
        return Ok(None);
    };
    if p.state != State::Open || p.member_id != Some(member_id) || p.currency_id != currency_id {
        return Ok(None);
    }
    let (paid, accrual, live_before) = (p.bonus_paid, p.accrual, serde_json::to_string(&live.0)?);
    let Ok((mut done, written)) = with_bonus(call, (p, live), cheque.clone()) else {
        return Ok(None);
    };
    let Some(cheque) = &written.0.cheque else {
        return Ok(None);
    };
    let sql = "SELECT o_operation FROM accrue_bonus($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
               $14, $15, $16, $17)";
    let query = called(sql, call, member_id)
        .bind(currency_id)
        .bind(paid)
        .bind(accrual)
        .bind(live_before)
        .bind(serde_json::to_string(cheque)?)
        .bind(done.amount)
        .bind(serde_json::to_string(&cheque.calculation)?)
        .bind(&call.cheque);
    let Some(row) = run_keeping(tx, query, call, &done).await? else {
        return Ok(None);
    };
    let Some(operation) = row.try_get::<Option<i64>, _>(0)? else {
        return Ok(None);
    };
    done.transaction_id = Some(operation);
    Ok(Some((done, Some(written))))
}

/// Confirm, on the purchase as [`known`]: `accrue_confirm` checks under its locks that it
/// is still so — open, the member's, its payments, accrual and live operations the same —
/// and leaves any other to the general path.
async fn confirm(
    tx: &mut Tx,
    call: &Call,
    member_id: i64,
    cheque_total: Option<i64>,
    life: &Lifetime,
) -> Result<Option<Done>, StoreError> {
    let program_id = call.program_id;
    let Some((p, live)) = known(tx, call).await? else {
        return Ok(None);
    };
    let Some(cheque) = &p.cheque else {
        return Ok(None);
    };
    let calc = &cheque.calculation;
    let plain = p.state == State::Open
        && p.member_id == Some(member_id)
        && cheque_total.is_none_or(|total| total == calc.total_amount)
        && calc.coupons.is_empty()
        && calc.coupons_to_issue.is_empty();
    let currency = crate::programs::currency_in(tx, program_id, p.currency_id).await?;
    let activates_at = life.activates_at.unwrap_or(tx.now);
    let lasts = life.expires_at.is_none_or(|e| e > activates_at.max(tx.now));
    if !plain || !lasts || p.accrual > currency.limits.max_operation {
        return Ok(None);
    }
    let events = [
        EventType::PurchaseConfirmed,
        EventType::PointsWithdrawn,
        EventType::PointsAccrued,
    ];
    if !unheard(tx, program_id, &events).await? || !hooks::quiet_on_purchase(tx, program_id).await? {
        return Ok(None);
    }
    let Some(wallet) = existing_wallet(tx, program_id, p.currency_id, member_id).await? else {
        return Ok(None);
    };
    let mut accounts = Vec::new();
    for kind in [AccountKind::Holding, AccountKind::Redemption, AccountKind::Issuance] {
        accounts.push(system_account(tx, program_id, p.currency_id, kind).await?);
    }
    let usage: Vec<_> = cheque
        .usage(p.accrual > 0)
        .into_iter()
        .map(|u| (u.offer_id, u.usage.applications, u.usage.discount, u.usage.bonus))
        .collect();
    let entry = named(tx, program_id, PurchaseEntry::purchase(cheque, p.bonus_paid, p.accrual)).await?;
    let mut done = Done::default();
    let sql = "SELECT o_operation FROM accrue_confirm($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
               $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)";
    let query = called(sql, call, member_id)
        .bind(p.currency_id)
        .bind(wallet)
        .bind(accounts[0])
        .bind(accounts[1])
        .bind(accounts[2])
        .bind(AccountKind::Holding.balance_shards())
        .bind(p.bonus_paid)
        .bind(p.accrual)
        .bind(serde_json::to_string(&live.0)?)
        .bind(currency.limits.max_balance)
        .bind(activates_at)
        .bind(life.expires_at)
        .bind(format!("purchase {}", call.purchase_key))
        .bind(serde_json::to_string(&usage)?)
        .bind(serde_json::to_string(&entry)?);
    let Some(row) = run_keeping(tx, query, call, &done).await? else {
        return Ok(None);
    };
    done.transaction_id = row.try_get(0)?;
    Ok(done.transaction_id.map(|_| done))
}
