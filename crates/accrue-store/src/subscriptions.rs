//! Members' consents to be told things, and sending to those who agreed: a message on a
//! topic by a channel goes only to active members who said yes (or, for system
//! messages, did not say no — they cannot).

use crate::outbox::{enqueue, NewMessage};
use crate::{Store, StoreError};
use accrue_core::outbox::MessageKind;
use accrue_core::subscriptions::{by_default, Channel, Topic};
use sqlx::Row;

/// One consent: a topic, a channel and whether the member agreed.
pub type Consent = (Topic, Channel, bool);

/// What a message to subscribers says, by the channel it goes through.
#[derive(Debug, Clone)]
pub enum Content {
    Sms { text: String },
    Email { subject: String, body: String },
}

/// How sending to subscribers went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub queued: u64,
    /// Members asked for who did not agree, are not active or have no address there.
    pub passed_over: u64,
}

impl Store {
    /// Every consent of the member: stored, or the default.
    pub async fn subscriptions(&self, member_id: i64) -> Result<Vec<Consent>, StoreError> {
        let rows = sqlx::query("SELECT topic, channel, selected FROM member_subscriptions WHERE member_id = $1")
            .bind(member_id)
            .fetch_all(self.pool())
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
        let (channel, kind, address) = match &content {
            Content::Sms { .. } => (Channel::Sms, MessageKind::Sms, "m.phone"),
            Content::Email { .. } => (Channel::Email, MessageKind::Email, "m.email"),
        };
        let payload = match &content {
            Content::Sms { text } => serde_json::json!({ "text": text }),
            Content::Email { subject, body } => serde_json::json!({ "subject": subject, "body": body }),
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
                for r in &rows {
                    let id: i64 = r.try_get(0)?;
                    if members.as_ref().is_some_and(|ids| !ids.contains(&id)) {
                        continue;
                    }
                    let target: Option<String> = r.try_get(1)?;
                    let active = matches!(r.try_get::<String, _>(2)?.as_str(), "active" | "registering");
                    match target.filter(|_| active && r.try_get::<i64, _>(3).unwrap_or(0) != 0) {
                        Some(target) => {
                            enqueue(tx, program_id, &NewMessage::new(kind, target, payload.clone())).await?;
                            sent.queued += 1;
                        }
                        None => sent.passed_over += 1,
                    }
                }
                // Ids of no member of the program are passed over too.
                let asked = members.as_ref().map_or(0, |ids| ids.len() as u64);
                let seen = sent.queued + sent.passed_over;
                if members.is_some() && asked > seen {
                    sent.passed_over += asked - seen;
                }
                Ok(sent)
            })
        })
        .await
    }
}
