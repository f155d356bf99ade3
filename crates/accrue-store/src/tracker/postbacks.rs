//! Postbacks: counting conversions once, the log of every postback, forwarding.

use super::clicks::{click_from, lead_by_id, write_lead_fields, Click, CLICK_COLUMNS};
use super::Integration;
use crate::outbox::{self, NewMessage};
use crate::{Store, StoreError, Tx};
use accrue_core::outbox::{EventType, MessageKind};
use accrue_core::template::UrlTemplate;
use accrue_core::tracker::currency::format_amount;
use accrue_core::tracker::event::{self, Event, FirstDepositSeen, Kind};
use accrue_core::tracker::forward::{self, ForwardData};
use accrue_core::tracker::params::Postback;
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

/// What became of a postback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Counted as a conversion.
    Recorded,
    /// The same conversion was counted before; acknowledged, not counted again.
    Duplicate,
    /// No click has this id; kept, counted nowhere.
    UnknownClick,
    /// No integration has this id.
    UnknownIntegration,
    /// Malformed (amount, currency, event, missing click id, too long).
    Rejected,
    /// Wrong secret or a source address outside the allowlist.
    Forbidden,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Recorded,
        Outcome::Duplicate,
        Outcome::UnknownClick,
        Outcome::UnknownIntegration,
        Outcome::Rejected,
        Outcome::Forbidden,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Recorded => "recorded",
            Outcome::Duplicate => "duplicate",
            Outcome::UnknownClick => "unknown_click",
            Outcome::UnknownIntegration => "unknown_integration",
            Outcome::Rejected => "rejected",
            Outcome::Forbidden => "forbidden",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// A postback as it arrived, for the log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogEntry {
    pub program_id: Option<i64>,
    pub integration_uid: String,
    pub integration_id: Option<i64>,
    pub method: String,
    /// The query string, and a POST's body after a newline.
    pub raw: String,
    pub source_ip: String,
    pub detail: Option<String>,
    pub click_id: Option<String>,
    pub event: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostbackRecord {
    pub id: i64,
    pub integration_uid: String,
    pub method: String,
    pub raw: String,
    pub source_ip: String,
    pub received_at: Millis,
    pub outcome: Outcome,
    pub detail: Option<String>,
    pub click_id: Option<String>,
    pub event: Option<String>,
    pub conversion_id: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostbackFilter {
    pub integration_id: Option<i64>,
    pub outcome: Option<Outcome>,
    pub click_id: Option<String>,
    pub offset: i64,
    pub count: i64,
}

/// A well-formed postback of a known integration, to count.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub integration: Integration,
    pub postback: Postback,
    pub event: Event,
    /// Micros; 0 when the postback has no amount.
    pub amount: i64,
    /// Normalised code, when there is an amount or a currency.
    pub currency: Option<String>,
    pub log: LogEntry,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub outcome: Outcome,
    pub kind: Option<Kind>,
    pub conversion_id: Option<i64>,
    /// `fields.<key>` keys that are not defined, or that had no lead to write to.
    pub ignored_fields: Vec<String>,
}

