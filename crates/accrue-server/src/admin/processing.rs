//! Purchase processing: settings, merchants and their devices (client credentials for
//! the token endpoint), offers (versioned, enabled or not, simulated on a cheque) and
//! the goods catalogue offers refer to.

use super::views::{time, Items};
use super::ProgramParam;
use crate::extract::{Json, Path, Query};
use crate::service::pricing::{self, Quote};
use crate::{ApiError, AppState};
use accrue_core::merchant::Profile;
use accrue_core::offers::{self, Calculation, Cheque, Offer};
use accrue_core::purchase::Settings;
use accrue_store::devices::Device;
use accrue_store::merchants::{Merchant, MerchantChange};
use accrue_store::offers::{Goods, StoredOffer};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

fn read<T: serde::de::DeserializeOwned>(body: Value, what: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body)
        .map_err(|e| ApiError::invalid(format!("invalid {what}: {}: {}", e.path(), e.inner())))
}

#[utoipa::path(operation_id = "processing_settings", get, path = "/admin/v1/processing/settings", params(ProgramParam),
    responses((status = 200, body = Object)), tag = "processing")]
pub async fn settings(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    Ok(axum::Json(json!(state.store.processing_settings(program.id).await?)))
}

/// `{"activation_delay_days", "bonus_lifetime_days", "auto_cancel_minutes", "device_token_minutes", "utc_offset_minutes", "expiry_notice_days"}`
#[utoipa::path(operation_id = "processing_set_settings", put, path = "/admin/v1/processing/settings", params(ProgramParam),
    request_body = Object, responses((status = 200, body = Object), (status = 400)), tag = "processing")]
pub async fn set_settings(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let settings: Settings = read(body, "settings")?;
    state.store.set_processing_settings(program.id, settings).await?;
    settings_of(&state, program.id).await
}

async fn settings_of(state: &AppState, program_id: i64) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(json!(state.store.processing_settings(program_id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantInput {
    pub code: String,
    pub name: String,
    /// What members see: `description`, `brand`, `address` (`city`, `city_prefix`,
    /// `street`, `house`, `building`, `office`, `description`, `latitude`, `longitude`),
    /// `schedule` (`mon` … `sun`: `[{"from": "09:00", "to": "21:00"}]`), `archived`,
    /// `additional_info` (`[{"name", "value"}]`). Members are shown merchants with an
    /// address only.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub profile: Profile,
}

/// A change of a merchant: the name, or the profile (replaced whole).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantChangeInput {
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub profile: Option<Profile>,
}

pub(super) fn check_code(code: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    ok.then_some(())
        .ok_or_else(|| ApiError::invalid("code must be 1 to 64 letters, digits, '-', '_' or '.'"))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name must not be empty"));
    }
    Ok(())
}

fn merchant_view(m: &Merchant) -> Value {
    json!({"code": m.code, "name": m.name, "profile": m.profile, "created_at": time(m.created_at)})
}

#[utoipa::path(operation_id = "merchants_create", post, path = "/admin/v1/merchants", params(ProgramParam),
    request_body = MerchantInput, responses((status = 201, body = Object), (status = 400), (status = 409)), tag = "processing")]
pub async fn create_merchant(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<MerchantInput>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    check_code(&input.code)?;
    check_name(&input.name)?;
    let program = p.resolve(&state.store).await?;
    let m = state
        .store
        .create_merchant(program.id, input.code, input.name, input.profile)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(merchant_view(&m))))
}

#[utoipa::path(operation_id = "merchants_update", patch, path = "/admin/v1/merchants/{code}", params(ProgramParam),
    request_body = MerchantChangeInput, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "processing")]
pub async fn update_merchant(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<MerchantChangeInput>,
) -> Result<axum::Json<Value>, ApiError> {
    if let Some(name) = &input.name {
        check_name(name)?;
    }
    let program = p.resolve(&state.store).await?;
    let change = MerchantChange {
        name: input.name,
        profile: input.profile,
    };
    let m = state.store.update_merchant(program.id, code, change).await?;
    Ok(axum::Json(merchant_view(&m)))
}

