//! Webhook endpoints: operators subscribe URLs to event types. Signing secrets are
//! shown on creation, on request and on rotation; stored sealed.

use super::views::{time, Items};
use super::ProgramParam;
use crate::extract::{Json, Path, Query};
use crate::outbound::guard::{self, Allowlist};
use crate::{ApiError, AppState};
use accrue_core::signature::WebhookSecret;
use accrue_store::outbox::{Endpoint, EndpointUpdate, NewEndpoint};
use axum::extract::State;
use axum::http::StatusCode;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long the previous secret keeps signing after a rotation.
const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// Event types such as `points.accrued`, or `["*"]` for all.
    pub event_types: Vec<String>,
    /// A `whsec_…` secret to use; a new one is generated when absent.
    pub secret: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `false` stops deliveries; `true` starts them again (also after a 410).
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Only in the answer to creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    pub secret: String,
}

fn view(e: Endpoint, secret: Option<String>) -> EndpointView {
    EndpointView {
        id: e.id,
        url: e.url,
        description: e.description,
        event_types: e.event_types,
        enabled: e.enabled,
        disabled_reason: e.disabled_reason,
        created_at: time(e.created_at),
        updated_at: time(e.updated_at),
        secret,
    }
}

fn new_secret() -> WebhookSecret {
    let mut bytes = [0_u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    WebhookSecret::from_random(bytes)
}

fn check_url(allow: &Allowlist, url: &str) -> Result<(), ApiError> {
    guard::check_url(url, allow)
        .map(drop)
        .map_err(|e| ApiError::invalid(format!("url: {e}")))
}

#[utoipa::path(operation_id = "webhooks_create", post, path = "/admin/v1/webhook-endpoints", params(ProgramParam), request_body = CreateEndpoint,
    responses((status = 201, body = EndpointView), (status = 400, description = "bad URL (also: internal addresses), unknown event type")), tag = "webhooks")]
pub async fn create(
    State(state): State<AppState>,
    State(allow): State<Allowlist>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<CreateEndpoint>,
) -> Result<(StatusCode, axum::Json<EndpointView>), ApiError> {
    let program = p.resolve(&state.store).await?;
    check_url(&allow, &body.url)?;
    let secret = match &body.secret {
        Some(text) => WebhookSecret::parse(text).map_err(|e| ApiError::invalid(format!("secret: {e}")))?,
        None => new_secret(),
    };
    let new = NewEndpoint {
        url: body.url,
        description: body.description,
        event_types: body.event_types,
        secret: state.store.sealer().seal(&secret.to_text()),
    };
    let endpoint = state.store.create_endpoint(program.id, new).await?;
    Ok((StatusCode::CREATED, axum::Json(view(endpoint, Some(secret.to_text())))))
}

#[utoipa::path(operation_id = "webhooks_list", get, path = "/admin/v1/webhook-endpoints", params(ProgramParam), responses((status = 200, body = Items<EndpointView>)), tag = "webhooks")]
pub async fn list(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Items<EndpointView>>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let items = state
        .store
        .endpoints(program.id)
        .await?
        .into_iter()
        .map(|e| view(e, None))
        .collect();
    Ok(axum::Json(Items { items }))
}

#[utoipa::path(operation_id = "webhooks_get", get, path = "/admin/v1/webhook-endpoints/{id}", params(ProgramParam), responses((status = 200, body = EndpointView), (status = 404)), tag = "webhooks")]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<EndpointView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    Ok(axum::Json(view(state.store.endpoint(program.id, id).await?, None)))
}

#[utoipa::path(operation_id = "webhooks_secret", get, path = "/admin/v1/webhook-endpoints/{id}/secret", params(ProgramParam), responses((status = 200, body = SecretView), (status = 404)), tag = "webhooks")]
pub async fn secret(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<SecretView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let endpoint = state.store.endpoint(program.id, id).await?;
    let secret = state
        .store
        .sealer()
        .open(&endpoint.secret)
        .map_err(|e| crate::error::internal(&e))?;
    Ok(axum::Json(SecretView { secret }))
}

#[utoipa::path(operation_id = "webhooks_update", patch, path = "/admin/v1/webhook-endpoints/{id}", params(ProgramParam), request_body = UpdateEndpoint,
    responses((status = 200, body = EndpointView), (status = 400), (status = 404)), tag = "webhooks")]
pub async fn update(
    State(state): State<AppState>,
    State(allow): State<Allowlist>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<UpdateEndpoint>,
) -> Result<axum::Json<EndpointView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    if let Some(url) = &body.url {
        check_url(&allow, url)?;
    }
    let update = EndpointUpdate {
        url: body.url,
        description: body.description,
        event_types: body.event_types,
        enabled: body.enabled,
    };
    Ok(axum::Json(view(
        state.store.update_endpoint(program.id, id, update).await?,
        None,
    )))
}

#[utoipa::path(operation_id = "webhooks_delete", delete, path = "/admin/v1/webhook-endpoints/{id}", params(ProgramParam), responses((status = 204), (status = 404)), tag = "webhooks")]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<StatusCode, ApiError> {
    let program = p.resolve(&state.store).await?;
    state.store.delete_endpoint(program.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "webhooks_rotate_secret", post, path = "/admin/v1/webhook-endpoints/{id}/rotate-secret", params(ProgramParam),
    responses((status = 200, body = SecretView, description = "the new secret; the old one signs too for 24 hours")), tag = "webhooks")]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<SecretView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let secret = new_secret();
    let until = state.store.now() + ROTATION_OVERLAP_MS;
    state
        .store
        .rotate_endpoint_secret(program.id, id, state.store.sealer().seal(&secret.to_text()), until)
        .await?;
    Ok(axum::Json(SecretView {
        secret: secret.to_text(),
    }))
}

#[utoipa::path(operation_id = "webhooks_test", post, path = "/admin/v1/webhook-endpoints/{id}/test", params(ProgramParam),
    responses((status = 202, description = "a webhook.test event is queued for this endpoint")), tag = "webhooks")]
pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<StatusCode, ApiError> {
    let program = p.resolve(&state.store).await?;
    state.store.send_test_event(program.id, id).await?;
    Ok(StatusCode::ACCEPTED)
}
