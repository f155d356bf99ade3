//! Purchases run by tills and shops: each operation (Calculate, Payment, Bonus, Confirm,
//! Cancel, Refund) happens once per key, in one transaction with the ledger moves it
//! makes and its outcome — a repeat gets that outcome again (see [`crate::idempotency`]),
//! another request under the same key is refused. The amounts come priced and decided
//! by the service layer; here they are held, captured, accrued, voided and given back.
//! Refusals are face-neutral [`Rejection`]s.
//!
//! Locks are taken in one order — the member of the till's token, the purchase row,
//! then the wallet accounts — so concurrent operations of one member cannot deadlock.

use crate::hooks::{self, Happening};
use crate::idempotency::IdempotencyKey;
use crate::ledger::{
    accrue_in, capture_in, credit_in, hold_in, reverse_accrual_in, void_in, Cause, Lifetime, Movement,
};
use crate::purchase_records::save_recorded;
use crate::{outbox, Dialect, Store, StoreError, Tx};
use accrue_core::hold::HoldError;
use accrue_core::ledger::{AccountKind, PostingKind};
use accrue_core::member::MemberState;
use accrue_core::offers::{self, Accrual, Calculation, RefundShare};
use accrue_core::outbox::EventType;
use accrue_core::purchase::{check_order, Operation, Order, PricedCheque, PurchaseEntry, Rejection, State};
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use std::sync::{Arc, Mutex};

mod at_once;

/// How long a payment's hold outlives the purchase's auto-cancel, which voids it first.
const HOLD_AFTER_CANCEL: Millis = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub id: i64,
    pub purchase_key: String,
    pub device_id: i64,
    pub member_id: Option<i64>,
    pub currency_id: i64,
    pub state: State,
    /// The cheque as last priced by Payment or Bonus.
    pub cheque: Option<PricedCheque>,
    pub bonus_paid: i64,
    pub accrual: i64,
    pub accrual_posting_id: Option<i64>,
    pub refunded_payment: i64,
    /// The accrual actually taken back: less than the refunds' share when the member had
    /// already spent it and had too little left.
    pub refunded_accrual: i64,
    /// Every refund so far, in order.
    pub refunded_lines: Vec<RefundShare>,
    pub cancel_at: Millis,
    pub created_at: Millis,
}

/// Who runs a purchase: the till (device) and the member it identified, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Till {
    pub device_id: i64,
    pub member_id: Option<i64>,
}

/// One operation on a purchase.
#[derive(Debug, Clone)]
pub struct Call {
    pub program_id: i64,
    pub purchase_key: String,
    /// The operation's replay key: a repeat with the same request gets the same outcome.
    pub key: IdempotencyKey,
    pub operation: Operation,
    pub till: Till,
    /// The fingerprint of the cheque the till sent, kept with the operation's pricing:
    /// the same cheque sent again keeps that pricing (see [`Store::last_pricing`]).
    pub cheque: Option<String>,
}

/// What a refund gives back, decided from the purchase by the service layer.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundPlan {
    /// The lines refunded and what they give back and take back.
    pub share: RefundShare,
    /// The accrual to take back: the share's, when the purchase accrued any.
    pub accrual_back: i64,
}

pub type PlanRefund = Box<dyn FnOnce(&Purchase) -> Result<RefundPlan, Rejection> + Send>;

pub enum Step {
    /// Nothing moves; the operation is kept as an audit record with its pricing.
    Calculate {
        priced: Calculation,
    },
    /// Reserves `amount` points; the purchase's payments may not exceed `max_total`.
    Payment {
        currency_id: i64,
        amount: i64,
        max_total: i64,
        cheque: PricedCheque,
    },
    /// Sets the accrual that Confirm will post: the cheque's, net of the points the
    /// purchase was paid with so far (kept as `cheque.accrual`).
    Bonus {
        currency_id: i64,
        cheque: PricedCheque,
    },
    /// Captures the payments and posts the accrual; `cheque_total`, when the till sent a
    /// cheque, must be the one priced.
    Confirm {
        cheque_total: Option<i64>,
        life: Lifetime,
    },
    Cancel,
    CancelOperation {
        operation_id: String,
    },
    Refund(PlanRefund),
}

/// A purchase's latest pricing and the fingerprint of the cheque it priced (none for
/// pricings kept before fingerprints were).
#[derive(Debug, Clone, PartialEq)]
pub struct LastPricing {
    pub calculation: Calculation,
    pub cheque: Option<String>,
}

/// What an operation did: kept as its replay, and all a face needs to render its answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Done {
    /// Points reserved (Payment), accrual set (Bonus), or given back (Refund).
    pub amount: i64,
    pub accrual_taken_back: i64,
    /// The cheque as priced by this operation (Calculate, Payment, Bonus).
    pub calculation: Option<Calculation>,
    /// The accrual per line (Bonus).
    pub accrual: Option<Accrual>,
    /// The operation's own number (its row), which tills know as the transaction id.
    #[serde(default)]
    pub transaction_id: Option<i64>,
    /// The hold that reserves the points of a Payment.
    #[serde(default)]
    pub hold_id: Option<i64>,
}

