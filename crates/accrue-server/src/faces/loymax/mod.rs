//! The Loymax-compatible member API. Real clients call it under several prefixes
//! (`/api/v1`, `/api/v1.1`, `/publicapi/v1`, `/publicapi/v1.2`) and in any letter case;
//! the layer in front of the face's routes ([`programs::select`]) chooses the program a
//! request is for, maps its path onto one set of routes ([`paths`]) and remembers the
//! version, because some answer shapes differ between versions.

mod auth;
mod cards;
mod communications;
mod coupons;
mod envelope;
mod history;
mod merchants;
mod notifications;
mod offers;
mod password;
pub mod paths;
pub(crate) mod processing;
pub mod programs;
mod pushes;
pub(crate) mod query;
mod questions;
mod registration;
mod subscriptions;
mod token;
mod user;

use crate::{limits, metrics, strays, AppState};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use programs::{Programs, Selector};
use std::sync::Arc;

pub use envelope::Version;
pub use paths::envelope_of;

/// Where the routes live, under which no client calls them: requests reach them only
/// through [`programs::select`].
pub const BASE: &str = "/loymax/";

/// An error that arose outside the handlers, in the envelope of the endpoint: OAuth for
/// the token endpoint, the Loymax envelope for the rest.
pub fn stray(version: Version, token: bool, status: StatusCode, message: &str) -> axum::response::Response {
    if token {
        token::stray(status, message)
    } else {
        envelope::stray(version, status, message)
    }
}

/// Routes: paths under [`BASE`] (literal segments in lowercase, parameters in braces)
/// and their handlers.
pub(crate) type Routes = Vec<(String, MethodRouter<AppState>)>;

/// Every route of the face, declared once: the router is built from this table, and the
/// words that paths match in any case are the literal segments of its paths.
fn routes() -> Routes {
    let member = [
        (paths::TOKEN_ROUTE, post(token::issue)),
        ("auth/sendconfirmationcode", post(token::resend_code)),
        ("user", get(user::profile)),
        ("user/balance", get(user::balance)),
        ("user/referral", get(user::referral)),
        ("user/logins", get(user::logins)),
        ("user/status", get(user::status)),
        (
            "user/subscriptions",
            get(subscriptions::get).post(subscriptions::update),
        ),
        ("user/subscriptions/confirm", post(subscriptions::confirm)),
        ("user/subscriptions/reject", post(subscriptions::reject)),
        ("user/detailedbalance", get(user::detailed_balance)),
        (
            "user/detailedbalance/{currency}/operations",
            get(user::detailed_balance_operations),
        ),
        ("history", get(history::history)),
        (
            "history/aggregatewithdrawrewardpurchase",
            get(history::aggregate_withdraw_reward_purchase),
        ),
        ("registration/beginregistration", post(registration::begin)),
        ("registration/tryfinishregistration", post(registration::finish)),
        ("user/actions", get(registration::actions)),
        ("user/registrationactions", get(registration::actions)),
        ("user/accepttenderoffer", post(registration::accept_offer)),
        (
            "user/phonenumber",
            get(registration::phone).post(registration::change_phone),
        ),
        ("user/phonenumber/sendconfirmcode", post(registration::resend_phone)),
        ("user/phonenumber/confirm", post(registration::confirm_phone)),
        ("user/phonenumber/cancelchange", post(registration::cancel_phone_change)),
        ("user/email", get(registration::email).post(registration::change_email)),
        ("user/email/sendconfirmcode", post(registration::resend_email)),
        ("user/email/confirm", post(registration::confirm_email)),
        ("user/email/cancelchange", post(registration::cancel_email_change)),
        ("user/password/set", post(registration::set_password)),
        ("user/password/change", post(password::change)),
        ("resetpassword/start", post(password::start)),
        ("resetpassword/confirm", post(password::confirm)),
        ("resetpassword/cancel", post(password::cancel)),
        ("notification", get(notifications::list)),
        ("notification/count", get(notifications::count)),
        ("notification/read", post(notifications::read_all)),
        ("notification/{id}/read", post(notifications::read)),
        ("notification/{id}", delete(notifications::delete)),
        ("user/questions", get(questions::questions)),
        ("user/answers", post(questions::answers)),
        ("cards", get(cards::list)),
        ("cards/set", post(cards::set)),
        ("cards/emitvirtual", get(cards::emission).put(cards::emit)),
        ("cards/{id}/qrcode", get(cards::qr_code)),
        ("pushes", post(pushes::register)),
        ("coupons", get(coupons::list_mine)),
        (paths::COMMUNICATIONS_ROUTE, post(communications::list)),
        ("coupons/number/{number}", get(coupons::by_number)),
        ("merchants", get(merchants::by_ids)),
        ("merchants/byuids", get(merchants::by_uids)),
        ("offer", get(offers::list)),
        ("offer/{id}", get(offers::one)),
        ("offer/{id}/merchants", get(offers::merchants)),
    ];
    let member = member.into_iter().map(|(path, handlers)| (path.to_string(), handlers));
    member.chain(processing::routes()).collect()
}

/// The path of every route, relative to a prefix, with parameters in braces.
pub fn route_paths() -> Vec<String> {
    routes().into_iter().map(|(path, _)| path).collect()
}

/// The face: its routes behind the layer that chooses each request's program and route.
/// `programs` is shared with the admin API, which changes the bindings.
pub fn router(app: AppState, programs: Arc<Programs>, body_limit: usize) -> Router {
    let table = routes();
    let paths = paths::Paths::of(table.iter().map(|(path, _)| path.as_str()));
    let routes = table.into_iter().fold(Router::new(), |router, (path, handlers)| {
        router.route(&format!("{BASE}{path}"), handlers)
    });
    let routes = limits::with_body_limit(routes, body_limit)
        .layer(axum::middleware::from_fn(limits::refuse_nul))
        .fallback(|| async { strays::stray(StatusCode::NOT_FOUND, "no such route") })
        .layer(axum::middleware::from_fn(metrics::pass_route))
        .with_state(app);
    let selector = Arc::new(Selector { paths, programs });
    let face = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(selector, programs::select))
        .service(routes);
    Router::new().fallback_service(face)
}
