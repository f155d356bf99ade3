//! Loymax purchase processing for tills and web shops:
//! `Processing/Purchases/{purchaseId}/Calculate`, `…/Bonus/Available`, `…/Bonus/Payment`,
//! `…/Bonus`, `…/Confirm`, `…/Cancel`, `…/Operations/{operationId}/Cancel`, `…/Refund`
//! and `Processing/Balance`. The device's token says who calls (and for which member);
//! the offers engine prices the cheque; the store runs each operation once.

mod answer;
pub mod device;
mod pricing;
pub(crate) mod request;

use super::envelope::{Answer, Version};
use super::user::{amount, quantity};
use crate::AppState;
use accrue_core::idempotency::fingerprint;
use accrue_core::offers::{self, Accrual, Calculation, RefundLine, RefundPart};
use accrue_core::purchase::{Code, Goods, Operation, PricedCheque, Refusal, Settings};
use accrue_store::ledger::Lifetime;
use accrue_store::purchases::{Call, Done, Purchase, RefundPlan, Step};
use accrue_store::{Currency, StoreError};
use answer::{item, refused};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use device::Device;
use pricing::{minor, price, priced_for, Failure};
use request::{Body, ProcessingRequest};
use serde_json::{json, Value};

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

/// What every handler has: the version asked, the device, its program's processing
/// settings, the request.
struct Ctx {
    v: Version,
    device: Device,
    settings: Settings,
    request: ProcessingRequest,
    raw: Value,
}

impl Ctx {
    fn operation_id(&self) -> Option<&str> {
        self.request.operation_id.as_deref().filter(|o| !o.trim().is_empty())
    }

    fn refused(&self, r: &Refusal) -> Answer {
        refused(self.v, self.operation_id(), Some(self.device.0.device_id), r)
    }

    fn failed(&self, failure: Failure) -> Answer {
        match failure {
            Failure::Refused(r) => self.refused(&r),
            Failure::Store(e) => Answer::fail(self.v, &e.to_string()),
        }
    }

    fn ok(&self) -> Value {
        item(self.operation_id(), Some(self.device.0.device_id), Code::Ok, None)
    }

    /// Runs an operation through the store once per operation id.
    async fn run(&self, state: &AppState, key: &str, operation: Operation, step: Step, render: Render) -> Answer {
        let Some(operation_id) = self.operation_id() else {
            return self.refused(&Refusal::new(Code::ParseError, "Не указан operationId."));
        };
        let fingerprint = fingerprint(&json!({"purchase": key, "operation": operation.as_str(), "request": self.raw}));
        let call = Call {
            program_id: self.device.0.program_id,
            purchase_key: key.to_string(),
            operation_id: operation_id.to_string(),
            operation,
            session: self.device.0,
            fingerprint,
        };
        let base = self.ok();
        let render: accrue_store::purchases::Render = Box::new(move |done| {
            let mut item = base;
            render(done, &mut item);
            item
        });
        let auto_cancel = i64::from(self.settings.auto_cancel_minutes) * 60_000;
        match state.store.process_purchase(call, step, auto_cancel, render).await {
            Ok((item, _)) => answer::answer(self.v, item),
            Err(e) => self.failed(e.into()),
        }
    }
}

type Render = Box<dyn FnOnce(&Done, &mut Value) + Send>;

