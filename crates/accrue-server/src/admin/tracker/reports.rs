//! What the tracker saw: the postback log, statistics (JSON or CSV), a lead's clicks
//! and conversions, and the exchange rates of the report currency.

use super::links::LeadSummary;
use crate::admin::views::{time, Items};
use crate::admin::{Paging, ProgramParam};
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};
use accrue_core::tracker::currency::format_amount;
use accrue_core::tracker::stats::{self, ClickTotals, ConversionTotals, Row, Tally};
use accrue_store::tracker::{Outcome, PostbackFilter, Settings, StatsFilter};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostbackQuery {
    pub program: Option<String>,
    /// An integration's id.
    pub integration: Option<String>,
    /// recorded, duplicate, unknown_click, unknown_integration, rejected, forbidden
    pub outcome: Option<String>,
    pub click_id: Option<String>,
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostbackView {
    pub id: i64,
    pub integration: String,
    pub method: String,
    /// The query string as received (and a POST's body after a newline).
    pub raw: String,
    pub source_ip: String,
    pub received_at: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub click_id: Option<String>,
    pub event: Option<String>,
    pub conversion_id: Option<i64>,
}

#[utoipa::path(operation_id = "tracker_postbacks", get, path = "/admin/v1/tracker/postbacks", params(PostbackQuery),
    responses((status = 200, body = Items<PostbackView>)), tag = "tracker")]
