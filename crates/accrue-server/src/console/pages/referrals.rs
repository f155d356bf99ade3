//! Referrals: the review queue (referrals a fraud rule held back) with approve and
//! reject, and the approved and rejected ones, newest first, paged.

use super::{back, frame, unreadable, Common};
use crate::console::html::{esc, pager, plain, table, url_encode, Frame};
use crate::console::session::{forged, Signed};
use crate::console::{ConsoleState, Refusal};
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use serde_json::Value;

const PAGE: i64 = 25;
const STATES: [&str; 3] = ["review", "approved", "rejected"];

#[derive(Debug, Default, Deserialize)]
pub struct Listing {
    #[serde(flatten)]
    common: Common,
    /// `review` (the default), `approved` or `rejected`.
    state: Option<String>,
    offset: Option<i64>,
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<Listing>) -> Response {
    let program = q.common.program();
    let f = frame(&who, program);
    let shown = q.state.as_deref().filter(|s| STATES.contains(s)).unwrap_or("review");
    let offset = q.offset.unwrap_or(0).max(0);
    // One more than a page tells whether another page follows.
    let path = format!(
        "/referrals?program={}&state={shown}&offset={offset}&count={}",
        url_encode(program),
        PAGE + 1
    );
    let found = match state.get(&who, path).await {
        Ok(found) => found,
        Err(refusal) => return unreadable(&f, "/console/referrals", "Referrals", refusal),
    };
    let items: Vec<Value> = found["items"].as_array().cloned().unwrap_or_default();
    let more = items.len() as i64 > PAGE;
    let listed = &items[..items.len().min(PAGE as usize)];
    let may_decide = shown == "review" && who.role.allows(&Method::POST, "/referrals/1/approve");
    let mut body = q.common.notices();
    body.push_str(&state_picker(program, shown));
    body.push_str(&referral_table(&f, listed, may_decide));
    body.push_str(&pager(
        &f.link(&format!("/console/referrals?state={shown}")),
        offset,
        PAGE,
        more,
    ));
    f.page("/console/referrals", "Referrals", &body)
}

fn state_picker(program: &str, shown: &str) -> String {
    let options: String = STATES
        .iter()
        .map(|s| {
            let selected = if *s == shown { " selected" } else { "" };
            format!("<option value=\"{s}\"{selected}>{s}</option>")
        })
        .collect();
    format!(
        "<form method=\"get\" action=\"/console/referrals\" class=\"row\">\
         <input type=\"hidden\" name=\"program\" value=\"{}\">\
         <label for=\"state\">State</label><select id=\"state\" name=\"state\">{options}</select>\
         <button type=\"submit\">Show</button></form>\
         <p class=\"hint\">In review: a fraud rule held the referral back and its rewards wait. \
         Approving pays them (within the inviter's cap); rejecting voids them.</p>",
        esc(program)
    )
}

fn referral_table(f: &Frame, referrals: &[Value], may_decide: bool) -> String {
    let member = |v: &Value| match v.as_i64() {
        Some(id) => format!(
            "<a href=\"{}\">#{id}</a>",
            esc(&f.link(&format!("/console/members/{id}")))
        ),
        None => "—".into(),
    };
    let rows: Vec<Vec<String>> = referrals
        .iter()
        .map(|r| {
            let suspicions: Vec<&str> = r["suspicions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut row = vec![
                plain(&r["created_at"]),
                member(&r["inviter_id"]),
                member(&r["invitee_id"]),
                plain(&r["code"]),
                esc(&suspicions.join(", ")),
                format!(
                    "<span class=\"state\" data-referral=\"{}\">{}</span>",
                    r["id"],
                    plain(&r["state"])
                ),
            ];
            if may_decide {
                row.push(decision_form(f, r["id"].as_i64().unwrap_or(0)));
            }
            row
        })
        .collect();
    let mut heads = vec!["Created", "Inviter", "Invitee", "Code", "Suspicions", "State"];
    if may_decide {
        heads.push("Decision");
    }
    table(&heads, &rows, "No referrals in this state.")
}

fn decision_form(f: &Frame, id: i64) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"row\">{}<input type=\"hidden\" name=\"id\" value=\"{id}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\" class=\"small\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"reject\" class=\"small danger\" \
         data-confirm=\"Reject this referral? Its rewards are voided.\">Reject</button></form>",
        esc(&f.link("/console/referrals/decide")),
        f.csrf_field()
    )
}

#[derive(Debug, Deserialize)]
pub struct Decision {
    #[serde(default)]
    csrf: String,
    id: i64,
    decision: String,
}

pub async fn decide(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<Decision>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let (verb, done) = match form.decision.as_str() {
        "approve" => ("approve", "approved"),
        "reject" => ("reject", "rejected"),
        _ => {
            let refusal = Refusal::invalid("the decision is approve or reject");
            return back("/console/referrals", program, Err(refusal));
        }
    };
    let path = format!("/referrals/{}/{verb}?program={}", form.id, url_encode(program));
    let outcome = state.call(&who, Method::POST, &path, None).await;
    tracing::info!(operator = %who.operator.login, referral = form.id, action = done, ok = outcome.is_ok(), "console action");
    back(
        "/console/referrals",
        program,
        outcome.map(|_| format!("referral {} {done}", form.id)),
    )
}
