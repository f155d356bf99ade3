//! Event offers at work: a program's offers, an event recorded for a member (once per
//! source delivery) with what the offers make of it applied in the same write — points,
//! messages, counters, subscription switches and the grants that remember it — and the
//! social profiles and VK community that events from networks are matched by.

use crate::hooks::Happening;
use crate::ledger::{accrue_in, wallet_balance_of, withdraw_in, Cause, Lifetime, Movement};
use crate::members::lock_member;
use crate::outbox::{enqueue, NewMessage};
use crate::{Store, StoreError, Tx};
use accrue_core::events::birthday::birth_date;
use accrue_core::events::{
    evaluate, validate_event_offers, Action, AttributeChange, Channel, Event, EventKind, EventOffer, Grant,
    MemberEventState, Outcome, PointsChange,
};
use accrue_core::lifetimes::LifetimeDefinition;
use accrue_core::mustache::plain_text;
use accrue_core::outbox::MessageKind;
use accrue_core::questionnaire::Answer;
use accrue_core::subscriptions::{Channel as SubscriptionChannel, Topic};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::Row;

/// What recording an event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// The source delivered this event before: nothing was done again.
    pub duplicate: bool,
    pub outcomes: Vec<Outcome>,
}

/// The program's VK community: its id, the string VK's confirmation request is answered
/// with, and the secret key VK signs its calls with (kept as SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VkSettings {
    pub group_id: i64,
    pub confirmation: String,
    #[serde(default)]
    pub secret_sha256: Option<String>,
    /// The periodic collector, when set.
    #[serde(default)]
    pub collector: Option<VkCollector>,
    /// Members linking their VK profile through VK ID, when set.
    #[serde(default)]
    pub oauth: Option<VkOauth>,
}

/// The VK ID app members sign in with to link their profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VkOauth {
    pub client_id: String,
    /// The app's secret, sealed.
    pub sealed_secret: String,
    /// `https://id.vk.com/authorize` unless told otherwise.
    pub authorize_url: String,
    /// `https://id.vk.com/oauth2/auth` unless told otherwise.
    pub token_url: String,
    /// Accrue's callback as registered with the app: `https://<accrue>/social/vk/<program>/callback`.
    pub redirect_uri: String,
}

/// How the collector reads the community through the VK API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VkCollector {
    /// `https://api.vk.com/method` unless told otherwise.
    pub api_base: String,
    /// The community's service token, sealed.
    pub sealed_token: String,
    /// How many recent posts are watched.
    pub posts: u32,
    pub every_minutes: u32,
}

impl Store {
    pub async fn event_offers(&self, program_id: i64) -> Result<Vec<EventOffer>, StoreError> {
        let row = sqlx::query("SELECT offers FROM event_offers WHERE program_id = $1")
            .bind(program_id)
            .fetch_optional(self.reads())
            .await?;
        row.map_or(Ok(Vec::new()), |r| {
            Ok(serde_json::from_str(&r.try_get::<String, _>(0)?)?)
        })
    }

    /// Replaces the program's event offers (checked first).
    pub async fn set_event_offers(&self, program_id: i64, offers: Vec<EventOffer>) -> Result<(), StoreError> {
        if let Err(errors) = validate_event_offers(&offers) {
            let said: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            return Err(StoreError::Invalid(said.join("; ")));
        }
        let templates = self.notification_templates(program_id).await?;
        let missing = offers.iter().flat_map(|o| &o.actions).find_map(|a| match a {
            Action::Message { template, .. } if !templates.iter().any(|t| &t.kind == template) => Some(template),
            _ => None,
        });
        if let Some(template) = missing {
            return Err(StoreError::Invalid(format!(
                "no message template {template:?}: add it under notification-templates first"
            )));
        }
        let sql = "INSERT INTO event_offers (program_id, offers, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (program_id) DO UPDATE SET offers = excluded.offers, updated_at = excluded.updated_at";
        self.save_json(sql, program_id, serde_json::to_string(&offers)?).await
    }