pub async fn postbacks(
    State(state): State<AppState>,
    Query(q): Query<PostbackQuery>,
) -> Result<axum::Json<Items<PostbackView>>, ApiError> {
    let program = ProgramParam { program: q.program }.resolve(&state.store).await?;
    let (offset, count) = Paging {
        offset: q.offset,
        count: q.count,
    }
    .bounds()?;
    let integration_id = match &q.integration {
        Some(uid) => Some(state.store.integration(program.id, uid).await?.id),
        None => None,
    };
    let outcome = match &q.outcome {
        Some(text) => Some(Outcome::parse(text).ok_or_else(|| ApiError::invalid(format!("unknown outcome {text:?}")))?),
        None => None,
    };
    let filter = PostbackFilter {
        integration_id,
        outcome,
        click_id: q.click_id,
        offset,
        count,
    };
    let items = state
        .store
        .postbacks(program.id, filter)
        .await?
        .into_iter()
        .map(|r| PostbackView {
            id: r.id,
            integration: r.integration_uid,
            method: r.method,
            raw: r.raw,
            source_ip: r.source_ip,
            received_at: time(r.received_at),
            outcome: r.outcome.as_str().into(),
            detail: r.detail,
            click_id: r.click_id,
            event: r.event,
            conversion_id: r.conversion_id,
        })
        .collect();
    Ok(axum::Json(Items { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    pub program: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC); default 30 days before `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default today.
    pub to: Option<String>,
    /// An integration's id.
    pub integration: Option<String>,
    pub link: Option<i64>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TallyView {
    pub count: i64,
    /// Sum per currency.
    pub sums: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_id: Option<i64>,
    pub clicks: i64,
    pub unique_leads: i64,
    pub registrations: i64,
    pub first_deposits: TallyView,
    pub repeat_deposits: TallyView,
    pub custom_events: i64,
    pub registration_rate: Option<f64>,
    pub deposit_rate: Option<f64>,
    pub registration_to_deposit_rate: Option<f64>,
    pub revenue: BTreeMap<String, String>,
    /// Revenue in the report currency, at the operator's rates.
    pub revenue_in_report_currency: String,
    /// Currencies without a rate, left out of `revenue_in_report_currency`.
    pub missing_rates: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    pub from: String,
    pub to: String,
    pub report_currency: String,
    pub rows: Vec<StatsRow>,
    pub total: StatsRow,
}

fn sums(map: &BTreeMap<String, i64>) -> BTreeMap<String, String> {
    map.iter().map(|(c, m)| (c.clone(), format_amount(*m))).collect()
}

fn tally(t: &Tally) -> TallyView {
    TallyView {
        count: t.count,
        sums: sums(&t.sums),
    }
}

/// The operator's rates as decimals (they were validated when saved).
fn rates(settings: &Settings) -> BTreeMap<String, Decimal> {
    settings
        .rates
        .iter()
        .filter_map(|(c, r)| Some((c.clone(), r.parse().ok()?)))
        .collect()
}

fn stats_row(r: &Row, settings: &Settings, rates: &BTreeMap<String, Decimal>) -> StatsRow {
    let (report, missing_rates) = stats::in_report_currency(&r.revenue, &settings.report_currency, rates);
    StatsRow {
        day: None,
        integration: None,
        link_id: None,
        clicks: r.clicks,
        unique_leads: r.leads,
        registrations: r.registrations,
        first_deposits: tally(&r.first_deposits),
        repeat_deposits: tally(&r.repeat_deposits),
        custom_events: r.custom_events,
        registration_rate: r.registration_rate(),
        deposit_rate: r.deposit_rate(),
        registration_to_deposit_rate: r.registration_to_deposit_rate(),
        revenue: sums(&r.revenue),
        revenue_in_report_currency: format_amount(report),
        missing_rates,
    }
}

fn day_text(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default()
}

fn parse_day(name: &str, text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(format!("{name} must be a date such as 2026-01-31, got {text:?}")))
}

fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis())
}

#[utoipa::path(operation_id = "tracker_stats", get, path = "/admin/v1/tracker/stats", params(StatsQuery),
    responses((status = 200, body = StatsView, description = "JSON, or CSV with format=csv"), (status = 400)), tag = "tracker")]
pub async fn stats(State(state): State<AppState>, Query(q): Query<StatsQuery>) -> Result<Response, ApiError> {
    let program = ProgramParam {
        program: q.program.clone(),
    }
    .resolve(&state.store)
    .await?;
    let to = match &q.to {
        Some(text) => parse_day("to", text)?,
        None => Utc::now().date_naive(),
    };
    let from = match &q.from {
        Some(text) => parse_day("from", text)?,
        None => to - Duration::days(30),
    };
    if from > to {
        return Err(ApiError::invalid("from must not be after to"));
    }
    let integrations = state.store.integrations(program.id).await?;
    let integration_id = match &q.integration {
        Some(uid) => Some(state.store.integration(program.id, uid).await?.id),
        None => None,
    };
    let filter = StatsFilter {
        from: day_start(from),
        to: day_start(to) + DAY_MS,
        integration_id,
        link_id: q.link,
    };
    let (clicks, conversions, leads) = state.store.tracker_stats(program.id, &filter).await?;
    let settings = state.store.tracker_settings(program.id).await?;
    let rates = rates(&settings);
    let (rows, mut total) = stats::rows(&clicks, &conversions);
    total.leads = leads;
    let uid = |id: i64| integrations.iter().find(|i| i.id == id).map(|i| i.uid.clone());
    let rows: Vec<StatsRow> = rows
        .iter()
        .map(|r| StatsRow {
            day: Some(day_text(r.day)),
            integration: uid(r.integration_id),
            link_id: Some(r.link_id),
            ..stats_row(r, &settings, &rates)
        })
        .collect();
    let view = StatsView {
        from: from.to_string(),
        to: to.to_string(),
        total: stats_row(&total, &settings, &rates),
        report_currency: settings.report_currency,
        rows,
    };
    if q.format.as_deref() == Some("csv") {
        return Ok(csv(&view));
    }
    match q.format.as_deref() {
        None | Some("json") => Ok(axum::Json(view).into_response()),
        Some(other) => Err(ApiError::invalid(format!("format must be json or csv, got {other:?}"))),
    }
}

fn csv(view: &StatsView) -> Response {
    let report = &view.report_currency;
    let mut out = format!(
        "day,integration,link_id,clicks,unique_leads,registrations,first_deposits,first_deposit_sums,\
         repeat_deposits,repeat_deposit_sums,custom_events,registration_rate,deposit_rate,\
         registration_to_deposit_rate,revenue,revenue_{report}\r\n"
    );
    let joined =
        |m: &BTreeMap<String, String>| m.iter().map(|(c, v)| format!("{c} {v}")).collect::<Vec<_>>().join("; ");
    let rate = |r: Option<f64>| r.map(|r| r.to_string()).unwrap_or_default();
    for r in &view.rows {
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            r.day.as_deref().unwrap_or(""),
            r.integration.as_deref().unwrap_or(""),
            r.link_id.map(|l| l.to_string()).unwrap_or_default(),
            r.clicks,
            r.unique_leads,
            r.registrations,
            r.first_deposits.count,
            joined(&r.first_deposits.sums),
            r.repeat_deposits.count,
            joined(&r.repeat_deposits.sums),
            r.custom_events,
            rate(r.registration_rate),
            rate(r.deposit_rate),
            rate(r.registration_to_deposit_rate),
            joined(&r.revenue),
            r.revenue_in_report_currency,
        );
    }
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"tracker-stats.csv\""),
        ],
        out,
    )
        .into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionView {
    pub id: i64,
    pub kind: String,
    pub event: String,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub tid: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClickView {
    pub click_id: String,
    pub link_id: i64,
    pub source: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    /// The parameters the visit arrived with.
    #[schema(value_type = Object)]
    pub subs: Value,
    pub created_at: String,
    pub visited_at: Option<String>,
    pub conversions: Vec<ConversionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadView {
    pub lead: LeadSummary,
    pub clicks: Vec<ClickView>,
    pub totals: StatsRow,
}

#[utoipa::path(operation_id = "tracker_leads_get", get, path = "/admin/v1/tracker/leads/{external_id}", params(ProgramParam),
    responses((status = 200, body = LeadView), (status = 404)), tag = "tracker")]
pub async fn lead(
    State(state): State<AppState>,
    Path(external_id): Path<String>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<LeadView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let view = state.store.lead_view(program.id, &external_id).await?;
    let settings = state.store.tracker_settings(program.id).await?;
    let totals: Vec<ConversionTotals> = view
        .conversions
        .iter()
        .map(|c| ConversionTotals {
            integration_id: 0,
            link_id: 0,
            day: 0,
            kind: c.kind,
            currency: c.currency.clone(),
            count: 1,
            amount: c.amount,
        })
        .collect();
    let click_totals = ClickTotals {
        integration_id: 0,
        link_id: 0,
        day: 0,
        clicks: view.clicks.len() as i64,
        leads: 1,
    };
    let (_, mut total) = stats::rows(&[click_totals], &totals);
    total.leads = 1;
    let clicks = view
        .clicks
        .into_iter()
        .map(|click| ClickView {
            conversions: view
                .conversions
                .iter()
                .filter(|c| c.click_id == click.click_id)
                .map(|c| ConversionView {
                    id: c.id,
                    kind: c.kind.as_str().into(),
                    event: c.event.clone(),
                    amount: c.currency.as_ref().map(|_| format_amount(c.amount)),
                    currency: c.currency.clone(),
                    tid: c.tid.clone(),
                    created_at: time(c.created_at),
                })
                .collect(),
            click_id: click.click_id,
            link_id: click.link_id,
            source: click.source,
            ip: click.ip,
            user_agent: click.user_agent,
            referrer: click.referrer,
            subs: click
                .subs
                .into_iter()
                .map(|(n, v)| (n, Value::String(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            created_at: time(click.created_at),
            visited_at: click.visited_at.map(time),
        })
        .collect();
    Ok(axum::Json(LeadView {
        lead: view.lead.into(),
        clicks,
        totals: stats_row(&total, &settings, &rates(&settings)),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatesView {
    /// The currency statistics are summed in.
    pub report_currency: String,
    /// Value of one unit of each currency in the report currency, as decimal text.
    pub rates: BTreeMap<String, String>,
}

#[utoipa::path(operation_id = "tracker_rates_get", get, path = "/admin/v1/tracker/exchange-rates", params(ProgramParam),
    responses((status = 200, body = RatesView)), tag = "tracker")]
pub async fn rates_get(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<RatesView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let s = state.store.tracker_settings(program.id).await?;
    Ok(axum::Json(RatesView {
        report_currency: s.report_currency,
        rates: s.rates,
    }))
}

#[utoipa::path(operation_id = "tracker_rates_put", put, path = "/admin/v1/tracker/exchange-rates", params(ProgramParam),
    request_body = RatesView, responses((status = 200, body = RatesView), (status = 400)), tag = "tracker")]
pub async fn put_rates(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<RatesView>,
) -> Result<axum::Json<RatesView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let settings = Settings {
        report_currency: body.report_currency,
        rates: body.rates,
        updated_at: None,
    };
    let s = state.store.put_tracker_settings(program.id, settings).await?;
    Ok(axum::Json(RatesView {
        report_currency: s.report_currency,
        rates: s.rates,
    }))
}
