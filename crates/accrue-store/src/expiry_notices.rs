//! Telling members before their points expire: for programs that set
//! `expiry_notice_days`, each member with lots expiring within that many days gets one
//! message (in the app, and by SMS or else e-mail through the outbox) per run, and each
//! lot is told about once.

use crate::integra::send_templated_in;
use crate::members::member_in_tx;
use crate::outbox::{enqueue, NewMessage};
use crate::{Store, StoreError, Tx};
use accrue_core::money::format_minor;
use accrue_core::mustache::plain_text;
use accrue_core::outbox::MessageKind;
use accrue_core::purchase::Settings;
use accrue_core::Millis;
use serde_json::{json, Map, Value};
use sqlx::Row;

/// The message type of the notice (its template is the program's, seeded when missing).
pub const NOTICE: &str = "points_expiring";
const DEFAULT_TITLE: &str = "Баллы сгорают";
const DEFAULT_TEXT: &str = "{{amount}} баллов сгорят {{date}}.";
const DAY: Millis = 86_400_000;

impl Store {
    /// Sends the notices due, up to `batch` members; how many members were told.
    pub async fn send_expiry_notices(&self, batch: i64) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT program_id, settings FROM processing_settings")
            .fetch_all(self.reads())
            .await?;
        let mut told = 0;
        for row in &rows {
            let settings: Settings = serde_json::from_str(&row.try_get::<String, _>(1)?)?;
            let Some(days) = settings.expiry_notice_days else {
                continue;
            };
            let program_id: i64 = row.try_get(0)?;
            let until = self.now() + i64::from(days) * DAY;
            let members = sqlx::query(
                "SELECT DISTINCT a.member_id FROM lots l JOIN accounts a ON a.id = l.account_id \
                 WHERE a.program_id = $1 AND a.kind = 'wallet' AND l.remaining > 0 AND l.expires_at IS NOT NULL \
                 AND l.expires_at <= $2 AND l.expiry_notified_at IS NULL LIMIT $3",
            )
            .bind(program_id)
            .bind(until)
            .bind(batch)
            .fetch_all(self.reads())
            .await?;
            for member in &members {
                let member_id: i64 = member.try_get(0)?;
                let offset = settings.utc_offset_minutes;
                let sent = self
                    .write(move |tx| Box::pin(notify(tx, program_id, member_id, until, offset)))
                    .await?;
                told += u64::from(sent);
            }
        }
        Ok(told)
    }
}

/// Tells one member about their lots expiring by `until` not told about yet; whether
/// there were any (another server may have told them meanwhile).
async fn notify(
    tx: &mut Tx,
    program_id: i64,
    member_id: i64,
    until: Millis,
    utc_offset: i32,
) -> Result<bool, StoreError> {
    let lots = sqlx::query(
        "UPDATE lots SET expiry_notified_at = $3 WHERE expiry_notified_at IS NULL AND remaining > 0 \
         AND expires_at IS NOT NULL AND expires_at <= $2 AND account_id IN \
         (SELECT id FROM accounts WHERE member_id = $1 AND kind = 'wallet') RETURNING remaining, expires_at, account_id",
    )
    .bind(member_id)
    .bind(until)
    .bind(tx.now)
    .fetch_all(tx.conn())
    .await?;
    if lots.is_empty() {
        return Ok(false);
    }
    let mut amount = 0_i64;
    let mut soonest = Millis::MAX;
    for lot in &lots {
        amount += lot.try_get::<i64, _>(0)?;
        soonest = soonest.min(lot.try_get(1)?);
    }
    let currency = crate::programs::default_currency_in(tx, program_id).await?;
    let date = accrue_core::offers::local_time(soonest, utc_offset)
        .format("%d.%m.%Y")
        .to_string();
    seed_template(tx, program_id).await?;
    let params = Map::from_iter([
        (
            "amount".to_string(),
            Value::String(format_minor(amount, currency.scale)),
        ),
        ("date".to_string(), Value::String(date)),
    ]);
    let note = send_templated_in(tx, program_id, member_id, NOTICE, params).await?;
    let member = member_in_tx(tx, program_id, member_id).await?;
    let message = match (member.phone, member.email) {
        (Some(phone), _) => Some(NewMessage::new(
            MessageKind::Sms,
            phone,
            json!({"text": plain_text(&note.body)}),
        )),
        (None, Some(email)) => Some(NewMessage::new(
            MessageKind::Email,
            email,
            json!({"subject": note.title, "body": plain_text(&note.body)}),
        )),
        (None, None) => None,
    };
    if let Some(message) = message {
        enqueue(tx, program_id, &message).await?;
    }
    Ok(true)
}

async fn seed_template(tx: &mut Tx, program_id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notification_templates (program_id, kind, title_template, text_template, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program_id, kind) DO NOTHING",
    )
    .bind(program_id)
    .bind(NOTICE)
    .bind(DEFAULT_TITLE)
    .bind(DEFAULT_TEXT)
    .bind(tx.now)
    .execute(tx.conn())
    .await?;
    Ok(())
}
