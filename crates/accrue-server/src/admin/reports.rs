//! Figures for dashboards: members, points accrued, spent and expired per program-local
//! day and currency, purchases and revenue per day, and the referral funnel.

use super::views::{decimal, money};
use super::ProgramParam;
use crate::extract::Query;
use crate::{ApiError, AppState};
use accrue_core::ledger::PostingKind;
use accrue_core::Millis;
use accrue_store::Program;
use axum::extract::State;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::IntoParams;

const DAY_MS: i64 = 86_400_000;
/// The longest period one report covers.
const MAX_DAYS: i64 = 366;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    pub program: Option<String>,
    /// The first day (`2026-11-01`, program-local); 29 days before `to` when absent.
    pub from: Option<String>,
    /// The last day, included; today when absent.
    pub to: Option<String>,
}

/// Points per day: `accrued` (accruals less accruals taken back on refunds), `spent`
/// (write-offs and payments less payments returned on refunds), `expired`; with the
/// program's members, all and those who joined in the period.
#[utoipa::path(operation_id = "reports_points", get, path = "/admin/v1/reports/points", params(PeriodQuery),
    responses((status = 200, body = Object), (status = 400)), tag = "reports")]
pub async fn points(
    State(state): State<AppState>,
    Query(q): Query<PeriodQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let Period {
        program,
        offset,
        from,
        to,
        first,
        days,
        start,
        end,
    } = q.resolve(&state).await?;
    let totals = state.store.points_by_day(program.id, start, end, offset).await?;
    let (members, joined) = state.store.member_counts(program.id, start, end).await?;
    let currencies = state.store.currencies(program.id).await?;
    // By currency, then day: [accrued, spent, expired].
    let mut sums: BTreeMap<i64, BTreeMap<i64, [i64; 3]>> = BTreeMap::new();
    for t in &totals {
        let (slot, sign) = match t.kind {
            PostingKind::Accrual => (0, 1),
            PostingKind::AccrualReversal => (0, -1),
            PostingKind::Withdrawal | PostingKind::HoldCapture => (1, 1),
            PostingKind::Refund => (1, -1),
            PostingKind::Expiry => (2, 1),
            PostingKind::HoldReserve | PostingKind::HoldVoid => continue,
        };
        sums.entry(t.currency_id).or_default().entry(t.day).or_default()[slot] += sign * t.amount;
    }
    let per_currency: Vec<Value> = currencies
        .iter()
        .filter_map(|c| {
            let by_day = sums.get(&c.id)?;
            let mut total = [0; 3];
            let days: Vec<Value> = (first..first + days)
                .map(|d| {
                    let v = by_day.get(&d).copied().unwrap_or_default();
                    (0..3).for_each(|i| total[i] += v[i]);
                    json!({"day": (NaiveDate::default() + Duration::days(d)).to_string(),
                           "accrued": decimal(v[0], c), "spent": decimal(v[1], c), "expired": decimal(v[2], c)})
                })
                .collect();
            let totals = json!({"accrued": decimal(total[0], c), "spent": decimal(total[1], c), "expired": decimal(total[2], c)});
            Some(json!({"currency": c.code, "days": days, "totals": totals}))
        })
        .collect();
    Ok(axum::Json(json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "members": {"total": members, "joined": joined},
        "currencies": per_currency,
    })))
}

/// A report's period: program-local days, and the instants they span.
struct Period {
    program: Program,
    offset: i32,
    from: NaiveDate,
    to: NaiveDate,
    /// `from` as days since 1970-01-01.
    first: i64,
    days: i64,
    start: Millis,
    end: Millis,
}

impl PeriodQuery {
    async fn resolve(self, state: &AppState) -> Result<Period, ApiError> {
        let program = ProgramParam { program: self.program }.resolve(&state.store).await?;
        let offset = state.store.processing_settings(program.id).await?.utc_offset_minutes;
        let today = accrue_core::offers::local_time(state.store.now(), offset).date();
        let to = day(self.to.as_deref(), "to")?.unwrap_or(today);
        let from = day(self.from.as_deref(), "from")?.unwrap_or(to - Duration::days(29));
        let days = (to - from).num_days() + 1;
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ApiError::invalid(format!(
                "from must be on or before to, at most {MAX_DAYS} days apart"
            )));
        }
        let first = from.signed_duration_since(NaiveDate::default()).num_days();
        let local_ms = i64::from(offset) * 60_000;
        let (start, end) = (first * DAY_MS - local_ms, (first + days) * DAY_MS - local_ms);
        Ok(Period {
            program,
            offset,
            from,
            to,
            first,
            days,
            start,
            end,
        })
    }
}

/// Purchases confirmed per day (count, and revenue: the cheques' totals after all
/// discounts, points paid included, in money with two decimals), and the referral
/// funnel: invite clicks, invited registrations, approved, rewarded.
#[utoipa::path(operation_id = "reports_activity", get, path = "/admin/v1/reports/activity", params(PeriodQuery),
    responses((status = 200, body = Object), (status = 400)), tag = "reports")]
pub async fn activity(
    State(state): State<AppState>,
    Query(q): Query<PeriodQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let Period {
        program,
        offset,
        from,
        to,
        first,
        days,
        start,
        end,
    } = q.resolve(&state).await?;
    let sold = state.store.purchases_by_day(program.id, start, end, offset).await?;
    let funnel = state.store.referral_funnel(program.id, start, end).await?;
    let by_day: BTreeMap<i64, (i64, i64)> = sold.iter().map(|d| (d.day, (d.count, d.revenue))).collect();
    let days: Vec<Value> = (first..first + days)
        .map(|d| {
            let (count, revenue) = by_day.get(&d).copied().unwrap_or_default();
            json!({"day": (NaiveDate::default() + Duration::days(d)).to_string(), "count": count, "revenue": money(revenue)})
        })
        .collect();
    Ok(axum::Json(json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "purchases": {
            "count": sold.iter().map(|d| d.count).sum::<i64>(),
            "revenue": money(sold.iter().map(|d| d.revenue).sum()),
            "days": days,
        },
        "referrals": {
            "clicks": funnel.clicks,
            "registrations": funnel.registrations,
            "approved": funnel.approved,
            "rewarded": funnel.rewarded,
        },
    })))
}

fn day(text: Option<&str>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    text.map(|t| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid(format!("{name} must be a date such as 2026-01-31, got {t:?}")))
    })
    .transpose()
}
