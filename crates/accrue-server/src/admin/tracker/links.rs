//! Custom fields, leads and registration links; rendering a link for a lead.

use super::integrations::Param;
use crate::admin::views::{time, Items};
use crate::admin::ProgramParam;
use crate::extract::{Json, Path, Query};
use crate::format::public_base;
use crate::{ApiError, AppState};
use accrue_core::template::percent_encode;
use accrue_core::tracker::ids;
use accrue_store::tracker::{Field, Lead, Link, NewClick, NewLink};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    pub key: String,
    pub name: String,
    pub created_at: String,
}

impl From<Field> for FieldView {
    fn from(f: Field) -> Self {
        FieldView {
            key: f.key,
            name: f.name,
            created_at: time(f.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    /// Values of defined custom fields, merged into the lead's.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeadSummary {
    pub external_id: String,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Lead> for LeadSummary {
    fn from(l: Lead) -> Self {
        LeadSummary {
            external_id: l.external_id,
            fields: l.fields,
            created_at: time(l.created_at),
            updated_at: time(l.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    /// The integration's id.
    pub integration: String,
    pub name: String,
    /// The link the partner program gave.
    pub base_url: String,
    /// Extra parameters; values may use `{{tracker.clickid}}`, `{{lead.id}}`, `{{fields.<key>}}`.
    #[serde(default)]
    pub params: Vec<Param>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    pub id: i64,
    pub integration: String,
    pub name: String,
    pub slug: String,
    pub base_url: String,
    pub params: Vec<Param>,
    /// The final URL with parameters, placeholders shown.
    pub final_url: String,
    /// Accrue's short redirect link; put the lead's id in place of `{lead}`.
    pub short_url: String,
    pub created_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderInput {
    /// The lead's external id (created when new).
    pub lead: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rendered {
    /// A fresh click id.
    pub click_id: String,
    /// The partner program's link for this lead and click.
    pub final_url: String,
    /// Accrue's redirect link for the same click: a visit records its details on it.
    pub redirect_url: String,
}

async fn link_view(state: &AppState, base: &str, link: Link) -> Result<LinkView, ApiError> {
    let integration = state
        .store
        .integrations(link.program_id)
        .await?
        .into_iter()
        .find(|i| i.id == link.integration_id)
        .map(|i| i.uid)
        .unwrap_or_default();
    Ok(LinkView {
        id: link.id,
        integration,
        name: link.name,
        short_url: format!("{base}/t/{}?lead={{lead}}", link.slug),
        slug: link.slug,
        base_url: link.base_url,
        params: link
            .params
            .into_iter()
            .map(|(name, value)| Param { name, value })
            .collect(),
        final_url: link.final_url,
        created_at: time(link.created_at),
    })
}

#[utoipa::path(operation_id = "tracker_fields_list", get, path = "/admin/v1/tracker/fields", params(ProgramParam),
    responses((status = 200, body = Items<FieldView>)), tag = "tracker")]
pub async fn fields(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<Items<FieldView>>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let items = state.store.tracker_fields(program.id).await?;
    Ok(axum::Json(Items {
        items: items.into_iter().map(FieldView::from).collect(),
    }))
}

#[utoipa::path(operation_id = "tracker_fields_put", put, path = "/admin/v1/tracker/fields/{key}", params(ProgramParam),
    request_body = FieldInput, responses((status = 200, body = FieldView), (status = 400)), tag = "tracker")]
pub async fn put_field(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<FieldInput>,
) -> Result<axum::Json<FieldView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let field = state.store.put_tracker_field(program.id, &key, &body.name).await?;
    Ok(axum::Json(field.into()))
}

#[utoipa::path(operation_id = "tracker_leads_put", put, path = "/admin/v1/tracker/leads/{external_id}", params(ProgramParam),
    request_body = LeadInput, responses((status = 200, body = LeadSummary), (status = 400)), tag = "tracker")]
pub async fn put_lead(
    State(state): State<AppState>,
    Path(external_id): Path<String>,
    Query(p): Query<ProgramParam>,
    Json(body): Json<LeadInput>,
) -> Result<axum::Json<LeadSummary>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let lead = state.store.put_lead(program.id, &external_id, body.fields).await?;
    Ok(axum::Json(lead.into()))
}

#[utoipa::path(operation_id = "tracker_links_create", post, path = "/admin/v1/tracker/links", params(ProgramParam),
    request_body = CreateLink, responses((status = 201, body = LinkView), (status = 400), (status = 404)), tag = "tracker")]
pub async fn create(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<CreateLink>,
) -> Result<(StatusCode, axum::Json<LinkView>), ApiError> {
    let program = p.resolve(&state.store).await?;
    let integration = state.store.integration(program.id, &body.integration).await?;
    let mut random = [0_u8; ids::SLUG_BYTES];
    rand::thread_rng().fill_bytes(&mut random);
    let new = NewLink {
        integration_id: integration.id,
        name: body.name,
        slug: ids::slug(random),
        base_url: body.base_url,
        params: body.params.into_iter().map(|p| (p.name, p.value)).collect(),
    };
    let link = state
        .store
        .create_link(program.id, &integration.click_param, new)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(link_view(&state, &public_base(&headers), link).await?),
    ))
}

#[utoipa::path(operation_id = "tracker_links_list", get, path = "/admin/v1/tracker/links", params(ProgramParam),
    responses((status = 200, body = Items<LinkView>)), tag = "tracker")]
pub async fn list(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
) -> Result<axum::Json<Items<LinkView>>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let base = public_base(&headers);
    let mut items = Vec::new();
    for link in state.store.links(program.id).await? {
        items.push(link_view(&state, &base, link).await?);
    }
    Ok(axum::Json(Items { items }))
}

#[utoipa::path(operation_id = "tracker_links_get", get, path = "/admin/v1/tracker/links/{id}", params(ProgramParam),
    responses((status = 200, body = LinkView), (status = 404)), tag = "tracker")]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
) -> Result<axum::Json<LinkView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let link = state.store.link(program.id, id).await?;
    Ok(axum::Json(link_view(&state, &public_base(&headers), link).await?))
}

#[utoipa::path(operation_id = "tracker_links_render", post, path = "/admin/v1/tracker/links/{id}/render", params(ProgramParam),
    request_body = RenderInput, responses((status = 200, body = Rendered), (status = 404)), tag = "tracker")]
pub async fn render(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<RenderInput>,
) -> Result<axum::Json<Rendered>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let link = state.store.link(program.id, id).await?;
    let mut random = [0_u8; ids::CLICK_ID_BYTES];
    rand::thread_rng().fill_bytes(&mut random);
    let click = NewClick {
        click_id: ids::click_id(state.store.now(), random),
        lead: body.lead.clone(),
        source: "issued",
        ..NewClick::default()
    };
    let recorded = state.store.record_click(&link, click).await?;
    let mut redirect_url = format!("{}/t/{}?click={}", public_base(&headers), link.slug, recorded.click_id);
    if let Some(lead) = &recorded.lead {
        redirect_url += &format!("&lead={}", percent_encode(&lead.external_id));
    }
    Ok(axum::Json(Rendered {
        click_id: recorded.click_id,
        final_url: recorded.final_url,
        redirect_url,
    }))
}
