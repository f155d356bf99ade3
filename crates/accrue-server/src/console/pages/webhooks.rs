//! Webhooks and the outbox: the program's endpoints (and a new one, whose secret is shown
//! once), and its messages (webhooks, partner notifications, e-mail, SMS, pushes) with
//! their state, attempts and last error; each message's attempt log; a failed message can
//! be sent again.

use super::{back, frame, shown_once, unreadable, Common};
use crate::console::html::{esc, field, pager, plain, rows_of, table, url_encode, Frame};
use crate::console::session::{forged, Signed};
use crate::console::ConsoleState;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

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
    if who.role.allows(&Method::POST, "/webhook-endpoints") {
        body.push_str(&endpoint_form(&f));
    }
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

fn message_table(f: &Frame, who: &Signed, messages: &[Value]) -> String {
    let may_retry = who.role.allows(&Method::POST, "/outbox/messages/x/retry");
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            let id = m["id"].as_str().unwrap_or("");
            let text = |v: &Value| esc(v.as_str().unwrap_or(""));
            let retry = if may_retry && m["state"] != "delivered" {
                retry_form(f, id)
            } else {
                String::new()
            };
            let detail = f.link(&format!("/console/webhooks/messages/{}", url_encode(id)));
            vec![
                format!("<a href=\"{}\">{}</a>", esc(&detail), text(&m["created_at"])),
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

fn retry_form(f: &Frame, id: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\">{}<input type=\"hidden\" name=\"id\" value=\"{}\">\
         <button type=\"submit\" class=\"small\">Retry</button></form>",
        esc(&f.link("/console/webhooks/retry")),
        f.csrf_field(),
        esc(id)
    )
}

/// One message: what it is, where it goes, and every attempt to deliver it.
pub async fn message(
    State(state): State<ConsoleState>,
    who: Signed,
    Path(id): Path<String>,
    Query(q): Query<Common>,
) -> Response {
    let program = q.program();
    let f = frame(&who, program);
    let title = format!("Message {id}");
    let path = format!("/outbox/messages/{}?program={}", url_encode(&id), url_encode(program));
    let m = match state.get(&who, path).await {
        Ok(m) => m,
        Err(refusal) => return unreadable(&f, "/console/webhooks", &title, refusal),
    };
    let mut body = format!(
        "<dl class=\"facts\"><dt>Kind</dt><dd>{}</dd><dt>Event</dt><dd>{}</dd><dt>Target</dt><dd class=\"wrap\">{}</dd>\
         <dt>State</dt><dd id=\"message-state\">{}</dd><dt>Attempts</dt><dd>{}</dd><dt>Next attempt</dt><dd>{}</dd>\
         <dt>Created</dt><dd>{}</dd><dt>Delivered</dt><dd>{}</dd></dl>",
        plain(&m["kind"]),
        plain(&m["event_type"]),
        plain(&m["target"]),
        plain(&m["state"]),
        plain(&m["attempts"]),
        plain(&m["next_attempt_at"]),
        plain(&m["created_at"]),
        plain(&m["delivered_at"]),
    );
    if m["state"] != "delivered" && who.role.allows(&Method::POST, "/outbox/messages/x/retry") {
        body.push_str(&retry_form(&f, &id));
    }
    let keys = ["attempted_at", "status_code", "duration_ms", "error", "response_body"];
    body.push_str("<h2>Attempts</h2>");
    body.push_str(&table(
        &["When", "Status", "Took (ms)", "Error", "Answer"],
        &rows_of(&m["attempt_log"], &keys),
        "Not attempted yet.",
    ));
    let payload = serde_json::to_string_pretty(&m["payload"]).unwrap_or_default();
    body.push_str(&format!(
        "<h2>Payload</h2><p class=\"hint\">Secrets in it (a confirmation code) stay sealed here.</p><pre class=\"json\">{}</pre>",
        esc(&payload)
    ));
    f.page("/console/webhooks", &title, &body)
}

fn endpoint_form(f: &Frame) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"new-endpoint\">\
         <h2 id=\"new-endpoint\">New endpoint</h2>{csrf}{url}{events}{description}\
         <p class=\"hint\">Event types separated by commas, such as points.accrued, purchase.confirmed; * for all. \
         The signing secret is shown once, after adding.</p><button type=\"submit\">Add</button></form>",
        action = esc(&f.link("/console/webhooks/endpoints")),
        csrf = f.csrf_field(),
        url = field("url", "URL (https://…)", "url", "", true),
        events = field("event_types", "Event types", "text", "*", true),
        description = field("description", "Description", "text", "", false),
    )
}

#[derive(Debug, Deserialize)]
pub struct NewEndpoint {
    #[serde(default)]
    csrf: String,
    url: String,
    event_types: String,
    #[serde(default)]
    description: String,
}

/// Adds an endpoint and shows its secret on this answer only (never in a link, so it is
/// not kept in the browser's history).
pub async fn create_endpoint(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<NewEndpoint>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let events: Vec<&str> = form
        .event_types
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let body = json!({"url": form.url.trim(), "event_types": events, "description": form.description.trim()});
    let path = format!("/webhook-endpoints?program={}", url_encode(program));
    match state.call(&who, Method::POST, &path, Some(&body)).await {
        Ok(made) => {
            tracing::info!(operator = %who.operator.login, endpoint = %made["id"], action = "added endpoint", "console action");
            let done = format!(
                "endpoint {} added for {}",
                made["id"],
                made["url"].as_str().unwrap_or("")
            );
            let secret = made["secret"].as_str().unwrap_or("");
            let secrets = [("Signing secret", "endpoint-secret", secret)];
            shown_once(
                &frame(&who, program),
                "/console/webhooks",
                "New endpoint",
                &done,
                &secrets,
            )
        }
        Err(refusal) => back("/console/webhooks", program, Err(refusal)),
    }
}