    /// Records an event of a member and applies what the program's offers make of it, in
    /// one write. `source` (`("vk", event_id)`) makes a repeated delivery a duplicate.
    pub async fn record_event(
        &self,
        program_id: i64,
        member_id: i64,
        event: Event,
        source: Option<(String, String)>,
    ) -> Result<Recorded, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                lock_member(tx, program_id, member_id).await?;
                record_in(tx, program_id, member_id, &event, source).await
            })
        })
        .await
    }

    /// Links a member's profile on a network; the link fires `social_linked`. A profile
    /// linked to another member is a conflict.
    pub async fn link_social_profile(
        &self,
        program_id: i64,
        member_id: i64,
        network: String,
        network_user_id: String,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let linked = sqlx::query(
                    "INSERT INTO social_profiles (program_id, network, network_user_id, member_id, linked_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program_id, network, network_user_id) DO NOTHING",
                )
                .bind(program_id)
                .bind(&network)
                .bind(&network_user_id)
                .bind(member_id)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                if linked.rows_affected() == 0 {
                    let owner = social_owner(tx, program_id, &network, &network_user_id).await?;
                    if owner != Some(member_id) {
                        return Err(StoreError::Conflict("this profile is linked to another member".into()));
                    }
                }
                Ok(())
            })
        })
        .await
    }

    /// The member a network's user id is linked to.
    pub async fn social_member(
        &self,
        program_id: i64,
        network: &str,
        user_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT member_id FROM social_profiles WHERE program_id = $1 AND network = $2 AND network_user_id = $3",
        )
        .bind(program_id)
        .bind(network)
        .bind(user_id)
        .fetch_optional(self.reads())
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// A member's counters, by name.
    pub async fn event_counters(&self, member_id: i64) -> Result<Map<String, Value>, StoreError> {
        let rows = sqlx::query("SELECT counter, value FROM event_counters WHERE member_id = $1 ORDER BY counter")
            .bind(member_id)
            .fetch_all(self.reads())
            .await?;
        let mut counters = Map::new();
        for row in &rows {
            counters.insert(row.try_get(0)?, json!(row.try_get::<i64, _>(1)?));
        }
        Ok(counters)
    }

    /// Gives the program's event endpoint a new signing secret (`whsec_…`).
    pub async fn rotate_event_source_secret(&self, program_id: i64, secret: String) -> Result<(), StoreError> {
        let sql = "INSERT INTO event_sources (program_id, secret, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (program_id) DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at";
        self.save_json(sql, program_id, self.sealer().seal(&secret)).await
    }

    /// The signing secret of the program's event endpoint, if it has one.
    pub async fn event_source_secret(&self, program_id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT secret FROM event_sources WHERE program_id = $1")
            .bind(program_id)
            .fetch_optional(self.reads())
            .await?;
        row.map(|r| {
            self.sealer()
                .open(&r.try_get::<String, _>(0)?)
                .map_err(StoreError::Internal)
        })
        .transpose()
    }

    /// Programs whose VK collector is set, with their settings.
    pub async fn vk_collectors(&self) -> Result<Vec<(i64, VkSettings)>, StoreError> {
        let rows = sqlx::query("SELECT program_id, settings FROM vk_settings ORDER BY program_id")
            .fetch_all(self.reads())
            .await?;
        let mut all = Vec::new();
        for row in &rows {
            let settings: VkSettings = serde_json::from_str(&row.try_get::<String, _>(1)?)?;
            if settings.collector.is_some() {
                all.push((row.try_get(0)?, settings));
            }
        }
        Ok(all)
    }

    /// The VK users the collector saw last for `kind` (`member`, `like`, `repost`) of
    /// `object` (a post id; empty for members).
    pub async fn vk_seen(&self, program_id: i64, kind: &str, object: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT user_id FROM vk_seen WHERE program_id = $1 AND kind = $2 AND object = $3")
            .bind(program_id)
            .bind(kind)
            .bind(object)
            .fetch_all(self.reads())
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Remembers what the collector saw change.
    pub async fn update_vk_seen(
        &self,
        program_id: i64,
        kind: String,
        object: String,
        added: Vec<String>,
        removed: Vec<String>,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                for user in &added {
                    sqlx::query(
                        "INSERT INTO vk_seen (program_id, kind, object, user_id) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (program_id, kind, object, user_id) DO NOTHING",
                    )
                    .bind(program_id)
                    .bind(&kind)
                    .bind(&object)
                    .bind(user)
                    .execute(tx.conn())
                    .await?;
                }
                for user in &removed {
                    sqlx::query(
                        "DELETE FROM vk_seen WHERE program_id = $1 AND kind = $2 AND object = $3 AND user_id = $4",
                    )
                    .bind(program_id)
                    .bind(&kind)
                    .bind(&object)
                    .bind(user)
                    .execute(tx.conn())
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Begins a member's sign-in with an outside identity provider; the state to send
    /// (kept as SHA-256, good for ten minutes).
    pub async fn begin_oauth(&self, program_id: i64, member_id: i64) -> Result<String, StoreError> {
        let mut bytes = [0_u8; 24];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
        let state = hex::encode(bytes);
        let hash = crate::imshop::key_hash(&state);
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query("DELETE FROM oauth_states WHERE expires_at <= $1")
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                sqlx::query("INSERT INTO oauth_states (state_sha256, program_id, member_id, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(&hash)
                    .bind(program_id)
                    .bind(member_id)
                    .bind(tx.now + 600_000)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
        })
        .await?;
        Ok(state)
    }

    /// The member a live state was begun for; the state is used up.
    pub async fn finish_oauth(&self, program_id: i64, state: &str) -> Result<Option<i64>, StoreError> {
        let hash = crate::imshop::key_hash(state);
        self.write(move |tx| {
            Box::pin(async move {
                let row = sqlx::query(
                    "DELETE FROM oauth_states WHERE state_sha256 = $1 AND program_id = $2 AND expires_at > $3 \
                     RETURNING member_id",
                )
                .bind(&hash)
                .bind(program_id)
                .bind(tx.now)
                .fetch_optional(tx.conn())
                .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            })
        })
        .await
    }

    /// Active members of a program after `after_id` (in id order, at most `limit`) with
    /// their birth date, read from the answer to `question_id` or the `birthday`
    /// attribute; members with neither are left out, the last id read comes back too so
    /// that paging goes on past them.
    pub async fn birth_dates(
        &self,
        program_id: i64,
        question_id: Option<i64>,
        after_id: i64,
        limit: i64,
    ) -> Result<(Vec<(i64, NaiveDate)>, Option<i64>), StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, a.answers, m.attributes FROM members m LEFT JOIN member_answers a ON a.member_id = m.id \
             WHERE m.program_id = $1 AND m.id > $2 AND m.state = 'active' ORDER BY m.id LIMIT $3",
        )
        .bind(program_id)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.reads())
        .await?;
        let mut dates = Vec::new();
        let mut last = None;
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            last = Some(id);
            let answers: Vec<Answer> = match row.try_get::<Option<String>, _>(1)? {
                Some(text) => serde_json::from_str(&text)?,
                None => Vec::new(),
            };
            let answer = question_id
                .and_then(|q| answers.into_iter().find(|a| a.question_id == q))
                .and_then(|a| a.value);
            let attributes: Value = serde_json::from_str(&row.try_get::<String, _>(2)?)?;
            if let Some(born) = birth_date(answer.as_deref(), attributes["birthday"].as_str()) {
                dates.push((id, born));
            }
        }
        Ok((dates, last))
    }

    pub async fn vk_settings(&self, program_id: i64) -> Result<Option<VkSettings>, StoreError> {
        let row = sqlx::query("SELECT settings FROM vk_settings WHERE program_id = $1")
            .bind(program_id)
            .fetch_optional(self.reads())
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.try_get::<String, _>(0)?)?))
            .transpose()
    }

    pub async fn set_vk_settings(&self, program_id: i64, settings: VkSettings) -> Result<(), StoreError> {
        let sql = "INSERT INTO vk_settings (program_id, settings, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (program_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at";
        self.save_json(sql, program_id, serde_json::to_string(&settings)?).await
    }
}

