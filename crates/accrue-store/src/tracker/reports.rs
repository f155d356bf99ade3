//! What the tracker counted: totals per integration, link and day; a lead's clicks and
//! conversions; the operator's exchange rates.

use super::clicks::{click_from, Click, Lead, CLICK_COLUMNS};
use super::{invalid, json};
use crate::cache::memoized;
use crate::{Store, StoreError};
use accrue_core::tracker::currency;
use accrue_core::tracker::event::Kind;
pub use accrue_core::tracker::stats::{ClickTotals, ConversionTotals};
use accrue_core::Millis;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

/// A day is `time / DAY_MS` (UTC).
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFilter {
    pub from: Millis,
    /// Exclusive.
    pub to: Millis,
    pub integration_id: Option<i64>,
    pub link_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    pub id: i64,
    pub integration_id: i64,
    pub click_id: String,
    pub link_id: i64,
    pub kind: Kind,
    pub event: String,
    pub amount: i64,
    pub currency: Option<String>,
    pub tid: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadView {
    pub lead: Lead,
    pub clicks: Vec<Click>,
    pub conversions: Vec<Conversion>,
}

/// Exchange rates the operator maintains: the value of one unit of each currency in
/// the report currency (decimal text, exact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub report_currency: String,
    pub rates: BTreeMap<String, String>,
    pub updated_at: Option<Millis>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            report_currency: "USD".into(),
            rates: BTreeMap::new(),
            updated_at: None,
        }
    }
}

/// `AND column = $n` for each filter given, numbered from `first`.
fn filters(filter: &StatsFilter, first: usize) -> (String, Vec<i64>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    for (column, value) in [("integration_id", filter.integration_id), ("link_id", filter.link_id)] {
        if let Some(value) = value {
            sql += &format!(" AND {column} = ${}", first + binds.len());
            binds.push(value);
        }
    }
    (sql, binds)
}

fn kind_from(text: &str) -> Result<Kind, StoreError> {
    Kind::parse(text).ok_or_else(|| StoreError::Internal(format!("bad conversion kind {text}")))
}

