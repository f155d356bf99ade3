//! The member's own data: `User/Balance`.

use super::auth::Member;
use super::envelope::Answer;
use crate::AppState;
use accrue_core::money::to_decimal;
use accrue_store::Currency;
use axum::extract::State;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{json, Value};

/// Loymax amounts are JSON numbers.
pub fn amount(minor: i64, currency: &Currency) -> Value {
    json!(to_decimal(minor, currency.scale).to_f64().unwrap_or_default())
}

/// A stable UUID-shaped id made from one of ours, where Loymax has GUIDs.
pub fn guid(id: i64) -> String {
    format!("00000000-0000-0000-0000-{:012x}", id)
}

/// A currency as Loymax describes it.
pub fn currency(c: &Currency) -> Value {
    json!({
        "id": c.id,
        "name": c.name_plural,
        "code": c.code,
        "uid": guid(c.id),
        "externalId": null,
        "description": c.description,
        "isDeleted": false,
        "nameCases": {
            "nominative": c.name_nominative,
            "genitive": c.name_genitive,
            "plural": c.name_plural,
            "abbreviation": c.abbreviation,
        },
    })
}

/// `GET User/Balance`: per currency, the balance, what is not active yet, and what was
/// accumulated and paid over all time.
pub async fn balance(State(state): State<AppState>, member: Member) -> Answer {
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    let result = async {
        let currencies = state.store.currencies(program).await?;
        let balances = state.store.balances(program, id).await?;
        let totals = state.store.wallet_totals(program, id).await?;
        let rows: Vec<Value> = balances
            .iter()
            .filter_map(|b| {
                let c = currencies.iter().find(|c| c.id == b.currency_id)?;
                let (earned, spent) = totals.iter().find(|t| t.0 == c.id).map_or((0, 0), |t| (t.1, t.2));
                Some(json!({
                    "currency": currency(c),
                    "balance": amount(b.balance, c),
                    "notActivated": amount(b.not_activated, c),
                    "accumulated": amount(earned, c),
                    "paid": amount(spent, c),
                }))
            })
            .collect();
        Ok::<_, accrue_store::StoreError>(rows)
    };
    match result.await {
        Ok(rows) => Answer::success(member.version, Value::Array(rows)),
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}