/// Records an event in `tx` (the member locked): see [`Store::record_event`].
pub(crate) async fn record_in(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    event: &Event,
    source: Option<(String, String)>,
) -> Result<Recorded, StoreError> {
    if let Some((source, id)) = &source {
        if !first_delivery(tx, program_id, member_id, source, id).await? {
            return Ok(Recorded {
                duplicate: true,
                outcomes: Vec::new(),
            });
        }
    }
    let offers = offers_in(tx, program_id).await?;
    if offers.is_empty() {
        return Ok(Recorded {
            duplicate: false,
            outcomes: Vec::new(),
        });
    }
    let utc_offset = utc_offset_in(tx, program_id).await?;
    let state = grants(tx, member_id).await?;
    let mut applied = Vec::new();
    for outcome in evaluate(&offers, event, &state, utc_offset) {
        let offer = offers.iter().find(|o| o.id == outcome.offer_id);
        let name = offer.map_or_else(|| outcome.offer_id.clone(), |o| o.name.clone());
        applied.push(apply(tx, program_id, member_id, &name, outcome, utc_offset).await?);
    }
    Ok(Recorded {
        duplicate: false,
        outcomes: applied,
    })
}

/// Offers the registration of a member to the event offers (a store hook).
pub(crate) async fn on_happening(tx: &mut Tx, program_id: i64, what: &Happening<'_>) -> Result<(), StoreError> {
    if let Happening::RegistrationFinished { member_id } = what {
        let event = Event {
            kind: EventKind::RegistrationFinished,
            at: tx.now,
            network: None,
            object: None,
            attribute: None,
        };
        record_in(tx, program_id, *member_id, &event, None).await?;
    }
    Ok(())
}

