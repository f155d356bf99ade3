//! The admin API under `/admin/v1`: programs, currencies, members, cards, ledger
//! operations, balances and history. Authenticated by `Authorization: Bearer <key>`.
//! Program-scoped calls name their program with `?program=CODE` (default `default`).

mod batch;
mod cards;
mod coupons;
mod events;
mod exports;
mod faces;
mod keys;
mod members;
mod notifications;
mod openapi;
mod operations;
mod outbox;
mod partners;
mod processing;
mod programs;
mod referrals;
mod reports;
mod subscribers;
mod tracker;
mod views;
mod webhooks;

use crate::faces::loymax::programs::Programs;
use crate::limits::with_body_limit;
use crate::outbound::guard::Allowlist;
use crate::{ApiError, AppState};
use accrue_store::{AdminKey, Program, Store};
use axum::extract::{FromRef, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, patch, post, put};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

/// Card pools arrive as large lists.
const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The admin API's state: what every face shares, the internal addresses outbound URLs
/// may use, and the programs the Loymax face serves (whose bindings it changes).
#[derive(Clone)]
pub struct AdminState {
    pub app: AppState,
    pub allow: Allowlist,
    pub loymax_programs: Arc<Programs>,
}

impl FromRef<AdminState> for AppState {
    fn from_ref(admin: &AdminState) -> AppState {
        admin.app.clone()
    }
}

impl FromRef<AdminState> for Allowlist {
    fn from_ref(admin: &AdminState) -> Allowlist {
        admin.allow.clone()
    }
}

impl FromRef<AdminState> for Arc<Programs> {
    fn from_ref(admin: &AdminState) -> Arc<Programs> {
        admin.loymax_programs.clone()
    }
}

pub fn router(state: AdminState, body_limit: usize) -> Router {
    let import = Router::new().route("/cards/import", post(cards::import));
    let resources = Router::new()
        .route("/programs", post(programs::create).get(programs::list))
        .route("/programs/{code}", get(programs::get))
        .route(
            "/programs/{code}/questionnaire",
            get(programs::questionnaire).put(programs::set_questionnaire),
        )
        .route(
            "/programs/{code}/registration-settings",
            get(programs::registration_settings).put(programs::set_registration_settings),
        )
        .route("/programs/{code}/messages", get(programs::messages))
        .route(
            "/programs/{code}/messages/{name}",
            put(programs::set_message).delete(programs::reset_message),
        )
        .route(
            "/programs/{code}/currencies",
            post(programs::create_currency).get(programs::currencies),
        )
        .route(
            "/programs/{code}/currencies/{currency}/limits",
            put(programs::set_currency_limits),
        )
        .route(
            "/programs/{code}/faces/loymax",
            get(faces::get_loymax)
                .put(faces::put_loymax)
                .delete(faces::delete_loymax),
        )
        .route("/faces/loymax", get(faces::list_loymax))
        .route(
            "/programs/{code}/referral-settings",
            get(referrals::settings).put(referrals::set_settings),
        )
        .route("/programs/{code}/link-hosts", put(referrals::set_link_hosts))
        .route(
            "/programs/{code}/imshop",
            get(referrals::imshop_settings).put(referrals::put_imshop),
        )
        .route("/programs/{code}/imshop/rotate-key", post(referrals::rotate_imshop_key))
        .route("/programs/{code}/batch", get(batch::settings).put(batch::put_settings))
        .route("/programs/{code}/batch/rotate-key", post(batch::rotate_key))
        .route("/batch/requests", post(batch::submit).get(batch::list))
        .route("/batch/requests/{request_id}", get(batch::get))
        .route("/batch/requests/{request_id}/rows", get(batch::rows))
        .route("/batch/stats", get(batch::stats))
        .route("/reports/points", get(reports::points))
        .route("/reports/activity", get(reports::activity))
        .route("/exports", post(exports::start).get(exports::list))
        .route("/exports/{id}", get(exports::get))
        .route("/exports/{id}/file", get(exports::file))
        .route("/programs/{code}/lifetimes", get(batch::lifetimes))
        .route(
            "/programs/{code}/lifetimes/{external_id}",
            put(batch::put_lifetime).delete(batch::delete_lifetime),
        )
        .route(
            "/programs/{code}/event-offers",
            get(events::offers).put(events::put_offers),
        )
        .route("/programs/{code}/vk", put(events::put_vk))
        .route("/programs/{code}/vk/collect", post(events::collect))
        .route(
            "/programs/{code}/event-source/rotate-secret",
            post(events::rotate_secret),
        )
        .route("/members/{id}/events", post(events::record))
        .route("/members/{id}/social-profiles", post(events::link))
        .route("/members/{id}/event-counters", get(events::counters))
        .route("/partners", post(partners::create).get(partners::list))
        .route("/partners/{path}", get(partners::get).patch(partners::update))
        .route("/partners/{path}/rotate-key", post(partners::rotate_key))
        .route("/partners/{path}/users", get(partners::users))
        .route("/partners/{path}/users/{hash}", patch(partners::set_campaign))
        .route("/partners/{path}/users/{hash}/messages", post(partners::send_message))
        .route("/partners/{path}/payments", get(partners::payments))
        .route("/programs/{code}/notification-templates", get(partners::templates))
        .route(
            "/programs/{code}/notification-templates/{kind}",
            put(partners::set_template),
        )
        .route("/referrals", get(referrals::list))
        .route("/referral-clicks", get(referrals::clicks))
        .route("/referrals/{id}/approve", post(referrals::approve))
        .route("/referrals/{id}/reject", post(referrals::reject))
        .route("/members/{id}/referral", get(referrals::of_member))
        .route("/members", post(members::create).get(members::list))
        .route("/members/{id}", get(members::get).patch(members::update))
        .route("/members/{id}/block", post(members::block))
        .route("/members/{id}/archive", post(members::archive))
        .route("/members/{id}/password", post(members::set_password))
        .route("/members/{id}/codes/resend", post(members::resend_code))
        .route("/members/{id}/balances", get(members::balances))
        .route("/members/{id}/history", get(members::history))
        .route("/members/{id}/purchases", get(members::purchases))
        .route(
            "/members/{id}/notifications",
            post(notifications::create).get(notifications::list),
        )
        .route("/members/{id}/cards", post(cards::assign_to_member))
        .route("/members/{id}/cards/virtual", post(cards::emit_virtual))
        .route(
            "/processing/settings",
            get(processing::settings).put(processing::set_settings),
        )
        .route(
            "/merchants",
            post(processing::create_merchant).get(processing::merchants),
        )
        .route("/merchants/{code}", patch(processing::update_merchant))
        .route("/merchants/{code}/devices", post(processing::create_device))
        .route("/devices", get(processing::devices))
        .route("/devices/{id}/disable", post(processing::disable_device))
        .route("/offers", get(processing::offers))
        .route("/offers/simulate", post(processing::simulate))
        .route("/offers/{code}", get(processing::get_offer).put(processing::put_offer))
        .route("/offers/{code}/enable", post(processing::enable_offer))
        .route("/offers/{code}/disable", post(processing::disable_offer))
        .route("/goods/import", post(processing::import_goods))
        .route("/cards", get(cards::list))
        .route("/cards/{number}/block", post(cards::block))
        .route("/cards/{number}/unblock", post(cards::unblock))
        .route("/operations/accrue", post(operations::accrue))
        .route("/operations/withdraw", post(operations::withdraw))
        .route("/holds", post(operations::hold))
        .route("/holds/{id}", get(operations::get_hold))
        .route("/holds/{id}/capture", post(operations::capture))
        .route("/holds/{id}/void", post(operations::void))
        .route("/webhook-endpoints", post(webhooks::create).get(webhooks::list))
        .route(
            "/webhook-endpoints/{id}",
            get(webhooks::get).patch(webhooks::update).delete(webhooks::delete),
        )
        .route("/webhook-endpoints/{id}/secret", get(webhooks::secret))
        .route("/webhook-endpoints/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/webhook-endpoints/{id}/test", post(webhooks::test))
        .route("/outbox/messages", get(outbox::list).post(outbox::queue))
        .route("/subscribers/messages", post(subscribers::send))
        .route("/coupon-series", post(coupons::create_series).get(coupons::list_series))
        .route("/card-categories", post(cards::create_category).get(cards::categories))
        .route("/coupon-series/{code}/issue", post(coupons::issue))
        .route("/coupons/{number}/reject", post(coupons::reject))
        .route("/members/{id}/coupons", get(coupons::of_member))
        .route("/outbox/messages/{id}", get(outbox::get))
        .route("/outbox/messages/{id}/retry", post(outbox::retry))
        .route("/admin-keys", post(keys::create).get(keys::list))
        .route("/admin-keys/{id}/revoke", post(keys::revoke))
        .merge(tracker::routes());
    let authenticated = with_body_limit(resources, body_limit)
        .merge(with_body_limit(import, IMPORT_BODY_LIMIT))
        .route_layer(axum::middleware::from_fn_with_state(state.app.clone(), authenticate));
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(authenticated)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .with_state(state)
}

