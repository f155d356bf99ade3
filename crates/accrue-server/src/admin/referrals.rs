//! The referral program and the IMSHOP face in the admin API: a program's referral
//! settings and link domains, the referrals with their review queue, a member's referral
//! figures, and the IMSHOP face's settings with its API key (shown once).

use super::{Paging, ProgramParam};
use crate::extract::{Json, Path, Query};
use crate::faces::{imshop, referral};
use crate::format::public_base;
use crate::format::time;
use crate::service::referral as service;
use crate::{ApiError, AppState};
use accrue_core::money::to_decimal;
use accrue_core::referral::ReferralSettings;
use accrue_store::imshop::{new_key, ImshopSettings};
use accrue_store::referrals::{Referral, ReferralState};
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

/// A program's referral settings: `code` (`{"kind": "member_id" | "generated"}` or
/// `{"kind": "external_id", "source"}`), `links` (`ios_url`, `android_package`,
/// `web_url`, `apple_app_site_association`, `assetlinks`, `match_window_minutes`),
/// `rewards` (`on`, `min_order`, `inviter`, `invitee`, `lifetime_days`, `inviter_cap`),
/// `fraud` (`self_referral`, `velocity`), `stats` and `locale`.
#[utoipa::path(operation_id = "referral_settings", get, path = "/admin/v1/programs/{code}/referral-settings",
    responses((status = 200, body = Object), (status = 404)), tag = "referral")]
pub async fn settings(State(state): State<AppState>, Path(code): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let settings = state.store.referral_settings(program.id).await?;
    let hosts = state
        .store
        .face_binding(referral::FACE, program.id)
        .await?
        .map(|b| b.hosts)
        .unwrap_or_default();
    let mut view = serde_json::to_value(settings).map_err(|e| crate::error::internal(&e.to_string()))?;
    view["link_hosts"] = json!(hosts);
    Ok(axum::Json(view))
}

/// Replaces the settings; `link_hosts` (read-only here) is set with
/// `PUT /admin/v1/programs/{code}/link-hosts`.
#[utoipa::path(operation_id = "referral_set_settings", put, path = "/admin/v1/programs/{code}/referral-settings",
    request_body = Object, responses((status = 200, body = Object), (status = 400), (status = 404)), tag = "referral")]
pub async fn set_settings(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(mut body): Json<Value>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    if let Some(fields) = body.as_object_mut() {
        fields.remove("link_hosts");
    }
    let settings: ReferralSettings = serde_path_to_error::deserialize(body)
        .map_err(|e| ApiError::invalid(format!("invalid settings: {}: {}", e.path(), e.inner())))?;
    state.store.set_referral_settings(program.id, settings).await?;
    self::settings(State(state), Path(code)).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkHosts {
    /// Host names invite links and the well-known files are served on for this program.
    pub hosts: Vec<String>,
}

/// The program's link domains: `/r/{code}` and `/.well-known/*` on these hosts are this
/// program's; other hosts serve the server's default program.
#[utoipa::path(operation_id = "referral_set_link_hosts", put, path = "/admin/v1/programs/{code}/link-hosts",
    request_body = LinkHosts, responses((status = 200, body = Object), (status = 400), (status = 409)), tag = "referral")]
