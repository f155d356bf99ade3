//! The tracker: integrations with their ready postback links (a copy button each), a
//! new integration from a shipped template, the latest postbacks, and the statistics as
//! CSV straight from the admin API.

use super::{back, frame, unreadable, Common};
use crate::console::html::{copyable, esc, field, table, url_encode};
use crate::console::session::{forged, Signed};
use crate::console::ConsoleState;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<Common>) -> Response {
    let program = q.program();
    let f = frame(&who, program);
    let in_program = format!("?program={}", url_encode(program));
    let integrations = match state
        .call(&who, Method::GET, &format!("/tracker/integrations{in_program}"), None)
        .await
    {
        Ok(found) => found,
        Err(refusal) => return unreadable(&f, "/console/tracker", "Tracker", refusal),
    };
    let templates = state
        .call(&who, Method::GET, "/tracker/templates", None)
        .await
        .unwrap_or_default();
    let postbacks = state
        .call(
            &who,
            Method::GET,
            &format!("/tracker/postbacks{in_program}&count=20"),
            None,
        )
        .await
        .unwrap_or_default();
    let mut body = q.notices();
    for (n, integration) in integrations["items"].as_array().into_iter().flatten().enumerate() {
        body.push_str(&integration_card(n, integration));
    }
    if integrations["items"].as_array().is_none_or(Vec::is_empty) {
        body.push_str("<p class=\"empty\">No integrations yet.</p>");
    }
    if who.role.allows(&Method::POST, "/tracker/integrations") {
        body.push_str(&create_form(&f, &templates));
    }
    body.push_str("<h2>Latest postbacks</h2>");
    body.push_str(&postback_log(&postbacks));
    body.push_str(&format!(
        "<p><a href=\"/admin/v1/tracker/stats{}&amp;format=csv\">Statistics as CSV</a> (with an admin key) — \
         or the dashboard's funnel.</p>",
        esc(&in_program)
    ));
    f.page("/console/tracker", "Tracker", &body)
}

fn integration_card(n: usize, i: &Value) -> String {
    let links: String = i["postbacks"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(m, p)| {
            format!(
                "<li><span class=\"label\">{}</span>{}</li>",
                esc(p["label"].as_str().unwrap_or("")),
                copyable(&format!("postback-{n}-{m}"), p["link"].as_str().unwrap_or(""))
            )
        })
        .collect();
    format!(
        "<section class=\"card integration\" aria-labelledby=\"integration-{n}\">\
         <h2 id=\"integration-{n}\">{}</h2><p>Click id parameter <code>{}</code> · template {}</p>\
         <ul class=\"links\">{links}</ul></section>",
        esc(i["name"].as_str().unwrap_or("")),
        esc(i["click_param"].as_str().unwrap_or("")),
        esc(i["template"].as_str().unwrap_or("custom")),
    )
}

fn create_form(f: &crate::console::html::Frame, templates: &Value) -> String {
    let options: String = templates["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["code"].as_str()?, t["name"].as_str().unwrap_or(""))))
        .map(|(code, name)| format!("<option value=\"{}\">{}</option>", esc(code), esc(name)))
        .collect();
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"new-integration\">\
         <h2 id=\"new-integration\">New integration</h2>{csrf}{name}\
         <label for=\"template\">Template</label><select id=\"template\" name=\"template\">{options}</select>\
         <button type=\"submit\">Create</button></form>",
        action = esc(&f.link("/console/tracker")),
        csrf = f.csrf_field(),
        name = field("name", "Name", "text", "", true),
    )
}

fn postback_log(postbacks: &Value) -> String {
    let rows: Vec<Vec<String>> = postbacks["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let text = |v: &Value| esc(v.as_str().unwrap_or(""));
            vec![
                text(&p["received_at"]),
                text(&p["event"]),
                text(&p["outcome"]),
                text(&p["click_id"]),
            ]
        })
        .collect();
    table(
        &["Received", "Event", "Outcome", "Click id"],
        &rows,
        "No postbacks yet.",
    )
}

#[derive(Debug, Deserialize)]
pub struct NewIntegration {
    #[serde(default)]
    csrf: String,
    name: String,
    template: String,
}

pub async fn create(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<NewIntegration>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let body = json!({"name": form.name.trim(), "template": form.template});
    let path = format!("/tracker/integrations?program={}", url_encode(program));
    let outcome = state.call(&who, Method::POST, &path, Some(&body)).await;
    back(
        "/console/tracker",
        program,
        outcome.map(|i| format!("created {}", i["name"].as_str().unwrap_or(""))),
    )
}
