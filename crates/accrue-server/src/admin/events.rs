//! Event offers in the admin API: a program's offers, events recorded for a member (any
//! source the operator relays), members' social profiles and counters, and the
//! program's VK community.

use crate::extract::{Json, Path, Query};
use crate::service::events as service;
use crate::{ApiError, AppState};
use accrue_core::events::{Event, EventOffer};
use accrue_store::events::{VkCollector, VkOauth, VkSettings};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::ProgramParam;

/// The program's event offers (see docs/offers.md, "Event offers").
#[utoipa::path(operation_id = "event_offers", get, path = "/admin/v1/programs/{code}/event-offers",
    responses((status = 200, body = Object), (status = 404)), tag = "events")]
pub async fn offers(State(state): State<AppState>, Path(code): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    Ok(axum::Json(
        json!({ "offers": state.store.event_offers(program.id).await? }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOffers {
    #[schema(value_type = Vec<Object>)]
    pub offers: Vec<EventOffer>,
}

/// Replaces the program's event offers, checked first.
#[utoipa::path(operation_id = "event_offers_put", put, path = "/admin/v1/programs/{code}/event-offers",
    request_body = PutOffers, responses((status = 200, body = Object), (status = 400)), tag = "events")]
pub async fn put_offers(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<PutOffers>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    state.store.set_event_offers(program.id, body.offers).await?;
    offers(State(state), Path(code)).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordEvent {
    /// `{"kind", "at", "network", "object", "attribute"}`.
    #[schema(value_type = Object)]
    pub event: Event,
    /// The source and its id of the event: the same pair again is not handled twice.
    pub source: Option<String>,
    pub event_id: Option<String>,
}

/// Records an event of a member; the answer lists what the program's offers did.
#[utoipa::path(operation_id = "member_event", post, path = "/admin/v1/members/{id}/events", params(ProgramParam),
    request_body = RecordEvent, responses((status = 200, body = Object), (status = 404)), tag = "events")]
pub async fn record(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(program): Query<ProgramParam>,
    Json(body): Json<RecordEvent>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let source = match (body.source, body.event_id) {
        (Some(source), Some(id)) => Some((source, id)),
        (None, None) => None,
        _ => return Err(ApiError::invalid("source and event_id go together")),
    };
    let recorded = service::record(&state.store, program.id, id, body.event, source).await?;
    Ok(axum::Json(json!(recorded)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkProfile {
    /// `vk`, `ok`, …
    pub network: String,
    pub user_id: String,
}

/// Links a member's social profile (events from that network then count for the
/// member); records `social_linked`.
#[utoipa::path(operation_id = "member_social_profile", post, path = "/admin/v1/members/{id}/social-profiles",
    params(ProgramParam), request_body = LinkProfile, responses((status = 201, body = Object), (status = 409)), tag = "events")]
pub async fn link(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(program): Query<ProgramParam>,
    Json(body): Json<LinkProfile>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let program = program.resolve(&state.store).await?;
    let recorded = service::link_profile(&state.store, program.id, id, body.network, body.user_id).await?;
    Ok((StatusCode::CREATED, axum::Json(json!(recorded))))
}

#[utoipa::path(operation_id = "member_event_counters", get, path = "/admin/v1/members/{id}/event-counters",
    params(ProgramParam), responses((status = 200, body = Object)), tag = "events")]