/// The caller of a call made inside the process (the web console, for its signed-in
/// operator): request extensions never come from the network, so it needs no key.
#[derive(Clone)]
pub struct InProcessCaller(pub AdminKey);

async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    if let Some(InProcessCaller(key)) = req.extensions().get::<InProcessCaller>().cloned() {
        req.extensions_mut().insert(key);
        return Ok(next.run(req).await);
    }
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let header = req.headers().get(AUTHORIZATION).and_then(|h| h.to_str().ok());
    let secret = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send an admin key as Authorization: Bearer <key>"))?;
    let key = (state.store.verify_admin_key(secret.trim()).await?)
        .ok_or_else(|| unauthorized("unknown or revoked admin key"))?;
    if let Some(refusal) = keys::outside_scope(&key.scope, &req) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", refusal));
    }
    req.extensions_mut().insert(key);
    Ok(next.run(req).await)
}

/// Selects the program a call works on.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgramParam {
    /// Program code; `default` when absent.
    pub program: Option<String>,
}

impl ProgramParam {
    pub async fn resolve(&self, store: &Store) -> Result<Program, ApiError> {
        let code = self.program.as_deref().unwrap_or("default");
        store
            .program(code)
            .await
            .map_err(|_| ApiError::not_found(format!("program {code} not found")))
    }
}

/// `offset`/`count` paging; `count` defaults to 20 and is at most 1000.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    pub offset: Option<i64>,
    pub count: Option<i64>,
}

impl Paging {
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let (offset, count) = (self.offset.unwrap_or(0), self.count.unwrap_or(20));
        if offset < 0 || !(1..=1000).contains(&count) {
            return Err(ApiError::invalid("offset must be 0 or more and count 1 to 1000"));
        }
        Ok((offset, count))
    }
}
