//! `POST /CommunicationService/api/v1/Communication/Communications`: the goods the
//! member's app advertises. Each offer with a showcase and a `goods` condition is a
//! communication; its goods carry the offer's percent discount or bonus.

use super::auth::Member;
use super::envelope::Answer;
use crate::format::{local_time, time};
use crate::service::showcase::{self, ShownOffer};
use crate::AppState;
use accrue_core::offers::Effect;
use axum::extract::State;
use serde_json::{json, Value};
use std::collections::HashMap;

/// What a goods offer's effects look like to the app: percent discounts and bonuses.
fn offer_types(o: &ShownOffer) -> Vec<Value> {
    let typed = o.offer.effects.iter().filter_map(|e| match e {
        Effect::DiscountPercent { percent, .. } => Some(("DiscountPercentGoods", percent.value())),
        Effect::BonusPercent { percent, .. } => Some(("CashbackPercentGoods", percent.value())),
        _ => None,
    });
    typed
        .enumerate()
        .map(|(i, (kind, value))| {
            let value: f64 = value.try_into().unwrap_or_default();
            json!({"value": value, "valueDescription": null, "border": null, "borderDescription": null,
                   "displayOrder": i + 1, "offerType": kind, "description": null})
        })
        .collect()
}

fn communication(o: &ShownOffer, names: &HashMap<String, String>) -> Value {
    let showcase = o.offer.showcase.as_ref();
    let (from, until) = o.offer.period();
    let images: Vec<Value> = showcase
        .map_or(&[][..], |s| &s.images[..])
        .iter()
        .map(|url| json!({"value": url}))
        .collect();
    let offers = offer_types(o);
    let goods: Vec<Value> = o
        .offer
        .goods_ids()
        .map(|id| {
            json!({
                "dateFrom": from.map_or_else(|| time(o.created_at), local_time),
                "dateTo": until.map_or_else(|| "9999-12-31T23:59:59".to_string(), local_time),
                "goodsId": id,
                "name": names.get(id).unwrap_or(id),
                "categoryName": null,
                "images": images,
                "description": showcase.map_or("", |s| s.description.as_str()),
                "regularPrice": null,
                "regularPriceDescription": null,
                "offers": offers,
            })
        })
        .collect();
    json!({"id": o.id, "value": goods})
}

pub async fn list(State(state): State<AppState>, m: Member) -> Answer {
    let program = m.owner.program_id;
    let result = async {
        let offers = showcase::offers(&state.store, program).await?;
        let with_goods: Vec<&ShownOffer> = offers.iter().filter(|o| o.offer.goods_ids().next().is_some()).collect();
        let ids: Vec<String> = with_goods.iter().flat_map(|o| o.offer.goods_ids().cloned()).collect();
        let names = state.store.goods_names(program, &ids).await?;
        Ok::<_, accrue_store::StoreError>(with_goods.iter().map(|o| communication(o, &names)).collect::<Vec<_>>())
    };
    match result.await {
        Ok(items) if items.is_empty() => Answer::success(
            m.version,
            json!({"items": null, "proposalName": null, "sentDate": null, "validDate": null, "state": null}),
        ),
        Ok(items) => Answer::success(
            m.version,
            json!({"items": items, "proposalName": m.program.code, "sentDate": null, "validDate": null, "state": null}),
        ),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}