pub async fn counters(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(program): Query<ProgramParam>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = program.resolve(&state.store).await?;
    let member = state.store.member(program.id, id).await?;
    Ok(axum::Json(
        json!({ "counters": state.store.event_counters(member.id).await? }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutVk {
    pub group_id: i64,
    /// What VK's confirmation request is answered with.
    pub confirmation: String,
    /// The community's secret key; kept as its SHA-256.
    pub secret: Option<String>,
    /// The periodic collector: `access_token` (the community's service token, kept
    /// sealed), `api_base` (`https://api.vk.com/method`), `posts` (20), `every_minutes` (10).
    pub collector: Option<CollectorInput>,
    /// Members linking VK themselves through VK ID: `client_id`, `client_secret` (kept
    /// sealed), `redirect_uri` (`https://<accrue>/social/vk/{code}/callback`),
    /// `authorize_url` and `token_url` (VK ID's by default).
    pub oauth: Option<OauthInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OauthInput {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectorInput {
    pub access_token: String,
    pub api_base: Option<String>,
    pub posts: Option<u32>,
    pub every_minutes: Option<u32>,
}

/// The program's VK community; VK's Callback API address is `/social/vk/{code}`.
#[utoipa::path(operation_id = "vk_put", put, path = "/admin/v1/programs/{code}/vk",
    request_body = PutVk, responses((status = 200, body = Object), (status = 400)), tag = "events")]
pub async fn put_vk(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<PutVk>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    if body.group_id <= 0 || body.confirmation.trim().is_empty() || body.confirmation.len() > 64 {
        return Err(ApiError::invalid(
            "group_id is the community's id; confirmation has 1 to 64 characters",
        ));
    }
    let collector = match body.collector {
        Some(c) => {
            let api_base = c.api_base.unwrap_or_else(|| "https://api.vk.com/method".into());
            let posts = c.posts.unwrap_or(20);
            let every_minutes = c.every_minutes.unwrap_or(10);
            let url_ok = api_base.starts_with("https://") || api_base.starts_with("http://");
            if !url_ok
                || !(1..=100).contains(&posts)
                || !(1..=1440).contains(&every_minutes)
                || c.access_token.is_empty()
            {
                return Err(ApiError::invalid(
                    "collector: api_base is an http(s) URL, posts 1 to 100, every_minutes 1 to 1440, access_token given",
                ));
            }
            Some(VkCollector {
                api_base,
                sealed_token: state.store.sealer().seal(&c.access_token),
                posts,
                every_minutes,
            })
        }
        None => None,
    };
    let oauth = body.oauth.map(|o| VkOauth {
        client_id: o.client_id,
        sealed_secret: state.store.sealer().seal(&o.client_secret),
        authorize_url: o.authorize_url.unwrap_or_else(|| "https://id.vk.com/authorize".into()),
        token_url: o.token_url.unwrap_or_else(|| "https://id.vk.com/oauth2/auth".into()),
        redirect_uri: o.redirect_uri,
    });
    let settings = VkSettings {
        oauth,
        group_id: body.group_id,
        confirmation: body.confirmation.trim().to_string(),
        secret_sha256: body.secret.as_deref().map(accrue_store::imshop::key_hash),
        collector,
    };
    state.store.set_vk_settings(program.id, settings).await?;
    let path = format!("/social/vk/{code}");
    Ok(axum::Json(
        json!({"group_id": body.group_id, "callback_path": path, "secret_set": body.secret.is_some()}),
    ))
}

/// A new signing secret for the program's event endpoint `POST /events/{code}` (shown
/// once; the old one stops working).
#[utoipa::path(operation_id = "event_source_rotate", post, path = "/admin/v1/programs/{code}/event-source/rotate-secret",
    responses((status = 200, body = Object), (status = 404)), tag = "events")]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let mut bytes = [0_u8; 24];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
    let secret = accrue_core::signature::WebhookSecret::from_random(bytes).to_text();
    state
        .store
        .rotate_event_source_secret(program.id, secret.clone())
        .await?;
    Ok(axum::Json(json!({"secret": secret, "path": format!("/events/{code}")})))
}

/// Runs the program's VK collector now; how many events it recorded.
#[utoipa::path(operation_id = "vk_collect", post, path = "/admin/v1/programs/{code}/vk/collect",
    responses((status = 200, body = Object), (status = 404), (status = 502)), tag = "events")]
pub async fn collect(State(state): State<AppState>, Path(code): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let settings = state
        .store
        .vk_settings(program.id)
        .await?
        .filter(|s| s.collector.is_some())
        .ok_or_else(|| ApiError::not_found("no VK collector is set for this program"))?;
    let http = reqwest::Client::new();
    match crate::service::vk_collector::collect(&state.store, &http, program.id, &settings).await {
        Ok(events) => Ok(axum::Json(json!({ "events": events }))),
        Err(crate::service::vk_collector::CollectError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "vk_failed", e.to_string())),
    }
}
