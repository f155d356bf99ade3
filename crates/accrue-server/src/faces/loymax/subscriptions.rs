//! The member's consents to be told things: `User/Subscriptions` (read, change),
//! `User/Subscriptions/Confirm` (agree to everything) and `…/Reject` (to nothing but
//! what cannot be turned off). The outbox sends news and offers only to those who agreed
//! (`POST /admin/v1/subscribers/messages`).

use super::auth::Member;
use super::envelope::{Answer, Body};
use super::query::list;
use crate::AppState;
use accrue_core::subscriptions::{read_only, Channel, Topic};
use accrue_store::subscriptions::Consent;
use axum::extract::{Query, State};
use serde_json::{json, Map, Value};

/// The channels as Loymax names them.
const CHANNELS: [(Channel, &str); 6] = [
    (Channel::Sms, "smsNotification"),
    (Channel::Email, "emailNotification"),
    (Channel::Push, "pushNotification"),
    (Channel::Viber, "viberNotification"),
    (Channel::SocialNetworks, "socialNetworksNotification"),
    (Channel::ChatBot, "chatBotNotification"),
];

/// `GET User/Subscriptions?subscriptionExternalIds[0]=Advertisement`: the topics asked
/// for (all when none), each with its consent per channel.
pub async fn get(State(state): State<AppState>, m: Member, Query(pairs): Query<Vec<(String, String)>>) -> Answer {
    let asked: Vec<&str> = list(&pairs, "subscriptionExternalIds");
    let mut topics = Vec::new();
    for text in &asked {
        match Topic::parse(text) {
            Some(topic) => topics.push(topic),
            None => {
                return Answer::invalid(
                    m.version,
                    "subscriptionExternalIds",
                    format!("Неизвестный тип подписки {text}."),
                )
            }
        }
    }
    if topics.is_empty() {
        topics = Topic::ALL.to_vec();
    }
    match state.store.subscriptions(m.owner.member_id).await {
        Ok(consents) => Answer::success(m.version, topics.iter().map(|t| topic_json(*t, &consents)).collect()),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}

fn topic_json(topic: Topic, consents: &[Consent]) -> Value {
    let mut item = Map::new();
    item.insert("typeId".into(), json!(topic.id()));
    item.insert("typeName".into(), json!(topic.title()));
    item.insert("externalId".into(), json!(topic.as_str()));
    for (channel, name) in CHANNELS {
        let selected = consents.contains(&(topic, channel, true));
        item.insert(
            name.into(),
            json!({"readOnly": read_only(topic, channel), "selected": selected}),
        );
    }
    Value::Object(item)
}

/// `POST User/Subscriptions` `[{"typeId": 6, "smsNotification": {"selected": true},
/// "emailNotification": null, …}]`: a channel left `null` stays as it was.
pub async fn update(State(state): State<AppState>, m: Member, Body(changes): Body<Vec<Value>>) -> Answer {
    let mut answers = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        let Some(topic) = change["typeId"].as_i64().and_then(Topic::by_id) else {
            return Answer::invalid(m.version, &format!("[{i}].typeId"), "Неизвестный тип подписки.");
        };
        for (channel, name) in CHANNELS {
            let field = format!("[{i}].{name}");
            match &change[name] {
                Value::Null => {}
                given => match given["selected"].as_bool() {
                    Some(_) if read_only(topic, channel) => {
                        return Answer::invalid(m.version, &field, "Эту подписку нельзя изменить.")
                    }
                    Some(selected) => answers.push((topic, channel, selected)),
                    None => return Answer::invalid(m.version, &field, "Ожидается {\"selected\": true|false}."),
                },
            }
        }
    }
    saved(&state, &m, answers).await
}

/// `POST User/Subscriptions/Confirm`: agree to every topic by every channel.
pub async fn confirm(State(state): State<AppState>, m: Member) -> Answer {
    saved(&state, &m, everything(true)).await
}

/// `POST User/Subscriptions/Reject`: agree to nothing that can be refused.
pub async fn reject(State(state): State<AppState>, m: Member) -> Answer {
    saved(&state, &m, everything(false)).await
}

fn everything(selected: bool) -> Vec<Consent> {
    let all = Topic::ALL.into_iter().flat_map(|t| Channel::ALL.map(|c| (t, c)));
    all.filter(|(t, c)| !read_only(*t, *c))
        .map(|(t, c)| (t, c, selected))
        .collect()
}

async fn saved(state: &AppState, m: &Member, answers: Vec<Consent>) -> Answer {
    match state.store.set_subscriptions(m.owner.member_id, answers).await {
        Ok(()) => Answer::success(m.version, Value::Null),
        Err(e) => Answer::fail(m.version, &e.to_string()),
    }
}
