//! Purchases: Calculate, pay with points, set the accrual, Confirm, Cancel, cancel one
//! operation, Refund, and a member's balance at a till. Here the amounts are decided —
//! the payment limit, the accrual, the points' lifetime, the refund plan — and the store
//! runs each operation once per key, in one transaction (see
//! [`accrue_store::purchases`]).

use super::pricing::{self, cheque, minor, ChequeInput, Quote};
use accrue_core::idempotency::fingerprint;
use accrue_core::offers::{self, RefundLine, RefundPart};
use accrue_core::purchase::{Goods, Operation, PricedCheque, Rejection, Settings};
use accrue_store::devices::DeviceSession;
use accrue_store::idempotency::IdempotencyKey;
use accrue_store::ledger::Lifetime;
use accrue_store::purchases::{Call, Done, Purchase, RefundPlan, Step, Till};
use accrue_store::{Currency, Store, StoreError};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Where a purchase is made: the program, the till (a device of a merchant) and the
/// member it identified, if any. Any face that sells makes one — from a device's token
/// (Loymax), or from a device it keeps for its own orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkout {
    pub program_id: i64,
    pub device_id: i64,
    pub member_id: Option<i64>,
}

impl From<&DeviceSession> for Checkout {
    fn from(session: &DeviceSession) -> Checkout {
        Checkout {
            program_id: session.program_id,
            device_id: session.device_id,
            member_id: session.member_id,
        }
    }
}

/// One operation on a purchase, as a face received it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Where it is made.
    pub till: Checkout,
    pub purchase: &'a str,
    /// The face's key space: keys of different faces never collide.
    pub scope: &'a str,
    /// The caller's key for this operation; a repeat with the same request gets the
    /// same outcome.
    pub key: &'a str,
    /// The request as received, for telling a repeat from a reused key.
    pub body: &'a Value,
}

/// What an operation did, with the currency its amounts are in.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub done: Done,
    pub currency: Currency,
    /// The kept outcome of an earlier identical call.
    pub replayed: bool,
}

impl Outcome {
    /// A payment with points spread over the cheque's lines, as far as each allows.
    pub fn paid_by_line(&self) -> Vec<i64> {
        let limits: Vec<i64> = self
            .done
            .calculation
            .iter()
            .flat_map(|c| &c.lines)
            .map(|l| l.max_bonus_payment)
            .collect();
        offers::distribute(self.done.amount, &limits)
    }
}

/// A refunded line as a face received it: by quantity, by amount, or all that is left.
#[derive(Debug, Clone, Default)]
pub struct RefundLineInput {
    pub position: Option<Decimal>,
    pub quantity: Option<Decimal>,
    pub amount: Option<Decimal>,
}

/// What every operation needs: the currency, the program's processing settings.
struct Prepared {
    currency: Currency,
    settings: Settings,
}

async fn prepare(store: &Store, program_id: i64) -> Result<Prepared, StoreError> {
    Ok(Prepared {
        currency: pricing::currency(store, program_id).await?,
        settings: store.processing_settings(program_id).await?,
    })
}

fn quote_of(till: Checkout, cheque: accrue_core::offers::Cheque) -> Quote {
    Quote {
        program_id: till.program_id,
        cheque,
        member_id: till.member_id,
        device_id: Some(till.device_id),
        offers: None,
    }
}

/// Runs one step through the store once per key; `cheque` is the fingerprint of the
/// cheque the step priced, kept with its pricing.
async fn run(
    store: &Store,
    r: Request<'_>,
    (operation, step): (Operation, Step),
    cheque: Option<String>,
    p: Prepared,
) -> Result<Outcome, StoreError> {
    let request = json!({
        "purchase": r.purchase, "operation": operation.as_str(), "device": r.till.device_id, "request": r.body,
    });
    let call = Call {
        program_id: r.till.program_id,
        purchase_key: r.purchase.to_string(),
        key: IdempotencyKey {
            scope: r.scope.to_string(),
            key: r.key.to_string(),
            fingerprint: fingerprint(&request),
        },
        operation,
        till: Till {
            device_id: r.till.device_id,
            member_id: r.till.member_id,
        },
        cheque,
    };
    let auto_cancel = i64::from(p.settings.auto_cancel_minutes) * 60_000;
    let (done, replayed) = store.process_purchase(call, step, auto_cancel).await?;
    Ok(Outcome {
        done,
        currency: p.currency,
        replayed,
    })
}

