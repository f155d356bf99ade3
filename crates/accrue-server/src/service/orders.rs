//! Orders from an app's checkout (IMSHOP): a cart priced with the points it may be paid
//! with and will earn, and a placed order run through the same purchase steps as a till's
//! cheque — pay with points, set the accrual, confirm — each step once per order id.

use super::pricing::ChequeInput;
use super::purchases::{self, Checkout, Request};
use accrue_core::offers::{self, Accrual, Calculation};
use accrue_core::purchase::Rejection;
use accrue_store::{Currency, Store, StoreError};
use rust_decimal::Decimal;
use serde_json::Value;

/// A cart's pricing: the engine's calculation and what the member would earn after
/// paying `spend` of it with points.
#[derive(Debug, Clone)]
pub struct CartQuote {
    pub calculation: Calculation,
    pub accrual: Option<Accrual>,
    pub currency: Currency,
}

/// Prices a cart; `spend` (the points the shopper chose, capped at what the cart allows)
/// lowers the accrual as a payment would.
pub async fn quote_cart(
    store: &Store,
    till: Checkout,
    cart: &ChequeInput,
    spend: Option<Decimal>,
) -> Result<CartQuote, StoreError> {
    let outcome = purchases::available(store, till, cart).await?;
    let calculation = outcome
        .done
        .calculation
        .ok_or_else(|| StoreError::Internal("no pricing".into()))?;
    let scale = outcome.currency.scale;
    let spend = match spend.filter(|s| *s > Decimal::ZERO) {
        Some(s) => super::pricing::minor(Some(s), scale, "authorizedBonuses")?,
        None => 0,
    };
    let accrual = offers::accrual(&calculation, spend.min(calculation.max_bonus_payment)).ok();
    Ok(CartQuote {
        calculation,
        accrual,
        currency: outcome.currency,
    })
}

/// An order as the face received it.
#[derive(Debug, Clone, Copy)]
pub struct Order<'a> {
    pub till: Checkout,
    /// The app's order id: each step's key derives from it, so a repeated order does
    /// nothing twice.
    pub id: &'a str,
    /// The face's key space.
    pub scope: &'a str,
    pub cart: &'a ChequeInput,
    /// Points the shopper chose to pay with.
    pub bonuses: Option<Decimal>,
    /// The order as received, for telling a repeat from a reused id.
    pub body: &'a Value,
}

/// What a placed order came to.
#[derive(Debug, Clone)]
pub struct Placed {
    pub calculation: Calculation,
    /// Points paid, in minor units.
    pub paid: i64,
    /// Points accrued, in minor units, and per line.
    pub accrued: i64,
    pub accrual: Option<Accrual>,
    pub currency: Currency,
}

fn step<'a>(order: Order<'a>, key: &'a str) -> Request<'a> {
    Request {
        till: order.till,
        purchase: order.id,
        scope: order.scope,
        key,
        body: order.body,
    }
}

/// Places an order: prices it by the program's offers, pays the chosen points, sets the
/// accrual and confirms, each step once per order id. A refused payment (too few points,
/// over the cart's limit) leaves nothing done.
pub async fn place(store: &Store, order: Order<'_>) -> Result<Placed, StoreError> {
    let keys = ["pay", "bonus", "confirm"].map(|step| format!("{}:{step}", order.id));
    let req = |key| step(order, key);
    let mut paid = 0;
    if order.bonuses.is_some_and(|b| b > Decimal::ZERO) {
        let outcome = purchases::pay(store, req(&keys[0]), order.cart, order.bonuses).await?;
        paid = outcome.done.amount;
    }
    let priced = purchases::set_bonus(store, req(&keys[1]), order.cart).await?;
    let confirmed = purchases::confirm(store, req(&keys[2]), None).await?;
    let calculation = priced.done.calculation.ok_or_else(|| {
        StoreError::from(Rejection::Invalid {
            reason: "the order was not priced".into(),
        })
    })?;
    Ok(Placed {
        calculation,
        paid,
        accrued: priced.done.amount,
        accrual: priced.done.accrual,
        currency: confirmed.currency,
    })
}