fn conversion_from(row: &AnyRow) -> Result<Conversion, StoreError> {
    Ok(Conversion {
        id: row.try_get("id")?,
        integration_id: row.try_get("integration_id")?,
        click_id: row.try_get("click_id")?,
        link_id: row.try_get("link_id")?,
        kind: kind_from(&row.try_get::<String, _>("kind")?)?,
        event: row.try_get("event")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        tid: row.try_get("tid")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Totals for the statistics, and the number of distinct leads over the whole period.
    pub async fn tracker_stats(
        &self,
        program_id: i64,
        filter: &StatsFilter,
    ) -> Result<(Vec<ClickTotals>, Vec<ConversionTotals>, i64), StoreError> {
        let (extra, binds) = filters(filter, 4);
        let range = "program_id = $1 AND created_at >= $2 AND created_at < $3";
        let sql = format!(
            "SELECT integration_id, link_id, created_at / {DAY_MS} AS day, COUNT(*), COUNT(DISTINCT lead_id) \
             FROM tracker_clicks WHERE {range}{extra} GROUP BY integration_id, link_id, created_at / {DAY_MS}"
        );
        let mut query = sqlx::query(&sql).bind(program_id).bind(filter.from).bind(filter.to);
        for b in &binds {
            query = query.bind(*b);
        }
        let clicks = query
            .fetch_all(self.reads())
            .await?
            .iter()
            .map(|r| {
                Ok(ClickTotals {
                    integration_id: r.try_get(0)?,
                    link_id: r.try_get(1)?,
                    day: r.try_get(2)?,
                    clicks: r.try_get(3)?,
                    leads: r.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sql = format!(
            "SELECT integration_id, link_id, created_at / {DAY_MS} AS day, kind, currency, COUNT(*), \
             CAST(SUM(amount) AS BIGINT) FROM tracker_conversions WHERE {range}{extra} \
             GROUP BY integration_id, link_id, created_at / {DAY_MS}, kind, currency"
        );
        let mut query = sqlx::query(&sql).bind(program_id).bind(filter.from).bind(filter.to);
        for b in &binds {
            query = query.bind(*b);
        }
        let conversions = query
            .fetch_all(self.reads())
            .await?
            .iter()
            .map(|r| {
                Ok(ConversionTotals {
                    integration_id: r.try_get(0)?,
                    link_id: r.try_get(1)?,
                    day: r.try_get(2)?,
                    kind: kind_from(&r.try_get::<String, _>(3)?)?,
                    currency: r.try_get(4)?,
                    count: r.try_get(5)?,
                    amount: r.try_get(6)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sql = format!("SELECT COUNT(DISTINCT lead_id) FROM tracker_clicks WHERE {range}{extra}");
        let mut query = sqlx::query(&sql).bind(program_id).bind(filter.from).bind(filter.to);
        for b in &binds {
            query = query.bind(*b);
        }
        let leads: i64 = query.fetch_one(self.reads()).await?.try_get(0)?;
        Ok((clicks, conversions, leads))
    }

    /// A lead with its clicks and their conversions.
    pub async fn lead_view(&self, program_id: i64, external_id: &str) -> Result<LeadView, StoreError> {
        let lead = self.lead(program_id, external_id).await?;
        let sql = format!("SELECT {CLICK_COLUMNS} FROM tracker_clicks WHERE lead_id = $1 ORDER BY id");
        let clicks = sqlx::query(&sql)
            .bind(lead.id)
            .fetch_all(self.reads())
            .await?
            .iter()
            .map(click_from)
            .collect::<Result<Vec<_>, _>>()?;
        let conversions = sqlx::query(
            "SELECT v.id, v.integration_id, c.click_id, v.link_id, v.kind, v.event, v.amount, v.currency, v.tid, \
             v.created_at FROM tracker_conversions v JOIN tracker_clicks c ON c.id = v.click_row \
             WHERE v.lead_id = $1 ORDER BY v.id",
        )
        .bind(lead.id)
        .fetch_all(self.reads())
        .await?
        .iter()
        .map(conversion_from)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(LeadView {
            lead,
            clicks,
            conversions,
        })
    }

    pub async fn tracker_settings(&self, program_id: i64) -> Result<Settings, StoreError> {
        memoized!(
            self,
            tracker_settings,
            program_id,
            self.stored_tracker_settings(program_id).await
        )
    }

    async fn stored_tracker_settings(&self, program_id: i64) -> Result<Settings, StoreError> {
        let row = sqlx::query("SELECT report_currency, rates, updated_at FROM tracker_settings WHERE program_id = $1")
            .bind(program_id)
            .fetch_optional(self.reads())
            .await?;
        match row {
            Some(r) => Ok(Settings {
                report_currency: r.try_get(0)?,
                rates: json(&r.try_get::<String, _>(1)?)?,
                updated_at: Some(r.try_get(2)?),
            }),
            None => Ok(Settings::default()),
        }
    }

    /// Replaces the report currency and the rates (codes are normalised, rates must be
    /// positive decimals).
    pub async fn put_tracker_settings(&self, program_id: i64, settings: Settings) -> Result<Settings, StoreError> {
        let report = currency::normalize(&settings.report_currency).map_err(invalid)?;
        let mut rates = BTreeMap::new();
        for (code, rate) in &settings.rates {
            let code = currency::normalize(code).map_err(invalid)?;
            let parsed: rust_decimal::Decimal = rate
                .trim()
                .parse()
                .map_err(|_| StoreError::Invalid(format!("rate of {code} must be a decimal number, got {rate:?}")))?;
            if parsed <= rust_decimal::Decimal::ZERO {
                return Err(StoreError::Invalid(format!("rate of {code} must be positive")));
            }
            rates.insert(code, parsed.normalize().to_string());
        }
        let text = serde_json::to_string(&rates)?;
        let stored_report = report.clone();
        let updated_at = self
            .write(move |tx| {
                Box::pin(async move {
                    tx.changes_config().await?;
                    sqlx::query(
                        "INSERT INTO tracker_settings (program_id, report_currency, rates, updated_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (program_id) DO UPDATE SET \
                         report_currency = excluded.report_currency, rates = excluded.rates, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(program_id)
                    .bind(&stored_report)
                    .bind(&text)
                    .bind(tx.now)
                    .execute(tx.conn())
                    .await?;
                    Ok(tx.now)
                })
            })
            .await?;
        Ok(Settings {
            report_currency: report,
            rates,
            updated_at: Some(updated_at),
        })
    }
}
