//! Integrations with partner programs and their ready postback links.

use crate::admin::views::{time, Items};
use crate::admin::ProgramParam;
use crate::extract::{Json, Path, Query};
use crate::format::public_base;
use crate::outbound::guard::{self, Allowlist};
use crate::{ApiError, AppState};
use accrue_core::tracker::ids;
use accrue_core::tracker::templates::{self, PostbackConfig};
use accrue_store::tracker::{Integration, IntegrationUpdate, NewIntegration};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

const DEFAULT_RATE_LIMIT: i64 = 6000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub name: String,
    pub value: String,
}

/// A postback configuration: the event and the parameters the partner program fills.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostbackInput {
    pub label: String,
    /// `registration`, `sale`, `resale`, `first_deposit_…`, `recurring_deposit_…` or a custom event.
    pub event: String,
    #[serde(default)]
    pub params: Vec<Param>,
}

impl From<PostbackInput> for PostbackConfig {
    fn from(p: PostbackInput) -> Self {
        PostbackConfig {
            label: p.label,
            event: p.event,
            params: p.params.into_iter().map(|p| (p.name, p.value)).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    pub name: String,
    /// A shipped template (`1win`, `pocket_option`, `generic`); its click parameter and
    /// postbacks are the defaults.
    pub template: Option<String>,
    /// The partner program's parameter that carries the click id (`sub1`, `click_id`…).
    pub click_param: Option<String>,
    /// Postback configurations; default: the template's, or registration / sale / resale.
    pub postbacks: Option<Vec<PostbackInput>>,
    /// `true` generates a shared secret, a string sets one (16+ characters).
    #[schema(value_type = Option<Object>)]
    pub secret: Option<Value>,
    /// The postback parameter carrying the secret (default `secret`).
    pub secret_param: Option<String>,
    /// IP addresses or networks postbacks may come from; empty for any.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Default 6000.
    pub rate_limit_per_minute: Option<i64>,
    /// Forward counted conversions to the traffic source: a URL template with
    /// `{clickid}`, `{event}`, `{kind}`, `{amount}`, `{currency}`, `{tid}`, `{lead}`, `{sub1}`…`{sub5}`.
    pub forward_url: Option<String>,
    /// Currency of amounts sent without one (default USD).
    pub default_currency: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    pub name: Option<String>,
    pub click_param: Option<String>,
    pub postbacks: Option<Vec<PostbackInput>>,
    /// `true` generates a new secret, a string sets one, `false` removes it.
    #[schema(value_type = Option<Object>)]
    pub secret: Option<Value>,
    pub allowed_ips: Option<Vec<String>>,
    pub rate_limit_per_minute: Option<i64>,
    /// An empty string stops forwarding.
    pub forward_url: Option<String>,
    pub default_currency: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostbackView {
    pub label: String,
    pub event: String,
    pub params: Vec<Param>,
    /// The ready link to paste into the partner program.
    pub link: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    /// The unguessable id in the postback URL.
    pub id: String,
    pub name: String,
    pub template: Option<String>,
    pub click_param: String,
    pub click_in_link: bool,
    pub postback_url: String,
    pub postbacks: Vec<PostbackView>,
    pub custom_events: Vec<String>,
    pub secret_param: String,
    pub has_secret: bool,
    pub allowed_ips: Vec<String>,
    pub rate_limit_per_minute: i64,
    pub forward_url: Option<String>,
    pub default_currency: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub code: String,
    pub name: String,
    pub vertical: String,
    pub click_param: String,
    pub click_in_link: bool,
    pub notes: String,
    /// Links shown with `{integration-id}` in place of an integration's id.
    pub postbacks: Vec<PostbackView>,
}

fn params_view(params: &[(String, String)]) -> Vec<Param> {
    params
        .iter()
        .map(|(name, value)| Param {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn postback_views(
    base: &str,
    uid: &str,
    click: Option<&str>,
    configs: &[PostbackConfig],
    secret: Option<(&str, &str)>,
) -> Vec<PostbackView> {
    configs
        .iter()
        .map(|c| PostbackView {
            label: c.label.clone(),
            event: c.event.clone(),
            params: params_view(&c.params),
            link: templates::postback_link(base, uid, click, c, secret),
        })
        .collect()
}

pub(super) fn view(state: &AppState, base: &str, i: Integration) -> Result<IntegrationView, ApiError> {
    let secret = match &i.sealed_secret {
        Some(sealed) => Some(
            state
                .store
                .sealer()
                .open(sealed)
                .map_err(|e| crate::error::internal(&e))?,
        ),
        None => None,
    };
    let click = i.click_in_link.then_some(i.click_param.as_str());
    let postbacks = postback_views(
        base,
        &i.uid,
        click,
        &i.postbacks,
        secret.as_deref().map(|s| (i.secret_param.as_str(), s)),
    );
    Ok(IntegrationView {
        custom_events: i.custom_events(),
        postback_url: format!("{base}{}", templates::postback_path(&i.uid)),
        id: i.uid,
        name: i.name,
        template: i.template,
        click_param: i.click_param,
        click_in_link: i.click_in_link,
        postbacks,
        secret_param: i.secret_param,
        has_secret: secret.is_some(),
        allowed_ips: i.allowed_ips,
        rate_limit_per_minute: i.rate_limit_per_minute,
        forward_url: i.forward_url,
        default_currency: i.default_currency,
        created_at: time(i.created_at),
        updated_at: time(i.updated_at),
    })
}

/// `true` → a new secret; a string → that secret; `false`/`null` → none.
fn sealed_secret(state: &AppState, choice: &Value) -> Result<Option<String>, ApiError> {
    match choice {
        Value::Bool(true) => {
            let mut random = [0_u8; 18];
            rand::thread_rng().fill_bytes(&mut random);
            Ok(Some(state.store.sealer().seal(&URL_SAFE_NO_PAD.encode(random))))
        }
        Value::String(s) if s.len() >= 16 && s.len() <= 200 && s.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(state.store.sealer().seal(s)))
        }
        Value::Bool(false) | Value::Null => Ok(None),
        _ => Err(ApiError::invalid(
            "secret: true to generate one, a string of 16 to 200 visible ASCII characters, or false for none",
        )),
    }
}

fn check_ips(ips: &[String]) -> Result<(), ApiError> {
    for ip in ips {
        let ok = ip.parse::<ipnet::IpNet>().is_ok() || ip.parse::<std::net::IpAddr>().is_ok();
        if !ok {
            return Err(ApiError::invalid(format!(
                "allowed_ips: {ip:?} is not an IP address or network"
            )));
        }
    }
    Ok(())
}

/// The forwarding URL must pass the outbound guard (no internal addresses).
fn check_forward(allow: &Allowlist, url: &str) -> Result<(), ApiError> {
    let sample = url.replace(['{', '}'], "");
    guard::check_url(&sample, allow)
        .map(drop)
        .map_err(|e| ApiError::invalid(format!("forward_url: {e}")))
}

#[utoipa::path(operation_id = "tracker_templates", get, path = "/admin/v1/tracker/templates",
    responses((status = 200, body = Items<TemplateView>)), tag = "tracker")]
pub async fn templates(headers: HeaderMap) -> axum::Json<Items<TemplateView>> {
    let base = public_base(&headers);
    let items = templates::all()
        .iter()
        .map(|t| TemplateView {
            code: t.code.clone(),
            name: t.name.clone(),
            vertical: t.vertical.clone(),
            click_param: t.click_param.clone(),
            click_in_link: t.click_in_link,
            notes: t.notes.clone(),
            postbacks: postback_views(
                &base,
                "{integration-id}",
                t.click_in_link.then_some(t.click_param.as_str()),
                &t.postbacks,
                None,
            ),
        })
        .collect();
    axum::Json(Items { items })
}

#[utoipa::path(operation_id = "tracker_integrations_create", post, path = "/admin/v1/tracker/integrations", params(ProgramParam),
    request_body = CreateIntegration, responses((status = 201, body = IntegrationView), (status = 400)), tag = "tracker")]
