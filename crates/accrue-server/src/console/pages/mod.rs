//! The console's screens. Each reads through the admin API (see [`ConsoleState::call`])
//! and renders; each form posts back with the form token and answers by redirecting to
//! the screen with what happened (post, redirect, get), so a reload sends nothing twice.

mod batch;
mod dashboard;
mod exports;
mod members;
mod offers;
mod operators;
mod partners;
mod programs;
mod referrals;
mod tracker;
mod webhooks;

use super::html::{copyable, esc, notice, url_encode, Frame};
use super::session::Signed;
use super::{ConsoleState, Refusal};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console", get(dashboard::page))
        .route("/console/members", get(members::search))
        .route("/console/members/{id}", get(members::page))
        .route("/console/members/{id}/points", post(members::move_points))
        .route("/console/members/{id}/block", post(members::block))
        .route("/console/members/{id}/code", post(members::resend_code))
        .route("/console/exports", post(exports::start))
        .route("/console/exports/{file}", get(exports::download))
        .route("/console/referrals", get(referrals::page))
        .route("/console/referrals/decide", post(referrals::decide))
        .route("/console/offers", get(offers::page).post(offers::save))
        .route("/console/offers/simulate", post(offers::simulate))
        .route("/console/programs", get(programs::page).post(programs::save))
        .route("/console/partners", get(partners::page).post(partners::create))
        .route("/console/batch", get(batch::page))
        .route("/console/tracker", get(tracker::page).post(tracker::create))
        .route("/console/tracker/links", post(tracker::create_link))
        .route("/console/tracker/stats.csv", get(tracker::stats_csv))
        .route("/console/webhooks", get(webhooks::page))
        .route("/console/webhooks/retry", post(webhooks::retry))
        .route("/console/webhooks/endpoints", post(webhooks::create_endpoint))
        .route("/console/webhooks/messages/{id}", get(webhooks::message))
        .route("/console/operators", get(operators::page).post(operators::create))
        .route("/console/operators/switch", post(operators::switch))
        .route("/console/operators/password", post(operators::set_password))
        .route(
            "/console/password",
            get(operators::own_password_page).post(operators::change_own_password),
        )
}

/// What every screen's query may say: the program, and what the last form did.
#[derive(Debug, Default, Deserialize)]
pub struct Common {
    pub program: Option<String>,
    /// What was done (shown once, after a redirect).
    pub done: Option<String>,
    /// What failed.
    pub failed: Option<String>,
}

impl Common {
    pub fn program(&self) -> &str {
        self.program.as_deref().filter(|p| !p.is_empty()).unwrap_or("default")
    }

    /// The notices the last form left.
    pub fn notices(&self) -> String {
        let done = self.done.as_deref().map(|t| notice(false, t)).unwrap_or_default();
        let failed = self.failed.as_deref().map(|t| notice(true, t)).unwrap_or_default();
        format!("{done}{failed}")
    }
}

pub fn frame<'a>(who: &'a Signed, program: &'a str) -> Frame<'a> {
    Frame {
        operator: &who.operator,
        role: who.role,
        program,
        csrf: &who.csrf,
    }
}

/// Back to `path` (of `program`) telling what happened.
pub fn back(path: &str, program: &str, outcome: Result<String, Refusal>) -> Response {
    let (name, text) = match outcome {
        Ok(done) => ("done", done),
        Err(refusal) => ("failed", refusal.message),
    };
    let joiner = if path.contains('?') { '&' } else { '?' };
    let to = format!(
        "{path}{joiner}program={}&{name}={}",
        url_encode(program),
        url_encode(&text)
    );
    Redirect::to(&to).into_response()
}

/// A screen that could not be read: the reason, in the page.
pub fn unreadable(frame: &Frame, current: &str, title: &str, refusal: Refusal) -> Response {
    frame.page(current, title, &notice(true, &refusal.message))
}

/// A titled part of a screen: `render` of what was read, or why it could not be read.
pub fn section(
    title: &str,
    read: Result<serde_json::Value, Refusal>,
    render: impl FnOnce(&serde_json::Value) -> String,
) -> String {
    let inner = match read {
        Ok(value) => render(&value),
        Err(refusal) => notice(true, &refusal.message),
    };
    format!("<h2>{}</h2>{inner}", super::html::esc(title))
}

/// The answer to a form that made something with secrets: what was done, and each
/// (heading, element id, text) to copy now — on this page only, never in a link, so no
/// browser history keeps them.
pub fn shown_once(f: &Frame, current: &str, title: &str, done: &str, secrets: &[(&str, &str, &str)]) -> Response {
    let parts: String = secrets
        .iter()
        .map(|(heading, id, text)| format!("<h2>{}</h2>{}", esc(heading), copyable(id, text)))
        .collect();
    let body = format!(
        "{}<p>Copy these now: the secret is not shown again.</p>{parts}<p><a href=\"{}\">Back</a></p>",
        notice(false, done),
        esc(&f.link(current)),
    );
    f.page(current, title, &body)
}
