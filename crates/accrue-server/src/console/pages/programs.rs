//! The program: its currencies, its settings as the admin API keeps them (registration
//! steps and codes, the referral program, tills), lifetime definitions, card categories
//! and coupon series. Each is edited as JSON and checked by the admin API, which says
//! what is wrong with which field; roles that may not write see them read-only.

use super::{back, frame, section, Common};
use crate::console::html::{esc, field, plain, rows_of, table, text_area, url_encode, Frame};
use crate::console::session::{forged, Signed};
use crate::console::{ConsoleState, Refusal};
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::Value;

/// What the page edits: (form name, title, how it is written, its admin API path with
/// `{program}` and `{key}` filled in).
const EDITABLE: &[(&str, &str, Method, &str)] = &[
    (
        "registration",
        "Registration steps and codes",
        Method::PUT,
        "/programs/{program}/registration-settings",
    ),
    (
        "referral",
        "Referral program",
        Method::PUT,
        "/programs/{program}/referral-settings",
    ),
    (
        "processing",
        "Tills and purchases",
        Method::PUT,
        "/processing/settings?program={program}",
    ),
    (
        "lifetime",
        "Lifetime definition",
        Method::PUT,
        "/programs/{program}/lifetimes/{key}",
    ),
    (
        "card-category",
        "Card category",
        Method::POST,
        "/card-categories?program={program}",
    ),
    (
        "coupon-series",
        "Coupon series",
        Method::POST,
        "/coupon-series?program={program}",
    ),
];

const EXAMPLE_LIFETIME: &str = r#"{"name": "Until the end of next month", "activation_delay_days": 0,
 "expiry": {"type": "end_of_month", "months_after": 1}, "is_default": false}"#;
const EXAMPLE_CATEGORY: &str = r#"{"code": "gold", "title": "Gold card", "for_virtual": false}"#;
const EXAMPLE_SERIES: &str = r#"{"code": "WELCOME", "title": "Welcome coupon"}"#;

fn path_of(template: &str, program: &str, key: &str) -> String {
    template
        .replace("{program}", &url_encode(program))
        .replace("{key}", &url_encode(key))
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<Common>) -> Response {
    let program = q.program();
    let f = frame(&who, program);
    let read = |name: &str| state.get(&who, path_of(target(name).3, program, ""));
    let (summary, registration, referral, processing, lifetimes, categories, series) = tokio::join!(
        state.get(&who, format!("/programs/{}", url_encode(program))),
        read("registration"),
        read("referral"),
        read("processing"),
        state.get(&who, format!("/programs/{}/lifetimes", url_encode(program))),
        read("card-category"),
        read("coupon-series"),
    );
    let mut body = q.notices();
    body.push_str(&section("Currencies", summary, |p| {
        let rows = rows_of(&p["currencies"], &["code", "description", "scale", "is_default"]);
        table(&["Code", "Description", "Decimals", "Default"], &rows, "No currencies.")
    }));
    for (name, read) in [
        ("registration", registration),
        ("referral", referral),
        ("processing", processing),
    ] {
        let (_, title, _, _) = target(name);
        body.push_str(&section(title, read, |doc| {
            editor(&f, name, "", &serde_json::to_string_pretty(doc).unwrap_or_default())
        }));
    }
    body.push_str(&section("Lifetime definitions", lifetimes, |l| {
        let rows: Vec<Vec<String>> = l["lifetimes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                vec![
                    plain(&d["external_id"]),
                    plain(&d["name"]),
                    plain(&d["is_default"]),
                    plain(&d["activation_delay_days"]),
                    plain(&d["expiry"]),
                ]
            })
            .collect();
        let list = table(
            &["External id", "Name", "Default", "Activation delay, days", "Expiry"],
            &rows,
            "No lifetime definitions: points never expire.",
        );
        format!("{list}{}", editor(&f, "lifetime", "", EXAMPLE_LIFETIME))
    }));
    body.push_str(&section("Card categories", categories, |c| {
        let rows = rows_of(&c["items"], &["code", "title", "description", "for_virtual"]);
        let list = table(
            &["Code", "Title", "Description", "Virtual cards"],
            &rows,
            "No categories.",
        );
        format!("{list}{}", editor(&f, "card-category", "", EXAMPLE_CATEGORY))
    }));
    body.push_str(&section("Coupon series", series, |s| {
        let rows = rows_of(&s["items"], &["code", "title", "short_description", "created_at"]);
        let list = table(
            &["Code", "Title", "Short description", "Created"],
            &rows,
            "No coupon series.",
        );
        format!("{list}{}", editor(&f, "coupon-series", "", EXAMPLE_SERIES))
    }));
    f.page("/console/programs", "Program", &body)
}

fn target(name: &str) -> &'static (&'static str, &'static str, Method, &'static str) {
    EDITABLE.iter().find(|(n, ..)| *n == name).unwrap_or(&EDITABLE[0])
}

/// A JSON editor that saves `name`; shown only to roles that may write it.
fn editor(f: &Frame, name: &str, key: &str, json: &str) -> String {
    let (_, title, method, template) = target(name);
    if !f.role.allows(
        method,
        path_of(template, f.program, "x").split('?').next().unwrap_or(""),
    ) {
        return format!("<pre class=\"json\">{}</pre>", esc(json));
    }
    let key_field = if name == "lifetime" {
        field("key", "External id", "text", key, true)
    } else {
        String::new()
    };
    let (verb, rows) = if *method == Method::POST {
        ("Create", 3)
    } else {
        ("Save", 12)
    };
    format!(
        "<details><summary>{verb}: {title}</summary>\
         <form method=\"post\" action=\"{action}\" class=\"stack\">{csrf}\
         <input type=\"hidden\" name=\"what\" value=\"{name}\">{key_field}{json}\
         <button type=\"submit\">{verb}</button></form></details>",
        title = esc(title),
        action = esc(&f.link("/console/programs")),
        csrf = f.csrf_field(),
        json = text_area(&format!("json-{name}"), "JSON", json, rows),
    )
}

#[derive(Debug, Deserialize)]
pub struct SaveForm {
    #[serde(default)]
    csrf: String,
    what: String,
    #[serde(default)]
    key: String,
    #[serde(flatten)]
    json: std::collections::HashMap<String, String>,
}

pub async fn save(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<SaveForm>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let outcome = write(&state, &who, program, &form).await;
    back("/console/programs", program, outcome)
}

async fn write(state: &ConsoleState, who: &Signed, program: &str, form: &SaveForm) -> Result<String, Refusal> {
    let (name, title, method, template) = EDITABLE
        .iter()
        .find(|(n, ..)| *n == form.what)
        .ok_or_else(|| Refusal::invalid(format!("nothing called {} to save", form.what)))?;
    let key = form.key.trim();
    if template.contains("{key}") && key.is_empty() {
        return Err(Refusal::invalid("the external id is required"));
    }
    let text = form.json.get(&format!("json-{name}")).map(String::as_str).unwrap_or("");
    let json: Value = serde_json::from_str(text).map_err(|e| Refusal::invalid(format!("{title}: not JSON: {e}")))?;
    state
        .call(who, method.clone(), &path_of(template, program, key), Some(&json))
        .await?;
    Ok(format!("saved: {}", title.to_lowercase()))
}
