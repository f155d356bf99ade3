//! Loymax purchase processing for tills and web shops:
//! `Processing/Purchases/{purchaseId}/Calculate`, `…/Bonus/Available`, `…/Bonus/Payment`,
//! `…/Bonus`, `…/Confirm`, `…/Cancel`, `…/Operations/{operationId}/Cancel`, `…/Refund`
//! and `Processing/Balance`. The device's token says who calls (and for which member);
//! the offers engine prices the cheque; the store runs each operation once.

mod answer;
mod codes;
pub mod device;
pub(crate) mod request;

use super::envelope::{Answer, Version};
use crate::service::pricing::ChequeInput;
use crate::service::purchases::{self, Checkout, Outcome, Request as Operation};
use crate::AppState;
use accrue_core::offers::Calculation;
use accrue_store::{Currency, StoreError};
use answer::{amount, item, number, refused};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::response::Response;
use axum::routing::post;
use codes::{Code, Refusal};
use device::Device;
use request::{Body, ProcessingRequest};
use serde_json::{json, Value};
use std::borrow::Cow;

/// The key space of tills' operation ids among the replays of all faces.
const SCOPE: &str = "loymax";

pub fn routes() -> super::Routes {
    let purchase = "processing/purchases/{purchase}";
    vec![
        (format!("{purchase}/calculate"), post(calculate)),
        (format!("{purchase}/bonus/available"), post(available)),
        (format!("{purchase}/bonus/payment"), post(payment)),
        (format!("{purchase}/bonus"), post(bonus)),
        (format!("{purchase}/confirm"), post(confirm)),
        (format!("{purchase}/cancel"), post(cancel)),
        (
            format!("{purchase}/operations/{{operation}}/cancel"),
            post(cancel_operation),
        ),
        (format!("{purchase}/refund"), post(refund)),
        ("processing/balance".to_string(), post(balance)),
    ]
}

/// What every handler has: the state, the version asked, the device, the request.
struct Ctx {
    state: AppState,
    v: Version,
    device: Device,
    request: ProcessingRequest,
    raw: Value,
}

impl Ctx {
    fn operation_id(&self) -> Option<&str> {
        self.request.operation_id.as_deref().filter(|o| !o.trim().is_empty())
    }

    fn refused(&self, r: &Refusal) -> Answer {
        refused(self.v, self.operation_id(), self.device_logical_id(), r)
    }

    fn device_logical_id(&self) -> Option<&str> {
        self.request.device_logical_id.as_deref()
    }

    /// A service failure: a rejection in the till's codes, or our own failure.
    fn failed(&self, e: StoreError) -> Answer {
        match e {
            StoreError::Rejected(r) => self.refused(&Refusal::from(&r)),
            StoreError::IdempotencyMismatch => self.refused(&codes::reused_key()),
            e => Answer::fail(self.v, &e.to_string()),
        }
    }

    fn ok(&self) -> Value {
        item(self.operation_id(), self.device_logical_id(), Code::Ok, None)
    }

    /// The operation on purchase `key` under the till's operation id.
    fn operation<'a>(&'a self, key: &'a str) -> Result<Operation<'a>, Answer> {
        let Some(operation_id) = self.operation_id() else {
            return Err(self.refused(&Refusal::new(Code::ParseError, "Не указан operationId.")));
        };
        Ok(Operation {
            till: Checkout::from(&self.device.0),
            purchase: key,
            scope: SCOPE,
            key: operation_id,
            body: &self.raw,
        })
    }

    /// An operation that prices the cheque: the cheque is checked first, as the pricing
    /// runs before the operation id is needed.
    fn priced_operation<'a>(&'a self, key: &'a str) -> Result<(Operation<'a>, ChequeInput), Answer> {
        let cheque = self.cheque()?;
        Ok((self.operation(key)?, cheque))
    }

    fn cheque(&self) -> Result<ChequeInput, Answer> {
        let missing = || self.refused(&Refusal::new(Code::ParseError, "the request has no cheque"));
        self.request.cheque().ok_or_else(missing)
    }

    /// The answer of an operation, its own fields set by `render`.
    fn answer(&self, outcome: Result<Outcome, StoreError>, render: impl FnOnce(&Outcome, &mut Value)) -> Answer {
        match outcome {
            Ok(outcome) => {
                let mut item = self.ok();
                render(&outcome, &mut item);
                answer::answer(self.v, item)
            }
            Err(e) => self.failed(e),
        }
    }
}

impl FromRequest<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Ctx, Response> {
        let (mut parts, body) = req.into_parts();
        let v = parts.extensions.get::<Version>().copied().unwrap_or(Version::V1_2);
        let device = Device::from_request_parts(&mut parts, state).await?;
        let Body(request, raw) = Body::from_request(Request::from_parts(parts, body), state).await?;
        Ok(Ctx {
            state: state.clone(),
            v,
            device,
            request,
            raw,
        })
    }
}

/// The cheque as the till sees it: totals and lines, with what was paid with bonuses
/// (`payAmount`) and accrued (`cashback`) per line when known.
fn cheque_json(calc: &Calculation, c: &Currency, pay: Option<&[i64]>, cashback: Option<&[i64]>) -> Value {
    let lines: Vec<Value> = calc
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "payAmount": pay.map(|p| amount(p[i], c)),
                "message": null,
                "position": l.position,
                "amount": amount(l.amount, c),
                "goodsId": l.goods_id,
                "barcode": l.barcode,
                "quantity": number(l.quantity),
                "cashback": cashback.map(|b| amount(b[i], c)),
                "discount": amount(l.discount, c),
            })
        })
        .collect();
    json!({
        "totalAmount": amount(calc.total_amount, c),
        "totalDiscount": amount(calc.total_discount, c),
        "totalCashback": amount(cashback.map_or(0, |b| b.iter().sum()), c),
        "lines": lines,
    })
}

