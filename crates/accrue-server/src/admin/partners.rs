//! Integra partners in the admin API: a partner's path, hash and cryptKey (shown once),
//! the program and currency its users live in, its scheme and settings; its users,
//! payments and messages; and the program's message templates. Partners belong to the
//! program of `?program=` (`default` when absent).

use super::{Paging, ProgramParam};
use crate::extract::{Json, Path, Query};
use crate::format::{public_base, time};
use crate::service::postings;
use crate::{ApiError, AppState};
use accrue_core::integra::Scheme;
use accrue_core::money::format_minor;
use accrue_store::integra::{IntegraUser, NewPartner, Partner, PartnerSettings, PartnerUpdate, Payment};
use accrue_store::Program;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePartner {
    /// One URL segment: the partner calls `/integra/{path}/{method}`.
    pub path: String,
    pub name: String,
    /// The currency its users' accounts are in; the program's default when absent.
    pub currency: Option<String>,
    /// `aes-256-gcm` (default) or `base64` (the public guide's stub, for sandboxes).
    #[schema(value_type = Option<String>)]
    pub scheme: Option<Scheme>,
    /// `allowed_ips`, `module_url`, `frame_ancestors`, `payment_ttl_minutes`,
    /// `session_minutes`, `utc_offset_minutes`, `low_balance_below`, `support_text`,
    /// `help_text`.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<PartnerSettings>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePartner {
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub scheme: Option<Scheme>,
    /// Replaces all settings.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<PartnerSettings>,
}

fn view(partner: &Partner, program: &Program, currency: &str, headers: &HeaderMap) -> Value {
    json!({
        "id": partner.id,
        "program": program.code,
        "currency": currency,
        "path": partner.path,
        "name": partner.name,
        "hash": partner.hash,
        "scheme": partner.scheme,
        "settings": partner.settings,
        "api_host": format!("{}/integra", public_base(headers)),
        "created_at": time(partner.created_at),
    })
}

async fn currency_code(state: &AppState, partner: &Partner) -> Result<String, ApiError> {
    Ok(crate::service::integra::currency(&state.store, partner).await?.code)
}

/// The partner of `path` in the program of the call.
async fn partner_of(state: &AppState, program: &Program, path: &str) -> Result<Partner, ApiError> {
    let partner = state.store.partner(path).await?;
    if partner.program_id != program.id {
        return Err(ApiError::not_found(format!("partner {path} not found")));
    }
    Ok(partner)
}

/// Registers a partner; the answer shows its `crypt_key` once.
#[utoipa::path(operation_id = "partners_create", post, path = "/admin/v1/partners", params(ProgramParam),
    request_body = CreatePartner, responses((status = 201, body = Object), (status = 400), (status = 409)), tag = "integra")]
pub async fn create(
    State(state): State<AppState>,
    Query(program): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<CreatePartner>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let program = program.resolve(&state.store).await?;
    let currency = postings::currency(&state.store, program.id, body.currency.as_deref()).await?;
    let new = NewPartner {
        program_id: program.id,
        currency_id: currency.id,
        path: body.path,
        name: body.name,
        scheme: body.scheme.unwrap_or_default(),
        settings: body.settings.unwrap_or_default(),
    };
    let (partner, key) = state.store.create_partner(new).await?;
    let mut answer = view(&partner, &program, &currency.code, &headers);
    answer["crypt_key"] = json!(key);
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

#[utoipa::path(operation_id = "partners_list", get, path = "/admin/v1/partners", params(ProgramParam),
    responses((status = 200, body = Object)), tag = "integra")]
pub async fn list(
    State(state): State<AppState>,
    Query(program): Query<ProgramParam>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let mut partners = Vec::new();
    for partner in state.store.partners().await? {
        if partner.program_id == program.id {
            partners.push(view(
                &partner,
                &program,
                &currency_code(&state, &partner).await?,
                &headers,
            ));
        }
    }
    Ok(axum::Json(json!({ "partners": partners })))
}

