//! The member's cards: the list, attaching a physical card from the pool (`Cards/Set`),
//! and virtual cards (`Cards/EmitVirtual`). Either finishes the `AssignCard` step.

use super::auth::Member;
use super::envelope::{Answer, Body};
use crate::service::registration;
use crate::AppState;
use accrue_store::{Card, StoreError};
use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

fn card_json(c: &Card) -> Value {
    let blocked = c.state == "blocked";
    json!({
        "id": c.id,
        "qrContent": c.number,
        "state": if blocked { "Blocked" } else { "Activated" },
        "number": c.number,
        "barCode": c.number,
        "block": blocked,
        "expiryDate": null,
        "cardCategory": null,
        "isVirtual": c.kind == "virtual",
    })
}

pub async fn list(State(state): State<AppState>, m: Member) -> Answer {
    match registration::cards(&state.store, m.owner).await {
        Ok(cards) => Answer::success(m.version, Value::Array(cards.iter().map(card_json).collect())),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}

pub async fn emission(State(state): State<AppState>, m: Member) -> Answer {
    let result = async {
        let settings = state.store.registration_settings(m.owner.program_id).await?;
        let cards = registration::cards(&state.store, m.owner).await?;
        let count = cards.iter().filter(|c| c.kind == "virtual").count();
        Ok::<_, StoreError>(
            json!({"currentCountOfVirtualCards": count, "isVirtualCardEmissionAllowed": registration::may_emit(&settings, &cards)}),
        )
    };
    match result.await {
        Ok(data) => Answer::success(m.version, data),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}

pub async fn emit(State(state): State<AppState>, m: Member) -> Answer {
    match registration::emit_virtual_card(&state.store, m.owner).await {
        Ok(Some(_)) => Answer::success(m.version, Value::Null).created(),
        Ok(None) => Answer::error(m.version, "Выпуск виртуальной карты запрещён."),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetCard {
    card_number: Option<String>,
}

pub async fn set(State(state): State<AppState>, m: Member, body: Body<SetCard>) -> Answer {
    let v = m.version;
    let Some(number) = body.0.card_number.filter(|n| !n.trim().is_empty()) else {
        return Answer::invalid(v, "cardNumber", "Введите номер карты.");
    };
    match registration::take_card(&state.store, m.owner, number).await {
        Ok(_) => Answer::success(v, Value::Null).created(),
        Err(StoreError::NotFound("card")) => Answer::error(v, "Карта не найдена."),
        Err(StoreError::CardBlocked(_)) => Answer::error(v, "Карта заблокирована."),
        Err(StoreError::CardTaken(_)) => Answer::error(v, "Карта принадлежит другому участнику."),
        Err(StoreError::Invalid(m)) => Answer::invalid(v, "cardNumber", m),
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}