#[utoipa::path(operation_id = "merchants_list", get, path = "/admin/v1/merchants", params(ProgramParam),
    responses((status = 200, body = Object)), tag = "processing")]
pub async fn merchants(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let list = state.store.merchants(program.id).await?;
    let items: Vec<Value> = list.iter().map(merchant_view).collect();
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    pub name: String,
    /// A location code offers may be limited to.
    pub location: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: i64,
    pub merchant: String,
    pub name: String,
    pub location: Option<String>,
    pub client_id: String,
    /// Shown once, when the device is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

fn device_view(d: Device, client_secret: Option<String>) -> DeviceView {
    DeviceView {
        id: d.id,
        merchant: d.merchant_code,
        name: d.name,
        location: d.location,
        client_id: d.client_id,
        client_secret,
        created_at: time(d.created_at),
        disabled_at: d.disabled_at.map(time),
    }
}

/// A device of the merchant with client credentials (`client_secret` is shown only here).
#[utoipa::path(operation_id = "devices_create", post, path = "/admin/v1/merchants/{code}/devices", params(ProgramParam),
    request_body = DeviceInput, responses((status = 201, body = DeviceView), (status = 400), (status = 404)), tag = "processing")]
pub async fn create_device(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<DeviceInput>,
) -> Result<(StatusCode, axum::Json<DeviceView>), ApiError> {
    if input.name.trim().is_empty() {
        return Err(ApiError::invalid("name must not be empty"));
    }
    let program = p.resolve(&state.store).await?;
    let new = state
        .store
        .create_device(program.id, code, input.name, input.location)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(device_view(new.device, Some(new.client_secret))),
    ))
}

#[utoipa::path(operation_id = "devices_list", get, path = "/admin/v1/devices", params(ProgramParam),
    responses((status = 200, body = Items<DeviceView>)), tag = "processing")]
pub async fn devices(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Items<DeviceView>>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let items = state.store.devices(program.id).await?;
    Ok(axum::Json(Items {
        items: items.into_iter().map(|d| device_view(d, None)).collect(),
    }))
}

/// Disables a device: its credentials and tokens stop working.
#[utoipa::path(operation_id = "devices_disable", post, path = "/admin/v1/devices/{id}/disable", params(ProgramParam),
    responses((status = 204), (status = 404)), tag = "processing")]
pub async fn disable_device(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<StatusCode, ApiError> {
    let program = p.resolve(&state.store).await?;
    state.store.disable_device(program.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn offer_view(o: StoredOffer) -> Value {
    // `number` is what members' apps know the offer by (Loymax `Offer/{id}`).
    json!({"code": o.code, "number": o.id, "version": o.version, "enabled": o.enabled, "offer": o.definition,
           "created_at": time(o.created_at), "updated_at": time(o.updated_at)})
}

/// Checks an offer as the engine reads it; every problem with its field path.
fn checked_offer(code: &str, mut body: Value) -> Result<(Offer, Value), ApiError> {
    check_code(code)?;
    if let Some(object) = body.as_object_mut() {
        object.insert("id".into(), json!(code));
    }
    let offer: Offer = read(body.clone(), "offer")?;
    offer
        .validate()
        .map_err(|errors| ApiError::invalid("the offer has errors").with_details(json!({ "errors": errors })))?;
    Ok((offer, body))
}

/// Creates the offer or saves a new version of it (the engine's JSON format:
/// `docs/offers.md`); `id` is the code in the path.
#[utoipa::path(operation_id = "offers_put", put, path = "/admin/v1/offers/{code}", params(ProgramParam),
    request_body = Object, responses((status = 200, body = Object), (status = 400)), tag = "processing")]
pub async fn put_offer(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let (offer, definition) = checked_offer(&code, body)?;
    let saved = state
        .store
        .save_offer(program.id, code, offer.enabled, definition)
        .await?;
    Ok(axum::Json(offer_view(saved)))
}

#[utoipa::path(operation_id = "offers_get", get, path = "/admin/v1/offers/{code}", params(ProgramParam),
    responses((status = 200, body = Object), (status = 404)), tag = "processing")]
