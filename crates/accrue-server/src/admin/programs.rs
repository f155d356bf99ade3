//! Programs (tenants) and their currencies.

use super::views::{CurrencyView, Items, LimitsInput, NameCases};
use crate::extract::{Json, Path};
use crate::{ApiError, AppState};
use accrue_core::messages::MessageName;
use accrue_store::messages::Template;
use accrue_store::{NewCurrency, NewProgram, Program};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProgram {
    /// Lowercase letters, digits, `-` and `_`; used as `?program=` in other calls.
    pub code: String,
    pub name: String,
    /// Region for phone numbers without a country code; `RU` when absent.
    pub phone_region: Option<String>,
    /// The default bonus currency; `BONUS` with 2 decimals when absent.
    pub currency: Option<CreateCurrency>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCurrency {
    pub code: String,
    /// Decimal places, 0 to 6.
    pub scale: u32,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub name_cases: NameCases,
    #[serde(default)]
    pub limits: LimitsInput,
}

impl TryFrom<CreateCurrency> for NewCurrency {
    type Error = ApiError;

    fn try_from(c: CreateCurrency) -> Result<Self, ApiError> {
        if c.scale > accrue_core::money::MAX_SCALE {
            return Err(ApiError::invalid("currency scale must be 0 to 6"));
        }
        Ok(NewCurrency {
            limits: c.limits.chosen(c.scale)?,
            code: c.code,
            scale: c.scale,
            description: c.description,
            name_nominative: c.name_cases.nominative,
            name_genitive: c.name_cases.genitive,
            name_plural: c.name_cases.plural,
            abbreviation: c.name_cases.abbreviation,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramView {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub phone_region: String,
    pub created_at: String,
    pub currencies: Vec<CurrencyView>,
}

async fn view(state: &AppState, p: Program) -> Result<ProgramView, ApiError> {
    let currencies = state.store.currencies(p.id).await?;
    Ok(ProgramView {
        id: p.id,
        code: p.code,
        name: p.name,
        phone_region: p.phone_region,
        created_at: super::views::time(p.created_at),
        currencies: currencies.iter().map(CurrencyView::from).collect(),
    })
}

#[utoipa::path(operation_id = "programs_create", post, path = "/admin/v1/programs", request_body = CreateProgram,
    responses((status = 201, body = ProgramView), (status = 409, description = "code taken")), tag = "programs")]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateProgram>,
) -> Result<(StatusCode, axum::Json<ProgramView>), ApiError> {
    let new = NewProgram {
        code: body.code,
        name: body.name,
        phone_region: body.phone_region.unwrap_or_else(|| "RU".into()),
        currency: body
            .currency
            .map_or_else(|| Ok(NewCurrency::bonus()), NewCurrency::try_from)?,
    };
    let program = state.store.create_program(new).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, program).await?)))
}

#[utoipa::path(operation_id = "programs_list", get, path = "/admin/v1/programs", responses((status = 200, body = Items<ProgramView>)), tag = "programs")]
pub async fn list(State(state): State<AppState>) -> Result<axum::Json<Items<ProgramView>>, ApiError> {
    let mut items = Vec::new();
    for p in state.store.programs().await? {
        items.push(view(&state, p).await?);
    }
    Ok(axum::Json(Items { items }))
}

#[utoipa::path(operation_id = "programs_get", get, path = "/admin/v1/programs/{code}", responses((status = 200, body = ProgramView), (status = 404)), tag = "programs")]
pub async fn get(State(state): State<AppState>, Path(code): Path<String>) -> Result<axum::Json<ProgramView>, ApiError> {
    let program = state.store.program(&code).await?;
    Ok(axum::Json(view(&state, program).await?))
}

#[utoipa::path(operation_id = "programs_create_currency", post, path = "/admin/v1/programs/{code}/currencies", request_body = CreateCurrency,
    responses((status = 201, body = CurrencyView), (status = 409)), tag = "programs")]
pub async fn create_currency(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<CreateCurrency>,
) -> Result<(StatusCode, axum::Json<CurrencyView>), ApiError> {
    let program = state.store.program(&code).await?;
    let currency = state.store.create_currency(program.id, body.try_into()?).await?;
    Ok((StatusCode::CREATED, axum::Json(CurrencyView::from(&currency))))
}

/// Sets a currency's bounds: the largest single operation and the largest balance an
/// accrual may reach (null: the default).
#[utoipa::path(operation_id = "programs_set_currency_limits", put, path = "/admin/v1/programs/{code}/currencies/{currency}/limits",
    request_body = LimitsInput, responses((status = 200, body = CurrencyView), (status = 400), (status = 404)), tag = "programs")]
pub async fn set_currency_limits(
    State(state): State<AppState>,
    Path((code, currency)): Path<(String, String)>,
    Json(body): Json<LimitsInput>,
) -> Result<axum::Json<CurrencyView>, ApiError> {
    let program = state.store.program(&code).await?;
    let scale = state.store.currency(program.id, Some(&currency)).await?.scale;
    let updated = state
        .store
        .set_currency_limits(program.id, &currency, body.chosen(scale)?)
        .await?;
    Ok(axum::Json(CurrencyView::from(&updated)))
}

