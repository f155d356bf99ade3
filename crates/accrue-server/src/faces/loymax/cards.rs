//! The member's cards: the list, attaching a physical card from the pool (`Cards/Set`),
//! and virtual cards (`Cards/EmitVirtual`). Either finishes the `AssignCard` step.

use super::auth::Member;
use super::envelope::{Answer, Body};
use super::user::{earned_and_spent, guid, money};
use crate::format::time;
use crate::service::registration;
use crate::AppState;
use accrue_core::member::mask_phone;
use accrue_store::{Card, CardCategory, Currency, StoreError};
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{json, Value};

/// What every card of a member shows besides its own fields: the owner and the member's
/// totals per currency (Loymax keeps them per card; Accrue's wallets are the member's).
struct Owner {
    member: accrue_store::Member,
    /// Per currency: the currency, accumulated, paid.
    totals: Vec<(Currency, i64, i64)>,
    categories: Vec<CardCategory>,
    /// The member's cards, to count them per category.
    cards: Vec<Card>,
}

async fn owner(state: &AppState, m: &Member) -> Result<Owner, StoreError> {
    let (program, id) = (m.owner.program_id, m.owner.member_id);
    let member = state.store.member(program, id).await?;
    let currencies = state.store.currencies(program).await?;
    let totals = state.store.wallet_totals(program, id).await?;
    let categories = state.store.card_categories(program).await?;
    let cards = registration::cards(&state.store, m.owner).await?;
    let totals = currencies
        .iter()
        .map(|c| {
            let (earned, spent) = earned_and_spent(&totals, c.id);
            (c.clone(), earned, spent)
        })
        .collect();
    Ok(Owner {
        member,
        totals,
        categories,
        cards,
    })
}

/// The card's category: the program's category it was imported with, else one told by
/// its kind (plastic or virtual); `cardCount` counts the member's cards of it.
fn category(c: &Card, owner: &Owner) -> Value {
    let kept = c
        .category_id
        .and_then(|id| owner.categories.iter().find(|k| k.id == id));
    if let Some(k) = kept {
        let count = owner.cards.iter().filter(|card| card.category_id == Some(k.id)).count();
        return json!({"id": k.id, "title": k.title, "logicalName": k.code, "description": k.description,
                      "cardCount": count, "images": []});
    }
    let (id, title, name) = match c.kind.as_str() {
        "virtual" => (-2, "Виртуальная карта", "Virtual"),
        _ => (-1, "Бонусная карта", "Plastic"),
    };
    let count = owner
        .cards
        .iter()
        .filter(|card| card.category_id.is_none() && card.kind == c.kind)
        .count();
    json!({"id": id, "title": title, "logicalName": name, "description": null, "cardCount": count, "images": []})
}

/// A card as Loymax describes it. Blocking is the `block` flag; `state` is the card's
/// life stage, which for an issued card is `Activated`.
fn card_json(c: &Card, owner: &Owner) -> Value {
    let m = &owner.member;
    let main = owner.totals.first();
    let accumulated: Vec<Value> = owner.totals.iter().map(|(c, earned, _)| money(*earned, c)).collect();
    let paid: Vec<Value> = owner.totals.iter().map(|(c, _, spent)| money(*spent, c)).collect();
    json!({
        "id": c.id,
        "qrContent": c.number,
        "state": "Activated",
        "number": c.number,
        "barCode": c.number,
        "block": c.state == "blocked",
        "expiryDate": null,
        "cardCategory": category(c, owner),
        "isVirtual": c.kind == "virtual",
        "accumulated": main.map(|(c, earned, _)| money(*earned, c)),
        "paid": main.map(|(c, _, spent)| money(*spent, c)),
        "accumulatedInfo": accumulated,
        "paidInfo": paid,
        "cardActionAccessInfo": {"canBlock": false, "canReplace": false},
        "cardOwnerInfo": {
            "id": m.id, "personUid": guid(m.id), "firstName": m.first_name, "lastName": m.last_name,
            "patronymicName": null, "phoneNumber": m.phone.as_deref().map(mask_phone), "email": m.email,
        },
    })
}

pub async fn list(State(state): State<AppState>, m: Member) -> Answer {
    let result = async {
        let owner = owner(&state, &m).await?;
        Ok::<_, StoreError>(owner.cards.iter().map(|c| card_json(c, &owner)).collect())
    };
    match result.await {
        Ok(cards) => Answer::success(m.version, Value::Array(cards)),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}

/// A new card of the member, as `Cards/Set` and `PUT Cards/EmitVirtual` answer it (201).
async fn created(state: &AppState, m: &Member, card: &Card) -> Answer {
    match owner(state, m).await {
        Ok(owner) => Answer::success(m.version, card_json(card, &owner)).created(),
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
        Ok(Some(card)) => created(&state, &m, &card).await,
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
        Ok(card) => created(&state, &m, &card).await,
        Err(StoreError::NotFound("card")) => Answer::error(v, "Карта не найдена."),
        Err(StoreError::CardBlocked(_)) => Answer::error(v, "Карта заблокирована."),
        Err(StoreError::CardTaken(_)) => Answer::error(v, "Карта принадлежит другому участнику."),
        Err(StoreError::Invalid(m)) => Answer::invalid(v, "cardNumber", m),
        Err(e) => Answer::fail(v, &e.to_string()),
    }
}

/// How long an app may show a card's code before asking again, in seconds.
const QR_LIFETIME: i64 = 86_400;

/// `GET Cards/{id}/QrCode`: what the app draws as the card's QR code — the card's
/// `qrContent`, which tills identify the member by. The app renders the picture.
pub async fn qr_code(State(state): State<AppState>, m: Member, Path(id): Path<String>) -> Answer {
    match registration::cards(&state.store, m.owner).await {
        Ok(cards) => match cards.iter().find(|c| c.id.to_string() == id && c.state != "blocked") {
            Some(card) => Answer::success(
                m.version,
                json!({"codeGeneratedDate": time(state.store.now()), "code": card.number, "lifeTime": QR_LIFETIME}),
            ),
            None => Answer::error(m.version, "Не найдена карта."),
        },
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}
