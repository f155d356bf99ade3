//! Integra partners: each partner's API host and scheme, and for the one picked its users
//! and payments (direct ones and top-ups with their state), newest first, paged.

use super::{frame, section, unreadable, Common};
use crate::console::html::{esc, pager, plain, rows_of, table, url_encode};
use crate::console::session::Signed;
use crate::console::ConsoleState;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

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
    let mut body = table(
        &["Path", "Name", "Currency", "Scheme", "API host"],
        &rows,
        "No partners: create one with POST /admin/v1/partners (see docs/integra.md).",
    );
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