pub async fn create(
    State(state): State<AppState>,
    State(allow): State<Allowlist>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<CreateIntegration>,
) -> Result<(StatusCode, axum::Json<IntegrationView>), ApiError> {
    let program = p.resolve(&state.store).await?;
    let template = match &body.template {
        Some(code) => Some(templates::find(code).ok_or_else(|| {
            let codes: Vec<&str> = templates::all().iter().map(|t| t.code.as_str()).collect();
            ApiError::invalid(format!("unknown template {code:?}; shipped: {}", codes.join(", ")))
        })?),
        None => None,
    };
    check_ips(&body.allowed_ips)?;
    if let Some(url) = &body.forward_url {
        check_forward(&allow, url)?;
    }
    let click_param = body
        .click_param
        .or_else(|| template.map(|t| t.click_param.clone()))
        .ok_or_else(|| {
            ApiError::invalid("click_param: name the partner program's parameter that carries the click id")
        })?;
    let postbacks = match (body.postbacks, template) {
        (Some(list), _) => list.into_iter().map(PostbackConfig::from).collect(),
        (None, Some(t)) => t.postbacks.clone(),
        (None, None) => templates::default_postbacks(),
    };
    let mut random = [0_u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let new = NewIntegration {
        uid: ids::uuid_v4(random),
        name: body.name,
        template: template.map(|t| t.code.clone()),
        click_param,
        click_in_link: template.is_none_or(|t| t.click_in_link),
        postbacks,
        secret_param: body.secret_param.unwrap_or_else(|| "secret".into()),
        sealed_secret: sealed_secret(&state, body.secret.as_ref().unwrap_or(&Value::Null))?,
        allowed_ips: body.allowed_ips,
        rate_limit_per_minute: body.rate_limit_per_minute.unwrap_or(DEFAULT_RATE_LIMIT),
        forward_url: body.forward_url.filter(|u| !u.is_empty()),
        default_currency: body.default_currency.unwrap_or_else(|| "USD".into()),
    };
    let integration = state.store.create_integration(program.id, new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&state, &public_base(&headers), integration)?),
    ))
}

