//! Orders from an app's checkout (IMSHOP): a cart priced with the points it may be paid
//! with and will earn, and a placed order run through the same purchase steps as a till's
//! cheque — pay with points, set the accrual, confirm — each step once per order id.

use super::pricing::ChequeInput;
use super::purchases::{self, Checkout, Request};
use accrue_core::offers::{self, Accrual, Calculation};
use accrue_core::purchase::Rejection;
use accrue_store::imshop::CartLine;
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
/// lowers the accrual as a payment would. The lines with a price are kept for the app
/// install `install`: its order carries no prices it wants used, and is priced from them.
pub async fn quote_cart(
    store: &Store,
    till: Checkout,
    (cart, install): (&ChequeInput, Option<&str>),
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
    if let Some(install) = install.filter(|i| !i.trim().is_empty()) {
        let kept = cart.lines.iter().filter_map(|l| {
            Some(CartLine {
                goods: l.goods_id.clone()?,
                price: l.price?,
                quantity: l.quantity.unwrap_or(Decimal::ONE),
            })
        });
        store
            .remember_cart(till.program_id, install.to_string(), kept.collect())
            .await?;
    }
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
    /// Lines without a price take the one of the install's last priced cart.
    pub cart: &'a ChequeInput,
    /// The app install it was ordered from.
    pub install: Option<&'a str>,
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

/// What placing an order did.
#[derive(Debug, Clone)]
pub enum Placing {
    Placed(Box<Placed>),
    /// The line (from 0) has no price of its own or in the install's last cart: nothing
    /// was done.
    Unpriced {
        line: usize,
    },
}

/// The order's cart with every line priced: by the install's last priced cart, else by
/// the line itself; the first line priced by neither otherwise.
async fn priced_cart(store: &Store, order: &Order<'_>) -> Result<Result<ChequeInput, usize>, StoreError> {
    let remembered = match order.install {
        Some(install) => store.remembered_cart(order.till.program_id, install).await?,
        None => Vec::new(),
    };
    let mut cart = order.cart.clone();
    for (i, line) in cart.lines.iter_mut().enumerate() {
        let kept = remembered.iter().find(|l| Some(&l.goods) == line.goods_id.as_ref());
        let Some(price) = kept.map(|l| l.price).or(line.price) else {
            return Ok(Err(i));
        };
        line.price = Some(price);
        line.amount = Some(price * line.quantity.unwrap_or(Decimal::ONE));
    }
    Ok(Ok(cart))
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
pub async fn place(store: &Store, order: Order<'_>) -> Result<Placing, StoreError> {
    let cart = match priced_cart(store, &order).await? {
        Ok(cart) => cart,
        Err(line) => return Ok(Placing::Unpriced { line }),
    };
    let order = Order { cart: &cart, ..order };
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
    Ok(Placing::Placed(Box::new(Placed {
        calculation,
        paid,
        accrued: priced.done.amount,
        accrual: priced.done.accrual,
        currency: confirmed.currency,
    })))
}
