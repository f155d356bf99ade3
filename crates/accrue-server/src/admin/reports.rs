//! Figures for dashboards: members, and points accrued, spent and expired per
//! program-local day and currency.

use super::views::decimal;
use super::ProgramParam;
use crate::extract::Query;
use crate::{ApiError, AppState};
use accrue_core::ledger::PostingKind;
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
    let program = ProgramParam { program: q.program }.resolve(&state.store).await?;
    let offset = state.store.processing_settings(program.id).await?.utc_offset_minutes;
    let today = accrue_core::offers::local_time(state.store.now(), offset).date();
    let to = day(q.to.as_deref(), "to")?.unwrap_or(today);
    let from = day(q.from.as_deref(), "from")?.unwrap_or(to - Duration::days(29));
    let days = (to - from).num_days() + 1;
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid(format!(
            "from must be on or before to, at most {MAX_DAYS} days apart"
        )));
    }
    let first = from.signed_duration_since(NaiveDate::default()).num_days();
    let local_ms = i64::from(offset) * 60_000;
    let (start, end) = (first * DAY_MS - local_ms, (first + days) * DAY_MS - local_ms);
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

fn day(text: Option<&str>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    text.map(|t| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid(format!("{name} must be a date such as 2026-01-31, got {t:?}")))
    })
    .transpose()
}
