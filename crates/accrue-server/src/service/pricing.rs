//! Pricing: one quote function for a till's cheque, an admin's simulation and any later
//! face. It loads what the offers engine needs — the program's enabled offers, the
//! catalogue groups of the goods, what is known of the member and the device, the
//! program's local time — and asks the engine.

use accrue_core::money::to_minor;
use accrue_core::offers::{self, Calculation, Cheque, Context, Line, Offer, UsageSoFar};
use accrue_core::purchase::{Rejection, Settings};
use accrue_store::purchases::LastPricing;
use accrue_store::{Currency, Store, StoreError};
use rust_decimal::Decimal;

/// A cheque line as a face received it: decimals in the currency's units.
#[derive(Debug, Clone, Default)]
pub struct LineInput {
    /// Numbered in order when absent.
    pub position: Option<Decimal>,
    pub goods_id: Option<String>,
    pub barcode: Option<String>,
    /// One when absent.
    pub quantity: Option<Decimal>,
    pub price: Option<Decimal>,
    pub amount: Option<Decimal>,
    pub discount: Option<Decimal>,
    /// The line's name as the till printed it.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ChequeInput {
    pub lines: Vec<LineInput>,
    pub coupons: Vec<String>,
    /// The cheque's number as the till printed it.
    pub number: Option<String>,
}

/// What to price: a cheque of a program, for a member and at a device when known.
#[derive(Debug, Clone)]
pub struct Quote {
    pub program_id: i64,
    pub cheque: Cheque,
    pub member_id: Option<i64>,
    pub device_id: Option<i64>,
    /// Offers to try instead of the program's enabled ones.
    pub offers: Option<Vec<Offer>>,
}

fn invalid(reason: String) -> StoreError {
    Rejection::Invalid { reason }.into()
}

/// A non-negative amount in minor units of a currency with `scale` decimals.
pub fn minor(value: Option<Decimal>, scale: u32, field: &str) -> Result<i64, StoreError> {
    let d = value.unwrap_or_default();
    if d.is_zero() {
        return Ok(0);
    }
    to_minor(d, scale).map_err(|e| invalid(format!("{field}: {d}: {e}")))
}

/// A line's position as a number; `index` (from 0) when absent.
pub fn position(given: Option<Decimal>, index: usize) -> Result<u32, StoreError> {
    match given {
        Some(p) => u32::try_from(p.trunc().mantissa()).map_err(|_| invalid(format!("bad position {p}"))),
        None => Ok(index as u32 + 1),
    }
}

/// The cheque in minor units.
pub fn cheque(given: &ChequeInput, scale: u32) -> Result<Cheque, StoreError> {
    if given.lines.is_empty() || given.lines.len() > 1000 {
        return Err(invalid("a cheque needs 1 to 1000 lines".into()));
    }
    let mut lines = Vec::with_capacity(given.lines.len());
    for (i, l) in given.lines.iter().enumerate() {
        let position = position(l.position, i)?;
        let quantity = l.quantity.unwrap_or(Decimal::ONE);
        if quantity <= Decimal::ZERO {
            return Err(invalid(format!("line {position}: quantity must be positive")));
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
    Ok(Cheque {
        lines,
        coupons: given.coupons.clone(),
    })
}

/// The program's default currency: the one purchases are priced and paid in.
pub async fn currency(store: &Store, program_id: i64) -> Result<Currency, StoreError> {
    let currencies = store.currencies(program_id).await?;
    let found = currencies.into_iter().find(|c| c.is_default);
    found.ok_or(StoreError::NotFound("default currency"))
}

/// Prices a cheque in the program's local time: the calculation a till would get.
pub async fn quote(store: &Store, q: Quote) -> Result<Calculation, StoreError> {
    let currency = currency(store, q.program_id).await?;
    let settings = store.processing_settings(q.program_id).await?;
    quote_in(store, q, &currency, &settings).await
}

/// [`quote`] with the currency and settings already loaded.
pub(crate) async fn quote_in(
    store: &Store,
    q: Quote,
    currency: &Currency,
    settings: &Settings,
) -> Result<Calculation, StoreError> {
    let offers: std::sync::Arc<[Offer]> = match q.offers {
        Some(given) => given.into(),
        None => store.enabled_offers(q.program_id).await?,
    };
    let ids: Vec<String> = q.cheque.lines.iter().filter_map(|l| l.goods_id.clone()).collect();
    let catalogue = store.catalogue(q.program_id, &ids).await?;
    let utc_offset = settings.utc_offset_minutes;
    let (facts, usage) = match q.member_id {
        Some(id) => {
            let capped = offers.iter().any(|o| !o.caps.is_empty());
            let (facts, usage) = store
                .purchase_facts(q.program_id, id, currency.id, utc_offset, capped)
                .await?;
            (Some(facts), usage)
        }
        None => (None, UsageSoFar::default()),
    };
    let device = match q.device_id {
        Some(id) => Some(store.device(q.program_id, id).await?),
        None => None,
    };
    // Issued coupons count only for the member they were issued to.
    let coupons = match q.member_id {
        Some(id) => store.valid_coupons(q.program_id, id, &q.cheque.coupons).await?,
        None => Vec::new(),
    };
    let mut ctx = Context::new(store.now(), &catalogue, &usage);
    ctx.coupons = &coupons;
    ctx.utc_offset_minutes = utc_offset;
    ctx.scale = currency.scale;
    ctx.member = facts.as_ref();
    ctx.merchant = device.as_ref().map(|d| d.merchant_code.as_str());
    ctx.location = device.as_ref().and_then(|d| d.location.as_deref());
    Ok(offers::calculate(&offers, &q.cheque, &ctx))
}

/// The fingerprint of a cheque as sent: equal for the same lines and coupons.
pub(crate) fn fingerprint(cheque: &Cheque) -> String {
    accrue_core::idempotency::fingerprint(&serde_json::json!(cheque))
}

/// The pricing of a purchase's cheque for Payment, Bonus and Confirm, with the
/// fingerprint of the cheque it priced. Tills send those either the cheque they sent to
/// Calculate or the cheque as Calculate priced it (line amounts already discounted):
/// either way the purchase's latest pricing stands; another cheque is priced afresh.
/// The latest pricing this server made is looked at first, from memory; only when it
/// does not stand for the cheque (or another server priced the purchase) is the
/// database's read.
pub(crate) async fn quote_purchase(
    store: &Store,
    q: Quote,
    purchase_key: &str,
    currency: &Currency,
    settings: &Settings,
) -> Result<(Calculation, String), StoreError> {
    let sent = fingerprint(&q.cheque);
    let stands = |last: &LastPricing| stands_for(last, &q.cheque, &sent);
    let standing = match store.recent_pricing(q.program_id, purchase_key).filter(stands) {
        Some(last) => Some(last),
        None => store.last_pricing(q.program_id, purchase_key).await?.filter(stands),
    };
    if let Some(last) = standing {
        return Ok((last.calculation, last.cheque.unwrap_or(sent)));
    }
    Ok((quote_in(store, q, currency, settings).await?, sent))
}

/// Whether a pricing stands for the cheque sent (with fingerprint `sent`): it is the
/// same cheque, or the cheque as that pricing discounted it.
fn stands_for(last: &LastPricing, cheque: &Cheque, sent: &str) -> bool {
    let lines = &cheque.lines;
    let as_priced = last.calculation.lines.len() == lines.len()
        && last
            .calculation
            .lines
            .iter()
            .zip(lines)
            .all(|(p, s)| p.position == s.position && p.amount == s.amount);
    as_priced || last.cheque.as_deref() == Some(sent)
}
