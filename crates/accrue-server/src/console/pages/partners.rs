//! Integra partners: each partner's API host and scheme, a new partner (its key shown
//! once), and for the one picked its users and payments (direct ones and top-ups with
//! their state), newest first, paged.

use super::{back, frame, section, shown_once, unreadable, Common};
use crate::console::html::{esc, field, pager, plain, rows_of, table, url_encode, Frame};
use crate::console::session::{forged, Signed};
use crate::console::ConsoleState;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::json;

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct PartnersQuery {
    #[serde(flatten)]
    common: Common,
    /// The partner whose users and payments are shown.
    partner: Option<String>,
    offset: Option<i64>,
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<PartnersQuery>) -> Response {
    let program = q.common.program();
    let f = frame(&who, program);
    let in_program = format!("?program={}", url_encode(program));
    let partners = match state.get(&who, format!("/partners{in_program}")).await {
        Ok(found) => found,
        Err(refusal) => return unreadable(&f, "/console/partners", "Partners", refusal),
    };
    let rows: Vec<Vec<String>> = partners["partners"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let path = p["path"].as_str().unwrap_or("");
            let link = f.link(&format!("/console/partners?partner={}", url_encode(path)));
            vec![
                format!("<a href=\"{}\">{}</a>", esc(&link), esc(path)),
                plain(&p["name"]),
                plain(&p["currency"]),
                plain(&p["scheme"]),
                format!("<code>{}</code>", plain(&p["api_host"])),
            ]
        })
        .collect();
    let mut body = q.common.notices();
    body.push_str(&table(
        &["Path", "Name", "Currency", "Scheme", "API host"],
        &rows,
        "No partners yet.",
    ));
    if who.role.allows(&Method::POST, "/partners") {
        body.push_str(&partner_form(&f));
    }
    if let Some(partner) = q.partner.as_deref().filter(|p| !p.is_empty()) {
        let offset = q.offset.unwrap_or(0).max(0);
        let of = format!("/partners/{}", url_encode(partner));
        let paging = format!("{in_program}&offset={offset}&count={PAGE}");
        let (users, payments) = tokio::join!(
            state.get(&who, format!("{of}/users{paging}")),
            state.get(&who, format!("{of}/payments{paging}")),
        );
        let base = f.link(&format!("/console/partners?partner={}", url_encode(partner)));
        let mut more = false;
        body.push_str(&section(&format!("Users of {partner}"), users, |u| {
            more |= u["users"].as_array().is_some_and(|l| l.len() as i64 == PAGE);
            let rows = rows_of(&u["users"], &["member_id", "login", "url", "archived_at", "created_at"]);
            table(
                &["Member", "Login", "Site", "Archived", "Joined"],
                &rows,
                "No users yet.",
            )
        }));
        body.push_str(&section(&format!("Payments of {partner}"), payments, |p| {
            more |= p["payments"].as_array().is_some_and(|l| l.len() as i64 == PAGE);
            let keys = [
                "id",
                "kind",
                "amount",
                "state",
                "created_at",
                "decided_at",
                "expires_at",
            ];
            let rows = rows_of(&p["payments"], &keys);
            let heads = ["Id", "Kind", "Amount", "State", "Created", "Decided", "Expires"];
            table(&heads, &rows, "No payments yet.")
        }));
        body.push_str(&pager(&base, offset, PAGE, more));
    }
    f.page("/console/partners", "Partners", &body)
}

fn partner_form(f: &Frame) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"new-partner\">\
         <h2 id=\"new-partner\">New partner</h2>{csrf}{path}{name}{currency}\
         <label for=\"scheme\">Encryption</label><select id=\"scheme\" name=\"scheme\">\
         <option value=\"aes-256-gcm\">aes-256-gcm</option><option value=\"base64\">base64 (sandbox only)</option></select>\
         {module}<p class=\"hint\">The partner's hash and key are shown once, after adding. \
         Other settings (IP allowlist, frame origins, texts) are in the admin API: PATCH /admin/v1/partners/{{path}}.</p>\
         <button type=\"submit\">Add</button></form>",
        action = esc(&f.link("/console/partners")),
        csrf = f.csrf_field(),
        path = field("path", "Path (one URL segment)", "text", "", true),
        name = field("name", "Name", "text", "", true),
        currency = field("currency", "Currency (the program's default when empty)", "text", "", false),
        module = field("module_url", "Page holding the cabinet's iframe (optional)", "url", "", false),
    )
}

#[derive(Debug, Deserialize)]
pub struct NewPartner {
    #[serde(default)]
    csrf: String,
    path: String,
    name: String,
    #[serde(default)]
    currency: String,
    scheme: String,
    #[serde(default)]
    module_url: String,
}

/// Adds a partner and shows its hash and key on this answer only.
pub async fn create(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<NewPartner>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let optional = |text: &str| Some(text.trim()).filter(|t| !t.is_empty()).map(str::to_string);
    let mut body = json!({"path": form.path.trim(), "name": form.name.trim(), "scheme": form.scheme,
                          "currency": optional(&form.currency)});
    if let Some(url) = optional(&form.module_url) {
        body["settings"] = json!({ "module_url": url });
    }
    let path = format!("/partners?program={}", url_encode(program));
    match state.call(&who, Method::POST, &path, Some(&body)).await {
        Ok(made) => {
            tracing::info!(operator = %who.operator.login, partner = %made["path"], action = "added partner", "console action");
            let text = |name: &str| made[name].as_str().unwrap_or("").to_string();
            let done = format!("partner {} added", text("path"));
            let (host, hash, key) = (text("api_host"), text("hash"), text("crypt_key"));
            let secrets = [
                ("API host", "partner-host", host.as_str()),
                ("Partner hash", "partner-hash", hash.as_str()),
                ("Key (cryptKey)", "partner-key", key.as_str()),
            ];
            shown_once(
                &frame(&who, program),
                "/console/partners",
                "New partner",
                &done,
                &secrets,
            )
        }
        Err(refusal) => back("/console/partners", program, Err(refusal)),
    }
}