const COLUMNS: &str = "id, purchase_key, device_id, member_id, currency_id, state, cheque, bonus_paid, accrual, \
                       accrual_posting_id, refunded_payment, refunded_accrual, refunded_lines, cancel_at, created_at";

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// What a step did, and the purchase with its live operations as the step changed them,
/// when the operation's record is to save it too (see [`finish`]).
type Stepped = (Done, Option<Written>);

/// A purchase with its live operations, as a step left it.
pub(crate) type Written = (Purchase, Live);

fn purchase(row: &sqlx::any::AnyRow) -> Result<Purchase, StoreError> {
    let state: String = row.try_get(5)?;
    let cheque: String = row.try_get(6)?;
    let refunds: String = row.try_get(12)?;
    Ok(Purchase {
        id: row.try_get(0)?,
        purchase_key: row.try_get(1)?,
        device_id: row.try_get(2)?,
        member_id: row.try_get(3)?,
        currency_id: row.try_get(4)?,
        state: State::parse(&state).ok_or_else(|| StoreError::Internal(format!("bad purchase state {state}")))?,
        cheque: serde_json::from_str(&cheque)?,
        bonus_paid: row.try_get(7)?,
        accrual: row.try_get(8)?,
        accrual_posting_id: row.try_get(9)?,
        refunded_payment: row.try_get(10)?,
        refunded_accrual: row.try_get(11)?,
        refunded_lines: serde_json::from_str(&refunds)?,
        cancel_at: row.try_get(13)?,
        created_at: row.try_get(14)?,
    })
}

/// The pricing a purchase kept; every purchase gets one with its first Payment or Bonus.
fn priced_cheque(p: &Purchase) -> Result<PricedCheque, StoreError> {
    p.cheque
        .clone()
        .ok_or_else(|| StoreError::Internal(format!("purchase {} has no pricing", p.purchase_key)))
}

fn reject<T>(rejection: Rejection) -> Result<T, StoreError> {
    Err(rejection.into())
}

async fn load(tx: &mut Tx, program_id: i64, key: &str) -> Result<Option<(Purchase, Live)>, StoreError> {
    load_locked(tx, program_id, key, None).await
}

/// The live (not canceled) payments and bonuses of a purchase, in order, as
/// `(operation id, kind, hold)`: read with the purchase.
#[derive(Debug, Default, Clone)]
pub(crate) struct Live(Vec<(String, String, Option<i64>)>);

impl Live {
    /// These operations but those of `kind`.
    fn without(self, kind: Operation) -> Live {
        Live(self.0.into_iter().filter(|(_, k, _)| k != kind.as_str()).collect())
    }

    /// These operations with one more, made by `call`.
    fn and(mut self, call: &Call, hold: Option<i64>) -> Live {
        let kind = call.operation.as_str().to_string();
        self.0.push((call.key.key.clone(), kind, hold));
        self
    }

    /// `(operation id, hold)` of the live operations of `kind`.
    fn of(&self, kind: Operation) -> Vec<(String, Option<i64>)> {
        let of_kind = self.0.iter().filter(|(_, k, _)| k == kind.as_str());
        of_kind.map(|(id, _, hold)| (id.clone(), *hold)).collect()
    }
}

/// The purchase, locked, with its live operations; with the till's member, if any,
/// locked before it (the order of every purchase path): one statement. The member's
/// lock is taken in a CTE that the purchase's query waits for.
async fn load_locked(
    tx: &mut Tx,
    program_id: i64,
    key: &str,
    member: Option<i64>,
) -> Result<Option<(Purchase, Live)>, StoreError> {
    let lock = tx.for_update();
    let live = match tx.dialect {
        Dialect::Postgres => {
            "CAST(COALESCE(json_agg(json_build_array(o.operation_id, o.kind, o.hold_id) \
                              ORDER BY o.id), '[]') AS TEXT)"
        }
        Dialect::Sqlite => "json_group_array(json_array(o.operation_id, o.kind, o.hold_id) ORDER BY o.id)",
    };
    let of_purchase = format!(
        "SELECT {COLUMNS}, (SELECT {live} FROM purchase_operations o WHERE o.program_id = $1 \
         AND o.purchase_key = $2 AND o.kind IN ('payment', 'bonus') AND o.canceled_at IS NULL) AS live \
         FROM purchases WHERE program_id = $1 AND purchase_key = $2"
    );
    let sql = match member {
        None => format!("{of_purchase}{lock}"),
        Some(_) => format!(
            "WITH m AS MATERIALIZED (SELECT state FROM members WHERE program_id = $1 AND id = $3{lock}), \
             p AS MATERIALIZED ({of_purchase} AND EXISTS (SELECT 1 FROM m){lock}) \
             SELECT p.*, m.state AS member_state FROM m LEFT JOIN p ON TRUE"
        ),
    };
    let mut query = sqlx::query(&sql).bind(program_id).bind(key);
    if let Some(member) = member {
        query = query.bind(member);
    }
    let row = query.fetch_optional(tx.conn()).await?;
    if let Some(member) = member {
        let row = row.as_ref().ok_or(StoreError::NotFound("member"))?;
        let state: String = row.try_get("member_state")?;
        let state =
            MemberState::parse(&state).ok_or_else(|| StoreError::Internal(format!("bad member state {state}")))?;
        crate::members::locked(tx, program_id, member, state);
    }
    match row {
        Some(row) if row.try_get::<Option<i64>, _>(0)?.is_some() => {
            let live: String = row.try_get("live")?;
            Ok(Some((purchase(&row)?, Live(serde_json::from_str(&live)?))))
        }
        _ => Ok(None),
    }
}

