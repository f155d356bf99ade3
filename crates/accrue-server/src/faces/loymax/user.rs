//! The member's own data: `User/Balance`.

use super::auth::Member;
use super::envelope::Answer;
use crate::AppState;
use accrue_core::member::{mask_phone, MemberState};
use accrue_core::money::to_decimal;
use accrue_store::{CardFilter, Currency};
use axum::extract::State;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{json, Value};

/// Loymax amounts are JSON numbers.
pub fn amount(minor: i64, currency: &Currency) -> Value {
    json!(to_decimal(minor, currency.scale).to_f64().unwrap_or_default())
}

/// A quantity as the JSON number clients parse.
pub fn quantity(q: rust_decimal::Decimal) -> Value {
    json!(q.to_f64().unwrap_or_default())
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

/// Loymax's member states as its PHP client documents them: `Normal` while the
/// registration goes on ("не зарегистрирован"), `Registered` once finished (a blocked
/// member too: blocking shows on cards and balances, and the token endpoint refuses it),
/// `Deleted` when archived.
fn state_name(state: MemberState) -> &'static str {
    match state {
        MemberState::Registering => "Normal",
        MemberState::Active | MemberState::Blocked => "Registered",
        MemberState::Archived => "Deleted",
    }
}

/// `GET User`: the member's profile, phone masked.
pub async fn profile(State(state): State<AppState>, member: Member) -> Answer {
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    let result = async {
        let m = state.store.member(program, id).await?;
        let cards = state
            .store
            .cards(
                program,
                CardFilter {
                    member_id: Some(id),
                    count: 1,
                    ..Default::default()
                },
            )
            .await?;
        let currencies = state.store.currencies(program).await?;
        let balances = state.store.balances(program, id).await?;
        let main = balances
            .first()
            .and_then(|b| Some((b, currencies.iter().find(|c| c.id == b.currency_id)?)));
        // The birthday is the answer to the questionnaire's `BirthDay` question, if any.
        let tree = state.store.questionnaire(program).await?;
        let question = tree
            .questions()
            .into_iter()
            .find(|q| q.logical_name.as_deref() == Some("BirthDay"))
            .map(|q| q.id);
        let answers = state.store.answers(id).await?;
        let birthday = answers
            .into_iter()
            .find(|a| Some(a.question_id) == question)
            .and_then(|a| a.value);
        Ok::<_, accrue_store::StoreError>(json!({
            "id": m.id,
            "personUid": guid(m.id),
            "firstName": m.first_name,
            "lastName": m.last_name,
            "patronymicName": null,
            "birthDay": birthday,
            "state": state_name(m.state),
            "phoneNumber": m.phone.as_deref().map(mask_phone),
            "email": m.email,
            "cardShortInfo": cards.first().map(|c| json!({"number": c.number, "state": if c.state == "blocked" { "Blocked" } else { "Activated" }})),
            "balanceShortInfo": main.map(|(b, c)| json!({"balance": amount(b.balance, c), "notActivated": amount(b.not_activated, c), "currency": currency(c)})),
        }))
    };
    match result.await {
        Ok(data) => Answer::success(member.version, data),
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}

/// `GET User/DetailedBalance`: per currency, with the unspent points by expiry date.
pub async fn detailed_balance(State(state): State<AppState>, member: Member) -> Answer {
    let (program, id) = (member.owner.program_id, member.owner.member_id);
    let result = async {
        let currencies = state.store.currencies(program).await?;
        let m = state.store.member(program, id).await?;
        let items: Vec<Value> = state
            .store
            .balances(program, id)
            .await?
            .iter()
            .filter_map(|b| {
                let c = currencies.iter().find(|c| c.id == b.currency_id)?;
                let by_time: Vec<Value> = b
                    .expirations
                    .iter()
                    .map(|e| json!({"amount": amount(e.amount, c), "date": crate::format::time(e.expires_at)}))
                    .collect();
                Some(json!({
                    "currency": currency(c),
                    "amount": amount(b.balance, c),
                    "notActivatedAmount": amount(b.not_activated, c),
                    "accountIsBlocked": !m.state.may_transact(),
                    "lifeTimesByTime": by_time,
                    "lifeTimesByPeriod": [],
                }))
            })
            .collect();
        Ok::<_, accrue_store::StoreError>(json!({"items": items}))
    };
    match result.await {
        Ok(data) => Answer::success(member.version, data),
        Err(e) => Answer::fail(member.version, &e.to_string()),
    }
}