impl FromRequest<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Ctx, Response> {
        let (mut parts, body) = req.into_parts();
        let v = parts.extensions.get::<Version>().copied().unwrap_or(Version::V1_2);
        let device = Device::from_request_parts(&mut parts, state).await?;
        let settings = match state.store.processing_settings(device.0.program_id).await {
            Ok(settings) => settings,
            Err(e) => return Err(Answer::fail(v, &e.to_string()).into_response()),
        };
        let Body(request, raw) = Body::from_request(Request::from_parts(parts, body), state).await?;
        Ok(Ctx {
            v,
            device,
            settings,
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
                "quantity": quantity(l.quantity),
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

/// What the purchase keeps of its pricing, for Confirm, Refund and the member's history.
fn priced_cheque(calc: &Calculation, accrual: Option<Accrual>, request: &ProcessingRequest) -> PricedCheque {
    let sent = request.cheque.as_ref().map_or(&[][..], |c| &c.lines[..]);
    let goods = calc.lines.iter().zip(sent).map(|(l, s)| Goods {
        position: l.position,
        goods_id: s.goods_id.clone().filter(|g| !g.is_empty()),
        barcode: s.barcode.clone().filter(|b| !b.is_empty()),
    });
    PricedCheque {
        calculation: calc.clone(),
        accrual,
        goods: goods.collect(),
    }
}

async fn calculate(State(state): State<AppState>, Path(key): Path<String>, c: Ctx) -> Answer {
    let (calc, currency) = match price(&state, &c.device.0, &c.settings, &c.request).await {
        Ok(priced) => priced,
        Err(f) => return c.failed(f),
    };
    let step = Step::Calculate { priced: calc.clone() };
    let render: Render = Box::new(move |_, item| {
        item["availableAmount"] = amount(calc.max_bonus_payment, &currency);
        item["availableBonusAmount"] = amount(calc.max_bonus_payment, &currency);
        item["cheque"] = cheque_json(&calc, &currency, None, None);
        messages(&calc, item);
    });
    c.run(&state, &key, Operation::Calculate, step, render).await
}

/// `Bonus/Available`: the most bonuses this cheque may be paid with. Writes nothing.
async fn available(State(state): State<AppState>, Path(_key): Path<String>, c: Ctx) -> Answer {
    match price(&state, &c.device.0, &c.settings, &c.request).await {
        Ok((calc, currency)) => {
            let mut item = c.ok();
            item["amount"] = amount(calc.max_bonus_payment, &currency);
            item["bonusAmount"] = amount(calc.max_bonus_payment, &currency);
            item["cheque"] = cheque_json(&calc, &currency, None, None);
            answer::answer(c.v, item)
        }
        Err(f) => c.failed(f),
    }
}

async fn payment(State(state): State<AppState>, Path(key): Path<String>, c: Ctx) -> Answer {
    let priced = async {
        let (calc, currency) = priced_for(&state, &c.device.0, &c.settings, &key, &c.request).await?;
        let wanted = minor(c.request.amount, currency.scale, "amount")?;
        if wanted == 0 {
            return Err(Failure::Refused(Refusal::new(
                Code::ParseError,
                "Сумма оплаты должна быть больше нуля.",
            )));
        }
        // Over the cheque's limit is LargePaymentAmount; over the member's balance the
        // ledger answers NotEnoughMoney.
        if wanted > calc.lines.iter().map(|l| l.max_bonus_payment).sum::<i64>() {
            let message = "Сумма оплаты бонусами больше доступной.";
            return Err(Failure::Refused(Refusal::new(Code::LargePaymentAmount, message)));
        }
        Ok((calc, currency, wanted))
    };
    let (calc, currency, wanted) = match priced.await {
        Ok(p) => p,
        Err(f) => return c.failed(f),
    };
    let limits: Vec<i64> = calc.lines.iter().map(|l| l.max_bonus_payment).collect();
    let step = Step::Payment {
        currency_id: currency.id,
        amount: wanted,
        max_total: limits.iter().sum(),
        cheque: priced_cheque(&calc, None, &c.request),
    };
    let render: Render = Box::new(move |done, item| {
        item["amount"] = amount(done.amount, &currency);
        item["bonusAmount"] = amount(done.amount, &currency);
        let pay = offers::distribute(done.amount, &limits);
        item["cheque"] = cheque_json(&calc, &currency, Some(&pay), None);
        messages(&calc, item);
    });
    c.run(&state, &key, Operation::Payment, step, render).await
}

async fn bonus(State(state): State<AppState>, Path(key): Path<String>, c: Ctx) -> Answer {
    let priced = async {
        let (calc, currency) = priced_for(&state, &c.device.0, &c.settings, &key, &c.request).await?;
        let paid = match state.store.purchase(c.device.0.program_id, &key).await {
            Ok(p) => p.bonus_paid,
            Err(StoreError::NotFound(_)) => 0,
            Err(e) => return Err(Failure::Store(e)),
        };
        let accrual = offers::accrual(&calc, paid)
            .map_err(|e| Refusal::new(Code::DifferentCheque, format!("Чек не совпадает с оплаченным: {e}.")))?;
        Ok((calc, currency, accrual))
    };
    let (calc, currency, accrual) = match priced.await {
        Ok(p) => p,
        Err(f) => return c.failed(f),
    };
    let step = Step::Bonus {
        currency_id: currency.id,
        accrual: accrual.total,
        cheque: priced_cheque(&calc, Some(accrual.clone()), &c.request),
    };
    let render: Render = Box::new(move |_, item| {
        let pay: Vec<i64> = accrual.lines.iter().map(|l| l.bonus_paid).collect();
        let cashback: Vec<i64> = accrual.lines.iter().map(|l| l.accrued).collect();
        item["cheque"] = cheque_json(&calc, &currency, Some(&pay), Some(&cashback));
        messages(&calc, item);
    });
    c.run(&state, &key, Operation::Bonus, step, render).await
}

async fn confirm(State(state): State<AppState>, Path(key): Path<String>, c: Ctx) -> Answer {
    let prepared = async {
        let cheque_total = match c.request.cheque {
            Some(_) => Some(
                priced_for(&state, &c.device.0, &c.settings, &key, &c.request)
                    .await?
                    .0
                    .total_amount,
            ),
            None => None,
        };
        let day = 24 * 3600 * 1000;
        let activates_at = state.store.now() + i64::from(c.settings.activation_delay_days) * day;
        let life = Lifetime {
            activates_at: Some(activates_at),
            expires_at: c
                .settings
                .bonus_lifetime_days
                .map(|d| activates_at + i64::from(d) * day),
        };
        Ok::<_, Failure>(Step::Confirm { cheque_total, life })
    };
    match prepared.await {
        Ok(step) => c.run(&state, &key, Operation::Confirm, step, Box::new(|_, _| {})).await,
        Err(f) => c.failed(f),
    }
}

async fn cancel(State(state): State<AppState>, Path(key): Path<String>, c: Ctx) -> Answer {
    c.run(&state, &key, Operation::Cancel, Step::Cancel, Box::new(|_, _| {}))
        .await
}

async fn cancel_operation(
    State(state): State<AppState>,
    Path((key, operation_id)): Path<(String, String)>,
    c: Ctx,
) -> Answer {
    let step = Step::CancelOperation { operation_id };
    c.run(&state, &key, Operation::CancelOperation, step, Box::new(|_, _| {}))
        .await
}

/// The lines a refund names: by quantity, else by amount; no cheque refunds what is left.
fn refund_lines(request: &ProcessingRequest, scale: u32) -> Result<Vec<RefundLine>, Failure> {
    let Some(cheque) = &request.cheque else {
        return Ok(Vec::new());
    };
    cheque
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let position = match l.position {
                Some(p) => u32::try_from(p.0.trunc().mantissa()).unwrap_or(u32::MAX),
                None => i as u32 + 1,
            };
            let part = match (l.quantity, l.amount) {
                (Some(q), _) => RefundPart::Quantity { quantity: q.0 },
                (None, Some(_)) => RefundPart::Amount {
                    amount: minor(l.amount, scale, "amount")?,
                },
                (None, None) => RefundPart::Rest,
            };
            Ok(RefundLine { position, part })
        })
        .collect()
}

/// The refund of a confirmed purchase, decided from what the purchase kept.
fn plan_refund(p: &Purchase, lines: Vec<RefundLine>) -> Result<RefundPlan, Refusal> {
    let bad = |m: String| Refusal::new(Code::BusinessError, m);
    let Some(cheque) = &p.cheque else {
        return Err(bad("the purchase was never priced".into()));
    };
    let accrual = match &cheque.accrual {
        Some(a) => a.clone(),
        None => offers::accrual(&cheque.calculation, p.bonus_paid).map_err(|e| bad(e.to_string()))?,
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
    let share = offers::refund_share(&accrual, &p.refunded_lines, &lines).map_err(|e| bad(e.to_string()))?;
    let accrual_back = if p.accrual > 0 { share.accrual_taken } else { 0 };
    Ok(RefundPlan { share, accrual_back })
}

async fn refund(State(state): State<AppState>, Path(key): Path<String>, c: Ctx) -> Answer {
    let prepared = async {
        let currency = pricing::currency(&state, c.device.0.program_id).await?;
        Ok::<_, Failure>((refund_lines(&c.request, currency.scale)?, currency))
    };
    let (lines, currency) = match prepared.await {
        Ok(p) => p,
        Err(f) => return c.failed(f),
    };
    let step = Step::Refund(Box::new(move |p| plan_refund(p, lines)));
    let render: Render = Box::new(move |done, item| {
        item["amount"] = amount(done.amount, &currency);
        item["bonusAmount"] = amount(done.amount, &currency);
    });
    c.run(&state, &key, Operation::Refund, step, render).await
}

/// `Processing/Balance`: the identified member's balance.
async fn balance(State(state): State<AppState>, c: Ctx) -> Answer {
    let Some(member_id) = c.device.0.member_id else {
        return c.refused(&Refusal::new(Code::CardNotFound, "Покупатель не определён."));
    };
    let found = async {
        let currency = pricing::currency(&state, c.device.0.program_id).await?;
        let balances = state.store.balances(c.device.0.program_id, member_id).await?;
        let available = balances
            .iter()
            .find(|b| b.currency_id == currency.id)
            .map_or(0, |b| b.available);
        Ok::<_, Failure>((currency, available))
    };
    match found.await {
        Ok((currency, available)) => {
            let mut item = c.ok();
            item["amount"] = amount(available, &currency);
            item["currency"] = json!(currency.code);
            answer::answer(c.v, item)
        }
        Err(f) => c.failed(f),
    }
}