/// Keeps a postback in the log, whatever it holds: a NUL character (which no stored
/// text may have) shows as U+FFFD.
async fn insert_log(
    tx: &mut Tx,
    entry: &LogEntry,
    outcome: Outcome,
    conversion_id: Option<i64>,
) -> Result<(), StoreError> {
    let text = |t: &str| t.replace('\0', "\u{FFFD}");
    let some_text = |t: &Option<String>| t.as_deref().map(text);
    sqlx::query(
        "INSERT INTO tracker_postbacks (program_id, integration_uid, integration_id, method, raw, source_ip, \
         received_at, outcome, detail, click_id, event, conversion_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(entry.program_id)
    .bind(text(&entry.integration_uid))
    .bind(entry.integration_id)
    .bind(text(&entry.method))
    .bind(text(&entry.raw))
    .bind(&entry.source_ip)
    .bind(tx.now)
    .bind(outcome.as_str())
    .bind(some_text(&entry.detail))
    .bind(some_text(&entry.click_id))
    .bind(some_text(&entry.event))
    .bind(conversion_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

fn record_from(row: &AnyRow) -> Result<PostbackRecord, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    Ok(PostbackRecord {
        id: row.try_get("id")?,
        integration_uid: row.try_get("integration_uid")?,
        method: row.try_get("method")?,
        raw: row.try_get("raw")?,
        source_ip: row.try_get("source_ip")?,
        received_at: row.try_get("received_at")?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| StoreError::Internal(format!("bad outcome {outcome}")))?,
        detail: row.try_get("detail")?,
        click_id: row.try_get("click_id")?,
        event: row.try_get("event")?,
        conversion_id: row.try_get("conversion_id")?,
    })
}

/// Every postback draws on its integration's allowance (unknown integrations share
/// one), whichever server it reaches; over it, nothing is written. Drawn last in the
/// transaction: the bucket's row is locked from the draw to the commit, and postbacks
/// of one integration must not queue behind each other's whole work for it.
async fn draw_allowance(tx: &mut Tx, entry: &LogEntry, per_minute: i64) -> Result<(), StoreError> {
    let key = match entry.integration_id {
        Some(id) => format!("tracker:{id}"),
        None => "tracker:unknown".to_string(),
    };
    crate::rate_limits::take(tx, &key, per_minute).await
}

impl Store {
    /// Keeps a postback that was refused before it could be counted; `per_minute` is the
    /// allowance it draws on ([`StoreError::RateLimited`] past it, and nothing is kept).
    pub async fn log_postback(&self, entry: LogEntry, outcome: Outcome, per_minute: i64) -> Result<(), StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                insert_log(tx, &entry, outcome, None).await?;
                draw_allowance(tx, &entry, per_minute).await
            })
        })
        .await
    }

    /// Counts a postback (once), writes its lead fields, queues its forward and
    /// `conversion.recorded` event, and logs it: all in one transaction, within the
    /// integration's rate limit.
    pub async fn ingest_postback(&self, ingest: Ingest) -> Result<IngestOutcome, StoreError> {
        self.write(move |tx| {
            Box::pin(async move {
                let (log, per_minute) = (ingest.log.clone(), ingest.integration.rate_limit_per_minute);
                let done = ingest_in(tx, ingest).await?;
                draw_allowance(tx, &log, per_minute).await?;
                Ok(done)
            })
        })
        .await
    }

    /// The postback log, newest first. Postbacks to unknown integrations belong to no
    /// program and are listed with every program's.
    pub async fn postbacks(&self, program_id: i64, filter: PostbackFilter) -> Result<Vec<PostbackRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT id, integration_uid, method, raw, source_ip, received_at, outcome, detail, click_id, event, \
             conversion_id FROM tracker_postbacks WHERE (program_id = $1 OR program_id IS NULL)",
        );
        let mut n = 1;
        let mut next = |column: &str| {
            n += 1;
            format!(" AND {column} = ${n}")
        };
        if filter.integration_id.is_some() {
            sql += &next("integration_id");
        }
        if filter.outcome.is_some() {
            sql += &next("outcome");
        }
        if filter.click_id.is_some() {
            sql += &next("click_id");
        }
        sql += &format!(" ORDER BY id DESC LIMIT {} OFFSET {}", filter.count, filter.offset);
        let mut query = sqlx::query(&sql).bind(program_id);
        if let Some(id) = filter.integration_id {
            query = query.bind(id);
        }
        if let Some(outcome) = filter.outcome {
            query = query.bind(outcome.as_str());
        }
        if let Some(click) = &filter.click_id {
            query = query.bind(click.clone());
        }
        let rows = query.fetch_all(self.reads()).await?;
        rows.iter().map(record_from).collect()
    }
}

