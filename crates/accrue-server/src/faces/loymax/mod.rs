//! The Loymax-compatible member API. Real clients call it under several prefixes
//! (`/api/v1`, `/api/v1.1`, `/publicapi/v1`, `/publicapi/v1.2`) and in any letter case;
//! [`canonical_path`] maps them all onto one set of routes and remembers the version,
//! because some answer shapes differ between versions.

mod auth;
mod cards;
mod envelope;
mod history;
mod notifications;
mod password;
pub(crate) mod processing;
mod questions;
mod registration;
mod token;
mod user;

use crate::AppState;
use axum::extract::Request;
use axum::routing::{delete, get, post};
use axum::Router;

pub use envelope::Version;

/// Where the canonical routes live.
pub const BASE: &str = "/loymax/";

/// The canonical path of the token endpoint.
pub const TOKEN: &str = "/loymax/token";

/// An error that arose outside the handlers, in the envelope of the endpoint: OAuth for
/// the token endpoint, the Loymax envelope for the rest.
pub fn stray(version: Version, token: bool, status: axum::http::StatusCode, message: &str) -> axum::response::Response {
    if token {
        token::stray(status, message)
    } else {
        envelope::stray(version, status, message)
    }
}

/// Path prefixes real clients use, and the version each stands for.
const PREFIXES: [(&str, Version); 4] = [
    ("/publicapi/v1.2/", Version::V1_2),
    ("/publicapi/v1/", Version::V1),
    ("/api/v1.1/", Version::V1_1),
    ("/api/v1/", Version::V1),
];

/// Words of the protocol's paths. They are matched in any case; other segments
/// (ids, numbers) keep theirs.
const WORDS: &[&str] = &[
    "user",
    "balance",
    "history",
    "authorizationservice",
    "token",
    "registration",
    "beginregistration",
    "tryfinishregistration",
    "actions",
    "registrationactions",
    "accepttenderoffer",
    "phonenumber",
    "email",
    "sendconfirmcode",
    "confirm",
    "password",
    "set",
    "cards",
    "emitvirtual",
    "questions",
    "answers",
    "auth",
    "detailedbalance",
    "change",
    "resetpassword",
    "start",
    "cancel",
    "notification",
    "count",
    "read",
    "processing",
    "purchases",
    "calculate",
    "available",
    "payment",
    "bonus",
    "operations",
    "refund",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(TOKEN, post(token::issue))
        .route("/loymax/auth/sendconfirmationcode", post(token::resend_code))
        .route("/loymax/user", get(user::profile))
        .route("/loymax/user/balance", get(user::balance))
        .route("/loymax/user/detailedbalance", get(user::detailed_balance))
        .route("/loymax/history", get(history::history))
        .route("/loymax/registration/beginregistration", post(registration::begin))
        .route("/loymax/registration/tryfinishregistration", post(registration::finish))
        .route("/loymax/user/actions", get(registration::actions))
        .route("/loymax/user/registrationactions", get(registration::actions))
        .route("/loymax/user/accepttenderoffer", post(registration::accept_offer))
        .route(
            "/loymax/user/phonenumber",
            get(registration::phone).post(registration::change_phone),
        )
        .route(
            "/loymax/user/phonenumber/sendconfirmcode",
            post(registration::resend_phone),
        )
        .route("/loymax/user/phonenumber/confirm", post(registration::confirm_phone))
        .route(
            "/loymax/user/email",
            get(registration::email).post(registration::change_email),
        )
        .route("/loymax/user/email/sendconfirmcode", post(registration::resend_email))
        .route("/loymax/user/email/confirm", post(registration::confirm_email))
        .route("/loymax/user/password/set", post(registration::set_password))
        .route("/loymax/user/password/change", post(password::change))
        .route("/loymax/resetpassword/start", post(password::start))
        .route("/loymax/resetpassword/confirm", post(password::confirm))
        .route("/loymax/resetpassword/cancel", post(password::cancel))
        .route("/loymax/notification", get(notifications::list))
        .route("/loymax/notification/count", get(notifications::count))
        .route("/loymax/notification/read", post(notifications::read_all))
        .route("/loymax/notification/{id}/read", post(notifications::read))
        .route("/loymax/notification/{id}", delete(notifications::delete))
        .route("/loymax/user/questions", get(questions::questions))
        .route("/loymax/user/answers", post(questions::answers))
        .route("/loymax/cards", get(cards::list))
        .route("/loymax/cards/set", post(cards::set))
        .route("/loymax/cards/emitvirtual", get(cards::emission).put(cards::emit))
        .merge(processing::router())
}

/// Rewrites a Loymax path to its canonical route and notes the version asked for.
/// Paths of other faces pass unchanged.
pub fn canonical_path(mut request: Request) -> Request {
    let path = request.uri().path();
    let lower = path.to_ascii_lowercase();
    let found = if lower == "/authorizationservice/token" {
        Some((Version::V1_2, "token".to_string()))
    } else if lower == "/authorizationservice/v1.2/auth/sendconfirmationcode" {
        Some((Version::V1_2, "auth/sendconfirmationcode".to_string()))
    } else {
        PREFIXES
            .iter()
            .find(|(p, _)| lower.starts_with(p))
            .map(|(p, v)| (*v, path[p.len()..].to_string()))
    };
    let Some((version, rest)) = found else { return request };
    let segments: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(|s| {
            if WORDS.contains(&s.to_ascii_lowercase().as_str()) {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            }
        })
        .collect();
    let mut canonical = format!("{BASE}{}", segments.join("/"));
    if let Some(query) = request.uri().query() {
        canonical = format!("{canonical}?{query}");
    }
    if let Ok(uri) = canonical.parse() {
        *request.uri_mut() = uri;
        request.extensions_mut().insert(version);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(path: &str) -> (String, Option<Version>) {
        let request = canonical_path(Request::builder().uri(path).body(axum::body::Body::empty()).unwrap());
        (
            request.uri().to_string(),
            request.extensions().get::<Version>().copied(),
        )
    }

    #[test]
    fn every_prefix_and_case_reaches_one_route() {
        for (path, version) in [
            ("/publicapi/v1.2/User/Balance", Version::V1_2),
            ("/publicapi/v1/user/balance/", Version::V1),
            ("/API/V1/USER/BALANCE", Version::V1),
            ("/api/v1.1/User/Balance?x=1", Version::V1_1),
        ] {
            let (uri, v) = rewrite(path);
            assert_eq!(uri.split('?').next(), Some("/loymax/user/balance"), "{path}");
            assert_eq!(v, Some(version));
        }
        assert_eq!(rewrite("/api/v1.1/User/Balance?x=1").0, "/loymax/user/balance?x=1");
        assert_eq!(rewrite("/authorizationService/token").0, "/loymax/token");
        assert_eq!(
            rewrite("/admin/v1/members").0,
            "/admin/v1/members",
            "other faces untouched"
        );
        assert_eq!(
            rewrite("/api/v1/Cards/AbC-42").0,
            "/loymax/cards/AbC-42",
            "ids keep their case"
        );
    }
}
