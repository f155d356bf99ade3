//! Webhooks and the outbox: the program's endpoints, and its messages (webhooks, partner
//! notifications, e-mail, SMS, pushes) with their state, attempts and last error; a
//! failed message can be sent again.

use super::{back, frame, unreadable, Common};
use crate::console::html::{esc, pager, table, url_encode};
use crate::console::session::{forged, Signed};
use crate::console::ConsoleState;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::Value;

const PAGE: i64 = 25;

#[derive(Debug, Default, Deserialize)]
pub struct Messages {
    #[serde(flatten)]
    common: Common,
    /// `pending`, `delivered` or `failed`; all when absent.
    state: Option<String>,
    offset: Option<i64>,
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<Messages>) -> Response {
    let program = q.common.program();
    let f = frame(&who, program);
    let in_program = format!("?program={}", url_encode(program));
    let offset = q.offset.unwrap_or(0).max(0);
    let only = q.state.as_deref().filter(|s| !s.is_empty());
    let filter = only.map(|s| format!("&state={}", url_encode(s))).unwrap_or_default();
    let endpoints = state
        .call(&who, Method::GET, &format!("/webhook-endpoints{in_program}"), None)
        .await;
    // One more than a page tells whether another page follows.
    let messages_path = format!(
        "/outbox/messages{in_program}{filter}&offset={offset}&count={}",
        PAGE + 1
    );
    let messages = match state.call(&who, Method::GET, &messages_path, None).await {
        Ok(found) => found,
        Err(refusal) => return unreadable(&f, "/console/webhooks", "Webhooks and outbox", refusal),
    };
    let mut body = q.common.notices();
    body.push_str("<h2>Endpoints</h2>");
    body.push_str(&endpoints.map(|e| endpoint_table(&e)).unwrap_or_default());
    body.push_str(&state_filter(program, only));
    let items: Vec<Value> = messages["items"].as_array().cloned().unwrap_or_default();
    let more = items.len() as i64 > PAGE;
    let shown = &items[..items.len().min(PAGE as usize)];
    body.push_str(&message_table(&f, &who, shown));
    let base = f.link(&format!(
        "/console/webhooks{}",
        only.map(|s| format!("?state={s}")).unwrap_or_default()
    ));
    body.push_str(&pager(&base, offset, PAGE, more));
    f.page("/console/webhooks", "Webhooks and outbox", &body)
}

fn endpoint_table(endpoints: &Value) -> String {
    let rows: Vec<Vec<String>> = endpoints["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let events: Vec<&str> = e["event_types"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            vec![
                esc(e["url"].as_str().unwrap_or("")),
                esc(&events.join(", ")),
                if e["enabled"] == true {
                    "on".to_string()
                } else {
                    format!("off: {}", esc(e["disabled_reason"].as_str().unwrap_or("")))
                },
            ]
        })
        .collect();
    table(&["URL", "Events", "Enabled"], &rows, "No endpoints.")
}

fn state_filter(program: &str, only: Option<&str>) -> String {
    let options: String = ["", "pending", "delivered", "failed"]
        .iter()
        .map(|s| {
            let selected = if only.unwrap_or("") == *s { " selected" } else { "" };
            let name = if s.is_empty() { "any" } else { s };
            format!("<option value=\"{s}\"{selected}>{name}</option>")
        })
        .collect();
    format!(
        "<h2>Messages</h2><form method=\"get\" action=\"/console/webhooks\" class=\"row\">\
         <input type=\"hidden\" name=\"program\" value=\"{}\">\
         <label for=\"state\">State</label><select id=\"state\" name=\"state\">{options}</select>\
         <button type=\"submit\">Show</button></form>",
        esc(program)
    )
}

fn message_table(f: &crate::console::html::Frame, who: &Signed, messages: &[Value]) -> String {
    let may_retry = who.role.allows(&Method::POST, "/outbox/messages/x/retry");
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            let id = m["id"].as_str().unwrap_or("");
            let text = |v: &Value| esc(v.as_str().unwrap_or(""));
            let retry = if may_retry && m["state"] != "delivered" {
                format!(
                    "<form method=\"post\" action=\"{}\">{}<input type=\"hidden\" name=\"id\" value=\"{}\">\
                     <button type=\"submit\" class=\"small\">Retry</button></form>",
                    esc(&f.link("/console/webhooks/retry")),
                    f.csrf_field(),
                    esc(id)
                )
            } else {
                String::new()
            };
            vec![
                text(&m["created_at"]),
                text(&m["kind"]),
                format!("<span class=\"wrap\">{}</span>", text(&m["target"])),
                format!(
                    "<span class=\"state {0}\" data-message=\"{1}\">{0}</span>",
                    text(&m["state"]),
                    esc(id)
                ),
                m["attempts"].to_string(),
                text(&m["last_error"]),
                retry,
            ]
        })
        .collect();
    table(
        &["Created", "Kind", "Target", "State", "Attempts", "Last error", ""],
        &rows,
        "No messages.",
    )
}

#[derive(Debug, Deserialize)]
pub struct Retry {
    #[serde(default)]
    csrf: String,
    id: String,
}

pub async fn retry(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<Retry>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let path = format!(
        "/outbox/messages/{}/retry?program={}",
        url_encode(&form.id),
        url_encode(program)
    );
    let outcome = state.call(&who, Method::POST, &path, None).await;
    back(
        "/console/webhooks",
        program,
        outcome.map(|_| format!("message {} queued again", form.id)),
    )
}
