//! The program: its currencies, its settings as the admin API keeps them (registration
//! steps and codes, the referral program, tills), lifetime definitions, card categories
//! with the card pool, coupon series and coupons issued by hand. Each is edited as JSON
//! and checked by the admin API, which says what is wrong with which field; roles that
//! may not write see them read-only.

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

/// What the page edits: its form name, title, how it is written, and its admin API path
/// with `{program}` and `{key}` filled in.
struct Editable {
    name: &'static str,
    title: &'static str,
    method: Method,
    path: &'static str,
    /// The label of the `{key}` field, for paths that have one.
    key: Option<&'static str>,
}

const fn editable(name: &'static str, title: &'static str, method: Method, path: &'static str) -> Editable {
    Editable {
        name,
        title,
        method,
        path,
        key: None,
    }
}

const fn keyed(
    key: &'static str,
    name: &'static str,
    title: &'static str,
    method: Method,
    path: &'static str,
) -> Editable {
    Editable {
        name,
        title,
        method,
        path,
        key: Some(key),
    }
}

const EDITABLE: &[Editable] = &[
    editable(
        "registration",
        "Registration steps and codes",
        Method::PUT,
        "/programs/{program}/registration-settings",
    ),
    editable(
        "referral",
        "Referral program",
        Method::PUT,
        "/programs/{program}/referral-settings",
    ),
    editable(
        "processing",
        "Tills and purchases",
        Method::PUT,
        "/processing/settings?program={program}",
    ),
    keyed(
        "External id",
        "lifetime",
        "Lifetime definition",
        Method::PUT,
        "/programs/{program}/lifetimes/{key}",
    ),
    editable(
        "card-category",
        "Card category",
        Method::POST,
        "/card-categories?program={program}",
    ),
    editable(
        "card-pool",
        "Card numbers into the pool",
        Method::POST,
        "/cards/import?program={program}",
    ),
    editable(
        "coupon-series",
        "Coupon series",
        Method::POST,
        "/coupon-series?program={program}",
    ),
    keyed(
        "Series code",
        "coupons",
        "Coupons for a member",
        Method::POST,
        "/coupon-series/{key}/issue?program={program}",
    ),
];

const EXAMPLE_LIFETIME: &str = r#"{"name": "Until the end of next month", "activation_delay_days": 0,
 "expiry": {"type": "end_of_month", "months_after": 1}, "is_default": false}"#;
const EXAMPLE_CATEGORY: &str = r#"{"code": "gold", "title": "Gold card", "for_virtual": false}"#;
const EXAMPLE_SERIES: &str = r#"{"code": "WELCOME", "title": "Welcome coupon"}"#;
const EXAMPLE_POOL: &str = r#"{"numbers": ["2000000000017", "2000000000024"], "category": "gold"}"#;
const EXAMPLE_COUPONS: &str = r#"{"member_id": 1, "count": 1}"#;

fn path_of(template: &str, program: &str, key: &str) -> String {
    template
        .replace("{program}", &url_encode(program))
        .replace("{key}", &url_encode(key))
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<Common>) -> Response {
    let program = q.program();
    let f = frame(&who, program);
    let read = |name: &str| state.get(&who, path_of(target(name).path, program, ""));
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
        body.push_str(&section(target(name).title, read, |doc| {
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
        let category = editor(&f, "card-category", "", EXAMPLE_CATEGORY);
        format!("{list}{category}{}", editor(&f, "card-pool", "", EXAMPLE_POOL))
    }));
    body.push_str(&section("Coupon series", series, |s| {
        let rows = rows_of(&s["items"], &["code", "title", "short_description", "created_at"]);
        let list = table(
            &["Code", "Title", "Short description", "Created"],
            &rows,
            "No coupon series.",
        );
        let series = editor(&f, "coupon-series", "", EXAMPLE_SERIES);
        format!("{list}{series}{}", editor(&f, "coupons", "", EXAMPLE_COUPONS))
    }));
    f.page("/console/programs", "Program", &body)
}

fn target(name: &str) -> &'static Editable {
    EDITABLE.iter().find(|e| e.name == name).unwrap_or(&EDITABLE[0])
}

/// A JSON editor that saves `name`; shown only to roles that may write it.
fn editor(f: &Frame, name: &str, key: &str, json: &str) -> String {
    let e = target(name);
    if !f.role.allows(
        &e.method,
        path_of(e.path, f.program, "x").split('?').next().unwrap_or(""),
    ) {
        return format!("<pre class=\"json\">{}</pre>", esc(json));
    }
    let key_field = e
        .key
        .map(|label| field(&format!("key-{name}"), label, "text", key, true))
        .unwrap_or_default();
    let (verb, rows) = if e.method == Method::POST {
        ("Create", 3)
    } else {
        ("Save", 12)
    };
    format!(
        "<details><summary>{verb}: {title}</summary>\
         <form method=\"post\" action=\"{action}\" class=\"stack\">{csrf}\
         <input type=\"hidden\" name=\"what\" value=\"{name}\">{key_field}{json}\
         <button type=\"submit\">{verb}</button></form></details>",
        title = esc(e.title),
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
    /// `json-<what>` and `key-<what>` (each editor's fields have ids of their own).
    #[serde(flatten)]
    fields: std::collections::HashMap<String, String>,
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
    let e = EDITABLE
        .iter()
        .find(|e| e.name == form.what)
        .ok_or_else(|| Refusal::invalid(format!("nothing called {} to save", form.what)))?;
    let given = |part: &str| form.fields.get(&format!("{part}-{}", e.name)).map_or("", |v| v.trim());
    let key = given("key");
    if let (Some(label), "") = (e.key, key) {
        return Err(Refusal::invalid(format!("{label} is required")));
    }
    let json: Value =
        serde_json::from_str(given("json")).map_err(|err| Refusal::invalid(format!("{}: not JSON: {err}", e.title)))?;
    state
        .call(who, e.method.clone(), &path_of(e.path, program, key), Some(&json))
        .await?;
    Ok(format!("saved: {}", e.title.to_lowercase()))
}
