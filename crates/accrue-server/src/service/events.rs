//! Events other than purchases: recorded for a member (the program's event offers act on
//! them), social profiles linked, and VK's Callback API calls turned into events of the
//! members who linked their VK profile.

use accrue_core::events::birthday::is_birthday;
use accrue_core::events::vk::{parse_callback, VkKind, NETWORK};
use accrue_core::events::{Event, EventKind};
use accrue_core::offers::local_time;
use accrue_core::signature::{verify, WebhookSecret};
use accrue_store::events::Recorded;
use accrue_store::{MemberSearch, Store, StoreError};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use std::collections::HashMap;

pub async fn record(
    store: &Store,
    program_id: i64,
    member_id: i64,
    event: Event,
    source: Option<(String, String)>,
) -> Result<Recorded, StoreError> {
    store.member(program_id, member_id).await?;
    store.record_event(program_id, member_id, event, source).await
}

/// Links a member's profile on a network, then records `social_linked`.
pub async fn link_profile(
    store: &Store,
    program_id: i64,
    member_id: i64,
    network: String,
    user_id: String,
) -> Result<Recorded, StoreError> {
    let network = network.trim().to_lowercase();
    let ok = |t: &str| !t.is_empty() && t.len() <= 64 && !t.chars().any(char::is_control);
    if !ok(&network) || !ok(user_id.trim()) {
        return Err(StoreError::Invalid(
            "network and user_id have 1 to 64 characters".into(),
        ));
    }
    store.member(program_id, member_id).await?;
    store
        .link_social_profile(program_id, member_id, network.clone(), user_id.trim().to_string())
        .await?;
    let event = Event {
        kind: EventKind::SocialLinked,
        at: store.now(),
        network: Some(network.clone()),
        object: None,
        attribute: None,
    };
    let source = Some((format!("link:{network}"), user_id.trim().to_string()));
    store.record_event(program_id, member_id, event, source).await
}

/// Members read per page when looking for birthdays.
const BIRTHDAY_PAGE: i64 = 1000;

/// Raises `birthday` for every active member whose birthday it is today in the program's
/// zone, in the programs whose event offers react to it; once a year each (the member and
/// the year are the delivery's id, so running again, or on another server, adds nothing).
/// `looked` keeps the day each program was last looked at, which is skipped. How many
/// were raised.
pub async fn raise_birthdays(store: &Store, looked: &mut HashMap<i64, NaiveDate>) -> Result<u64, StoreError> {
    let mut raised = 0;
    for program in store.programs().await? {
        let offers = store.event_offers(program.id).await?;
        if !offers
            .iter()
            .any(|o| o.enabled && o.on.events.contains(&EventKind::Birthday))
        {
            continue;
        }
        let now = store.now();
        let today = local_time(now, store.processing_settings(program.id).await?.utc_offset_minutes).date();
        if looked.get(&program.id) == Some(&today) {
            continue;
        }
        let question = store
            .questionnaire(program.id)
            .await?
            .questions()
            .into_iter()
            .find(|q| q.logical_name.as_deref() == Some("BirthDay"))
            .map(|q| q.id);
        let mut after = 0;
        loop {
            let (dates, last) = store.birth_dates(program.id, question, after, BIRTHDAY_PAGE).await?;
            for (member_id, _) in dates.into_iter().filter(|(_, born)| is_birthday(*born, today)) {
                let event = Event {
                    kind: EventKind::Birthday,
                    at: now,
                    network: None,
                    object: None,
                    attribute: None,
                };
                let source = Some(("birthday".to_string(), format!("{member_id}:{}", today.year())));
                match store.record_event(program.id, member_id, event, source).await {
                    Ok(recorded) => raised += u64::from(!recorded.duplicate),
                    // One member's trouble (blocked since the page was read) stops no one else.
                    Err(e) => tracing::warn!(member_id, error = %e, "a birthday was not recorded"),
                }
            }
            match last {
                Some(id) => after = id,
                None => break,
            }
        }
        looked.insert(program.id, today);
    }
    Ok(raised)
}

/// What to answer VK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VkAnswer {
    /// The confirmation string of the community.
    Confirmation(String),
    /// `ok`: handled, a duplicate, or about nobody Accrue knows.
    Ok,
    /// Not the program's community, or a wrong secret.
    Refused(&'static str),
}

/// A Callback API call for the program.
pub async fn vk_callback(store: &Store, program_id: i64, body: &[u8]) -> Result<VkAnswer, StoreError> {
    let settings = store
        .vk_settings(program_id)
        .await?
        .ok_or(StoreError::NotFound("VK community"))?;
    let callback = parse_callback(body, store.now()).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if callback.group_id != settings.group_id {
        return Ok(VkAnswer::Refused("not this program's community"));
    }
    // The confirmation string is no secret: VK asks for it before any event.
    if callback.kind == VkKind::Confirmation {
        return Ok(VkAnswer::Confirmation(settings.confirmation));
    }
    if let Some(hash) = &settings.secret_sha256 {
        let sent = callback.secret.as_deref().unwrap_or_default();
        let expected = accrue_store::imshop::key_hash(sent);
        if !accrue_core::signature::constant_time_eq(expected.as_bytes(), hash.as_bytes()) {
            return Ok(VkAnswer::Refused("wrong secret"));
        }
    }
    match callback.kind {
        VkKind::Confirmation | VkKind::Ignored(_) => Ok(VkAnswer::Ok),
        VkKind::Event { vk_user_id, event } => {
            let Some(member_id) = store
                .social_member(program_id, NETWORK, &vk_user_id.to_string())
                .await?
            else {
                return Ok(VkAnswer::Ok);
            };
            let source = callback.event_id.map(|id| (NETWORK.to_string(), id));
            store.record_event(program_id, member_id, event, source).await?;
            Ok(VkAnswer::Ok)
        }
    }
}

