//! Batch balance operations and lifetime definitions in the admin API: the batch face's
//! key (shown once) and settings, requests sent by an operator, requests and their rows'
//! outcomes; a program's named lifetime definitions.

use super::views::{decimal, millis};
use super::{Paging, ProgramParam};
use crate::extract::{Json, Path, Query};
use crate::format::time;
use crate::service::batch as service;
use crate::{ApiError, AppState};
use accrue_core::batch::parse_request;
use accrue_core::lifetimes::LifetimeDefinition;
use accrue_store::batch::{BatchRequest, BatchSettings};
use accrue_store::imshop::prefixed_key;
use accrue_store::lifetimes::NamedLifetime;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// The batch face's settings: `member_no` (how a row's `memberNo` is looked up, in
/// order: `card`, `phone`, `member_id`, `external_id:<source>`) and `allowed_ips`.
#[utoipa::path(operation_id = "batch_settings", get, path = "/admin/v1/programs/{code}/batch",
    responses((status = 200, body = Object), (status = 404)), tag = "batch")]
pub async fn settings(State(state): State<AppState>, Path(code): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let settings = state
        .store
        .batch_settings(program.id)
        .await?
        .ok_or_else(|| ApiError::not_found("the batch face is not set up for this program"))?;
    Ok(axum::Json(json!(settings)))
}

/// Sets the batch face up (the first time its key is made and shown once) or changes
/// its settings.
#[utoipa::path(operation_id = "batch_put_settings", put, path = "/admin/v1/programs/{code}/batch",
    request_body = Object, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "batch")]
pub async fn put_settings(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(settings): Json<BatchSettings>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let first = state.store.batch_settings(program.id).await?.is_none();
    let key = first.then(|| prefixed_key("btk"));
    let hash = key.as_ref().map(|(_, hash)| hash.clone());
    state
        .store
        .set_batch_settings(program.id, settings.clone(), hash)
        .await?;
    let mut view = json!(settings);
    if let Some((key, _)) = key {
        view["key"] = json!(key);
    }
    Ok(axum::Json(view))
}

/// A new key for the batch face, shown once; the old one stops working.
#[utoipa::path(operation_id = "batch_rotate_key", post, path = "/admin/v1/programs/{code}/batch/rotate-key",
    responses((status = 200, body = Object), (status = 404)), tag = "batch")]
pub async fn rotate_key(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let settings = state
        .store
        .batch_settings(program.id)
        .await?
        .ok_or_else(|| ApiError::not_found("the batch face is not set up for this program"))?;
    let (key, hash) = prefixed_key("btk");
    state.store.set_batch_settings(program.id, settings, Some(hash)).await?;
    Ok(axum::Json(json!({ "key": key })))
}

fn request_view(b: &BatchRequest) -> Value {
    json!({
        "request_id": b.request_id,
        "type": b.kind.code(),
        "mode": b.mode,
        "source": b.source,
        "state": b.state,
        "description": b.description,
        "lifetime": b.lifetime,
        "total_rows": b.total_rows,
        "processed_rows": b.processed_rows,
        "posted_rows": b.posted_rows,
        "failed_rows": b.failed_rows,
        "answer": b.answer,
        "created_at": time(b.created_at),
        "finished_at": b.finished_at.map(time),
    })
}

/// A batch request as the protocol has it (`requestId`, `type`, `accrue`, …), posted
/// before the answer.
#[utoipa::path(operation_id = "batch_submit", post, path = "/admin/v1/batch/requests", params(ProgramParam),
    request_body = Object, responses((status = 200, body = Object), (status = 400), (status = 422)), tag = "batch")]
pub async fn submit(
    State(state): State<AppState>,
    Query(program): Query<ProgramParam>,
    body: Bytes,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let request = parse_request(&body).map_err(|e| ApiError::invalid(e.0))?;
    let batch = service::submit(&state.store, program.id, request).await?;
    Ok(axum::Json(request_view(&batch)))
}

#[utoipa::path(operation_id = "batch_requests", get, path = "/admin/v1/batch/requests", params(ProgramParam, Paging),
    responses((status = 200, body = Object)), tag = "batch")]
pub async fn list(
    State(state): State<AppState>,
    Query(program): Query<ProgramParam>,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let (offset, count) = paging.bounds()?;
    let list = state.store.batch_requests(program.id, offset, count).await?;
    Ok(axum::Json(
        json!({ "requests": list.iter().map(request_view).collect::<Vec<_>>() }),
    ))
}