async fn ingest_in(tx: &mut Tx, ingest: Ingest) -> Result<IngestOutcome, StoreError> {
    let Ingest {
        integration,
        postback,
        event,
        amount,
        currency,
        log,
    } = ingest;
    // The click's row lock serialises postbacks of one click on PostgreSQL (SQLite has
    // one writer), so the first-deposit check below sees every earlier conversion.
    let sql = format!(
        "SELECT {CLICK_COLUMNS} FROM tracker_clicks WHERE click_id = $1 AND program_id = $2{}",
        tx.for_update()
    );
    let click = sqlx::query(&sql)
        .bind(&postback.click_id)
        .bind(integration.program_id)
        .fetch_optional(tx.conn())
        .await?;
    let Some(click) = click.as_ref().map(click_from).transpose()? else {
        insert_log(tx, &log, Outcome::UnknownClick, None).await?;
        return Ok(IngestOutcome {
            outcome: Outcome::UnknownClick,
            kind: None,
            conversion_id: None,
            ignored_fields: postback.fields.iter().map(|(k, _)| k.clone()).collect(),
        });
    };
    let first = match event {
        Event::Sale => first_deposit_tid(tx, click.id).await?,
        _ => None,
    };
    let counted = event::count(
        &event,
        postback.tid.as_deref(),
        first.as_ref().map(|tid| FirstDepositSeen { tid: tid.as_deref() }),
        &postback.fingerprint,
    );
    let inserted = sqlx::query(
        "INSERT INTO tracker_conversions (program_id, integration_id, click_row, link_id, lead_id, kind, event, \
         dedup_key, amount, currency, tid, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (click_row, dedup_key) DO NOTHING RETURNING id",
    )
    .bind(integration.program_id)
    .bind(integration.id)
    .bind(click.id)
    .bind(click.link_id)
    .bind(click.lead_id)
    .bind(counted.kind.as_str())
    .bind(&postback.event)
    .bind(&counted.dedup_key)
    .bind(amount)
    .bind(&currency)
    .bind(&postback.tid)
    .bind(tx.now)
    .fetch_optional(tx.conn())
    .await?;
    let conversion_id: Option<i64> = inserted.map(|r| r.try_get(0)).transpose()?;
    let ignored_fields = write_fields(tx, integration.program_id, &click, &postback.fields).await?;
    let outcome = match conversion_id {
        Some(id) => {
            let lead = match click.lead_id {
                Some(id) => Some(lead_by_id(tx, id).await?.external_id),
                None => None,
            };
            let amount_text = currency.as_ref().map(|_| format_amount(amount));
            let data = ForwardData {
                click_id: &click.click_id,
                event: &postback.event,
                kind: counted.kind.as_str(),
                amount: amount_text.clone(),
                currency: currency.as_deref(),
                tid: postback.tid.as_deref(),
                lead: lead.as_deref(),
                subs: &click.subs,
            };
            forward_conversion(tx, &integration, &data).await?;
            let event_data = json!({
                "conversion_id": id,
                "integration": integration.uid,
                "link_id": click.link_id,
                "click_id": click.click_id,
                "lead": lead,
                "kind": counted.kind.as_str(),
                "event": postback.event,
                "amount": amount_text,
                "currency": currency,
                "tid": postback.tid,
            });
            outbox::emit(
                tx,
                integration.program_id,
                EventType::ConversionRecorded,
                event_data,
                None,
            )
            .await?;
            Outcome::Recorded
        }
        None => Outcome::Duplicate,
    };
    let mut log = log;
    if !ignored_fields.is_empty() {
        let note = format!("ignored fields: {}", ignored_fields.join(", "));
        log.detail = Some(match log.detail.take() {
            Some(d) => format!("{d}; {note}"),
            None => note,
        });
    }
    insert_log(tx, &log, outcome, conversion_id).await?;
    Ok(IngestOutcome {
        outcome,
        kind: Some(counted.kind),
        conversion_id,
        ignored_fields,
    })
}

/// `Some(tid)` when the click has a first deposit.
async fn first_deposit_tid(tx: &mut Tx, click_row: i64) -> Result<Option<Option<String>>, StoreError> {
    let row = sqlx::query("SELECT tid FROM tracker_conversions WHERE click_row = $1 AND dedup_key = 'fd'")
        .bind(click_row)
        .fetch_optional(tx.conn())
        .await?;
    row.map(|r| r.try_get::<Option<String>, _>(0))
        .transpose()
        .map_err(Into::into)
}

/// Writes the defined `fields.<key>` values on the click's lead; returns the keys ignored.
async fn write_fields(
    tx: &mut Tx,
    program_id: i64,
    click: &Click,
    fields: &[(String, String)],
) -> Result<Vec<String>, StoreError> {
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    let Some(lead_id) = click.lead_id else {
        return Ok(fields.iter().map(|(k, _)| k.clone()).collect());
    };
    let defined: Vec<String> = sqlx::query("SELECT key FROM tracker_fields WHERE program_id = $1")
        .bind(program_id)
        .fetch_all(tx.conn())
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut lead = lead_by_id(tx, lead_id).await?;
    let mut ignored = Vec::new();
    for (key, value) in fields {
        if defined.contains(key) {
            lead.fields
                .insert(key.clone(), Value::String(value.chars().take(1000).collect()));
        } else {
            tracing::info!(key = %key, "postback field is not defined; ignored");
            ignored.push(key.chars().take(64).collect());
        }
    }
    if ignored.len() < fields.len() {
        write_lead_fields(tx, &lead).await?;
    }
    Ok(ignored)
}

/// Queues the integration's forwarded postback, when it has one.
async fn forward_conversion(tx: &mut Tx, integration: &Integration, data: &ForwardData<'_>) -> Result<(), StoreError> {
    let Some(source) = &integration.forward_url else {
        return Ok(());
    };
    let template = UrlTemplate::parse(source, forward::PLACEHOLDERS)
        .map_err(|e| StoreError::Internal(format!("stored forward_url is invalid: {e}")))?;
    let message = NewMessage::new(MessageKind::HttpGet, template.render(&forward::values(data)), json!({}));
    outbox::enqueue(tx, integration.program_id, &message).await?;
    Ok(())
}