/// A signed event from a server: the member (by one of these), the event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEvent {
    pub member: MemberRef,
    pub event: Event,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MemberRef {
    Id(i64),
    Phone(String),
    Card(String),
    ExternalId { source: String, id: String },
}

/// The Standard Webhooks headers of a signed call.
pub struct Signed<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
    pub body: &'a str,
}

/// A server's event, signed with the program's event secret the Standard Webhooks way;
/// its `webhook-id` makes a repeat a duplicate. `Unauthorized` when the signature does
/// not hold (or the program has no secret).
pub async fn record_signed(store: &Store, program_id: i64, signed: Signed<'_>) -> Result<Recorded, SignedError> {
    let secret = store
        .event_source_secret(program_id)
        .await?
        .ok_or(SignedError::Unauthorized)?;
    let secret = WebhookSecret::parse(&secret).map_err(|e| StoreError::Internal(e.to_string()))?;
    let now = store.now() / 1000;
    if signed.id.is_empty() || !verify(&secret, signed.id, signed.timestamp, signed.body, signed.signature, now) {
        return Err(SignedError::Unauthorized);
    }
    let event: SignedEvent =
        serde_json::from_str(signed.body).map_err(|e| StoreError::Invalid(format!("unexpected body: {e}")))?;
    let member_id = match event.member {
        MemberRef::Id(id) => store.member(program_id, id).await?.id,
        MemberRef::Phone(phone) => store.find_member(program_id, MemberSearch::Phone(phone)).await?.id,
        MemberRef::Card(card) => store.find_member(program_id, MemberSearch::Card(card)).await?.id,
        MemberRef::ExternalId { source, id } => {
            store
                .find_member(program_id, MemberSearch::ExternalId { source, id })
                .await?
                .id
        }
    };
    let source = Some(("signed".to_string(), signed.id.to_string()));
    Ok(store.record_event(program_id, member_id, event.event, source).await?)
}

#[derive(Debug)]
pub enum SignedError {
    Unauthorized,
    Store(StoreError),
}

impl From<StoreError> for SignedError {
    fn from(e: StoreError) -> SignedError {
        SignedError::Store(e)
    }
}

/// Where a member's app sends the member to link VK through VK ID: the provider's
/// authorize address with a state bound to the member.
pub async fn vk_sign_in_url(store: &Store, program_id: i64, member_id: i64) -> Result<String, StoreError> {
    let oauth = store
        .vk_settings(program_id)
        .await?
        .and_then(|s| s.oauth)
        .ok_or(StoreError::NotFound("VK ID sign-in"))?;
    let state = store.begin_oauth(program_id, member_id).await?;
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", oauth.client_id.as_str()),
        ("redirect_uri", oauth.redirect_uri.as_str()),
        ("state", state.as_str()),
    ])
    .map_err(|e| StoreError::Internal(e.to_string()))?;
    let joiner = if oauth.authorize_url.contains('?') { '&' } else { '?' };
    Ok(format!("{}{joiner}{query}", oauth.authorize_url))
}

/// VK ID's return: the state names the member, the code is exchanged for the VK user's
/// id, and the profile is linked (which fires `social_linked`).
pub async fn vk_link(
    store: &Store,
    http: &reqwest::Client,
    program_id: i64,
    code: &str,
    state: &str,
    device_id: Option<&str>,
) -> Result<Recorded, StoreError> {
    let oauth = store
        .vk_settings(program_id)
        .await?
        .and_then(|s| s.oauth)
        .ok_or(StoreError::NotFound("VK ID sign-in"))?;
    let member_id = store
        .finish_oauth(program_id, state)
        .await?
        .ok_or_else(|| StoreError::Invalid("the sign-in expired or was used already; start it again".into()))?;
    let secret = store
        .sealer()
        .open(&oauth.sealed_secret)
        .map_err(StoreError::Internal)?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", oauth.client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("redirect_uri", oauth.redirect_uri.as_str()),
    ];
    if let Some(device) = device_id {
        form.push(("device_id", device));
    }
    let answer: serde_json::Value = http
        .post(&oauth.token_url)
        .form(&form)
        .send()
        .await
        .map_err(|e| StoreError::Invalid(format!("VK ID did not answer: {e}")))?
        .json()
        .await
        .map_err(|e| StoreError::Invalid(format!("VK ID answered no JSON: {e}")))?;
    let user_id = match &answer["user_id"] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) if !s.is_empty() => s.clone(),
        _ => return Err(StoreError::Invalid("VK ID refused the code".into())),
    };
    link_profile(store, program_id, member_id, NETWORK.to_string(), user_id).await
}
