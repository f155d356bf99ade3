//! Batch requests (Loymax's batch API and file uploads): each one's progress, rows
//! posted and failed, newest first. While one is still running the page refreshes
//! itself (with script; without it, reload to see the progress).

use super::{frame, unreadable, Common};
use crate::console::html::{esc, pager, plain, progress, table, url_encode};
use crate::console::session::Signed;
use crate::console::ConsoleState;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

const PAGE: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct BatchQuery {
    #[serde(flatten)]
    common: Common,
    offset: Option<i64>,
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<BatchQuery>) -> Response {
    let program = q.common.program();
    let f = frame(&who, program);
    let offset = q.offset.unwrap_or(0).max(0);
    let path = format!(
        "/batch/requests?program={}&offset={offset}&count={PAGE}",
        url_encode(program)
    );
    let found = match state.get(&who, path).await {
        Ok(found) => found,
        Err(refusal) => return unreadable(&f, "/console/batch", "Batch operations", refusal),
    };
    let requests = found["requests"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = requests.iter().map(request_row).collect();
    let running = requests.iter().any(|r| r["state"] != "done");
    let mut body = String::new();
    if running {
        body.push_str("<p class=\"hint\" data-refresh=\"3\">Still running: this page refreshes every few seconds.</p>");
    }
    body.push_str(&table(
        &[
            "Request", "Type", "Mode", "State", "Progress", "Posted", "Failed", "Created", "Finished",
        ],
        &rows,
        "No batch requests yet.",
    ));
    let more = requests.len() as i64 == PAGE;
    body.push_str(&pager(&f.link("/console/batch"), offset, PAGE, more));
    f.page("/console/batch", "Batch operations", &body)
}

fn request_row(r: &Value) -> Vec<String> {
    let total = r["total_rows"].as_i64().unwrap_or(0);
    let processed = r["processed_rows"].as_i64().unwrap_or(0);
    vec![
        plain(&r["request_id"]),
        plain(&r["type"]),
        plain(&r["mode"]),
        format!(
            "<span class=\"state {0}\">{0}</span>",
            esc(r["state"].as_str().unwrap_or(""))
        ),
        progress(processed, total, "rows"),
        plain(&r["posted_rows"]),
        plain(&r["failed_rows"]),
        plain(&r["created_at"]),
        plain(&r["finished_at"]),
    ]
}