pub async fn get_offer(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    Ok(axum::Json(offer_view(state.store.offer(program.id, &code).await?)))
}

#[utoipa::path(operation_id = "offers_list", get, path = "/admin/v1/offers", params(ProgramParam),
    responses((status = 200, body = Object)), tag = "processing")]
pub async fn offers(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let items: Vec<Value> = state
        .store
        .offers(program.id, false)
        .await?
        .into_iter()
        .map(offer_view)
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

async fn switch(state: &AppState, p: &ProgramParam, code: &str, enabled: bool) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let mut definition = state.store.offer(program.id, code).await?.definition;
    definition["enabled"] = json!(enabled);
    let saved = state
        .store
        .save_offer(program.id, code.to_string(), enabled, definition)
        .await?;
    Ok(axum::Json(offer_view(saved)))
}

#[utoipa::path(operation_id = "offers_enable", post, path = "/admin/v1/offers/{code}/enable", params(ProgramParam),
    responses((status = 200, body = Object), (status = 404)), tag = "processing")]
pub async fn enable_offer(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    switch(&state, &p, &code, true).await
}

#[utoipa::path(operation_id = "offers_disable", post, path = "/admin/v1/offers/{code}/disable", params(ProgramParam),
    responses((status = 200, body = Object), (status = 404)), tag = "processing")]
pub async fn disable_offer(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    switch(&state, &p, &code, false).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateInput {
    /// The engine's cheque: `{"lines":[{"position","goods_id","quantity","price","amount","discount"}],"coupons":[]}`
    /// in minor units.
    #[schema(value_type = Object)]
    pub cheque: Cheque,
    /// Offers to try instead of the program's enabled ones.
    #[schema(value_type = Option<Vec<Object>>)]
    pub offers: Option<Vec<Offer>>,
    /// Price it for this member (their facts and caps), as a till with their card would.
    pub member_id: Option<i64>,
    /// Price it at this device (its merchant and location), as that till would.
    pub device_id: Option<i64>,
}

/// Prices a cheque without writing anything, exactly as a till of the program gets it
/// (the same quote, in the program's local time).
#[utoipa::path(operation_id = "offers_simulate", post, path = "/admin/v1/offers/simulate", params(ProgramParam),
    request_body = SimulateInput, responses((status = 200, body = Object), (status = 400)), tag = "processing")]
pub async fn simulate(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<SimulateInput>,
) -> Result<axum::Json<Calculation>, ApiError> {
    let program = p.resolve(&state.store).await?;
    if let Some(given) = &input.offers {
        offers::validate_offers(given)
            .map_err(|errors| ApiError::invalid("the offers have errors").with_details(json!({ "errors": errors })))?;
    }
    let quote = Quote {
        program_id: program.id,
        cheque: input.cheque,
        member_id: input.member_id,
        device_id: input.device_id,
        offers: input.offers,
    };
    Ok(axum::Json(pricing::quote(&state.store, quote).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodsInput {
    /// `[{"goods_id","barcode","name","groups":["dairy"]}]`; existing goods are replaced.
    #[schema(value_type = Vec<Object>)]
    pub goods: Vec<Goods>,
}

#[utoipa::path(operation_id = "goods_import", post, path = "/admin/v1/goods/import", params(ProgramParam),
    request_body = GoodsInput, responses((status = 200, body = Object), (status = 400)), tag = "processing")]
pub async fn import_goods(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    Json(input): Json<GoodsInput>,
) -> Result<axum::Json<Value>, ApiError> {
    if input.goods.len() > 100_000 || input.goods.iter().any(|g| g.goods_id.trim().is_empty()) {
        return Err(ApiError::invalid("1 to 100000 goods, each with a goods_id"));
    }
    let program = p.resolve(&state.store).await?;
    let imported = state.store.import_goods(program.id, input.goods).await?;
    Ok(axum::Json(json!({ "imported": imported })))
}
