//! Ledger operations: accrue, withdraw, hold → capture / void. Each write needs an
//! `Idempotency-Key` header: a repeat with the same body returns the first answer
//! (marked `Idempotent-Replayed: true`); the same key with another body is refused.

use super::views::{decimal, millis, time, Amount};
use super::ProgramParam;
use crate::extract::{Json, Path, Query};
use crate::service::postings::{self, Order, Posted};
use crate::{ApiError, AppState};
use accrue_store::ledger::{HoldInfo, IdempotencyKey, Lifetime, Movement};
use accrue_store::{Currency, Program, StoreError};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationInput {
    pub member_id: i64,
    /// A decimal, as a string (`"12.50"`, exact) or a number.
    #[schema(value_type = String, example = "12.50")]
    pub amount: Amount,
    /// Currency code; the program's default currency when absent.
    pub currency: Option<String>,
    /// A card of the member the operation was made with.
    pub card: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Accrual only: when the points become usable (RFC 3339); now when absent.
    #[schema(value_type = Option<String>)]
    pub activates_at: Option<DateTime<FixedOffset>>,
    /// Accrual: when unspent points expire. Hold: when the hold is voided if not
    /// captured (default: in an hour).
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<DateTime<FixedOffset>>,
    /// Accrual only: the external id of a lifetime definition of the program, instead of
    /// `activates_at` and `expires_at`.
    pub lifetime: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureInput {
    /// How much of the hold to capture; all of it when absent. The rest is released.
    #[schema(value_type = Option<String>, example = "12.50")]
    pub amount: Option<Amount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptView {
    pub posting_id: i64,
    /// accrual, withdrawal, hold_reserve, hold_capture or hold_void.
    #[serde(rename = "type")]
    pub kind: String,
    pub member_id: i64,
    pub currency: String,
    pub amount: String,
    pub hold_id: Option<i64>,
    /// The member's balance right after this operation.
    pub balance: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    pub id: i64,
    pub member_id: i64,
    pub currency: String,
    pub amount: String,
    pub captured: String,
    /// active, captured, voided or expired.
    pub state: String,
    pub expires_at: String,
    pub created_at: String,
    pub resolved_at: Option<String>,
}

/// The body as JSON, its fingerprint-bearing idempotency key, and the typed input.
fn keyed<T: DeserializeOwned>(
    headers: &HeaderMap,
    scope: &str,
    body: serde_json::Value,
) -> Result<(IdempotencyKey, T), ApiError> {
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| ApiError::invalid("send an Idempotency-Key header with every operation"))?
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key must be visible ASCII"))?;
    let fingerprint_of = serde_json::json!({ "operation": scope, "body": body });
    let key = IdempotencyKey::new(key, &fingerprint_of)?;
    let input = serde_path_to_error::deserialize(body)
        .map_err(|e| ApiError::invalid(format!("invalid body: {}: {}", e.path(), e.inner())))?;
    Ok((key, input))
}

/// Ledger errors, with amounts in the currency's decimals.
fn ledger_error(e: StoreError, currency: &Currency) -> ApiError {
    match e {
        StoreError::InsufficientBalance { available } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_balance",
            format!(
                "insufficient balance: {} {} available",
                decimal(available, currency),
                currency.code
            ),
        )
        .with_details(serde_json::json!({ "available": decimal(available, currency) })),
        e => e.into(),
    }
}

fn render(Posted { receipt, replayed }: Posted, currency: &Currency, status: StatusCode) -> Response {
    let view = ReceiptView {
        posting_id: receipt.posting_id,
        kind: receipt.kind.as_str().into(),
        member_id: receipt.member_id,
        currency: currency.code.clone(),
        amount: decimal(receipt.amount, currency),
        hold_id: receipt.hold_id,
        balance: decimal(receipt.balance, currency),
        created_at: time(receipt.created_at),
    };
    let mut response = (status, axum::Json(view)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The order an operation's input makes, and the currency of its amounts.
async fn order(
    state: &AppState,
    p: &ProgramParam,
    key: IdempotencyKey,
    input: &OperationInput,
) -> Result<(Order, Currency), ApiError> {
    let program = p.resolve(&state.store).await?;
    let currency = postings::currency(&state.store, program.id, input.currency.as_deref())
        .await
        .map_err(|_| {
            let named = input.currency.as_deref().unwrap_or("(default)");
            ApiError::not_found(format!("currency {named} not found"))
        })?;
    let movement = Movement {
        member_id: input.member_id,
        currency_id: currency.id,
        amount: input.amount.to_minor(&currency)?,
        card: input.card.clone(),
        description: input.description.clone(),
        cause: Default::default(),
    };
    let order = Order {
        program_id: program.id,
        key,
        movement,
    };
    Ok((order, currency))
}

fn refuse_lifetime(input: &OperationInput) -> Result<(), ApiError> {
    if input.activates_at.is_some() || input.expires_at.is_some() || input.lifetime.is_some() {
        return Err(ApiError::invalid(
            "activates_at, expires_at and lifetime apply to accruals only",
        ));
    }
    Ok(())
}

#[utoipa::path(operation_id = "operations_accrue", post, path = "/admin/v1/operations/accrue", params(ProgramParam, ("Idempotency-Key" = String, Header)),
    request_body = OperationInput,
    responses((status = 201, body = ReceiptView), (status = 400), (status = 404), (status = 409, description = "member blocked or archived"),
        (status = 422, description = "idempotency key reused with another body")),
    tag = "operations")]