/// Offers a changed attribute of a member to the event offers, in the update's write
/// (text values as they are, others as JSON).
pub(crate) async fn attribute_changed_in(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    name: String,
    value: Value,
) -> Result<(), StoreError> {
    let value = match value {
        Value::String(text) => text,
        other => other.to_string(),
    };
    let event = Event {
        kind: EventKind::AttributeChanged,
        at: tx.now,
        network: None,
        object: None,
        attribute: Some(AttributeChange { name, value }),
    };
    record_in(tx, program_id, member_id, &event, None).await?;
    Ok(())
}

async fn offers_in(tx: &mut Tx, program_id: i64) -> Result<Vec<EventOffer>, StoreError> {
    let row = sqlx::query("SELECT offers FROM event_offers WHERE program_id = $1")
        .bind(program_id)
        .fetch_optional(tx.conn())
        .await?;
    row.map_or(Ok(Vec::new()), |r| {
        Ok(serde_json::from_str(&r.try_get::<String, _>(0)?)?)
    })
}

async fn utc_offset_in(tx: &mut Tx, program_id: i64) -> Result<i32, StoreError> {
    let row = sqlx::query("SELECT settings FROM processing_settings WHERE program_id = $1")
        .bind(program_id)
        .fetch_optional(tx.conn())
        .await?;
    let settings: accrue_core::purchase::Settings = match row {
        Some(r) => serde_json::from_str(&r.try_get::<String, _>(0)?)?,
        None => Default::default(),
    };
    Ok(settings.utc_offset_minutes)
}