/// The purchase of a Payment or Bonus: the existing one, or a new one for the member.
async fn open(
    tx: &mut Tx,
    call: &Call,
    found: Option<(Purchase, Live)>,
    currency_id: i64,
    cancel_at: Millis,
) -> Result<(Purchase, Live), StoreError> {
    if let Some(found) = found {
        return Ok(found);
    }
    let Some(member_id) = call.till.member_id else {
        return reject(Rejection::MemberUnknown);
    };
    let opened = sqlx::query(&format!(
        "INSERT INTO purchases (program_id, purchase_key, device_id, member_id, currency_id, state, cheque, bonus_paid, \
         accrual, refunded_payment, refunded_accrual, refunded_lines, cancel_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'open', 'null', 0, 0, 0, 0, '[]', $6, $7) \
         ON CONFLICT (program_id, purchase_key) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(call.program_id)
    .bind(&call.purchase_key)
    .bind(call.till.device_id)
    .bind(member_id)
    .bind(currency_id)
    .bind(cancel_at)
    .bind(tx.now)
    .fetch_optional(tx.conn())
    .await?;
    match opened {
        Some(row) => Ok((purchase(&row)?, Live::default())),
        // Opened meanwhile by a concurrent call (PostgreSQL): that one, locked.
        None => load(tx, call.program_id, &call.purchase_key)
            .await?
            .ok_or(StoreError::Internal("purchase vanished".into())),
    }
}

pub(crate) async fn save(tx: &mut Tx, p: &Purchase) -> Result<(), StoreError> {
    let sql = save_statement(1);
    bind_save(sqlx::query(&sql), p, tx.now)?.execute(tx.conn()).await?;
    Ok(())
}

/// The number of parameters of [`save_statement`].
pub(crate) const SAVE_PARAMS: usize = 10;

/// The statement that saves a purchase, its parameters numbered from `$first` (as
/// [`bind_save`] binds them).
pub(crate) fn save_statement(first: usize) -> String {
    let [state, cheque, paid, accrual, posting, refunded, taken_back, lines, now, id]: [String; SAVE_PARAMS] =
        std::array::from_fn(|i| format!("${}", first + i));
    format!(
        "UPDATE purchases SET state = {state}, cheque = {cheque}, bonus_paid = {paid}, accrual = {accrual}, \
         accrual_posting_id = {posting}, refunded_payment = {refunded}, refunded_accrual = {taken_back}, \
         refunded_lines = {lines}, resolved_at = CASE WHEN {state} = 'open' THEN NULL ELSE {now} END WHERE id = {id}"
    )
}

pub(crate) fn bind_save<'q>(query: AnyQuery<'q>, p: &Purchase, now: Millis) -> Result<AnyQuery<'q>, StoreError> {
    Ok(query
        .bind(p.state.as_str())
        .bind(serde_json::to_string(&p.cheque)?)
        .bind(p.bonus_paid)
        .bind(p.accrual)
        .bind(p.accrual_posting_id)
        .bind(p.refunded_payment)
        .bind(p.refunded_accrual)
        .bind(serde_json::to_string(&p.refunded_lines)?)
        .bind(now)
        .bind(p.id))
}

