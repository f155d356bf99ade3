//! Coupons: series (what a coupon is for, as the member's app describes it) and coupons
//! issued to members. An offer with a `coupon` condition naming the series applies when
//! the member presents a valid coupon of it at the till; Confirm uses the coupon up.

use super::processing::check_code;
use super::views::{millis, time};
use super::ProgramParam;
use crate::extract::{Json, Path, Query};
use crate::{ApiError, AppState};
use accrue_store::coupons::{Coupon, CouponSeries, NewSeries};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
const MAX_ISSUED: u32 = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesInput {
    pub code: String,
    /// Up to 200 characters.
    pub title: String,
    pub short_description: Option<String>,
    /// Up to 4000 characters.
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueInput {
    pub member_id: i64,
    /// 1 to 100; default 1.
    pub count: Option<u32>,
    /// When the coupons stop being valid; never by default.
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<DateTime<FixedOffset>>,
}

fn series_view(s: &CouponSeries) -> Value {
    json!({"code": s.code, "title": s.title, "short_description": s.short_description,
           "description": s.description, "created_at": time(s.created_at)})
}

fn coupon_view(c: &Coupon) -> Value {
    json!({"number": c.number, "series": c.series.code, "member_id": c.member_id, "state": c.state,
           "issued_at": time(c.issued_at), "expires_at": c.expires_at.map(time),
           "changed_at": time(c.changed_at), "purchase_id": c.purchase_key})
}

fn text(value: Option<&str>, field: &str, max: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.trim().is_empty() || v.chars().count() > max => {
            Err(ApiError::invalid(format!("{field} must be 1 to {max} characters")))
        }
        _ => Ok(()),
    }
}

#[utoipa::path(operation_id = "coupon_series_create", post, path = "/admin/v1/coupon-series", params(ProgramParam),
    request_body = SeriesInput, responses((status = 201, body = Object), (status = 400), (status = 409)), tag = "coupons")]
pub async fn create_series(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<SeriesInput>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    check_code(&input.code)?;
    text(Some(&input.title), "title", MAX_TITLE)?;
    text(input.short_description.as_deref(), "short_description", MAX_TITLE)?;
    text(input.description.as_deref(), "description", MAX_DESCRIPTION)?;
    let program = p.resolve(&state.store).await?;
    let new = NewSeries {
        code: input.code,
        title: input.title,
        short_description: input.short_description,
        description: input.description,
    };
    let series = state.store.create_coupon_series(program.id, new).await?;
    Ok((StatusCode::CREATED, axum::Json(series_view(&series))))
}

#[utoipa::path(operation_id = "coupon_series_list", get, path = "/admin/v1/coupon-series", params(ProgramParam),
    responses((status = 200, body = Object)), tag = "coupons")]
pub async fn list_series(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let items: Vec<Value> = state
        .store
        .coupon_series(program.id)
        .await?
        .iter()
        .map(series_view)
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

/// Issues new coupons of the series to a member; their numbers are made here.
#[utoipa::path(operation_id = "coupons_issue", post, path = "/admin/v1/coupon-series/{code}/issue", params(ProgramParam),
    request_body = IssueInput, responses((status = 201, body = Object), (status = 400), (status = 404)), tag = "coupons")]
pub async fn issue(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<IssueInput>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let count = input.count.unwrap_or(1);
    if !(1..=MAX_ISSUED).contains(&count) {
        return Err(ApiError::invalid(format!("count must be 1 to {MAX_ISSUED}")));
    }
    let program = p.resolve(&state.store).await?;
    state.store.member(program.id, input.member_id).await?;
    let expires_at = input.expires_at.as_ref().map(millis);
    let issued = state
        .store
        .issue_coupons(program.id, code, input.member_id, count, expires_at)
        .await?;
    let items: Vec<Value> = issued.iter().map(coupon_view).collect();
    Ok((StatusCode::CREATED, axum::Json(json!({ "items": items }))))
}

/// Takes back an issued coupon: it can no longer be used.
#[utoipa::path(operation_id = "coupons_reject", post, path = "/admin/v1/coupons/{number}/reject", params(ProgramParam),
    responses((status = 200, body = Object), (status = 404)), tag = "coupons")]
pub async fn reject(
    State(state): State<AppState>,
    Path(number): Path<String>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let coupon = state.store.reject_coupon(program.id, number).await?;
    Ok(axum::Json(coupon_view(&coupon)))
}

#[utoipa::path(operation_id = "members_coupons", get, path = "/admin/v1/members/{id}/coupons", params(ProgramParam),
    responses((status = 200, body = Object), (status = 404)), tag = "coupons")]
pub async fn of_member(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    state.store.member(program.id, id).await?;
    let items: Vec<Value> = state
        .store
        .member_coupons(program.id, id)
        .await?
        .iter()
        .map(coupon_view)
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}