#[utoipa::path(operation_id = "programs_currencies", get, path = "/admin/v1/programs/{code}/currencies", responses((status = 200, body = Items<CurrencyView>)), tag = "programs")]
pub async fn currencies(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<Items<CurrencyView>>, ApiError> {
    let program = state.store.program(&code).await?;
    let items = state
        .store
        .currencies(program.id)
        .await?
        .iter()
        .map(CurrencyView::from)
        .collect();
    Ok(axum::Json(Items { items }))
}

/// A program's registration settings: `required` and `optional` steps (AcceptTenderOffer,
/// ChangePhone, ChangeEmail, PasswordRequired, Questions, AssignCard) and `codes`
/// (`length`, `ttl_seconds`, `max_attempts`, `resend_after_seconds`, `lock_seconds`).
#[utoipa::path(operation_id = "programs_registration_settings", get, path = "/admin/v1/programs/{code}/registration-settings",
    responses((status = 200, body = Object), (status = 404)), tag = "programs")]
pub async fn registration_settings(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let settings = state.store.registration_settings(program.id).await?;
    Ok(axum::Json(
        serde_json::to_value(settings).map_err(|e| crate::error::internal(&e.to_string()))?,
    ))
}

#[utoipa::path(operation_id = "programs_set_registration_settings", put, path = "/admin/v1/programs/{code}/registration-settings",
    request_body = Object, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "programs")]
pub async fn set_registration_settings(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let settings: accrue_core::registration::RegistrationSettings = serde_path_to_error::deserialize(body)
        .map_err(|e| ApiError::invalid(format!("invalid settings: {}: {}", e.path(), e.inner())))?;
    state.store.set_registration_settings(program.id, settings).await?;
    registration_settings(State(state), Path(code)).await
}

fn message_name(name: &str) -> Result<MessageName, ApiError> {
    MessageName::parse(name).ok_or_else(|| {
        let known: Vec<&str> = MessageName::ALL.iter().map(|n| n.as_str()).collect();
        ApiError::not_found(format!("no message {name:?}; the messages are {}", known.join(", ")))
    })
}

fn template_view(t: &Template) -> serde_json::Value {
    serde_json::json!({"name": t.name.as_str(), "template": t.template, "custom": t.custom})
}

/// The texts sent to the program's members: `{"items": [{"name", "template", "custom"}]}`,
/// the shipped template where the program has not changed it (`custom: false`).
#[utoipa::path(operation_id = "programs_messages", get, path = "/admin/v1/programs/{code}/messages",
    responses((status = 200, body = Object), (status = 404)), tag = "programs")]
pub async fn messages(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let items: Vec<_> = state
        .store
        .message_templates(program.id)
        .await?
        .iter()
        .map(template_view)
        .collect();
    Ok(axum::Json(serde_json::json!({ "items": items })))
}

/// Changes a message's template: `code.sms` `{"text"}`, `code.email` `{"subject", "body"}`,
/// with `{code}` where the code goes.
#[utoipa::path(operation_id = "programs_set_message", put, path = "/admin/v1/programs/{code}/messages/{name}",
    request_body = Object, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "programs")]
pub async fn set_message(
    State(state): State<AppState>,
    Path((code, name)): Path<(String, String)>,
    Json(template): Json<serde_json::Value>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let name = message_name(&name)?;
    let program = state.store.program(&code).await?;
    let saved = Template {
        name,
        template: template.clone(),
        custom: true,
    };
    state.store.set_message_template(program.id, name, template).await?;
    Ok(axum::Json(template_view(&saved)))
}

/// Goes back to the shipped template of a message.
#[utoipa::path(operation_id = "programs_reset_message", delete, path = "/admin/v1/programs/{code}/messages/{name}",
    responses((status = 204), (status = 404)), tag = "programs")]
pub async fn reset_message(
    State(state): State<AppState>,
    Path((code, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = message_name(&name)?;
    let program = state.store.program(&code).await?;
    state.store.reset_message_template(program.id, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The program's questionnaire: `{"nodes": [...]}` of headers
/// (`{"type":"header","title","children"}`) and questions (`{"type":"question","id","title",
/// "field":"String|Date|Number|Select|MultiSelect","required","max_length","min_age","answers":[{"id","title"}]}`).
#[utoipa::path(operation_id = "programs_questionnaire", get, path = "/admin/v1/programs/{code}/questionnaire",
    responses((status = 200, body = Object), (status = 404)), tag = "programs")]
pub async fn questionnaire(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let tree = state.store.questionnaire(program.id).await?;
    Ok(axum::Json(
        serde_json::to_value(tree).map_err(|e| crate::error::internal(&e.to_string()))?,
    ))
}

#[utoipa::path(operation_id = "programs_set_questionnaire", put, path = "/admin/v1/programs/{code}/questionnaire",
    request_body = Object, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "programs")]
pub async fn set_questionnaire(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let tree: accrue_core::questionnaire::Questionnaire = serde_path_to_error::deserialize(body)
        .map_err(|e| ApiError::invalid(format!("invalid questionnaire: {}: {}", e.path(), e.inner())))?;
    state.store.set_questionnaire(program.id, tree).await?;
    questionnaire(State(state), Path(code)).await
}