/// A period of batch statistics.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    pub program: Option<String>,
    /// RFC 3339, inclusive; the beginning when absent.
    #[param(value_type = Option<String>)]
    pub from: Option<DateTime<FixedOffset>>,
    /// RFC 3339, exclusive; now when absent.
    #[param(value_type = Option<String>)]
    pub to: Option<DateTime<FixedOffset>>,
}

/// What batch rows posted in a period come to, by the protocol's type (2 accrual for
/// purchases elsewhere, 3 its return, 4 manual accrual, 5 manual write-off) and currency:
/// `{"types": [{"type", "currency", "rows", "points"}]}`.
#[utoipa::path(operation_id = "batch_stats", get, path = "/admin/v1/batch/stats", params(StatsParams),
    responses((status = 200, body = Object)), tag = "batch")]
pub async fn stats(State(state): State<AppState>, Query(q): Query<StatsParams>) -> Result<axum::Json<Value>, ApiError> {
    let program = ProgramParam { program: q.program }.resolve(&state.store).await?;
    let currencies = state.store.currencies(program.id).await?;
    let (from, to) = (
        q.from.as_ref().map_or(i64::MIN, millis),
        q.to.as_ref().map_or(i64::MAX, millis),
    );
    let totals = state.store.batch_totals(program.id, from, to).await?;
    let types: Vec<Value> = totals
        .iter()
        .filter_map(|t| {
            let c = currencies.iter().find(|c| c.id == t.currency_id)?;
            Some(json!({"type": t.kind.code(), "currency": c.code, "rows": t.rows, "points": decimal(t.amount, c)}))
        })
        .collect();
    Ok(axum::Json(json!({ "types": types })))
}

#[utoipa::path(operation_id = "batch_request", get, path = "/admin/v1/batch/requests/{request_id}", params(ProgramParam),
    responses((status = 200, body = Object), (status = 404)), tag = "batch")]
pub async fn get(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    Query(program): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let batch = state.store.batch_request(program.id, &request_id).await?;
    Ok(axum::Json(request_view(&batch)))
}

/// Rows with their outcomes, `offset` rows in.
#[utoipa::path(operation_id = "batch_rows", get, path = "/admin/v1/batch/requests/{request_id}/rows",
    params(ProgramParam, Paging), responses((status = 200, body = Object), (status = 404)), tag = "batch")]
pub async fn rows(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    Query(program): Query<ProgramParam>,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let (offset, count) = paging.bounds()?;
    let batch = state.store.batch_request(program.id, &request_id).await?;
    let rows = state.store.batch_rows(batch.id, offset + 1, count).await?;
    Ok(axum::Json(json!({ "rows": rows })))
}

#[utoipa::path(operation_id = "lifetimes", get, path = "/admin/v1/programs/{code}/lifetimes",
    responses((status = 200, body = Object), (status = 404)), tag = "batch")]
pub async fn lifetimes(State(state): State<AppState>, Path(code): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    Ok(axum::Json(
        json!({ "lifetimes": state.store.lifetimes(program.id).await? }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PutLifetime {
    /// The program's default: used where a batch or an offer names none.
    #[serde(default)]
    pub is_default: bool,
    /// `name`, `activation_delay_days`, `expiry`: `{"type": "never"}`,
    /// `{"type": "after_days", "days"}`, `{"type": "after_months", "months"}`,
    /// `{"type": "end_of_month", "months_after"}`, `{"type": "end_of_year", "years_after"}`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub definition: LifetimeDefinition,
}

#[utoipa::path(operation_id = "lifetime_put", put, path = "/admin/v1/programs/{code}/lifetimes/{external_id}",
    request_body = PutLifetime, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "batch")]
pub async fn put_lifetime(
    State(state): State<AppState>,
    Path((code, external_id)): Path<(String, String)>,
    Json(body): Json<PutLifetime>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let named = NamedLifetime {
        external_id,
        is_default: body.is_default,
        definition: body.definition,
    };
    state.store.put_lifetime(program.id, named).await?;
    lifetimes(State(state), Path(code)).await
}

#[utoipa::path(operation_id = "lifetime_delete", delete, path = "/admin/v1/programs/{code}/lifetimes/{external_id}",
    responses((status = 204), (status = 404)), tag = "batch")]
pub async fn delete_lifetime(
    State(state): State<AppState>,
    Path((code, external_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let program = state.store.program(&code).await?;
    state.store.delete_lifetime(program.id, external_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