fn messages(calc: &Calculation, item: &mut Value) {
    let join = |m: &[String]| (!m.is_empty()).then(|| m.join("\n"));
    item["chequeMessage"] = json!(join(&calc.cheque_messages));
    item["cashierMessage"] = json!(join(&calc.cashier_messages));
}

/// The calculation an outcome carries (every pricing operation keeps one).
fn calculation(o: &Outcome) -> Cow<'_, Calculation> {
    o.done.calculation.as_ref().map_or_else(Cow::default, Cow::Borrowed)
}

/// The cheque and messages of a pricing, with what the points paid and accrued per line.
fn priced(o: &Outcome, item: &mut Value, pay: Option<&[i64]>, cashback: Option<&[i64]>) {
    let calc = calculation(o);
    item["cheque"] = cheque_json(&calc, &o.currency, pay, cashback);
    messages(&calc, item);
}

/// What the cheque allows to be paid with points, in each of `fields`.
fn payable(o: &Outcome, item: &mut Value, fields: [&str; 2]) {
    let most = amount(calculation(o).max_bonus_payment, &o.currency);
    for field in fields {
        item[field] = most.clone();
    }
}

/// Handlers answer early (`Err`) when the request lacks what the operation needs.
type Handled = Result<Answer, Answer>;

async fn calculate(Path(key): Path<String>, c: Ctx) -> Handled {
    let (op, cheque) = c.priced_operation(&key)?;
    let outcome = purchases::calculate(&c.state.store, op, &cheque).await;
    Ok(c.answer(outcome, |o, item| {
        payable(o, item, ["availableAmount", "availableBonusAmount"]);
        priced(o, item, None, None);
    }))
}

/// `Bonus/Available`: the most points this cheque may be paid with. Writes nothing.
async fn available(Path(_key): Path<String>, c: Ctx) -> Handled {
    let cheque = c.cheque()?;
    let outcome = purchases::available(&c.state.store, Checkout::from(&c.device.0), &cheque).await;
    Ok(c.answer(outcome, |o, item| {
        payable(o, item, ["amount", "bonusAmount"]);
        item["cheque"] = cheque_json(&calculation(o), &o.currency, None, None);
    }))
}

async fn payment(Path(key): Path<String>, c: Ctx) -> Handled {
    let (op, cheque) = c.priced_operation(&key)?;
    let wanted = c.request.amount.map(|n| n.0);
    let outcome = purchases::pay(&c.state.store, op, &cheque, wanted).await;
    Ok(c.answer(outcome, |o, item| {
        item["transactionId"] = json!(o.done.transaction_id);
        item["amount"] = amount(o.done.amount, &o.currency);
        item["bonusAmount"] = amount(o.done.amount, &o.currency);
        priced(o, item, Some(&o.paid_by_line()), None);
    }))
}

async fn bonus(Path(key): Path<String>, c: Ctx) -> Handled {
    let (op, cheque) = c.priced_operation(&key)?;
    let outcome = purchases::set_bonus(&c.state.store, op, &cheque).await;
    Ok(c.answer(outcome, |o, item| {
        let lines = o.done.accrual.as_ref().map_or(&[][..], |a| &a.lines[..]);
        let pay: Vec<i64> = lines.iter().map(|l| l.bonus_paid).collect();
        let cashback: Vec<i64> = lines.iter().map(|l| l.accrued).collect();
        item["transactionId"] = json!(o.done.transaction_id);
        priced(o, item, Some(&pay), Some(&cashback));
    }))
}

async fn confirm(Path(key): Path<String>, c: Ctx) -> Handled {
    let op = c.operation(&key)?;
    let cheque = c.request.cheque();
    let outcome = purchases::confirm(&c.state.store, op, cheque.as_ref()).await;
    Ok(c.answer(outcome, |_, _| {}))
}

async fn cancel(Path(key): Path<String>, c: Ctx) -> Handled {
    let op = c.operation(&key)?;
    let outcome = purchases::cancel(&c.state.store, op).await;
    Ok(c.answer(outcome, |_, _| {}))
}

async fn cancel_operation(Path((key, operation_id)): Path<(String, String)>, c: Ctx) -> Handled {
    let op = c.operation(&key)?;
    let outcome = purchases::cancel_operation(&c.state.store, op, &operation_id).await;
    Ok(c.answer(outcome, |_, _| {}))
}

async fn refund(Path(key): Path<String>, c: Ctx) -> Handled {
    let op = c.operation(&key)?;
    let outcome = purchases::refund(&c.state.store, op, &c.request.refund_lines()).await;
    Ok(c.answer(outcome, |o, item| {
        item["amount"] = amount(o.done.amount, &o.currency);
        item["bonusAmount"] = amount(o.done.amount, &o.currency);
    }))
}

/// `Processing/Balance`: the identified member's balance.
async fn balance(c: Ctx) -> Answer {
    match purchases::balance(&c.state.store, Checkout::from(&c.device.0)).await {
        Ok((currency, available)) => {
            let mut item = c.ok();
            item["amount"] = amount(available, &currency);
            item["currency"] = json!(currency.code);
            answer::answer(c.v, item)
        }
        Err(e) => c.failed(e),
    }
}
