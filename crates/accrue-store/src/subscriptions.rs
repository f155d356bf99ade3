//! Members' consents to be told things, the devices their apps take pushes on, and
//! sending to those who agreed: a message on a topic by a channel goes only to active
//! members who said yes (or, for system messages, did not say no — they cannot).

use crate::outbox::{enqueue, NewMessage};
use crate::{Store, StoreError, Tx};
use accrue_core::outbox::MessageKind;
use accrue_core::subscriptions::{by_default, Channel, Topic};
use serde_json::Value;
use sqlx::Row;

/// One consent: a topic, a channel and whether the member agreed.
pub type Consent = (Topic, Channel, bool);

/// What a message to subscribers says, by the channel it goes through.
#[derive(Debug, Clone)]
pub enum Content {
    Sms {
        text: String,
    },
    Email {
        subject: String,
        body: String,
    },
    /// To every push device of the member.
    Push {
        title: String,
        body: String,
    },
}

/// A device of a member's app registered for pushes.
#[derive(Debug, Clone)]
pub struct PushDevice {
    /// The app's id of the device (`X-DeviceId`).
    pub device_id: String,
    /// `Android`, `Ios` or `Harmony`.
    pub platform: String,
    pub platform_version: Option<String>,
    /// `Fcm`, `Apns` or `HMS`.
    pub push_service: Option<String>,
    pub user_agent: Option<String>,
    /// The push service's token for the app on the device.
    pub token: String,
}

/// How sending to subscribers went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Messages queued (for pushes, one per device).
    pub queued: u64,
    /// Members asked for who did not agree, are not active or have no address there.
    pub passed_over: u64,
}

impl Store {
    /// Every consent of the member: stored, or the default.
    pub async fn subscriptions(&self, member_id: i64) -> Result<Vec<Consent>, StoreError> {
        let rows = sqlx::query("SELECT topic, channel, selected FROM member_subscriptions WHERE member_id = $1")
            .bind(member_id)
            .fetch_all(self.reads())
            .await?;
        let mut stored = Vec::with_capacity(rows.len());
        for r in &rows {
            let topic = Topic::parse(&r.try_get::<String, _>(0)?);
            let channel = Channel::parse(&r.try_get::<String, _>(1)?);
            if let (Some(t), Some(c)) = (topic, channel) {
                stored.push((t, c, r.try_get::<i64, _>(2)? != 0));
            }
        }
        let consents = Topic::ALL.into_iter().flat_map(|t| Channel::ALL.map(|c| (t, c)));
        Ok(consents
            .map(|(t, c)| {
                let said = stored.iter().find(|(st, sc, _)| (*st, *sc) == (t, c));
                (t, c, said.map_or(by_default(t, c), |s| s.2))
            })
            .collect())
    }

