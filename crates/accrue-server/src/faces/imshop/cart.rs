//! Cart calculation (priced by the program's offers, with the points it may be paid with
//! and will earn) and order placement (the same purchase steps a till runs). Items are
//! read tolerantly: numbers or numeric strings, unknown fields ignored.

use super::{decimal, failed, number, Caller, Webhook};
use crate::service::orders::{self, CartQuote, Order, Placing};
use crate::service::pricing::{ChequeInput, LineInput};
use crate::service::purchases::Checkout;
use crate::service::referral::member_by_user_id;
use crate::AppState;
use accrue_core::purchase::Rejection;
use accrue_store::StoreError;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

/// The key space of IMSHOP orders among purchase keys.
const SCOPE: &str = "imshop";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    private_id: Option<Value>,
    #[serde(default)]
    configuration_id: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    price: Option<Value>,
    #[serde(default)]
    quantity: Option<Value>,
    #[serde(default)]
    discount: Option<Value>,
    #[serde(default)]
    selected: Option<bool>,
}

/// A number or a numeric string.
fn amount(value: &Option<Value>) -> Option<Decimal> {
    match value {
        Some(Value::Number(n)) => n.to_string().parse().ok(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: &Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

impl Item {
    /// The goods id the catalogue knows: the offer id (`privateId`, `configurationId`),
    /// else the product id.
    fn goods(&self) -> Option<String> {
        text(&self.private_id)
            .or_else(|| text(&self.configuration_id))
            .or_else(|| text(&self.id))
    }

    fn line(&self, price: Option<Decimal>) -> LineInput {
        let quantity = amount(&self.quantity).unwrap_or(Decimal::ONE);
        LineInput {
            goods_id: self.goods(),
            quantity: Some(quantity),
            price,
            amount: price.map(|p| p * quantity),
            discount: amount(&self.discount),
            name: self.name.clone(),
            ..LineInput::default()
        }
    }

    /// The item as sent, with its pricing.
    fn priced(&self, line: Option<(&accrue_core::offers::LineResult, i64)>, scale: u32) -> Value {
        let mut item = json!({
            "id": self.id, "privateId": self.private_id, "configurationId": self.configuration_id,
            "name": self.name, "price": amount(&self.price).map(decimal), "quantity": amount(&self.quantity).map(decimal).unwrap_or(json!(1)),
        });
        let fields = item.as_object_mut().expect("an object");
        fields.retain(|_, v| !v.is_null());
        let (discount, subtotal, can_spend, will_earn) = match line {
            Some((l, earn)) => (l.discount, Some(l.amount), l.max_bonus_payment, earn),
            None => (0, None, 0, 0),
        };
        fields.insert("discount".into(), number(discount, scale));
        if let Some(subtotal) = subtotal {
            fields.insert("subtotal".into(), number(subtotal, scale));
        }
        fields.insert(
            "bonuses".into(),
            json!({"canSpend": number(can_spend, scale), "willEarn": number(will_earn, scale)}),
        );
        item
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    external_user_id: Option<Value>,
    #[serde(default)]
    promocode: Option<String>,
    #[serde(default)]
    authorized_bonuses: Option<Value>,
    #[serde(default)]
    install_id: Option<String>,
}

/// The till of the program's IMSHOP orders, and the member the app's user id names (an
/// unknown one prices as a guest).
async fn checkout(state: &AppState, caller: &Caller, user: &Option<Value>) -> Result<Checkout, StoreError> {
    let member_id = match text(user) {
        Some(user) => match member_by_user_id(&state.store, caller.program.id, &user).await {
            Ok(member) => Some(member.id),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(Checkout {
        program_id: caller.program.id,
        device_id: caller.settings.device_id,
        member_id,
    })
}

fn cheque(lines: Vec<LineInput>, promocode: &Option<String>) -> ChequeInput {
    ChequeInput {
        lines,
        coupons: promocode.iter().filter(|p| !p.trim().is_empty()).cloned().collect(),
        number: None,
    }
}

/// The cart with per-item and total prices, discounts, and points that may be spent
/// (`canSpend`) and will be earned (`willEarn`, net of `authorizedBonuses`).
pub async fn calculate(State(state): State<AppState>, call: Webhook<Cart>) -> Response {
    let (caller, cart) = (call.caller, call.body);
    let till = match checkout(&state, &caller, &cart.external_user_id).await {
        Ok(till) => till,
        Err(e) => return failed(e),
    };
    let chosen: Vec<&Item> = cart.items.iter().filter(|i| i.selected != Some(false)).collect();
    let lines = chosen.iter().map(|i| i.line(amount(&i.price))).collect();
    let priced = (&cheque(lines, &cart.promocode), cart.install_id.as_deref());
    let quote = match orders::quote_cart(&state.store, till, priced, amount(&cart.authorized_bonuses)).await {
        Ok(quote) => quote,
        Err(e) => return failed(e),
    };
    Json(render_cart(&cart, &quote)).into_response()
}

fn render_cart(cart: &Cart, quote: &CartQuote) -> Value {
    let scale = quote.currency.scale;
    let calc = &quote.calculation;
    let earned = |i: usize| {
        quote
            .accrual
            .as_ref()
            .and_then(|a| a.lines.get(i))
            .map_or(0, |l| l.accrued)
    };
    let mut priced = calc.lines.iter().enumerate();
    let items: Vec<Value> = cart
        .items
        .iter()
        .map(|item| match item.selected {
            Some(false) => item.priced(None, scale),
            _ => {
                let line = priced.next().map(|(i, l)| (l, earned(i)));
                item.priced(line, scale)
            }
        })
        .collect();
    let applied = cart
        .promocode
        .clone()
        .filter(|p| calc.coupons.iter().any(|c| c.eq_ignore_ascii_case(p)));
    json!({
        "totalPrice": number(calc.total_amount, scale),
        "discount": number(calc.total_discount, scale),
        "appliedPromocode": applied,
        "items": items,
        "bonuses": {
            "canSpend": number(calc.max_bonus_payment, scale),
            "willEarn": number(quote.accrual.as_ref().map_or(0, |a| a.total), scale),
        },
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Orders {
    #[serde(default)]
    install_id: Option<String>,
    #[serde(default)]
    orders: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderIn {
    uuid: String,
    #[serde(default)]
    external_user_id: Option<Value>,
    #[serde(default)]
    authorized_bonuses: Option<Value>,
    #[serde(default)]
    promocode: Option<String>,
    #[serde(default)]
    items: Vec<Item>,
}

/// A refused order: `success: false` with a code and a message for the user.
fn refused(uuid: &str, code: &str, message: String) -> Value {
    json!({"success": false, "uuid": uuid, "errorCode": code, "errorMessage": message})
}

/// Places each order of the request through the purchase steps; each is answered on its
/// own (`success`, or `errorCode` and `errorMessage`), echoing its `uuid`.
pub async fn place(State(state): State<AppState>, call: Webhook<Orders>) -> Response {
    let (caller, request) = (call.caller, call.body);
    let mut answers = Vec::new();
    for raw in &request.orders {
        match place_one(&state, &caller, raw, request.install_id.as_deref()).await {
            Ok(answer) => answers.push(answer),
            Err(e) => return failed(e),
        }
    }
    Json(json!({ "orders": answers })).into_response()
}

async fn place_one(state: &AppState, caller: &Caller, raw: &Value, install: Option<&str>) -> Result<Value, StoreError> {
    let order: OrderIn = match serde_json::from_value(raw.clone()) {
        Ok(order) => order,
        Err(e) => {
            let uuid = raw.get("uuid").and_then(Value::as_str).unwrap_or_default();
            return Ok(refused(uuid, "bad_order", format!("Заказ не разобран: {e}")));
        }
    };
    let lines = order.items.iter().map(|i| i.line(amount(&i.price))).collect();
    let till = checkout(state, caller, &order.external_user_id).await?;
    let cart = cheque(lines, &order.promocode);
    let placing = Order {
        till,
        id: &order.uuid,
        scope: SCOPE,
        cart: &cart,
        install,
        bonuses: amount(&order.authorized_bonuses),
        body: raw,
    };
    match orders::place(&state.store, placing).await {
        Ok(Placing::Unpriced { line }) => {
            let item = &order.items[line];
            let what = item.name.clone().or_else(|| item.goods()).unwrap_or_default();
            let message = format!("Нет цены товара «{what}»: рассчитайте корзину заново");
            Ok(refused(&order.uuid, "no_price", message))
        }
        Ok(Placing::Placed(placed)) => {
            let scale = placed.currency.scale;
            let earned = |i: usize| {
                placed
                    .accrual
                    .as_ref()
                    .and_then(|a| a.lines.get(i))
                    .map_or(0, |l| l.accrued)
            };
            let items: Vec<Value> = order
                .items
                .iter()
                .zip(&placed.calculation.lines)
                .enumerate()
                .map(|(i, (item, line))| item.priced(Some((line, earned(i))), scale))
                .collect();
            Ok(json!({
                "success": true, "id": order.uuid, "uuid": order.uuid,
                "price": number(placed.calculation.total_amount - placed.paid, scale),
                "bonusesSpent": number(placed.paid, scale), "bonusesEarned": number(placed.accrued, scale),
                "items": items,
            }))
        }
        Err(e) => match order_refusal(&e) {
            Some((code, message)) => Ok(refused(&order.uuid, code, message)),
            None => Err(e),
        },
    }
}

/// What a refused order tells its user, for the refusals a user can act on.
fn order_refusal(e: &StoreError) -> Option<(&'static str, String)> {
    Some(match e {
        StoreError::InsufficientBalance { .. } | StoreError::Rejected(Rejection::NotEnoughPoints { .. }) => {
            ("not_enough_bonuses", "Недостаточно бонусов для списания".into())
        }
        StoreError::Rejected(Rejection::OverPaymentLimit { .. }) => {
            ("bonus_limit", "Бонусами можно оплатить меньшую часть заказа".into())
        }
        StoreError::Rejected(Rejection::MemberUnknown) => {
            ("no_user", "Списать бонусы может только вошедший пользователь".into())
        }
        StoreError::Rejected(Rejection::MemberBlocked) | StoreError::MemberInactive(_) => {
            ("user_blocked", "Бонусный счёт заблокирован".into())
        }
        StoreError::IdempotencyMismatch => ("order_changed", "Заказ с этим uuid уже принят с другим составом".into()),
        StoreError::Rejected(r) => ("rejected", r.to_string()),
        StoreError::Invalid(message) => ("bad_order", message.clone()),
        _ => return None,
    })
}

/// Reads a body as a cart and as orders, as the handlers do; what is read must hold
/// (for the fuzz target `imshop_json`).
#[cfg(any(test, feature = "fuzzing"))]
pub fn read_tolerantly(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut items = Vec::new();
    if let Ok(cart) = serde_json::from_value::<Cart>(value.clone()) {
        let _ = amount(&cart.authorized_bonuses);
        items.extend(cart.items);
    }
    if let Ok(orders) = serde_json::from_value::<Orders>(value) {
        for order in orders.orders {
            if let Ok(order) = serde_json::from_value::<OrderIn>(order) {
                items.extend(order.items);
            }
        }
    }
    for item in items {
        let price = amount(&item.price);
        let line = item.line(price);
        assert_eq!(line.price, price);
        assert_eq!(line.quantity, Some(amount(&item.quantity).unwrap_or(Decimal::ONE)));
        let _ = item.priced(None, 2);
    }
}
