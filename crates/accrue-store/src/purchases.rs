//! Purchases run by devices: each operation (Calculate, Payment, Bonus, Confirm, Cancel,
//! Refund) happens once per operation id, in one transaction with the ledger moves it
//! makes and the answer it gave — a repeat gets that answer again, another request under
//! the same id is refused. The amounts come priced from the offers engine; here they are
//! held, captured, accrued, voided and given back.
//!
//! Locks are taken in one order — the member of the device's token, the purchase row,
//! then the wallet accounts — so concurrent operations of one member cannot deadlock.

use crate::devices::DeviceSession;
use crate::ledger::{accrue_in, capture_in, credit_in, hold_in, reverse_accrual_in, void_in, Lifetime, Movement};
use crate::purchase_records::{add_entry, purchase_confirmed};
use crate::{outbox, Store, StoreError, Tx};
use accrue_core::hold::HoldError;
use accrue_core::ledger::{AccountKind, PostingKind};
use accrue_core::offers::{Calculation, RefundShare};
use accrue_core::outbox::EventType;
use accrue_core::purchase::{check_order, Code, Operation, PricedCheque, PurchaseEntry, Refusal, State};
use accrue_core::Millis;
use serde_json::{json, Value};
use sqlx::Row;

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

/// One call of a device.
#[derive(Debug, Clone)]
pub struct Call {
    pub program_id: i64,
    pub purchase_key: String,
    pub operation_id: String,
    pub operation: Operation,
    pub session: DeviceSession,
    /// Of the canonical request: a repeat under the same operation id must match.
    pub fingerprint: String,
}

/// What a refund gives back, decided from the purchase by the caller's pricing.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundPlan {
    /// The lines refunded and what they give back and take back.
    pub share: RefundShare,
    /// The accrual to take back: the share's, when the purchase accrued any.
    pub accrual_back: i64,
}

type PlanRefund = Box<dyn FnOnce(&Purchase) -> Result<RefundPlan, Refusal> + Send>;