#[utoipa::path(operation_id = "tracker_integrations_list", get, path = "/admin/v1/tracker/integrations", params(ProgramParam),
    responses((status = 200, body = Items<IntegrationView>)), tag = "tracker")]
pub async fn list(
    State(state): State<AppState>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
) -> Result<axum::Json<Items<IntegrationView>>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let base = public_base(&headers);
    let items = state
        .store
        .integrations(program.id)
        .await?
        .into_iter()
        .map(|i| view(&state, &base, i))
        .collect::<Result<_, _>>()?;
    Ok(axum::Json(Items { items }))
}

#[utoipa::path(operation_id = "tracker_integrations_get", get, path = "/admin/v1/tracker/integrations/{uid}", params(ProgramParam),
    responses((status = 200, body = IntegrationView), (status = 404)), tag = "tracker")]
pub async fn get(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
) -> Result<axum::Json<IntegrationView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let integration = state.store.integration(program.id, &uid).await?;
    Ok(axum::Json(view(&state, &public_base(&headers), integration)?))
}

#[utoipa::path(operation_id = "tracker_integrations_update", patch, path = "/admin/v1/tracker/integrations/{uid}", params(ProgramParam),
    request_body = UpdateIntegration, responses((status = 200, body = IntegrationView), (status = 400), (status = 404)), tag = "tracker")]
pub async fn update(
    State(state): State<AppState>,
    State(allow): State<Allowlist>,
    Path(uid): Path<String>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
    Json(body): Json<UpdateIntegration>,
) -> Result<axum::Json<IntegrationView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    if let Some(ips) = &body.allowed_ips {
        check_ips(ips)?;
    }
    if let Some(url) = body.forward_url.as_deref().filter(|u| !u.is_empty()) {
        check_forward(&allow, url)?;
    }
    let update = IntegrationUpdate {
        name: body.name,
        click_param: body.click_param,
        postbacks: body
            .postbacks
            .map(|list| list.into_iter().map(PostbackConfig::from).collect()),
        sealed_secret: body.secret.as_ref().map(|s| sealed_secret(&state, s)).transpose()?,
        allowed_ips: body.allowed_ips,
        rate_limit_per_minute: body.rate_limit_per_minute,
        forward_url: body.forward_url.map(|u| Some(u).filter(|u| !u.is_empty())),
        default_currency: body.default_currency,
    };
    let integration = state.store.update_integration(program.id, &uid, update).await?;
    Ok(axum::Json(view(&state, &public_base(&headers), integration)?))
}
