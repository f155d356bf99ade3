//! From a till's request to the offers engine and back: the cheque in minor units, the
//! program's enabled offers, the catalogue groups of the goods on the cheque and what is
//! known of the member.

use super::request::{Num, ProcessingRequest};
use crate::AppState;
use accrue_core::money::to_minor;
use accrue_core::offers::{self, Calculation, Cheque, Context, Line, UsageSoFar};
use accrue_core::purchase::{Code, Refusal, Settings};
use accrue_store::devices::DeviceSession;
use accrue_store::{Currency, StoreError};
use rust_decimal::Decimal;

/// A failure to price: what the till is told, or our own.
pub enum Failure {
    Refused(Refusal),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::Refused(r) => Failure::Refused(r),
            e => Failure::Store(e),
        }
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Failure {
        Failure::Refused(r)
    }
}

fn parse(message: String) -> Failure {
    Failure::Refused(Refusal::new(Code::ParseError, message))
}

/// A non-negative amount in minor units of a currency with `scale` decimals.
pub fn minor(value: Option<Num>, scale: u32, field: &str) -> Result<i64, Failure> {
    let Num(d) = value.unwrap_or_default();
    if d.is_zero() {
        return Ok(0);
    }
    to_minor(d, scale).map_err(|e| parse(format!("{field}: {d}: {e}")))
}

pub async fn currency(state: &AppState, program_id: i64) -> Result<Currency, Failure> {
    let currencies = state.store.currencies(program_id).await?;
    let found = currencies.into_iter().find(|c| c.is_default);
    found.ok_or_else(|| Failure::Store(StoreError::NotFound("default currency")))
}

/// The cheque of a request in minor units; lines without a position are numbered in order.
pub fn cheque(request: &ProcessingRequest, scale: u32) -> Result<Cheque, Failure> {
    let Some(given) = &request.cheque else {
        return Err(parse("the request has no cheque".into()));
    };
    if given.lines.is_empty() || given.lines.len() > 1000 {
        return Err(parse("a cheque needs 1 to 1000 lines".into()));
    }
    let mut lines = Vec::with_capacity(given.lines.len());
    for (i, l) in given.lines.iter().enumerate() {
        let position = match l.position {
            Some(Num(p)) => u32::try_from(p.trunc().mantissa()).map_err(|_| parse(format!("bad position {p}")))?,
            None => i as u32 + 1,
        };
        let quantity = l.quantity.map_or(Decimal::ONE, |q| q.0);
        if quantity <= Decimal::ZERO {
            return Err(parse(format!("line {position}: quantity must be positive")));
        }
        lines.push(Line {
            position,
            goods_id: l.goods_id.clone().filter(|g| !g.is_empty()),
            barcode: l.barcode.clone().filter(|b| !b.is_empty()),
            quantity,
            price: minor(l.price, scale, "price")?,
            amount: minor(l.amount, scale, "amount")?,
            discount: minor(l.discount, scale, "discount")?,
        });
    }
    let coupons = request.coupons.iter().filter_map(|c| c.number.clone()).collect();
    Ok(Cheque { lines, coupons })
}

/// Prices the request's cheque for the session's device and member.
pub async fn price(
    state: &AppState,
    session: &DeviceSession,
    settings: &Settings,
    request: &ProcessingRequest,
) -> Result<(Calculation, Currency), Failure> {
    let currency = currency(state, session.program_id).await?;
    let cheque = cheque(request, currency.scale)?;
    let offers = state.store.enabled_offers(session.program_id).await?;
    let ids: Vec<String> = cheque.lines.iter().filter_map(|l| l.goods_id.clone()).collect();
    let catalogue = state.store.catalogue(session.program_id, &ids).await?;
    let utc_offset = settings.utc_offset_minutes;
    let (facts, usage) = match session.member_id {
        Some(id) => {
            let capped = offers.iter().any(|o| !o.caps.is_empty());
            let (facts, usage) = (state.store)
                .purchase_facts(session.program_id, id, currency.id, utc_offset, capped)
                .await?;
            (Some(facts), usage)
        }
        None => (None, UsageSoFar::default()),
    };
    let device = state.store.device(session.program_id, session.device_id).await?;
    let mut ctx = Context::new(state.store.now(), &catalogue, &usage);
    ctx.utc_offset_minutes = utc_offset;
    ctx.scale = currency.scale;
    ctx.member = facts.as_ref();
    ctx.merchant = Some(&device.merchant_code);
    ctx.location = device.location.as_deref();
    Ok((offers::calculate(&offers, &cheque, &ctx), currency))
}

/// The pricing of a purchase's cheque for Payment, Bonus and Confirm. Tills send those
/// the cheque as Calculate priced it (line amounts already discounted, as in the Loymax
/// document): when the lines match the purchase's latest pricing, that pricing stands;
/// otherwise the cheque is priced afresh.
pub async fn priced_for(
    state: &AppState,
    session: &DeviceSession,
    settings: &Settings,
    key: &str,
    request: &ProcessingRequest,
) -> Result<(Calculation, Currency), Failure> {
    let currency = currency(state, session.program_id).await?;
    let sent = cheque(request, currency.scale)?;
    if let Some(calc) = state.store.last_pricing(session.program_id, key).await? {
        let same = calc.lines.len() == sent.lines.len()
            && calc
                .lines
                .iter()
                .zip(&sent.lines)
                .all(|(p, s)| p.position == s.position && p.amount == s.amount);
        if same {
            return Ok((calc, currency));
        }
    }
    price(state, session, settings, request).await
}