pub async fn set_link_hosts(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(body): Json<LinkHosts>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let hosts = body
        .hosts
        .iter()
        .map(|h| super::faces::host_name(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::invalid)?;
    state.store.bind_face(referral::FACE, program.id, hosts, None).await?;
    self::settings(State(state), Path(code)).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralView {
    pub id: i64,
    pub inviter_id: i64,
    pub invitee_id: i64,
    pub code: String,
    pub banner_id: Option<String>,
    /// `approved`, `review` or `rejected`.
    pub state: String,
    /// The fraud rules it tripped: `same_phone`, `same_email`, `same_device`, `same_ip`,
    /// `velocity`.
    pub suspicions: Vec<String>,
    pub created_at: String,
    pub decided_at: Option<String>,
}

impl From<Referral> for ReferralView {
    fn from(r: Referral) -> ReferralView {
        ReferralView {
            id: r.id,
            inviter_id: r.inviter_id,
            invitee_id: r.invitee_id,
            code: r.code,
            banner_id: r.banner_id,
            state: r.state.as_str().into(),
            suspicions: r.suspicions.iter().map(|s| s.as_str().to_string()).collect(),
            created_at: time(r.created_at),
            decided_at: r.decided_at.map(time),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    pub program: Option<String>,
    /// `approved`, `review` (the review queue) or `rejected`.
    pub state: Option<String>,
    pub inviter: Option<i64>,
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

/// Referrals newest first; `state=review` is the review queue.
#[utoipa::path(operation_id = "referrals_list", get, path = "/admin/v1/referrals", params(ReferralQuery),
    responses((status = 200, body = Object), (status = 400)), tag = "referral")]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ReferralQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = ProgramParam { program: q.program }.resolve(&state.store).await?;
    let wanted = match q.state.as_deref() {
        None => None,
        Some(text) => Some(
            ReferralState::parse(text)
                .ok_or_else(|| ApiError::invalid("state must be approved, review or rejected"))?,
        ),
    };
    let page = Paging {
        offset: q.offset,
        count: q.count,
    }
    .bounds()?;
    let found = state.store.referrals(program.id, wanted, q.inviter, page).await?;
    let items: Vec<ReferralView> = found.into_iter().map(ReferralView::from).collect();
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClickQuery {
    pub program: Option<String>,
    pub inviter: Option<i64>,
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

/// Clicks on invite links newest first (`matched_at`: when a first open took the click).
#[utoipa::path(operation_id = "referral_clicks", get, path = "/admin/v1/referral-clicks", params(ClickQuery),
    responses((status = 200, body = Object), (status = 400)), tag = "referral")]
pub async fn clicks(State(state): State<AppState>, Query(q): Query<ClickQuery>) -> Result<axum::Json<Value>, ApiError> {
    let program = ProgramParam { program: q.program }.resolve(&state.store).await?;
    let page = Paging {
        offset: q.offset,
        count: q.count,
    }
    .bounds()?;
    let found = state.store.referral_clicks(program.id, q.inviter, page).await?;
    let items: Vec<Value> = found
        .into_iter()
        .map(|c| {
            json!({"id": c.id, "inviter_id": c.inviter_id, "code": c.code, "banner_id": c.banner_id,
                   "platform": c.platform, "ip": c.ip, "user_agent": c.user_agent,
                   "created_at": time(c.created_at), "matched_at": c.matched_at.map(time)})
        })
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

async fn decide(
    state: AppState,
    id: i64,
    p: ProgramParam,
    approve: bool,
) -> Result<axum::Json<ReferralView>, ApiError> {
    let program = p.resolve(&state.store).await?;
    Ok(axum::Json(
        state.store.decide_referral(program.id, id, approve).await?.into(),
    ))
}

/// Approves a referral in review: its held rewards are paid (within the inviter's cap).
#[utoipa::path(operation_id = "referrals_approve", post, path = "/admin/v1/referrals/{id}/approve", params(ProgramParam),
    responses((status = 200, body = ReferralView), (status = 404), (status = 409, description = "not in review")), tag = "referral")]
pub async fn approve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<ReferralView>, ApiError> {
    decide(state, id, p, true).await
}

/// Rejects a referral in review: its held rewards are void.
#[utoipa::path(operation_id = "referrals_reject", post, path = "/admin/v1/referrals/{id}/reject", params(ProgramParam),
    responses((status = 200, body = ReferralView), (status = 404), (status = 409, description = "not in review")), tag = "referral")]
pub async fn reject(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
) -> Result<axum::Json<ReferralView>, ApiError> {
    decide(state, id, p, false).await
}

/// A member's code and invite link, who invited them, and what their invitations brought.
#[utoipa::path(operation_id = "members_referral", get, path = "/admin/v1/members/{id}/referral", params(ProgramParam),
    responses((status = 200, body = Object), (status = 404)), tag = "referral")]
pub async fn of_member(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(p): Query<ProgramParam>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let program = p.resolve(&state.store).await?;
    let member = state.store.member(program.id, id).await?;
    let (link, code) = service::invite_link(&state.store, program.id, &member, &public_base(&headers)).await?;
    let invited_by = state
        .store
        .referral_of_invitee(program.id, id)
        .await?
        .map(ReferralView::from);
    let (f, currency) = service::figures(&state.store, program.id, id).await?;
    Ok(axum::Json(json!({
        "code": code,
        "generated_code": member.referral_code,
        "link": link,
        "invited_by": invited_by,
        "invited": f.invited,
        "rewarded": f.rewarded,
        "pending": f.pending,
        "bonus": to_decimal(f.bonus, currency.scale).to_string(),
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImshopInput {
    /// The merchant whose till IMSHOP orders are made at (needed the first time; a
    /// device "IMSHOP orders" is made for it, and again only when the merchant changes).
    pub merchant: Option<String>,
    /// The webhooks' path: `/imshop/{path_prefix}/…` (the program's code when absent).
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// What a new phone is asked for before its first code (IMSHOP's `dataRequired`);
    /// `["referralCode"]` when absent.
    pub data_required: Option<Vec<String>>,
    pub data_optional: Option<Vec<String>>,
    /// Where invite links are made (`https://invite.shop.example`).
    pub link_base: Option<String>,
}

/// What IMSHOP's fields may ask a new phone for.
const DATA_FIELDS: [&str; 9] = [
    "email",
    "fullName",
    "birthday",
    "gender",
    "allowSms",
    "allowEmail",
    "allowMarketing",
    "referralCode",
    "legalEntities",
];

fn imshop_view(code: &str, s: &ImshopSettings, prefix: Option<String>, key: Option<String>) -> Value {
    let prefix = prefix.unwrap_or_else(|| code.to_string());
    json!({
        "path": format!("/imshop/{prefix}"),
        "device_id": s.device_id,
        "allowed_ips": s.allowed_ips,
        "data_required": s.data_required,
        "data_optional": s.data_optional,
        "link_base": s.link_base,
        "api_key": key,
    })
}

fn check_imshop(input: &ImshopInput) -> Result<(), ApiError> {
    let fields = input.data_required.iter().chain(&input.data_optional).flatten();
    if let Some(unknown) = fields.clone().find(|f| !DATA_FIELDS.contains(&f.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown data field {unknown}; known: {}",
            DATA_FIELDS.join(", ")
        )));
    }
    for ip in &input.allowed_ips {
        if ip.parse::<ipnet::IpNet>().is_err() && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(ApiError::invalid(format!(
                "allowed_ips: {ip} is not an address or network"
            )));
        }
    }
    if input
        .link_base
        .as_deref()
        .is_some_and(|b| !(b.starts_with("https://") || b.starts_with("http://")))
    {
        return Err(ApiError::invalid("link_base must be an http(s) URL"));
    }
    Ok(())
}

/// The IMSHOP face's settings (without the key).
#[utoipa::path(operation_id = "imshop_get", get, path = "/admin/v1/programs/{code}/imshop",
    responses((status = 200, body = Object), (status = 404)), tag = "referral")]