#[utoipa::path(operation_id = "partners_get", get, path = "/admin/v1/partners/{path}", params(ProgramParam),
    responses((status = 200, body = Object), (status = 404)), tag = "integra")]
pub async fn get(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(program): Query<ProgramParam>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let partner = partner_of(&state, &program, &path).await?;
    let currency = currency_code(&state, &partner).await?;
    Ok(axum::Json(view(&partner, &program, &currency, &headers)))
}

#[utoipa::path(operation_id = "partners_update", patch, path = "/admin/v1/partners/{path}", params(ProgramParam),
    request_body = UpdatePartner, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "integra")]
pub async fn update(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(program): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<UpdatePartner>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    partner_of(&state, &program, &path).await?;
    let update = PartnerUpdate {
        name: body.name,
        scheme: body.scheme,
        settings: body.settings,
    };
    let partner = state.store.update_partner(&path, update).await?;
    let currency = currency_code(&state, &partner).await?;
    Ok(axum::Json(view(&partner, &program, &currency, &headers)))
}

/// A new cryptKey for the partner, shown once; the old one stops opening calls.
#[utoipa::path(operation_id = "partners_rotate_key", post, path = "/admin/v1/partners/{path}/rotate-key",
    params(ProgramParam), responses((status = 200, body = Object), (status = 404)), tag = "integra")]
pub async fn rotate_key(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(program): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    partner_of(&state, &program, &path).await?;
    let key = state.store.rotate_partner_key(&path).await?;
    Ok(axum::Json(json!({ "crypt_key": key })))
}

fn user_view(user: &IntegraUser, scale: u32) -> Value {
    json!({
        "member_id": user.member_id,
        "login": user.login,
        "hash": user.hash,
        "url": user.url,
        "inviter_user_id": user.inviter_user_id,
        "keywords": user.keywords,
        "monthly_budget": format_minor(user.monthly_budget, scale),
        "archived_at": user.archived_at.map(time),
        "created_at": time(user.created_at),
    })
}

fn payment_view(p: &Payment, scale: u32) -> Value {
    json!({
        "id": p.id,
        "kind": p.kind,
        "reference": p.reference,
        "amount": format_minor(p.amount, scale),
        "bonus": format_minor(p.bonus, scale),
        "state": p.state,
        "expires_at": p.expires_at.map(time),
        "created_at": time(p.created_at),
        "decided_at": p.decided_at.map(time),
    })
}

async fn scale(state: &AppState, partner: &Partner) -> Result<u32, ApiError> {
    Ok(crate::service::integra::currency(&state.store, partner).await?.scale)
}

#[utoipa::path(operation_id = "partners_users", get, path = "/admin/v1/partners/{path}/users",
    params(ProgramParam, Paging), responses((status = 200, body = Object), (status = 404)), tag = "integra")]
pub async fn users(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(program): Query<ProgramParam>,
    Query(paging): Query<Paging>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let partner = partner_of(&state, &program, &path).await?;
    let (offset, count) = paging.bounds()?;
    let scale = scale(&state, &partner).await?;
    let users = state.store.integra_users(partner.id, offset, count).await?;
    let users: Vec<Value> = users.iter().map(|u| user_view(u, scale)).collect();
    Ok(axum::Json(json!({ "users": users })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Shown as `keywords` by `getUserData`.
    pub keywords: Option<Vec<String>>,
    /// A decimal in the partner's currency; `dailyBudget` is a thirtieth of it.
    pub monthly_budget: Option<String>,
}

/// What `getUserData` tells of a user's campaign: keywords and monthly budget.
#[utoipa::path(operation_id = "partners_set_campaign", patch, path = "/admin/v1/partners/{path}/users/{hash}",
    params(ProgramParam), request_body = Campaign, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "integra")]