/// What the purchase keeps of its pricing, for Confirm, Refund and the member's history.
fn priced_cheque(
    calculation: accrue_core::offers::Calculation,
    accrual: Option<offers::Accrual>,
    sent: &ChequeInput,
) -> PricedCheque {
    let goods = calculation.lines.iter().zip(&sent.lines).map(|(l, s)| Goods {
        position: l.position,
        goods_id: s.goods_id.clone().filter(|g| !g.is_empty()),
        barcode: s.barcode.clone().filter(|b| !b.is_empty()),
        name: s.name.clone().filter(|n| !n.trim().is_empty()),
    });
    PricedCheque {
        goods: goods.collect(),
        calculation,
        accrual,
        number: sent.number.clone().filter(|n| !n.trim().is_empty()),
    }
}

/// Calculate: prices the cheque and keeps the pricing; nothing moves.
pub async fn calculate(store: &Store, r: Request<'_>, sent: &ChequeInput) -> Result<Outcome, StoreError> {
    let p = prepare(store, r.till.program_id).await?;
    let cheque = cheque(sent, p.currency.scale)?;
    let sent_cheque = pricing::fingerprint(&cheque);
    let priced = pricing::quote_in(store, quote_of(r.till, cheque), &p.currency, &p.settings).await?;
    let step = (Operation::Calculate, Step::Calculate { priced });
    run(store, r, step, Some(sent_cheque), p).await
}

/// The most points this cheque may be paid with: its pricing. Writes nothing.
pub async fn available(store: &Store, till: Checkout, sent: &ChequeInput) -> Result<Outcome, StoreError> {
    let p = prepare(store, till.program_id).await?;
    let q = quote_of(till, cheque(sent, p.currency.scale)?);
    let calculation = pricing::quote_in(store, q, &p.currency, &p.settings).await?;
    Ok(Outcome {
        done: Done {
            calculation: Some(calculation),
            ..Done::default()
        },
        currency: p.currency,
        replayed: false,
    })
}

/// Pays `amount` of the cheque with the member's points (reserved until Confirm).
pub async fn pay(
    store: &Store,
    r: Request<'_>,
    sent: &ChequeInput,
    amount: Option<Decimal>,
) -> Result<Outcome, StoreError> {
    let p = prepare(store, r.till.program_id).await?;
    let q = quote_of(r.till, cheque(sent, p.currency.scale)?);
    let (calc, sent_cheque) = pricing::quote_purchase(store, q, r.purchase, &p.currency, &p.settings).await?;
    let wanted = minor(amount, p.currency.scale, "amount")?;
    if wanted == 0 {
        return Err(Rejection::NothingToPay.into());
    }
    // Over the cheque's limit is refused here; over the member's points, by the ledger.
    let limit = calc.lines.iter().map(|l| l.max_bonus_payment).sum::<i64>();
    if wanted > limit {
        return Err(Rejection::OverPaymentLimit { limit }.into());
    }
    let step = Step::Payment {
        currency_id: p.currency.id,
        amount: wanted,
        max_total: limit,
        cheque: priced_cheque(calc, None, sent),
    };
    run(store, r, (Operation::Payment, step), Some(sent_cheque), p).await
}

/// Sets the accrual of the cheque, net of the points paid so far (the store knows them).
pub async fn set_bonus(store: &Store, r: Request<'_>, sent: &ChequeInput) -> Result<Outcome, StoreError> {
    let p = prepare(store, r.till.program_id).await?;
    let q = quote_of(r.till, cheque(sent, p.currency.scale)?);
    let (calc, sent_cheque) = pricing::quote_purchase(store, q, r.purchase, &p.currency, &p.settings).await?;
    let step = Step::Bonus {
        currency_id: p.currency.id,
        cheque: priced_cheque(calc, None, sent),
    };
    run(store, r, (Operation::Bonus, step), Some(sent_cheque), p).await
}

/// When points accrued now become usable and expire, by the program's settings.
fn lifetime(settings: &Settings, now: accrue_core::Millis) -> Lifetime {
    let day = 24 * 3600 * 1000;
    let activates_at = now + i64::from(settings.activation_delay_days) * day;
    Lifetime {
        activates_at: Some(activates_at),
        expires_at: settings.bonus_lifetime_days.map(|d| activates_at + i64::from(d) * day),
    }
}

