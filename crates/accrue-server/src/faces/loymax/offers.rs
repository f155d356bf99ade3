//! The program's offers as members' apps describe them: `Offer` (the list), `Offer/{id}`
//! and `Offer/{id}/merchants`. Anyone may ask, as in Loymax; what is shown is what the
//! operator put in an offer's `showcase`, while the offer runs.

use super::envelope::{asked, unauthorized, Answer, AskedVersion, Version};
use super::merchants::merchant_json;
use super::programs::ServedProgram;
use super::query::{page, param, FILTERED};
use crate::format::{local_time, time};
use crate::service::showcase::{self, ShownOffer};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// `GET Offer?filter.type=All&filter.from=0&filter.count=10&filter.merchantId=1`.
/// Personal offers (`PersonalOffer`, `PersonalGoods`) are for a signed-in member, as in
/// Loymax; Accrue has none yet, so a member gets an empty list.
pub async fn list(
    State(state): State<AppState>,
    served: ServedProgram,
    v: AskedVersion,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let v = asked(v);
    let personal = match param(&pairs, "filter.type").unwrap_or("All") {
        t if t.eq_ignore_ascii_case("All") || t.eq_ignore_ascii_case("Original") => false,
        t if t.eq_ignore_ascii_case("PersonalOffer") || t.eq_ignore_ascii_case("PersonalGoods") => true,
        _ => {
            return Answer::invalid(
                v,
                "filter.type",
                "Ожидается All, Original, PersonalOffer или PersonalGoods.",
            )
            .into_response()
        }
    };
    if personal && !headers.contains_key(AUTHORIZATION) {
        return unauthorized();
    }
    let (from, count) = match page(&pairs, FILTERED) {
        Ok(page) => page,
        Err((key, e)) => return Answer::invalid(v, key, e).into_response(),
    };
    let merchant = match param(&pairs, "filter.merchantId").map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Answer::invalid(v, "filter.merchantId", "Ожидается идентификатор.").into_response(),
    };
    let answer = match showcase::offers(&state.store, served.id).await {
        Ok(_) if personal => Answer::success(v, json!([])),
        Ok(offers) => {
            let at = |o: &&ShownOffer| merchant.is_none_or(|id| o.merchants.iter().any(|m| m.id == id));
            let page = offers.iter().filter(at).skip(from).take(count);
            Answer::success(v, page.map(offer_json).collect())
        }
        Err(e) => Answer::fail(v, &e.to_string()),
    };
    answer.into_response()
}

pub async fn one(
    State(state): State<AppState>,
    served: ServedProgram,
    v: AskedVersion,
    Path(id): Path<String>,
) -> Answer {
    with_offer(&state, &served, asked(v), &id, offer_json).await
}

pub async fn merchants(
    State(state): State<AppState>,
    served: ServedProgram,
    v: AskedVersion,
    Path(id): Path<String>,
) -> Answer {
    let brand = served.code.clone();
    with_offer(&state, &served, asked(v), &id, |o| {
        o.merchants.iter().map(|m| merchant_json(m, &brand)).collect()
    })
    .await
}

/// Renders the shown offer `id`, or says it is not found as Loymax does.
async fn with_offer(
    state: &AppState,
    served: &ServedProgram,
    v: Version,
    id: &str,
    render: impl FnOnce(&ShownOffer) -> Value,
) -> Answer {
    let not_found = || {
        Answer::error(
            v,
            format!("Не найден рекламный материал с указанным идентификатором {id}"),
        )
    };
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    match showcase::offers(&state.store, served.id).await {
        Ok(offers) => offers
            .iter()
            .find(|o| o.id == id)
            .map_or_else(not_found, |o| Answer::success(v, render(o))),
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}

fn offer_json(o: &ShownOffer) -> Value {
    let showcase = o.offer.showcase.as_ref();
    let (begin, end) = o.offer.period();
    json!({
        "id": o.id,
        "priority": o.offer.priority,
        "title": showcase.map(|s| s.title.as_str()),
        "description": showcase.map_or("", |s| s.description.as_str()),
        "shortDescription": null,
        "begin": begin.map_or_else(|| time(o.created_at), local_time),
        "end": end.map(local_time),
        "brands": [],
        "images": showcase.map_or(&[][..], |s| &s.images[..]).iter()
            .map(|url| json!({"fileId": url, "description": null}))
            .collect::<Vec<_>>(),
        "merchantsCount": o.merchants.len(),
    })
}