async fn social_owner(tx: &mut Tx, program_id: i64, network: &str, user_id: &str) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "SELECT member_id FROM social_profiles WHERE program_id = $1 AND network = $2 AND network_user_id = $3",
    )
    .bind(program_id)
    .bind(network)
    .bind(user_id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Whether this is the first delivery of a source's event (it is remembered now).
async fn first_delivery(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    source: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let kept = sqlx::query(
        "INSERT INTO handled_events (program_id, source, event_id, member_id, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (program_id, source, event_id) DO NOTHING",
    )
    .bind(program_id)
    .bind(source)
    .bind(id)
    .bind(member_id)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(kept.rows_affected() == 1)
}

async fn grants(tx: &mut Tx, member_id: i64) -> Result<MemberEventState, StoreError> {
    let rows =
        sqlx::query("SELECT offer_id, subject_key, amount, at FROM event_grants WHERE member_id = $1 ORDER BY id")
            .bind(member_id)
            .fetch_all(tx.conn())
            .await?;
    let grants = rows
        .iter()
        .map(|r| {
            Ok(Grant {
                offer_id: r.try_get(0)?,
                subject_key: r.try_get(1)?,
                amount: r.try_get(2)?,
                at: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(MemberEventState { grants })
}

/// Applies one offer's outcome; returns it as applied (a withdrawal clipped to what
/// the member still has).
async fn apply(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    offer_name: &str,
    mut outcome: Outcome,
    utc_offset: i32,
) -> Result<Outcome, StoreError> {
    let currency_id = crate::programs::default_currency_in(tx, program_id).await?.id;
    let movement = |amount: i64| Movement {
        member_id,
        currency_id,
        amount,
        card: None,
        description: offer_name.to_string(),
        cause: Cause::operation(&format!("event-offer:{}", outcome.offer_id)),
    };
    match outcome.points.clone() {
        Some(PointsChange::Accrue { points, lifetime }) => {
            let life = lifetime_in(tx, program_id, lifetime.as_deref(), utc_offset).await?;
            accrue_in(tx, program_id, movement(points), life).await?;
        }
        Some(PointsChange::Withdraw { points }) => {
            let left = wallet_balance_of(tx, program_id, currency_id, member_id).await?;
            let taken = points.min(left);
            if taken > 0 {
                withdraw_in(tx, program_id, movement(taken)).await?;
            }
            outcome.points = Some(PointsChange::Withdraw { points: taken });
            if outcome.grant.amount < 0 {
                outcome.grant.amount = -taken;
            }
        }
        None => {}
    }
    for action in &outcome.actions {
        act(tx, program_id, member_id, action).await?;
    }
    sqlx::query(
        "INSERT INTO event_grants (program_id, member_id, offer_id, subject_key, amount, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(program_id)
    .bind(member_id)
    .bind(&outcome.grant.offer_id)
    .bind(&outcome.grant.subject_key)
    .bind(outcome.grant.amount)
    .bind(outcome.grant.at)
    .execute(tx.conn())
    .await?;
    Ok(outcome)
}

/// The lifetime of accrued points: the named definition, else the program's default.
async fn lifetime_in(
    tx: &mut Tx,
    program_id: i64,
    external_id: Option<&str>,
    utc_offset: i32,
) -> Result<Lifetime, StoreError> {
    let row = match external_id {
        Some(id) => {
            sqlx::query("SELECT definition FROM lifetime_definitions WHERE program_id = $1 AND external_id = $2")
                .bind(program_id)
                .bind(id)
                .fetch_optional(tx.conn())
                .await?
                .ok_or(StoreError::NotFound("lifetime definition"))
                .map(Some)?
        }
        None => {
            sqlx::query("SELECT definition FROM lifetime_definitions WHERE program_id = $1 AND is_default = 1")
                .bind(program_id)
                .fetch_optional(tx.conn())
                .await?
        }
    };
    let Some(row) = row else { return Ok(Lifetime::default()) };
    let definition: LifetimeDefinition = serde_json::from_str(&row.try_get::<String, _>(0)?)?;
    Ok(definition.span(tx.now, utc_offset).into())
}

/// A message, a counter or a subscription switch.
async fn act(tx: &mut Tx, program_id: i64, member_id: i64, action: &Action) -> Result<(), StoreError> {
    match action {
        Action::Count { counter } => {
            sqlx::query(
                "INSERT INTO event_counters (member_id, counter, value) VALUES ($1, $2, 1) \
                 ON CONFLICT (member_id, counter) DO UPDATE SET value = event_counters.value + 1",
            )
            .bind(member_id)
            .bind(counter)
            .execute(tx.conn())
            .await?;
        }
        Action::Subscription { topic, on } => {
            let topic = Topic::parse(topic).ok_or_else(|| StoreError::Internal(format!("topic {topic}")))?;
            for channel in SubscriptionChannel::ALL {
                sqlx::query(
                    "INSERT INTO member_subscriptions (member_id, topic, channel, selected, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_id, topic, channel) \
                     DO UPDATE SET selected = excluded.selected, updated_at = excluded.updated_at",
                )
                .bind(member_id)
                .bind(topic.as_str())
                .bind(channel.as_str())
                .bind(i64::from(*on))
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
            }
        }
        Action::Message { channel, template } => {
            let note = crate::integra::send_templated_in(tx, program_id, member_id, template, Map::new()).await?;
            let member = crate::members::member_in_tx(tx, program_id, member_id).await?;
            let message = match channel {
                Channel::Sms => member
                    .phone
                    .map(|phone| NewMessage::new(MessageKind::Sms, phone, json!({"text": plain_text(&note.body)}))),
                Channel::Email => member.email.map(|email| {
                    NewMessage::new(
                        MessageKind::Email,
                        email,
                        json!({"subject": note.title, "body": plain_text(&note.body)}),
                    )
                }),
                Channel::Push => {
                    // A push to each of the member's devices; the app lists it under notifications too.
                    let payload = json!({"title": note.title, "body": plain_text(&note.body), "data": {}});
                    crate::subscriptions::push_to_devices(tx, program_id, member_id, &payload).await?;
                    None
                }
            };
            if let Some(message) = message {
                enqueue(tx, program_id, &message).await?;
            }
        }
    }
    Ok(())
}