pub async fn set_campaign(
    State(state): State<AppState>,
    Path((path, hash)): Path<(String, String)>,
    Query(program): Query<ProgramParam>,
    Json(body): Json<Campaign>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let partner = partner_of(&state, &program, &path).await?;
    let user = state.store.integra_user(&partner, &hash).await?;
    let scale = scale(&state, &partner).await?;
    let budget = match body.monthly_budget.as_deref() {
        Some("0") => Some(0),
        Some(text) => Some(accrue_core::money::parse_minor(text, scale).map_err(|e| ApiError::invalid(e.to_string()))?),
        None => None,
    };
    if body.keywords.as_ref().is_some_and(|k| k.len() > 1000) {
        return Err(ApiError::invalid("at most 1000 keywords"));
    }
    let user = state.store.set_integra_campaign(user.id, body.keywords, budget).await?;
    Ok(axum::Json(user_view(&user, scale)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentFilter {
    /// Only this user's (its hash).
    pub user: Option<String>,
}

#[utoipa::path(operation_id = "partners_payments", get, path = "/admin/v1/partners/{path}/payments",
    params(ProgramParam, Paging, PaymentFilter), responses((status = 200, body = Object), (status = 404)), tag = "integra")]
pub async fn payments(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(program): Query<ProgramParam>,
    Query(paging): Query<Paging>,
    Query(filter): Query<PaymentFilter>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let partner = partner_of(&state, &program, &path).await?;
    let (offset, count) = paging.bounds()?;
    let user = match filter.user {
        Some(hash) => Some(state.store.integra_user(&partner, &hash).await?.id),
        None => None,
    };
    let scale = scale(&state, &partner).await?;
    let list = state.store.integra_payments(partner.id, user, offset, count).await?;
    let list: Vec<Value> = list.iter().map(|p| payment_view(p, scale)).collect();
    Ok(axum::Json(json!({ "payments": list })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The message type: the program's template of it is rendered.
    #[serde(rename = "type")]
    pub kind: String,
    /// Values for the template's `{{name}}`s.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
}

/// Sends a partner's user a message made from the program's template of its type.
#[utoipa::path(operation_id = "partners_send_message", post, path = "/admin/v1/partners/{path}/users/{hash}/messages",
    params(ProgramParam), request_body = SendMessage, responses((status = 201, body = Object), (status = 404)), tag = "integra")]
pub async fn send_message(
    State(state): State<AppState>,
    Path((path, hash)): Path<(String, String)>,
    Query(program): Query<ProgramParam>,
    Json(body): Json<SendMessage>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let program = program.resolve(&state.store).await?;
    let partner = partner_of(&state, &program, &path).await?;
    let user = state.store.integra_user(&partner, &hash).await?;
    let sent = state
        .store
        .send_templated(program.id, user.member_id, body.kind, body.params)
        .await?;
    let answer = json!({"id": sent.id, "title": sent.title, "text": sent.body, "created_at": time(sent.created_at)});
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

/// The program's message templates (mustache), by type.
#[utoipa::path(operation_id = "notification_templates", get, path = "/admin/v1/programs/{code}/notification-templates",
    responses((status = 200, body = Object), (status = 404)), tag = "integra")]
pub async fn templates(State(state): State<AppState>, Path(code): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let templates = state.store.notification_templates(program.id).await?;
    Ok(axum::Json(json!({ "templates": templates })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    pub title_template: String,
    pub text_template: String,
}

/// Sets the template of a message type: `{{name}}` (escaped), `{{{name}}}` (as is),
/// `{{go/payment}}`-style links to the cabinet's pages.
#[utoipa::path(operation_id = "notification_template_set", put, path = "/admin/v1/programs/{code}/notification-templates/{kind}",
    request_body = TemplateBody, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "integra")]
pub async fn set_template(
    State(state): State<AppState>,
    Path((code, kind)): Path<(String, String)>,
    Json(body): Json<TemplateBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    state
        .store
        .set_notification_template(program.id, kind, body.title_template, body.text_template)
        .await?;
    templates(State(state), Path(code)).await
}