pub enum Step {
    /// Nothing moves; the operation is kept as an audit record with its pricing.
    Calculate {
        priced: Calculation,
    },
    /// Reserves `amount` bonuses; the purchase's payments may not exceed `max_total`.
    Payment {
        currency_id: i64,
        amount: i64,
        max_total: i64,
        cheque: PricedCheque,
    },
    /// Sets the accrual that Confirm will post.
    Bonus {
        currency_id: i64,
        accrual: i64,
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

/// What an operation did, for rendering its answer.
#[derive(Debug, Clone)]
pub struct Done {
    pub purchase: Option<Purchase>,
    /// Bonuses reserved (Payment), accrual set (Bonus), or given back (Refund).
    pub amount: i64,
    pub accrual_taken_back: i64,
}

pub type Render = Box<dyn FnOnce(&Done) -> Value + Send>;

const COLUMNS: &str = "id, purchase_key, device_id, member_id, currency_id, state, cheque, bonus_paid, accrual, \
                       accrual_posting_id, refunded_payment, refunded_accrual, refunded_lines, cancel_at, created_at";

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

fn refuse<T>(code: Code, message: &str) -> Result<T, StoreError> {
    Err(Refusal::new(code, message).into())
}

async fn load(tx: &mut Tx, program_id: i64, key: &str) -> Result<Option<Purchase>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM purchases WHERE program_id = $1 AND purchase_key = $2{}",
        tx.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(program_id)
        .bind(key)
        .fetch_optional(tx.conn())
        .await?;
    row.as_ref().map(purchase).transpose()
}

/// The purchase of a Payment or Bonus: the existing one, or a new one for the member.
async fn open(
    tx: &mut Tx,
    call: &Call,
    found: Option<Purchase>,
    currency_id: i64,
    cancel_at: Millis,
) -> Result<Purchase, StoreError> {
    if let Some(p) = found {
        return Ok(p);
    }
    let Some(member_id) = call.session.member_id else {
        return refuse(Code::CardNotFound, "Покупатель не определён: нужен токен участника.");
    };
    sqlx::query(
        "INSERT INTO purchases (program_id, purchase_key, device_id, member_id, currency_id, state, cheque, bonus_paid, \
         accrual, refunded_payment, refunded_accrual, refunded_lines, cancel_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'open', 'null', 0, 0, 0, 0, '[]', $6, $7) ON CONFLICT (program_id, purchase_key) DO NOTHING",
    )
    .bind(call.program_id)
    .bind(&call.purchase_key)
    .bind(call.session.device_id)
    .bind(member_id)
    .bind(currency_id)
    .bind(cancel_at)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    load(tx, call.program_id, &call.purchase_key)
        .await?
        .ok_or(StoreError::Internal("purchase vanished".into()))
}

async fn save(tx: &mut Tx, p: &Purchase) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE purchases SET state = $1, cheque = $2, bonus_paid = $3, accrual = $4, accrual_posting_id = $5, \
         refunded_payment = $6, refunded_accrual = $7, refunded_lines = $8, \
         resolved_at = CASE WHEN $1 = 'open' THEN NULL ELSE $9 END WHERE id = $10",
    )
    .bind(p.state.as_str())
    .bind(serde_json::to_string(&p.cheque)?)
    .bind(p.bonus_paid)
    .bind(p.accrual)
    .bind(p.accrual_posting_id)
    .bind(p.refunded_payment)
    .bind(p.refunded_accrual)
    .bind(serde_json::to_string(&p.refunded_lines)?)
    .bind(tx.now)
    .bind(p.id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Live (not canceled) operations of a kind on a purchase: `(operation id, hold, amount)`.
async fn live_operations(
    tx: &mut Tx,
    program_id: i64,
    key: &str,
    kind: Operation,
) -> Result<Vec<(String, Option<i64>, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT operation_id, hold_id, amount FROM purchase_operations WHERE program_id = $1 AND purchase_key = $2 \
         AND kind = $3 AND canceled_at IS NULL ORDER BY id",
    )
    .bind(program_id)
    .bind(key)
    .bind(kind.as_str())
    .fetch_all(tx.conn())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
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
async fn void_payment(tx: &mut Tx, program_id: i64, hold: i64) -> Result<(), StoreError> {
    match void_in(tx, program_id, hold).await {
        Ok(_) | Err(StoreError::Hold(HoldError::AlreadyResolved(_))) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Captures a payment's hold for Confirm; a hold no longer active cannot be captured,
/// which the till is told rather than failing.
async fn capture_payment(tx: &mut Tx, program_id: i64, hold: i64) -> Result<i64, StoreError> {
    match capture_in(tx, program_id, hold, None).await {
        Ok(receipt) => Ok(receipt.posting_id),
        Err(StoreError::Hold(HoldError::AlreadyResolved(_) | HoldError::Expired)) => refuse(
            Code::BusinessError,
            "Оплата бонусами этой покупки уже отменена; отмените покупку.",
        ),
        Err(e) => Err(e),
    }
}

/// Refusals a wallet can give, in the terms tills know.
fn wallet_refusal(e: StoreError) -> StoreError {
    match e {
        StoreError::InsufficientBalance { .. } => Refusal::new(Code::NotEnoughMoney, "Недостаточно бонусов.").into(),
        StoreError::MemberInactive(_) => Refusal::new(Code::CardBlocked, "Счёт участника заблокирован.").into(),
        StoreError::OverLimit { .. } => Refusal::new(Code::BusinessError, "Сумма больше допустимой.").into(),
        e => e,
    }
}

/// Voids the live payments and cancels the purchase.
async fn cancel_in(tx: &mut Tx, program_id: i64, p: &mut Purchase) -> Result<(), StoreError> {
    for (operation_id, hold, _) in live_operations(tx, program_id, &p.purchase_key, Operation::Payment).await? {
        if let Some(hold) = hold {
            void_payment(tx, program_id, hold).await?;
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

/// Runs the step on the locked purchase (if any).
async fn run(tx: &mut Tx, call: &Call, step: Step, cancel_at: Millis) -> Result<Done, StoreError> {
    let program_id = call.program_id;
    let key = call.purchase_key.as_str();
    let found = load(tx, program_id, key).await?;
    if let (Some(p), Some(member)) = (&found, call.session.member_id) {
        if p.member_id.is_some_and(|m| m != member) {
            return refuse(Code::BusinessError, "Покупка принадлежит другому участнику.");
        }
    }
    let bonus_done = !live_operations(tx, program_id, key, Operation::Bonus).await?.is_empty();
    check_order(found.as_ref().map(|p| p.state), bonus_done, call.operation)?;
    let mut done = Done {
        purchase: None,
        amount: 0,
        accrual_taken_back: 0,
    };
    match step {
        Step::Calculate { priced } => {
            set_priced(tx, call, &priced).await?;
            done.purchase = found;
        }
        Step::Payment {
            currency_id,
            amount,
            max_total,
            cheque,
        } => {
            let mut p = open(tx, call, found, currency_id, cancel_at).await?;
            if p.bonus_paid + amount > max_total {
                return refuse(Code::LargePaymentAmount, "Сумма оплаты бонусами больше допустимой.");
            }
            let member_id = p
                .member_id
                .ok_or(StoreError::Internal("purchase without member".into()))?;
            let m = Movement {
                member_id,
                currency_id: p.currency_id,
                amount,
                card: None,
                description: format!("purchase {key}"),
            };
            // The hold outlives the auto-cancel, which voids it first.
            let receipt = hold_in(tx, program_id, m, p.cancel_at + 24 * 3600 * 1000)
                .await
                .map_err(wallet_refusal)?;
            set_operation(tx, call, receipt.hold_id, amount).await?;
            set_priced(tx, call, &cheque.calculation).await?;
            p.bonus_paid += amount;
            p.cheque = Some(cheque);
            save(tx, &p).await?;
            done.amount = amount;
            done.purchase = Some(p);
        }
        Step::Bonus {
            currency_id,
            accrual,
            cheque,
        } => {
            let mut p = open(tx, call, found, currency_id, cancel_at).await?;
            // A new Bonus replaces the earlier one (the claimed row of this call is live too).
            for (earlier, _, _) in live_operations(tx, program_id, key, Operation::Bonus).await? {
                if earlier != call.operation_id {
                    mark_canceled(tx, program_id, &earlier).await?;
                }
            }
            set_operation(tx, call, None, accrual).await?;
            set_priced(tx, call, &cheque.calculation).await?;
            p.accrual = accrual;
            p.cheque = Some(cheque);
            save(tx, &p).await?;
            done.amount = accrual;
            done.purchase = Some(p);
        }
        Step::Confirm { cheque_total, life } => {
            let mut p = found.ok_or(StoreError::Internal("no purchase".into()))?;
            let cheque = priced_cheque(&p)?;
            if cheque_total.is_some_and(|total| total != cheque.calculation.total_amount) {
                return refuse(Code::DifferentCheque, "Чек отличается от рассчитанного.");
            }
            let mut postings = Vec::new();
            for (_, hold, _) in live_operations(tx, program_id, key, Operation::Payment).await? {
                if let Some(hold) = hold {
                    postings.push(capture_payment(tx, program_id, hold).await?);
                }
            }
            if let (Some(member_id), true) = (p.member_id, p.accrual > 0) {
                let m = Movement {
                    member_id,
                    currency_id: p.currency_id,
                    amount: p.accrual,
                    card: None,
                    description: format!("purchase {key}"),
                };
                let posting = accrue_in(tx, program_id, m, life)
                    .await
                    .map_err(wallet_refusal)?
                    .posting_id;
                p.accrual_posting_id = Some(posting);
                postings.push(posting);
            }
            p.state = State::Confirmed;
            save(tx, &p).await?;
            purchase_confirmed(tx, program_id, &p, &cheque, &postings).await?;
            announce(tx, program_id, EventType::PurchaseConfirmed, &p).await?;
            done.purchase = Some(p);
        }
        Step::Cancel => {
            let mut p = found.ok_or(StoreError::Internal("no purchase".into()))?;
            cancel_in(tx, program_id, &mut p).await?;
            done.purchase = Some(p);
        }
        Step::CancelOperation { operation_id } => {
            let mut p = found.ok_or(StoreError::Internal("no purchase".into()))?;
            let row = sqlx::query(
                "SELECT kind, hold_id, amount, canceled_at FROM purchase_operations \
                 WHERE program_id = $1 AND purchase_key = $2 AND operation_id = $3",
            )
            .bind(program_id)
            .bind(key)
            .bind(&operation_id)
            .fetch_optional(tx.conn())
            .await?;
            let Some(row) = row else {
                return refuse(Code::OperationNotFound, "Операция не найдена.");
            };
            if row.try_get::<Option<Millis>, _>(3)?.is_some() {
                return refuse(Code::OperationIsCanceled, "Операция уже отменена.");
            }
            let kind: String = row.try_get(0)?;
            match Operation::parse(&kind) {
                Some(Operation::Payment) => {
                    if let Some(hold) = row.try_get::<Option<i64>, _>(1)? {
                        void_payment(tx, program_id, hold).await?;
                    }
                    p.bonus_paid -= row.try_get::<i64, _>(2)?;
                }
                Some(Operation::Bonus) => p.accrual = 0,
                _ => return refuse(Code::IncorrectOperationOrder, "Эту операцию нельзя отменить."),
            }
            mark_canceled(tx, program_id, &operation_id).await?;
            save(tx, &p).await?;
            done.purchase = Some(p);
        }
        Step::Refund(plan) => {
            let mut p = found.ok_or(StoreError::Internal("no purchase".into()))?;
            let plan = plan(&p)?;
            let member_id = p
                .member_id
                .ok_or(StoreError::Internal("purchase without member".into()))?;
            let m = |amount| Movement {
                member_id,
                currency_id: p.currency_id,
                amount,
                card: None,
                description: format!("refund of purchase {key}"),
            };
            let cheque = priced_cheque(&p)?;
            let payment_back = plan.share.bonus_returned;
            let mut postings = Vec::new();
            if payment_back > 0 {
                let back = (AccountKind::Redemption, PostingKind::Refund);
                let receipt = credit_in(tx, program_id, &m(payment_back), None, back, Lifetime::default()).await?;
                postings.push(receipt.posting_id);
            }
            if let (true, Some(accrual)) = (plan.accrual_back > 0, p.accrual_posting_id) {
                let (taken, posting) = reverse_accrual_in(tx, program_id, &m(plan.accrual_back), accrual).await?;
                done.accrual_taken_back = taken;
                postings.extend(posting);
            }
            set_operation(tx, call, None, payment_back).await?;
            p.refunded_payment += payment_back;
            p.refunded_accrual += done.accrual_taken_back;
            let entry = PurchaseEntry::refund(&cheque, &plan.share, done.accrual_taken_back);
            p.refunded_lines.push(plan.share);
            save(tx, &p).await?;
            add_entry(tx, program_id, &p, entry, &postings).await?;
            announce(tx, program_id, EventType::PurchaseRefunded, &p).await?;
            done.amount = payment_back;
            done.purchase = Some(p);
        }
    }
    Ok(done)
}

async fn set_operation(tx: &mut Tx, call: &Call, hold_id: Option<i64>, amount: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE purchase_operations SET hold_id = $1, amount = $2 WHERE program_id = $3 AND operation_id = $4")
        .bind(hold_id)
        .bind(amount)
        .bind(call.program_id)
        .bind(&call.operation_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

async fn set_priced(tx: &mut Tx, call: &Call, priced: &Calculation) -> Result<(), StoreError> {
    sqlx::query("UPDATE purchase_operations SET priced = $1 WHERE program_id = $2 AND operation_id = $3")
        .bind(serde_json::to_string(priced)?)
        .bind(call.program_id)
        .bind(&call.operation_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Claims the operation id. `Some(answer)` when it was already done with this request.
async fn claim(tx: &mut Tx, call: &Call) -> Result<Option<Value>, StoreError> {
    let claimed = sqlx::query(
        "INSERT INTO purchase_operations (program_id, purchase_key, operation_id, kind, device_id, member_id, \
         fingerprint, amount, answer, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 'null', $8) \
         ON CONFLICT (program_id, operation_id) DO NOTHING",
    )
    .bind(call.program_id)
    .bind(&call.purchase_key)
    .bind(&call.operation_id)
    .bind(call.operation.as_str())
    .bind(call.session.device_id)
    .bind(call.session.member_id)
    .bind(&call.fingerprint)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT fingerprint, answer, device_id FROM purchase_operations WHERE program_id = $1 AND operation_id = $2",
    )
    .bind(call.program_id)
    .bind(&call.operation_id)
    .fetch_one(tx.conn())
    .await?;
    let same = row.try_get::<String, _>(0)? == call.fingerprint && row.try_get::<i64, _>(2)? == call.session.device_id;
    if !same {
        return refuse(
            Code::NotUniqueOperationId,
            "Операция с таким идентификатором уже выполнена с другими данными.",
        );
    }
    Ok(Some(serde_json::from_str(&row.try_get::<String, _>(1)?)?))
}

impl Store {
    /// Runs one device operation once. Returns the answer and whether it is the stored
    /// answer of an earlier identical call. Refusals (`StoreError::Refused`) change
    /// nothing and keep nothing, so the till may try the operation id again.
    pub async fn process_purchase(
        &self,
        call: Call,
        step: Step,
        auto_cancel_ms: Millis,
        render: Render,
    ) -> Result<(Value, bool), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                // The member first: rows inserted below reference it (a key-share lock on
                // PostgreSQL) and a later FOR UPDATE after them would deadlock with a
                // concurrent payment of the same member.
                if let Some(member_id) = call.session.member_id {
                    crate::members::member_in_tx(tx, call.program_id, member_id).await?;
                }
                if let Some(answer) = claim(tx, &call).await? {
                    return Ok((answer, true));
                }
                let cancel_at = tx.now + auto_cancel_ms;
                let done = run(tx, &call, step, cancel_at).await?;
                let answer = render(&done);
                sqlx::query("UPDATE purchase_operations SET answer = $1 WHERE program_id = $2 AND operation_id = $3")
                    .bind(answer.to_string())
                    .bind(call.program_id)
                    .bind(&call.operation_id)
                    .execute(tx.conn())
                    .await?;
                Ok((answer, false))
            })
        })
        .await
    }

    pub async fn purchase(&self, program_id: i64, key: &str) -> Result<Purchase, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM purchases WHERE program_id = $1 AND purchase_key = $2"
        ))
        .bind(program_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound("purchase"))?;
        purchase(&row)
    }

    /// The latest pricing of a purchase's cheque (by Calculate, Payment or Bonus).
    pub async fn last_pricing(&self, program_id: i64, key: &str) -> Result<Option<Calculation>, StoreError> {
        let row = sqlx::query(
            "SELECT priced FROM purchase_operations WHERE program_id = $1 AND purchase_key = $2 \
             AND priced IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(program_id)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(serde_json::from_str(&row.try_get::<String, _>(0)?)?))
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
                            crate::members::member_in_tx(tx, program_id, member_id).await?;
                        }
                        match load(tx, program_id, &key).await? {
                            Some(mut p) if p.state == State::Open && p.cancel_at <= tx.now => {
                                cancel_in(tx, program_id, &mut p).await?;
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