    /// Records the member's answers (the caller keeps read-only consents out).
    pub async fn set_subscriptions(&self, member_id: i64, answers: Vec<Consent>) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                for (topic, channel, selected) in &answers {
                    sqlx::query(
                        "INSERT INTO member_subscriptions (member_id, topic, channel, selected, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (member_id, topic, channel) \
                         DO UPDATE SET selected = excluded.selected, updated_at = excluded.updated_at",
                    )
                    .bind(member_id)
                    .bind(topic.as_str())
                    .bind(channel.as_str())
                    .bind(*selected as i64)
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Queues `content` on `topic` for each of `members` (every member of the program
    /// when `None`) who agreed to it by the content's channel.
    pub async fn send_to_subscribers(
        &self,
        program_id: i64,
        topic: Topic,
        content: Content,
        members: Option<Vec<i64>>,
    ) -> Result<Sent, StoreError> {
        // The address column, for pushes one that is there when the member has devices.
        let (channel, kind, address) = match &content {
            Content::Sms { .. } => (Channel::Sms, MessageKind::Sms, "m.phone"),
            Content::Email { .. } => (Channel::Email, MessageKind::Email, "m.email"),
            Content::Push { .. } => (
                Channel::Push,
                MessageKind::Push,
                "(SELECT MIN(d.device_id) FROM push_devices d WHERE d.member_id = m.id)",
            ),
        };
        let payload = match &content {
            Content::Sms { text } => serde_json::json!({ "text": text }),
            Content::Email { subject, body } => serde_json::json!({ "subject": subject, "body": body }),
            Content::Push { title, body } => serde_json::json!({ "title": title, "body": body, "data": {} }),
        };
        self.write(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT m.id, {address}, m.state, COALESCE(s.selected, $4) FROM members m \
                     LEFT JOIN member_subscriptions s ON s.member_id = m.id AND s.topic = $2 AND s.channel = $3 \
                     WHERE m.program_id = $1 ORDER BY m.id"
                );
                let rows = sqlx::query(&sql)
                    .bind(program_id)
                    .bind(topic.as_str())
                    .bind(channel.as_str())
                    .bind(by_default(topic, channel) as i64)
                    .fetch_all(tx.conn())
                    .await?;
                let mut sent = Sent {
                    queued: 0,
                    passed_over: 0,
                };
                let mut considered = 0;
                for r in &rows {
                    let id: i64 = r.try_get(0)?;
                    if members.as_ref().is_some_and(|ids| !ids.contains(&id)) {
                        continue;
                    }
                    considered += 1;
                    let target: Option<String> = r.try_get(1)?;
                    let active = matches!(r.try_get::<String, _>(2)?.as_str(), "active" | "registering");
                    match target.filter(|_| active && r.try_get::<i64, _>(3).unwrap_or(0) != 0) {
                        Some(_) if kind == MessageKind::Push => {
                            sent.queued += push_to_devices(tx, program_id, id, &payload).await?;
                        }
                        Some(target) => {
                            enqueue(tx, program_id, &NewMessage::new(kind, target, payload.clone())).await?;
                            sent.queued += 1;
                        }
                        None => sent.passed_over += 1,
                    }
                }
                // Ids of no member of the program are passed over too.
                if let Some(ids) = &members {
                    sent.passed_over += ids.len() as u64 - considered;
                }
                Ok(sent)
            })
        })
        .await
    }
}

/// Queues `payload` as a push to each device of the member; how many.
pub(crate) async fn push_to_devices(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    payload: &Value,
) -> Result<u64, StoreError> {
    let devices = sqlx::query(
        "SELECT device_id, platform, sealed_token FROM push_devices WHERE program_id = $1 AND member_id = $2 \
         ORDER BY device_id",
    )
    .bind(program_id)
    .bind(member_id)
    .fetch_all(tx.conn())
    .await?;
    for d in &devices {
        let mut payload = payload.clone();
        payload["platform"] = Value::String(d.try_get(1)?);
        // The token travels sealed and is filled in when the push is sent.
        payload["token"] = Value::String("{token}".into());
        let message = NewMessage {
            sealed_secrets: Some(d.try_get(2)?),
            ..NewMessage::new(MessageKind::Push, d.try_get(0)?, payload)
        };
        enqueue(tx, program_id, &message).await?;
    }
    Ok(devices.len() as u64)
}

impl Store {
    /// Registers (or moves to this member, or updates) a device for pushes.
    pub async fn register_push_device(&self, program_id: i64, member_id: i64, d: PushDevice) -> Result<(), StoreError> {
        let sealed = self.sealer().seal(&serde_json::json!({ "token": d.token }).to_string());
        self.write(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO push_devices (program_id, device_id, member_id, platform, platform_version, \
                     push_service, user_agent, sealed_token, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (program_id, device_id) DO UPDATE SET member_id = excluded.member_id, \
                     platform = excluded.platform, platform_version = excluded.platform_version, \
                     push_service = excluded.push_service, user_agent = excluded.user_agent, \
                     sealed_token = excluded.sealed_token, updated_at = excluded.updated_at",
                )
                .bind(program_id)
                .bind(&d.device_id)
                .bind(member_id)
                .bind(&d.platform)
                .bind(&d.platform_version)
                .bind(&d.push_service)
                .bind(&d.user_agent)
                .bind(&sealed)
                .bind(tx.now)
                .execute(tx.conn())
                .await?;
                Ok(())
            })
        })
        .await
    }
}
