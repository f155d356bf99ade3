//! The program's shops as member apps show them: `Merchants` (by id) and
//! `Merchants/ByUids` (by the operator's merchant code). Anyone may ask, as in Loymax:
//! apps show shops before sign-in. Only merchants with an address are listed.

use super::envelope::{asked, Answer, AskedVersion, Version};
use super::programs::ServedProgram;
use super::query::{list, page, PLAIN};
use crate::AppState;
use accrue_core::merchant::{Address, Day};
use accrue_store::merchants::Merchant;
use axum::extract::{Query, State};
use serde_json::{json, Map, Value};

pub async fn by_ids(
    State(state): State<AppState>,
    served: ServedProgram,
    v: AskedVersion,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Answer {
    let ids = list(&pairs, "merchantsIds");
    listed_page(&state, &served, asked(v), &pairs, |m| {
        ids.is_empty() || ids.contains(&m.id.to_string().as_str())
    })
    .await
}

pub async fn by_uids(
    State(state): State<AppState>,
    served: ServedProgram,
    v: AskedVersion,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Answer {
    let uids = list(&pairs, "merchantsUids");
    listed_page(&state, &served, asked(v), &pairs, |m| {
        uids.is_empty() || uids.contains(&m.code.as_str())
    })
    .await
}

/// The listed merchants `wanted` keeps, paged by `from` and `count` (all by default).
async fn listed_page(
    state: &AppState,
    served: &ServedProgram,
    v: Version,
    pairs: &[(String, String)],
    wanted: impl Fn(&Merchant) -> bool,
) -> Answer {
    let (from, count) = match page(pairs, PLAIN) {
        Ok(page) => page,
        Err((key, e)) => return Answer::invalid(v, key, e),
    };
    match state.store.listed_merchants(served.id).await {
        Ok(all) => {
            let shown = all.iter().filter(|m| wanted(m)).skip(from).take(count);
            Answer::success(v, shown.map(|m| merchant_json(m, &served.code)).collect())
        }
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}

/// A merchant as Loymax describes it; `brand` when its profile names none.
pub fn merchant_json(m: &Merchant, brand: &str) -> Value {
    let p = &m.profile;
    json!({
        "id": m.id,
        "uid": m.code,
        "title": m.name,
        "brandId": p.brand.as_deref().unwrap_or(brand),
        "description": p.description,
        "location": p.address.as_ref().map(|a| location(m, a)),
        "scheduleModel": p.schedule.as_ref().map(|days| {
            let by_day: Map<String, Value> = Day::ALL
                .iter()
                .map(|d| (d.name().to_string(), days.get(d).map_or(Value::Null, |h| json!(h))))
                .collect();
            Value::Object(by_day)
        }),
        "isArchived": p.archived,
        "additionalInfo": (!p.additional_info.is_empty()).then_some(&p.additional_info),
    })
}

fn location(m: &Merchant, a: &Address) -> Value {
    let city = match &a.city_prefix {
        Some(prefix) => format!("{prefix} {}", a.city),
        None => a.city.clone(),
    };
    let written: Vec<&str> = [Some(city.as_str()), a.street.as_deref(), a.house.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    json!({
        "id": m.id,
        "description": a.description.clone().unwrap_or_else(|| written.join(", ")),
        "latitude": a.latitude,
        "longitude": a.longitude,
        "city": {"id": m.city_id, "name": a.city, "prefix": a.city_prefix},
        "street": a.street,
        "house": a.house,
        "building": a.building,
        "office": a.office,
    })
}