pub async fn imshop_settings(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let settings = state
        .store
        .imshop_settings(program.id)
        .await?
        .ok_or_else(|| ApiError::not_found("IMSHOP is not set up for this program"))?;
    let prefix = state
        .store
        .face_binding(imshop::FACE, program.id)
        .await?
        .and_then(|b| b.path_prefix);
    Ok(axum::Json(imshop_view(&code, &settings, prefix, None)))
}

/// Sets the IMSHOP face up (the first time: a device for its orders and an API key,
/// shown once in `api_key`) or changes it.
#[utoipa::path(operation_id = "imshop_put", put, path = "/admin/v1/programs/{code}/imshop",
    request_body = ImshopInput, responses((status = 200, body = Object), (status = 400), (status = 404), (status = 409)), tag = "referral")]
pub async fn put_imshop(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(input): Json<ImshopInput>,
) -> Result<axum::Json<Value>, ApiError> {
    check_imshop(&input)?;
    let store = &state.store;
    let program = store.program(&code).await?;
    let existing = store.imshop_settings(program.id).await?;
    let (device_id, key_sha256, shown) = match (existing, &input.merchant) {
        (Some(s), None) => (s.device_id, s.key_sha256, None),
        (Some(s), Some(merchant)) if store.device(program.id, s.device_id).await?.merchant_code == *merchant => {
            (s.device_id, s.key_sha256, None)
        }
        (current, Some(merchant)) => {
            let device = store
                .create_device(program.id, merchant.clone(), "IMSHOP orders".into(), None)
                .await?;
            match current {
                Some(s) => (device.device.id, s.key_sha256, None),
                None => {
                    let (key, hash) = new_key();
                    (device.device.id, hash, Some(key))
                }
            }
        }
        (None, None) => return Err(ApiError::invalid("merchant is needed to set IMSHOP up")),
    };
    let prefix = match &input.path_prefix {
        Some(p) => Some(super::faces::path_segment(p)?),
        None => None,
    };
    store
        .bind_face(imshop::FACE, program.id, Vec::new(), prefix.clone())
        .await?;
    let settings = ImshopSettings {
        key_sha256,
        allowed_ips: input.allowed_ips,
        device_id,
        data_required: input.data_required.unwrap_or_else(|| vec!["referralCode".into()]),
        data_optional: input.data_optional.unwrap_or_else(|| vec!["referralCode".into()]),
        link_base: input.link_base,
    };
    store.set_imshop_settings(program.id, settings.clone()).await?;
    Ok(axum::Json(imshop_view(&code, &settings, prefix, shown)))
}

/// A new API key for IMSHOP (shown once); the old one stops working.
#[utoipa::path(operation_id = "imshop_rotate_key", post, path = "/admin/v1/programs/{code}/imshop/rotate-key",
    responses((status = 200, body = Object), (status = 404)), tag = "referral")]
pub async fn rotate_imshop_key(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let program = state.store.program(&code).await?;
    let settings = state
        .store
        .imshop_settings(program.id)
        .await?
        .ok_or_else(|| ApiError::not_found("IMSHOP is not set up for this program"))?;
    let (key, key_sha256) = new_key();
    state
        .store
        .set_imshop_settings(program.id, ImshopSettings { key_sha256, ..settings })
        .await?;
    Ok(axum::Json(json!({ "api_key": key })))
}
