//! The tracker's admin API under `/admin/v1/tracker`: integrations (custom or from
//! the shipped templates) with their ready postback links, custom fields, leads,
//! registration links, the postback log, statistics and exchange rates.

pub(super) mod integrations;
pub(super) mod links;
pub(super) mod reports;

use super::AdminState;
use axum::routing::{get, post, put};
use axum::Router;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/tracker/templates", get(integrations::templates))
        .route(
            "/tracker/integrations",
            post(integrations::create).get(integrations::list),
        )
        .route(
            "/tracker/integrations/{uid}",
            get(integrations::get).patch(integrations::update),
        )
        .route("/tracker/fields", get(links::fields))
        .route("/tracker/fields/{key}", put(links::put_field))
        .route("/tracker/leads/{external_id}", get(reports::lead).put(links::put_lead))
        .route("/tracker/links", post(links::create).get(links::list))
        .route("/tracker/links/{id}", get(links::get))
        .route("/tracker/links/{id}/render", post(links::render))
        .route("/tracker/postbacks", get(reports::postbacks))
        .route("/tracker/stats", get(reports::stats))
        .route(
            "/tracker/exchange-rates",
            get(reports::rates_get).put(reports::put_rates),
        )
}
