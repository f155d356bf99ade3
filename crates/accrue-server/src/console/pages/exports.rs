//! Exports on the Members screen: start a CSV of all members, follow its progress (the
//! screen refreshes itself while one runs), download it once it is done.

use super::back;
use crate::console::html::{esc, plain, progress, table, url_encode, Frame};
use crate::console::session::{forged, Signed};
use crate::console::ConsoleState;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

/// The newest exports the screen lists.
const SHOWN: i64 = 5;

/// The exports part of the Members screen, for a role that may read exports.
pub async fn listing(state: &ConsoleState, who: &Signed, f: &Frame<'_>) -> String {
    if !who.role.allows(&Method::GET, "/exports") {
        return String::new();
    }
    let path = format!("/exports?program={}&count={SHOWN}", url_encode(f.program));
    let found = match state.get(who, path).await {
        Ok(found) => found,
        Err(refusal) => return crate::console::html::notice(true, &refusal.message),
    };
    let items = found["items"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = items.iter().map(|e| export_row(f, e)).collect();
    let running = items.iter().any(|e| e["state"] == "running");
    let refresh = if running {
        "<p class=\"hint\" data-refresh=\"3\">An export is running: this page refreshes every few seconds.</p>"
    } else {
        ""
    };
    let start = if who.role.allows(&Method::POST, "/exports") {
        format!(
            "<form method=\"post\" action=\"{}\">{}<button type=\"submit\" class=\"secondary\">Export all members (CSV)</button></form>",
            esc(&f.link("/console/exports")),
            f.csrf_field()
        )
    } else {
        String::new()
    };
    format!(
        "<h2>Exports</h2>{start}{refresh}{}",
        table(
            &["Started", "By", "State", "Progress", "File"],
            &rows,
            "No exports yet."
        )
    )
}

fn export_row(f: &Frame, e: &Value) -> Vec<String> {
    let state = e["state"].as_str().unwrap_or("");
    let file = match state {
        "done" => format!(
            "<a href=\"{}\" download>Download</a>",
            esc(&f.link(&format!("/console/exports/{}.csv", e["id"])))
        ),
        "failed" => plain(&e["error"]),
        _ => String::new(),
    };
    let done = e["rows_done"].as_i64().unwrap_or(0);
    let total = e["rows_total"].as_i64().unwrap_or(0);
    vec![
        plain(&e["created_at"]),
        plain(&e["requested_by"]),
        format!(
            "<span class=\"state {0}\" data-export=\"{1}\">{0}</span>",
            esc(state),
            e["id"]
        ),
        progress(done, total, "members"),
        file,
    ]
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
}

/// Starts an export of all members; back to the Members screen to follow it.
pub async fn start(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<super::Common>,
    Form(form): Form<StartForm>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let path = format!("/exports?program={}", url_encode(program));
    let outcome = state
        .call(&who, Method::POST, &path, Some(&json!({"kind": "members"})))
        .await;
    tracing::info!(operator = %who.operator.login, action = "exported members", ok = outcome.is_ok(), "console action");
    back(
        "/console/members",
        program,
        outcome.map(|e| format!("export {} started: {} members", e["id"], e["rows_total"])),
    )
}

/// The file of a finished export, passed on as the admin API streams it.
pub async fn download(
    State(state): State<ConsoleState>,
    who: Signed,
    Path(file): Path<String>,
    Query(q): Query<super::Common>,
) -> Response {
    let id = file.strip_suffix(".csv").unwrap_or(&file);
    let path = format!("/exports/{}/file?program={}", url_encode(id), url_encode(q.program()));
    state.pass_on(&who, &path).await
}