pub async fn accrue(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    let (key, input): (_, OperationInput) = keyed(&headers, "accrue", body)?;
    let (order, currency) = order(&state, &p, key, &input).await?;
    let life = match &input.lifetime {
        Some(_) if input.activates_at.is_some() || input.expires_at.is_some() => {
            return Err(ApiError::invalid("give either lifetime or activates_at and expires_at"))
        }
        Some(name) => postings::named_lifetime(&state.store, order.program_id, name).await?,
        None => Lifetime {
            activates_at: input.activates_at.as_ref().map(millis),
            expires_at: input.expires_at.as_ref().map(millis),
        },
    };
    let posted = postings::accrue(&state.store, order, life)
        .await
        .map_err(|e| ledger_error(e, &currency))?;
    Ok(render(posted, &currency, StatusCode::CREATED))
}

#[utoipa::path(operation_id = "operations_withdraw", post, path = "/admin/v1/operations/withdraw", params(ProgramParam, ("Idempotency-Key" = String, Header)),
    request_body = OperationInput,
    responses((status = 201, body = ReceiptView), (status = 400), (status = 404), (status = 422, description = "insufficient balance")),
    tag = "operations")]
pub async fn withdraw(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    let (key, input): (_, OperationInput) = keyed(&headers, "withdraw", body)?;
    refuse_lifetime(&input)?;
    let (order, currency) = order(&state, &p, key, &input).await?;
    let posted = postings::withdraw(&state.store, order)
        .await
        .map_err(|e| ledger_error(e, &currency))?;
    Ok(render(posted, &currency, StatusCode::CREATED))
}

#[utoipa::path(operation_id = "operations_hold", post, path = "/admin/v1/holds", params(ProgramParam, ("Idempotency-Key" = String, Header)),
    request_body = OperationInput,
    responses((status = 201, body = ReceiptView), (status = 400), (status = 404), (status = 422, description = "insufficient balance")),
    tag = "operations")]
pub async fn hold(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    let (key, input): (_, OperationInput) = keyed(&headers, "hold", body)?;
    if input.activates_at.is_some() {
        return Err(ApiError::invalid("activates_at applies to accruals only"));
    }
    let (order, currency) = order(&state, &p, key, &input).await?;
    let expires_at = input.expires_at.as_ref().map(millis);
    let posted = postings::hold(&state.store, order, expires_at)
        .await
        .map_err(|e| ledger_error(e, &currency))?;
    Ok(render(posted, &currency, StatusCode::CREATED))
}

async fn hold_currency(state: &AppState, program: &Program, hold_id: i64) -> Result<(HoldInfo, Currency), ApiError> {
    let hold = state.store.hold_info(program.id, hold_id).await?;
    let currencies = state.store.currencies(program.id).await?;
    let currency = currencies
        .into_iter()
        .find(|c| c.id == hold.currency_id)
        .ok_or_else(|| ApiError::not_found("currency not found"))?;
    Ok((hold, currency))
}

#[utoipa::path(operation_id = "operations_get_hold", get, path = "/admin/v1/holds/{id}", params(ProgramParam), responses((status = 200, body = HoldView), (status = 404)), tag = "operations")]
pub async fn get_hold(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<HoldView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let (h, c) = hold_currency(&state, &program, id).await?;
    Ok(axum::Json(HoldView {
        id: h.id,
        member_id: h.member_id,
        currency: c.code.clone(),
        amount: decimal(h.amount, &c),
        captured: decimal(h.captured, &c),
        state: h.state.as_str().into(),
        expires_at: time(h.expires_at),
        created_at: time(h.created_at),
        resolved_at: h.resolved_at.map(time),
    }))
}

#[utoipa::path(operation_id = "operations_capture", post, path = "/admin/v1/holds/{id}/capture", params(ProgramParam, ("Idempotency-Key" = String, Header)),
    request_body = CaptureInput,
    responses((status = 200, body = ReceiptView), (status = 404), (status = 409, description = "hold already resolved, expired, or amount above the hold")),
    tag = "operations")]
pub async fn capture(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body = crate::extract::json_or_empty(&body)?;
    let (key, input): (_, CaptureInput) = keyed(&headers, &format!("capture {id}"), body)?;
    let program = p.resolve(&state.store).await?;
    let (_, currency) = hold_currency(&state, &program, id).await?;
    let amount = input.amount.map(|a| a.to_minor(&currency)).transpose()?;
    let posted = postings::capture(&state.store, program.id, key, id, amount)
        .await
        .map_err(|e| ledger_error(e, &currency))?;
    Ok(render(posted, &currency, StatusCode::OK))
}

#[utoipa::path(operation_id = "operations_void", post, path = "/admin/v1/holds/{id}/void", params(ProgramParam, ("Idempotency-Key" = String, Header)),
    responses((status = 200, body = ReceiptView), (status = 404), (status = 409, description = "hold already resolved or expired")),
    tag = "operations")]
pub async fn void(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (key, _): (_, serde_json::Value) = keyed(&headers, &format!("void {id}"), serde_json::json!({}))?;
    let program = p.resolve(&state.store).await?;
    let (_, currency) = hold_currency(&state, &program, id).await?;
    let posted = postings::void(&state.store, program.id, key, id)
        .await
        .map_err(|e| ledger_error(e, &currency))?;
    Ok(render(posted, &currency, StatusCode::OK))
}
