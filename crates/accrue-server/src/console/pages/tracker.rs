//! The tracker: integrations with their ready postback links (a copy button each), a
//! new integration from a shipped template, registration links and their builder, the
//! statistics by day, integration and link (and as CSV), and the latest postbacks.

use super::{back, frame, section, unreadable, Common};
use crate::console::html::{copyable, esc, field, plain, table, text_area, url_encode, Frame};
use crate::console::session::{forged, Signed};
use crate::console::{ConsoleState, Refusal};
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Default, Deserialize)]
pub struct TrackerQuery {
    #[serde(flatten)]
    common: Common,
    from: Option<String>,
    to: Option<String>,
}

impl TrackerQuery {
    /// The statistics' period as query parameters (empty ones left out).
    fn period(&self) -> String {
        [("from", &self.from), ("to", &self.to)]
            .iter()
            .filter_map(|(name, v)| {
                v.as_deref()
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("&{name}={}", url_encode(v)))
            })
            .collect()
    }
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<TrackerQuery>) -> Response {
    let program = q.common.program();
    let f = frame(&who, program);
    let in_program = format!("?program={}", url_encode(program));
    let integrations = match state
        .call(&who, Method::GET, &format!("/tracker/integrations{in_program}"), None)
        .await
    {
        Ok(found) => found,
        Err(refusal) => return unreadable(&f, "/console/tracker", "Tracker", refusal),
    };
    let period = q.period();
    let (templates, postbacks, links, stats) = tokio::join!(
        state.get(&who, "/tracker/templates".into()),
        state.get(&who, format!("/tracker/postbacks{in_program}&count=20")),
        state.get(&who, format!("/tracker/links{in_program}")),
        state.get(&who, format!("/tracker/stats{in_program}{period}")),
    );
    let mut body = q.common.notices();
    for (n, integration) in integrations["items"].as_array().into_iter().flatten().enumerate() {
        body.push_str(&integration_card(n, integration));
    }
    if integrations["items"].as_array().is_none_or(Vec::is_empty) {
        body.push_str("<p class=\"empty\">No integrations yet.</p>");
    }
    let writes = who.role.allows(&Method::POST, "/tracker/integrations");
    if writes {
        body.push_str(&create_form(&f, &templates.unwrap_or_default()));
    }
    body.push_str(&section("Registration links", links, |l| {
        let list = links_list(l);
        if writes {
            format!("{list}{}", link_builder(&f, &integrations))
        } else {
            list
        }
    }));
    body.push_str(&section("Statistics", stats, |s| stats_table(&f, &q, s)));
    body.push_str(&section("Latest postbacks", postbacks, postback_log));
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

fn create_form(f: &Frame, templates: &Value) -> String {
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

/// Each link's final URL and Accrue's short redirect, both with copy buttons.
fn links_list(links: &Value) -> String {
    let items: String = links["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let id = l["id"].as_i64().unwrap_or(0);
            format!(
                "<li><span class=\"label\">{name} ({integration})</span>{final_url}{short}</li>",
                name = plain(&l["name"]),
                integration = plain(&l["integration"]),
                final_url = copyable(&format!("link-{id}"), l["final_url"].as_str().unwrap_or("")),
                short = copyable(&format!("short-{id}"), l["short_url"].as_str().unwrap_or("")),
            )
        })
        .collect();
    if items.is_empty() {
        return "<p class=\"empty\">No links yet.</p>".into();
    }
    format!("<ul class=\"links\">{items}</ul>")
}

/// A registration link from the partner program's URL and parameters, one per line:
/// `name=value`, values with `{{tracker.clickid}}`, `{{lead.id}}`, `{{fields.<key>}}`.
fn link_builder(f: &Frame, integrations: &Value) -> String {
    let options: String = integrations["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| Some((i["id"].as_str()?, i["name"].as_str().unwrap_or(""))))
        .map(|(id, name)| format!("<option value=\"{}\">{}</option>", esc(id), esc(name)))
        .collect();
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"new-link\">\
         <h3 id=\"new-link\">New registration link</h3>{csrf}\
         <label for=\"integration\">Integration</label><select id=\"integration\" name=\"integration\">{options}</select>\
         {name}{base}{params}<button type=\"submit\">Build the link</button></form>",
        action = esc(&f.link("/console/tracker/links")),
        csrf = f.csrf_field(),
        name = field("link_name", "Name", "text", "", true),
        base = field("base_url", "The partner program's link", "url", "", true),
        params = text_area("params", "Parameters, one name=value a line", "sub1={{tracker.clickid}}", 3),
    )
}

/// The funnel by day, integration and link over a period, with its CSV.
fn stats_table(f: &Frame, q: &TrackerQuery, stats: &Value) -> String {
    let rows: Vec<Vec<String>> = stats["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                plain(&r["day"]),
                plain(&r["integration"]),
                plain(&r["link_id"]),
                plain(&r["clicks"]),
                plain(&r["registrations"]),
                plain(&r["first_deposits"]["count"]),
                plain(&r["repeat_deposits"]["count"]),
            ]
        })
        .collect();
    let heads = [
        "Day",
        "Integration",
        "Link",
        "Clicks",
        "Registrations",
        "First deposits",
        "Repeat deposits",
    ];
    format!(
        "<form method=\"get\" action=\"/console/tracker\" class=\"row\">\
         <input type=\"hidden\" name=\"program\" value=\"{program}\">{from}{to}<button type=\"submit\">Show</button></form>\
         {table}<p><a href=\"{csv}\" download>Download as CSV</a></p>",
        program = esc(f.program),
        from = field("from", "From", "date", q.from.as_deref().unwrap_or(""), false),
        to = field("to", "To", "date", q.to.as_deref().unwrap_or(""), false),
        table = table(&heads, &rows, "Nothing in this period."),
        csv = esc(&format!("{}{}", f.link("/console/tracker/stats.csv"), q.period())),
    )
}

/// The statistics as the admin API writes them in CSV.
pub async fn stats_csv(State(state): State<ConsoleState>, who: Signed, Query(q): Query<TrackerQuery>) -> Response {
    let path = format!(
        "/tracker/stats?program={}{}&format=csv",
        url_encode(q.common.program()),
        q.period()
    );
    state.pass_on(&who, &path).await
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

#[derive(Debug, Deserialize)]
pub struct NewLink {
    #[serde(default)]
    csrf: String,
    integration: String,
    link_name: String,
    base_url: String,
    #[serde(default)]
    params: String,
}

/// `name=value` lines as the admin API's parameters.
fn parse_params(text: &str) -> Result<Vec<Value>, Refusal> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => Ok(json!({"name": name.trim(), "value": value.trim()})),
            _ => Err(Refusal::invalid(format!(
                "a parameter line must be name=value, got {line:?}"
            ))),
        })
        .collect()
}

pub async fn create_link(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<NewLink>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let outcome = match parse_params(&form.params) {
        Ok(params) => {
            let body = json!({"integration": form.integration, "name": form.link_name.trim(),
                              "base_url": form.base_url.trim(), "params": params});
            let path = format!("/tracker/links?program={}", url_encode(program));
            state.call(&who, Method::POST, &path, Some(&body)).await
        }
        Err(refusal) => Err(refusal),
    };
    back(
        "/console/tracker",
        program,
        outcome.map(|l| format!("built the link {}", l["name"].as_str().unwrap_or(""))),
    )
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