/// Confirms the purchase: the payments are taken, the accrual posted. A cheque sent with
/// Confirm must total what was priced.
pub async fn confirm(store: &Store, r: Request<'_>, sent: Option<&ChequeInput>) -> Result<Outcome, StoreError> {
    let p = prepare(store, r.till.program_id).await?;
    let cheque_total = match sent {
        Some(sent) => {
            let q = quote_of(r.till, cheque(sent, p.currency.scale)?);
            let (calc, _) = pricing::quote_purchase(store, q, r.purchase, &p.currency, &p.settings).await?;
            Some(calc.total_amount)
        }
        None => None,
    };
    let life = lifetime(&p.settings, store.now());
    run(
        store,
        r,
        (Operation::Confirm, Step::Confirm { cheque_total, life }),
        None,
        p,
    )
    .await
}

/// Cancels an unconfirmed purchase: its payments are released.
pub async fn cancel(store: &Store, r: Request<'_>) -> Result<Outcome, StoreError> {
    let p = prepare(store, r.till.program_id).await?;
    run(store, r, (Operation::Cancel, Step::Cancel), None, p).await
}

/// Cancels one payment or accrual of an unconfirmed purchase.
pub async fn cancel_operation(store: &Store, r: Request<'_>, operation_id: &str) -> Result<Outcome, StoreError> {
    let p = prepare(store, r.till.program_id).await?;
    let step = Step::CancelOperation {
        operation_id: operation_id.to_string(),
    };
    run(store, r, (Operation::CancelOperation, step), None, p).await
}

fn refund_lines(given: &[RefundLineInput], scale: u32) -> Result<Vec<RefundLine>, StoreError> {
    given
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let part = match (l.quantity, l.amount) {
                (Some(quantity), _) => RefundPart::Quantity { quantity },
                (None, Some(_)) => RefundPart::Amount {
                    amount: minor(l.amount, scale, "amount")?,
                },
                (None, None) => RefundPart::Rest,
            };
            let position = pricing::position(l.position, i).unwrap_or(u32::MAX);
            Ok(RefundLine { position, part })
        })
        .collect()
}

/// The refund of a confirmed purchase, decided from what the purchase kept: the points
/// that paid for the lines come back, their share of the accrual is taken back.
fn plan_refund(p: &Purchase, lines: Vec<RefundLine>) -> Result<RefundPlan, Rejection> {
    let refused = |reason: String| Rejection::NotRefundable { reason };
    let Some(cheque) = &p.cheque else {
        return Err(refused("the purchase was never priced".into()));
    };
    let accrual = match &cheque.accrual {
        Some(a) => a.clone(),
        None => offers::accrual(&cheque.calculation, p.bonus_paid).map_err(|e| refused(e.to_string()))?,
    };
    let lines = if lines.is_empty() {
        let all = accrual.lines.iter().map(|l| RefundLine {
            position: l.position,
            part: RefundPart::Rest,
        });
        all.collect()
    } else {
        lines
    };
    let share = offers::refund_share(&accrual, &p.refunded_lines, &lines).map_err(|e| refused(e.to_string()))?;
    let accrual_back = if p.accrual > 0 { share.accrual_taken } else { 0 };
    Ok(RefundPlan { share, accrual_back })
}

/// Refunds lines of a confirmed purchase (all that is left when none are named).
pub async fn refund(store: &Store, r: Request<'_>, lines: &[RefundLineInput]) -> Result<Outcome, StoreError> {
    let p = prepare(store, r.till.program_id).await?;
    let lines = refund_lines(lines, p.currency.scale)?;
    let step = Step::Refund(Box::new(move |purchase| plan_refund(purchase, lines)));
    run(store, r, (Operation::Refund, step), None, p).await
}

/// The points the till's member can spend now, in the program's purchase currency.
pub async fn balance(store: &Store, till: Checkout) -> Result<(Currency, i64), StoreError> {
    let member_id = till.member_id.ok_or(Rejection::MemberUnknown)?;
    let currency = pricing::currency(store, till.program_id).await?;
    let balances = store.balances(till.program_id, member_id).await?;
    let available = balances
        .iter()
        .find(|b| b.currency_id == currency.id)
        .map_or(0, |b| b.available);
    Ok((currency, available))
}