async fn mark_canceled(tx: &mut Tx, program_id: i64, operation_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE purchase_operations SET canceled_at = $1 WHERE program_id = $2 AND operation_id = $3")
        .bind(tx.now)
        .bind(program_id)
        .bind(operation_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A purchase's key and member, read without a lock.
async fn key_and_member(tx: &mut Tx, id: i64) -> Result<(String, Option<i64>), StoreError> {
    let row = sqlx::query("SELECT purchase_key, member_id FROM purchases WHERE id = $1")
        .bind(id)
        .fetch_one(tx.conn())
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// The purchase whose payment reserved this hold, if any.
pub(crate) async fn purchase_of_hold(tx: &mut Tx, hold_id: i64) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT purchase_key FROM purchase_operations WHERE hold_id = $1")
        .bind(hold_id)
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Voids a payment's hold; one already resolved (it expired, or was resolved before
/// this rule existed) has nothing left to give back.
async fn void_payment(tx: &mut Tx, program_id: i64, hold: i64, cause: &Cause) -> Result<(), StoreError> {
    match void_in(tx, program_id, hold, cause).await {
        Ok(_) | Err(StoreError::Hold(HoldError::AlreadyResolved(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Captures a payment's hold for Confirm; a hold no longer active cannot be captured,
/// which the till is told rather than failing.
async fn capture_payment(tx: &mut Tx, program_id: i64, hold: i64, cause: &Cause) -> Result<i64, StoreError> {
    match capture_in(tx, program_id, hold, None, cause).await {
        Ok(receipt) => Ok(receipt.posting_id),
        Err(StoreError::Hold(HoldError::AlreadyResolved(_) | HoldError::Expired)) => reject(Rejection::PaymentReleased),
        Err(e) => Err(e),
    }
}

/// What a wallet refuses, as a purchase's rejection.
fn wallet_rejection(e: StoreError) -> StoreError {
    match e {
        StoreError::InsufficientBalance { available } => Rejection::NotEnoughPoints { available }.into(),
        StoreError::MemberInactive(_) => Rejection::MemberBlocked.into(),
        StoreError::OverLimit { .. } => Rejection::OverAmountLimit.into(),
        e => e,
    }
}

/// Voids the live payments and cancels the purchase.
async fn cancel_in(
    tx: &mut Tx,
    program_id: i64,
    (p, live): (&mut Purchase, &Live),
    cause: &Cause,
) -> Result<(), StoreError> {
    for (operation_id, hold) in live.of(Operation::Payment) {
        if let Some(hold) = hold {
            void_payment(tx, program_id, hold, cause).await?;
        }
        mark_canceled(tx, program_id, &operation_id).await?;
    }
    p.state = State::Canceled;
    save(tx, p).await?;
    announce(tx, program_id, EventType::PurchaseCanceled, p).await
}

async fn announce(tx: &mut Tx, program_id: i64, event: EventType, p: &Purchase) -> Result<(), StoreError> {
    let endpoints = outbox::subscribers(tx, program_id, event, None).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let data = json!({
        "purchase_id": p.purchase_key, "member_id": p.member_id, "device_id": p.device_id,
        "bonus_paid": p.bonus_paid, "accrual": p.accrual,
        "refunded_payment": p.refunded_payment, "refunded_accrual": p.refunded_accrual,
    });
    outbox::emit_to(tx, program_id, &endpoints, event, data).await
}

/// The purchase an operation other than Calculate, Payment and Bonus works on; the
/// order check has already refused those without one.
fn existing(found: Option<(Purchase, Live)>) -> Result<(Purchase, Live), StoreError> {
    found.ok_or(StoreError::Internal("no purchase".into()))
}

fn member_of(p: &Purchase) -> Result<i64, StoreError> {
    p.member_id
        .ok_or(StoreError::Internal("purchase without member".into()))
}

/// Runs the step on the locked purchase (if any), once the order allows it. Calculate, which
/// any step may follow and which moves nothing, reads no purchase: its record is written
/// only if the purchase is not another member's (see [`finish`]).
async fn run(tx: &mut Tx, call: &Call, step: Step, cancel_at: Millis) -> Result<Stepped, StoreError> {
    let (program_id, key) = (call.program_id, call.purchase_key.as_str());
    let found = match step {
        Step::Calculate { .. } => None,
        _ => load_locked(tx, program_id, key, call.till.member_id).await?,
    };
    if let (Some((p, _)), Some(member)) = (&found, call.till.member_id) {
        if p.member_id.is_some_and(|m| m != member) {
            return reject(Rejection::OtherMembersPurchase);
        }
    }
    let bonus_done = found
        .as_ref()
        .is_some_and(|(_, live)| !live.of(Operation::Bonus).is_empty());
    check_order(found.as_ref().map(|(p, _)| p.state), bonus_done, call.operation)?;
    let cause = Cause::purchase(key, &call.key.key);
    match step {
        Step::Calculate { priced } => {
            let done = Done {
                calculation: Some(priced),
                ..Done::default()
            };
            Ok((done, None))
        }
        Step::Payment {
            currency_id,
            amount,
            max_total,
            cheque,
        } => {
            let opened = open(tx, call, found, currency_id, cancel_at).await?;
            pay(tx, call, opened, (amount, max_total), cheque, &cause).await
        }
        Step::Bonus { currency_id, cheque } => {
            let opened = open(tx, call, found, currency_id, cancel_at).await?;
            set_bonus(tx, call, opened, cheque).await
        }
        Step::Confirm { cheque_total, life } => {
            let done = confirm(tx, call, existing(found)?, cheque_total, life, &cause).await?;
            Ok((done, None))
        }
        Step::Cancel => {
            let (mut p, live) = existing(found)?;
            cancel_in(tx, program_id, (&mut p, &live), &cause).await?;
            Ok((Done::default(), None))
        }
        Step::CancelOperation { operation_id } => {
            let done = cancel_operation(tx, call, existing(found)?.0, &operation_id, &cause).await?;
            Ok((done, None))
        }
        Step::Refund(plan) => Ok((refund(tx, call, existing(found)?.0, plan, &cause).await?, None)),
    }
}

/// Reserves `amount` of the member's points for the purchase.
async fn pay(
    tx: &mut Tx,
    call: &Call,
    (mut p, live): Written,
    (amount, max_total): (i64, i64),
    cheque: PricedCheque,
    cause: &Cause,
) -> Result<Stepped, StoreError> {
    if p.bonus_paid + amount > max_total {
        return reject(Rejection::OverPaymentLimit { limit: max_total });
    }
    let m = Movement {
        member_id: member_of(&p)?,
        currency_id: p.currency_id,
        amount,
        card: None,
        description: format!("purchase {}", p.purchase_key),
        cause: cause.clone(),
    };
    let receipt = hold_in(tx, call.program_id, m, p.cancel_at + HOLD_AFTER_CANCEL)
        .await
        .map_err(wallet_rejection)?;
    p.bonus_paid += amount;
    let calculation = Some(cheque.calculation.clone());
    p.cheque = Some(cheque);
    let done = Done {
        amount,
        calculation,
        hold_id: receipt.hold_id,
        ..Done::default()
    };
    Ok((done, Some((p, live.and(call, receipt.hold_id)))))
}

/// Sets the accrual Confirm will post; a new Bonus replaces the earlier one.
async fn set_bonus(tx: &mut Tx, call: &Call, (p, live): Written, cheque: PricedCheque) -> Result<Stepped, StoreError> {
    let earlier = live.of(Operation::Bonus);
    let (done, written) = with_bonus(call, (p, live), cheque)?;
    for (earlier, _) in earlier {
        mark_canceled(tx, call.program_id, &earlier).await?;
    }
    Ok((done, Some(written)))
}

/// The Bonus `call` sets on the purchase: its outcome, and the purchase with the accrual
/// on the cheque's pricing (net of the points paid so far) in place of any earlier one.
fn with_bonus(call: &Call, (mut p, live): Written, mut cheque: PricedCheque) -> Result<(Done, Written), Rejection> {
    let accrual = offers::accrual(&cheque.calculation, p.bonus_paid).map_err(|e| Rejection::ChequeChanged {
        detail: Some(e.to_string()),
    })?;
    cheque.accrual = Some(accrual.clone());
    p.accrual = accrual.total;
    let done = Done {
        amount: accrual.total,
        calculation: Some(cheque.calculation.clone()),
        accrual: Some(accrual),
        ..Done::default()
    };
    p.cheque = Some(cheque);
    Ok((done, (p, live.without(Operation::Bonus).and(call, None))))
}

/// Captures the payments, posts the accrual, records the purchase and runs the hooks.
async fn confirm(
    tx: &mut Tx,
    call: &Call,
    (mut p, live): (Purchase, Live),
    cheque_total: Option<i64>,
    life: Lifetime,
    cause: &Cause,
) -> Result<Done, StoreError> {
    let (program_id, key) = (call.program_id, call.purchase_key.as_str());
    let cheque = priced_cheque(&p)?;
    if cheque_total.is_some_and(|total| total != cheque.calculation.total_amount) {
        return reject(Rejection::ChequeChanged { detail: None });
    }
    let mut postings = Vec::new();
    for (_, hold) in live.of(Operation::Payment) {
        if let Some(hold) = hold {
            postings.push(capture_payment(tx, program_id, hold, cause).await?);
        }
    }
    if let (Some(member_id), true) = (p.member_id, p.accrual > 0) {
        let m = Movement {
            member_id,
            currency_id: p.currency_id,
            amount: p.accrual,
            card: None,
            description: format!("purchase {key}"),
            cause: cause.clone(),
        };
        let posting = accrue_in(tx, program_id, m, life)
            .await
            .map_err(wallet_rejection)?
            .posting_id;
        p.accrual_posting_id = Some(posting);
        postings.push(posting);
    }
    if let Some(member_id) = p.member_id {
        let calc = &cheque.calculation;
        crate::coupons::use_coupons(tx, program_id, member_id, &calc.coupons, key).await?;
        crate::coupons::issue_for_purchase(tx, program_id, member_id, &calc.coupons_to_issue).await?;
    }
    p.state = State::Confirmed;
    let usage = cheque.usage(p.accrual > 0);
    let entry = PurchaseEntry::purchase(&cheque, p.bonus_paid, p.accrual);
    save_recorded(tx, program_id, &p, &usage, entry, &postings).await?;
    announce(tx, program_id, EventType::PurchaseConfirmed, &p).await?;
    hooks::run(tx, program_id, Happening::PurchaseConfirmed { purchase: &p }).await?;
    Ok(Done::default())
}

/// Cancels one payment (voiding its hold) or the accrual set by one Bonus.
async fn cancel_operation(
    tx: &mut Tx,
    call: &Call,
    mut p: Purchase,
    operation_id: &str,
    cause: &Cause,
) -> Result<Done, StoreError> {
    let program_id = call.program_id;
    let row = sqlx::query(
        "SELECT kind, hold_id, amount, canceled_at FROM purchase_operations \
         WHERE program_id = $1 AND purchase_key = $2 AND operation_id = $3",
    )
    .bind(program_id)
    .bind(&call.purchase_key)
    .bind(operation_id)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else {
        return reject(Rejection::OperationNotFound);
    };
    if row.try_get::<Option<Millis>, _>(3)?.is_some() {
        return reject(Rejection::OperationCanceled);
    }
    let kind: String = row.try_get(0)?;
    match Operation::parse(&kind) {
        Some(Operation::Payment) => {
            if let Some(hold) = row.try_get::<Option<i64>, _>(1)? {
                void_payment(tx, program_id, hold, cause).await?;
            }
            p.bonus_paid -= row.try_get::<i64, _>(2)?;
        }
        Some(Operation::Bonus) => p.accrual = 0,
        _ => {
            return reject(Rejection::OutOfOrder {
                order: Order::NotCancelable,
            })
        }
    }
    mark_canceled(tx, program_id, operation_id).await?;
    save(tx, &p).await?;
    Ok(Done::default())
}

/// Gives back the points that paid for the refunded lines and takes back their accrual,
/// as the service's plan says; records the refund and runs the hooks.
async fn refund(
    tx: &mut Tx,
    call: &Call,
    mut p: Purchase,
    plan: PlanRefund,
    cause: &Cause,
) -> Result<Done, StoreError> {
    let program_id = call.program_id;
    let plan = plan(&p)?;
    let (member_id, currency_id) = (member_of(&p)?, p.currency_id);
    let description = format!("refund of purchase {}", p.purchase_key);
    let m = |amount| Movement {
        member_id,
        currency_id,
        amount,
        card: None,
        description: description.clone(),
        cause: cause.clone(),
    };
    let cheque = priced_cheque(&p)?;
    let payment_back = plan.share.bonus_returned;
    let mut postings = Vec::new();
    if payment_back > 0 {
        let back = (AccountKind::Redemption, PostingKind::Refund);
        let receipt = credit_in(tx, program_id, &m(payment_back), None, back, Lifetime::default(), None).await?;
        postings.push(receipt.posting_id);
    }
    let mut taken_back = 0;
    if let (true, Some(accrual)) = (plan.accrual_back > 0, p.accrual_posting_id) {
        let (taken, posting) = reverse_accrual_in(tx, program_id, &m(plan.accrual_back), accrual).await?;
        taken_back = taken;
        postings.extend(posting);
    }
    p.refunded_payment += payment_back;
    p.refunded_accrual += taken_back;
    let entry = PurchaseEntry::refund(&cheque, &plan.share, taken_back);
    p.refunded_lines.push(plan.share.clone());
    save_recorded(tx, program_id, &p, &[], entry, &postings).await?;
    announce(tx, program_id, EventType::PurchaseRefunded, &p).await?;
    let refunded = Happening::PurchaseRefunded {
        purchase: &p,
        refund: &plan.share,
    };
    hooks::run(tx, program_id, refunded).await?;
    Ok(Done {
        amount: payment_back,
        accrual_taken_back: taken_back,
        ..Done::default()
    })
}

/// Writes the operation's row once it is done — its hold, its amount and (Calculate,
/// Payment, Bonus) its pricing — with the purchase as the step `changed` it, and keeps
/// the outcome, with the row's number as its transaction id, under the call's key.
/// `false` when the key was taken (see [`Store::write_once_keeping`]). Operation ids are
/// unique per program, so an id used before replays were kept is refused as a reused
/// key. A Calculate of another member's purchase is refused here, with nothing written.
/// One statement on PostgreSQL.
async fn finish(tx: &mut Tx, call: &Call, (done, changed): (&mut Done, Option<&Purchase>)) -> Result<bool, StoreError> {
    let priced = done.calculation.as_ref().map(serde_json::to_string).transpose()?;
    let cheque = call.cheque.as_ref().filter(|_| priced.is_some());
    let theirs = match call.operation {
        Operation::Calculate => {
            " WHERE NOT EXISTS (SELECT 1 FROM purchases WHERE program_id = $1 AND purchase_key = $2 \
             AND member_id <> $6)"
        }
        _ => "",
    };
    let insert = format!(
        "INSERT INTO purchase_operations (program_id, purchase_key, operation_id, kind, device_id, member_id, \
         hold_id, amount, priced, cheque, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11{theirs} RETURNING id"
    );
    let sql = match tx.dialect {
        Dialect::Sqlite => {
            if let Some(p) = changed {
                save(tx, p).await?;
            }
            insert
        }
        // The operation id ($3) is the replay key.
        Dialect::Postgres => format!(
            "WITH {}op AS ({insert}), kept AS (INSERT INTO replays (program_id, scope, key, fingerprint, \
             outcome, created_at) SELECT $1, $12, $3, $13, \
             CAST(jsonb_set(CAST($14 AS jsonb), '{{transaction_id}}', to_jsonb(op.id)) AS TEXT), $11 FROM op \
             ON CONFLICT (program_id, scope, key) DO NOTHING RETURNING 1) \
             SELECT op.id, (SELECT COUNT(*) FROM kept) FROM op",
            changed.map_or(String::new(), |_| format!("saved AS ({}), ", save_statement(15)))
        ),
    };
    let mut query = sqlx::query(&sql)
        .bind(call.program_id)
        .bind(&call.purchase_key)
        .bind(&call.key.key)
        .bind(call.operation.as_str())
        .bind(call.till.device_id)
        .bind(call.till.member_id)
        .bind(done.hold_id)
        .bind(done.amount)
        .bind(priced)
        .bind(cheque)
        .bind(tx.now);
    if tx.dialect == Dialect::Postgres {
        query = query
            .bind(&call.key.scope)
            .bind(&call.key.fingerprint)
            .bind(serde_json::to_string(&*done)?);
        if let Some(p) = changed {
            query = bind_save(query, p, tx.now)?;
        }
    }
    let row = query
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::on_unique(StoreError::IdempotencyMismatch))?;
    let Some(row) = row else {
        return reject(Rejection::OtherMembersPurchase);
    };
    done.transaction_id = Some(row.try_get(0)?);
    match tx.dialect {
        Dialect::Postgres => Ok(row.try_get::<i64, _>(1)? == 1),
        Dialect::Sqlite => crate::idempotency::keep(tx, call.program_id, &call.key, &*done).await,
    }
}

impl Store {
    /// Runs one purchase operation once. Returns its outcome and whether it is the kept
    /// outcome of an earlier identical call. Rejections (`StoreError::Rejected`) change
    /// nothing and keep nothing, so the till may try the key again.
    pub async fn process_purchase(
        &self,
        call: Call,
        step: Step,
        auto_cancel_ms: Millis,
    ) -> Result<(Done, bool), StoreError> {
        let ends = matches!(step, Step::Confirm { .. } | Step::Cancel);
        let under_way = (call.program_id, call.purchase_key.clone(), call.cheque.clone());
        let (done, replayed, left) = self.step(call, step, auto_cancel_ms).await?;
        if !replayed {
            self.remember(under_way, ends, &done, left);
        }
        Ok((done, replayed))
    }

    /// [`Store::process_purchase`]'s step, with the purchase as it left it if it wrote it.
    async fn step(
        &self,
        call: Call,
        step: Step,
        auto_cancel_ms: Millis,
    ) -> Result<(Done, bool, Option<Written>), StoreError> {
        if let (Dialect::Postgres, true, Some(quick)) = (self.dialect(), self.at_once(), at_once::Quick::of(&step)) {
            if let Some(stepped) = self.in_one_statement(&call, quick, auto_cancel_ms).await? {
                return Ok(stepped);
            }
        }
        let (program_id, key) = (call.program_id, call.key.clone());
        // Calculate's only change is its record, written (with its replay) by the last
        // statement: on PostgreSQL it needs no transaction and takes no locks.
        let one_statement = matches!(step, Step::Calculate { .. });
        let left = Arc::new(Mutex::new(None));
        let slot = left.clone();
        let (done, replayed) = self
            .write_once_keeping(program_id, key, one_statement, move |tx| {
                Box::pin(async move {
                    let cancel_at = tx.now + auto_cancel_ms;
                    let (mut done, changed) = run(tx, &call, step, cancel_at).await?;
                    let kept = finish(tx, &call, (&mut done, changed.as_ref().map(|(p, _)| p))).await?;
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = changed;
                    Ok((done, kept))
                })
            })
            .await?;
        let left = left.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok((done, replayed, left))
    }

    /// Keeps in memory what a step just wrote of a purchase under way — its pricing, and
    /// the purchase as it left it — so that the next call of the purchase need not read
    /// them (see [`Store::recent_pricing`] and `at_once`); a Confirm or Cancel forgets
    /// the purchase.
    fn remember(
        &self,
        (program_id, key, cheque): (i64, String, Option<String>),
        ends: bool,
        done: &Done,
        left: Option<Written>,
    ) {
        let cache = &self.inner.shared.cache;
        let purchase = (program_id, key);
        if ends {
            cache.pricings.forget(&purchase);
            cache.open_purchases.forget(&purchase);
            return;
        }
        let generation = cache.generation.current();
        if let Some(calculation) = &done.calculation {
            let pricing = LastPricing {
                calculation: calculation.clone(),
                cheque,
            };
            cache.pricings.put(purchase.clone(), generation, pricing);
        }
        // Only the calls at once (PostgreSQL) take the purchase from memory.
        match left.filter(|_| self.dialect() == Dialect::Postgres) {
            Some(written) => cache.open_purchases.put(purchase, generation, written),
            None => cache.open_purchases.forget(&purchase),
        }
    }

    /// Whether purchase calls may run [`at_once`] (always, but in tests that compare it with
    /// the general path).
    fn at_once(&self) -> bool {
        #[cfg(any(test, feature = "testing"))]
        return !self.inner.general_path_only.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(any(test, feature = "testing")))]
        true
    }

    /// Tests only: purchase calls take the general path from now on, or again may not.
    #[cfg(any(test, feature = "testing"))]
    pub fn take_the_general_path(&self, only: bool) {
        self.inner
            .general_path_only
            .store(only, std::sync::atomic::Ordering::Relaxed);
    }

    /// A Payment, Bonus or Confirm on PostgreSQL in one statement that keeps its outcome too
    /// (see [`at_once`]); as [`Store::write_once_keeping`] does, a failure looks for the
    /// key's kept outcome. `None` leaves it to the general path.
    async fn in_one_statement(
        &self,
        call: &Call,
        quick: at_once::Quick,
        auto_cancel_ms: Millis,
    ) -> Result<Option<(Done, bool, Option<Written>)>, StoreError> {
        let ours = call.clone();
        let ran = self
            .write_in_one_statement(move |tx| {
                Box::pin(async move {
                    let cancel_at = tx.now + auto_cancel_ms;
                    at_once::run(tx, &ours, &quick, cancel_at).await
                })
            })
            .await;
        match ran {
            Ok(stepped) => Ok(stepped.map(|(done, written)| (done, false, written))),
            Err(e) => {
                let (done, replayed) = self.kept_or(call.program_id, &call.key, e).await?;
                Ok(Some((done, replayed, None)))
            }
        }
    }

    pub async fn purchase(&self, program_id: i64, key: &str) -> Result<Purchase, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM purchases WHERE program_id = $1 AND purchase_key = $2"
        ))
        .bind(program_id)
        .bind(key)
        .fetch_optional(self.reads())
        .await?
        .ok_or(StoreError::NotFound("purchase"))?;
        purchase(&row)
    }

    /// A member's purchases, newest first, and how many there are.
    pub async fn member_purchases(
        &self,
        program_id: i64,
        member_id: i64,
        offset: i64,
        count: i64,
    ) -> Result<(i64, Vec<Purchase>), StoreError> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM purchases WHERE program_id = $1 AND member_id = $2")
            .bind(program_id)
            .bind(member_id)
            .fetch_one(self.reads())
            .await?
            .try_get(0)?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM purchases WHERE program_id = $1 AND member_id = $2 \
             ORDER BY id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(program_id)
        .bind(member_id)
        .bind(count)
        .bind(offset)
        .fetch_all(self.reads())
        .await?;
        Ok((total, rows.iter().map(purchase).collect::<Result<_, _>>()?))
    }

    /// The latest pricing of a purchase's cheque that this server made (by Calculate,
    /// Payment or Bonus), from memory: the latest of all unless another server sharing
    /// the database priced the purchase since. `None` when none is kept.
    pub fn recent_pricing(&self, program_id: i64, key: &str) -> Option<LastPricing> {
        let cache = &self.inner.shared.cache;
        cache
            .pricings
            .get(&(program_id, key.to_string()), cache.generation.current())
    }

    /// The latest pricing of a purchase's cheque (by Calculate, Payment or Bonus), with
    /// the fingerprint of the cheque that was sent for it.
    pub async fn last_pricing(&self, program_id: i64, key: &str) -> Result<Option<LastPricing>, StoreError> {
        let row = sqlx::query(
            "SELECT priced, cheque FROM purchase_operations WHERE program_id = $1 AND purchase_key = $2 \
             AND priced IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(program_id)
        .bind(key)
        .fetch_optional(self.reads())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LastPricing {
            calculation: serde_json::from_str(&row.try_get::<String, _>(0)?)?,
            cheque: row.try_get(1)?,
        }))
    }

    /// Cancels every purchase left unconfirmed past its time, in batches of `batch`; an
    /// item that fails is passed over (see [`crate::sweep`]). Returns what it did.
    pub async fn cancel_due_purchases(&self, batch: i64) -> Result<crate::sweep::Swept, StoreError> {
        self.sweep(
            "purchase auto-cancel",
            "SELECT cancel_at, id, program_id FROM purchases WHERE state = 'open' AND cancel_at <= $1 \
             AND (cancel_at > $2 OR (cancel_at = $2 AND id > $3)) ORDER BY cancel_at, id LIMIT $4",
            batch,
            |program_id, id| {
                self.write(move |tx| {
                    Box::pin(async move {
                        // The member before the purchase row, as on every purchase path.
                        let (key, member) = key_and_member(tx, id).await?;
                        if let Some(member_id) = member {
                            crate::members::lock_member(tx, program_id, member_id).await?;
                        }
                        match load(tx, program_id, &key).await? {
                            Some((mut p, live)) if p.state == State::Open && p.cancel_at <= tx.now => {
                                let cause = Cause {
                                    purchase: Some(key),
                                    operation: None,
                                };
                                cancel_in(tx, program_id, (&mut p, &live), &cause).await?;
                                Ok(true)
                            }
                            _ => Ok(false),
                        }
                    })
                })
            },
        )
        .await
    }
}
