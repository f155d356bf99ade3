//! Members: find one (by phone, e-mail, card, or id) or export them all, and the
//! member's page — profile,
//! balances with expiry dates, history — with care actions that each need a reason:
//! accrue or withdraw points (the reason is the operation's description), block.

use super::{back, frame, section, unreadable, Common};
use crate::console::html::{esc, field, pager, pager_of, plain, rows_of, table, url_encode};
use crate::console::session::{forged, Signed};
use crate::console::{ConsoleState, Refusal};
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

const PAGE: i64 = 20;
/// Purchases shown at a time.
const PURCHASES: i64 = 10;
/// The newest messages the page shows.
const MESSAGES: usize = 10;

#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(flatten)]
    common: Common,
    q: Option<String>,
}

/// What a search text is: a member id (`#12`, or digits with `id:`), an e-mail, a phone
/// (starts with `+`), else a card number.
fn search_query(text: &str) -> (&'static str, String) {
    let text = text.trim();
    if let Some(id) = text.strip_prefix('#').or_else(|| text.strip_prefix("id:")) {
        return ("id", id.trim().to_string());
    }
    if text.contains('@') {
        return ("email", text.to_string());
    }
    if text.starts_with('+') {
        return ("phone", text.to_string());
    }
    ("card", text.to_string())
}

pub async fn search(State(state): State<ConsoleState>, who: Signed, Query(q): Query<Search>) -> Response {
    let program = q.common.program();
    let f = frame(&who, program);
    let text = q.q.as_deref().unwrap_or("").trim();
    let form = format!(
        "<form method=\"get\" action=\"/console/members\" role=\"search\" class=\"row\">\
         <input type=\"hidden\" name=\"program\" value=\"{}\">{}<button type=\"submit\">Find</button></form>\
         <p class=\"hint\">A phone (+7…), an e-mail, a card number, or #id.</p>",
        esc(program),
        field("q", "Phone, e-mail, card or #id", "search", text, false),
    );
    if text.is_empty() {
        let body = format!(
            "{}{form}{}",
            q.common.notices(),
            super::exports::listing(&state, &who, &f).await
        );
        return f.page("/console/members", "Members", &body);
    }
    let (kind, value) = search_query(text);
    if kind == "id" {
        return Redirect::to(&f.link(&format!("/console/members/{}", url_encode(&value)))).into_response();
    }
    let path = format!("/members?program={}&{kind}={}", url_encode(program), url_encode(&value));
    let found = match state.call(&who, Method::GET, &path, None).await {
        Ok(found) => found,
        Err(refusal) => return unreadable(&f, "/console/members", "Members", refusal),
    };
    let rows: Vec<Vec<String>> = found["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let link = f.link(&format!("/console/members/{}", m["id"]));
            vec![
                format!("<a href=\"{}\">#{}</a>", esc(&link), m["id"]),
                esc(m["phone"].as_str().unwrap_or("")),
                esc(m["email"].as_str().unwrap_or("")),
                esc(m["state"].as_str().unwrap_or("")),
            ]
        })
        .collect();
    let body = format!(
        "{form}{}",
        table(&["Member", "Phone", "E-mail", "State"], &rows, "No member matches.")
    );
    f.page("/console/members", "Members", &body)
}

#[derive(Debug, Default, Deserialize)]
pub struct MemberQuery {
    #[serde(flatten)]
    common: Common,
    /// Of the history.
    offset: Option<i64>,
    /// Of the purchases.
    purchases: Option<i64>,
}

pub async fn page(
    State(state): State<ConsoleState>,
    who: Signed,
    Path(id): Path<i64>,
    Query(q): Query<MemberQuery>,
) -> Response {
    let program = q.common.program();
    let f = frame(&who, program);
    let title = format!("Member #{id}");
    let in_program = format!("?program={}", url_encode(program));
    let member = match state
        .call(&who, Method::GET, &format!("/members/{id}{in_program}"), None)
        .await
    {
        Ok(member) => member,
        Err(refusal) => return unreadable(&f, "/console/members", &title, refusal),
    };
    let offset = q.offset.unwrap_or(0).max(0);
    let history_path = format!("/members/{id}/history{in_program}&count={PAGE}&offset={offset}");
    let bought = q.purchases.unwrap_or(0).max(0);
    let purchases_path = format!("/members/{id}/purchases{in_program}&count={PURCHASES}&offset={bought}");
    let (balances, history, purchases, cards, referral, messages) = tokio::join!(
        state.get(&who, format!("/members/{id}/balances{in_program}")),
        state.get(&who, history_path),
        state.get(&who, purchases_path),
        state.get(&who, format!("/cards{in_program}&member_id={id}")),
        state.get(&who, format!("/members/{id}/referral{in_program}")),
        state.get(&who, format!("/members/{id}/notifications{in_program}")),
    );
    let mut body = q.common.notices();
    body.push_str(&profile(&member));
    body.push_str(&section("Balances", balances, balances_table));
    body.push_str(&care_forms(&f, id, &member));
    body.push_str(&section("Cards", cards, |c| {
        let rows = rows_of(&c["items"], &["number", "kind", "state", "assigned_at"]);
        table(&["Number", "Kind", "State", "Assigned"], &rows, "No cards.")
    }));
    body.push_str(&section("Referrals", referral, referral_figures));
    body.push_str(&section("Purchases", purchases, |p| {
        let base = f.link(&format!("/console/members/{id}"));
        let more = p["total"].as_i64().unwrap_or(0) > bought + PURCHASES;
        format!(
            "{}{}",
            purchases_table(p),
            pager_of(&base, "purchases", bought, PURCHASES, more)
        )
    }));
    body.push_str(&section("History", history, |h| {
        let base = f.link(&format!("/console/members/{id}"));
        let more = h["total"].as_i64().unwrap_or(0) > offset + PAGE;
        format!("{}{}", history_table(h), pager(&base, offset, PAGE, more))
    }));
    body.push_str(&section("Messages", messages, |m| {
        let mut items = m["items"].clone();
        if let Some(list) = items.as_array_mut() {
            list.truncate(MESSAGES);
        }
        let rows = rows_of(&items, &["created_at", "title", "summary", "read_at"]);
        table(&["Sent", "Title", "Text", "Read"], &rows, "No messages.")
    }));
    f.page("/console/members", &title, &body)
}

fn profile(m: &Value) -> String {
    let text = |v: &Value| esc(v.as_str().unwrap_or("—"));
    let name = [&m["first_name"], &m["last_name"]]
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "<dl class=\"facts\"><dt>State</dt><dd id=\"member-state\">{}</dd><dt>Name</dt><dd>{}</dd>\
         <dt>Phone</dt><dd>{}</dd><dt>E-mail</dt><dd>{}</dd><dt>Referral code</dt><dd>{}</dd>\
         <dt>Joined</dt><dd>{}</dd></dl>",
        text(&m["state"]),
        esc(if name.is_empty() { "—" } else { &name }),
        text(&m["phone"]),
        text(&m["email"]),
        text(&m["referral_code"]),
        text(&m["created_at"]),
    )
}

fn balances_table(b: &Value) -> String {
    let rows: Vec<Vec<String>> = b["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let expiring: Vec<String> = item["expirations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    format!(
                        "{} on {}",
                        esc(e["amount"].as_str().unwrap_or("")),
                        esc(e["expires_at"].as_str().unwrap_or(""))
                    )
                })
                .collect();
            let currency = esc(item["currency"].as_str().unwrap_or(""));
            vec![
                currency.clone(),
                format!(
                    "<span class=\"balance\" data-currency=\"{currency}\">{}</span>",
                    esc(item["balance"].as_str().unwrap_or("0"))
                ),
                esc(item["available"].as_str().unwrap_or("0")),
                esc(item["not_activated"].as_str().unwrap_or("0")),
                esc(item["held"].as_str().unwrap_or("0")),
                expiring.join("<br>"),
            ]
        })
        .collect();
    table(
        &["Currency", "Balance", "Available", "Not yet active", "Held", "Expires"],
        &rows,
        "No points yet.",
    )
}

/// Who invited the member, whom the member invited, and the member's invite link.
fn referral_figures(r: &Value) -> String {
    format!(
        "<dl class=\"facts\"><dt>Invite link</dt><dd>{link}</dd><dt>Code</dt><dd>{code}</dd>\
         <dt>Invited by</dt><dd>{by}</dd><dt>Invited</dt><dd>{invited} ({rewarded} rewarded, {pending} pending)</dd>\
         <dt>Earned for invitations</dt><dd>{bonus}</dd></dl>",
        link = plain(&r["link"]),
        code = plain(&r["code"]),
        by = match r["invited_by"]["inviter_id"].as_i64() {
            Some(inviter) => format!("#{inviter}"),
            None => "—".into(),
        },
        invited = plain(&r["invited"]),
        rewarded = plain(&r["rewarded"]),
        pending = plain(&r["pending"]),
        bonus = plain(&r["bonus"]),
    )
}

fn purchases_table(p: &Value) -> String {
    let rows: Vec<Vec<String>> = p["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let points = |name: &str| format!("{} {}", plain(&i[name]), plain(&i["currency"]));
            vec![
                plain(&i["created_at"]),
                format!("{}<br><small>{}</small>", plain(&i["number"]), plain(&i["key"])),
                plain(&i["state"]),
                plain(&i["total"]),
                points("bonus_paid"),
                points("accrual"),
                points("refunded_payment"),
            ]
        })
        .collect();
    table(
        &[
            "When",
            "Cheque",
            "State",
            "Total",
            "Paid with points",
            "Accrued",
            "Points refunded",
        ],
        &rows,
        "No purchases.",
    )
}

fn history_table(h: &Value) -> String {
    let rows: Vec<Vec<String>> = h["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            vec![
                esc(i["created_at"].as_str().unwrap_or("")),
                esc(i["kind"].as_str().unwrap_or("")),
                format!(
                    "{} {}",
                    esc(i["amount"].as_str().unwrap_or("")),
                    esc(i["currency"].as_str().unwrap_or(""))
                ),
                esc(i["description"].as_str().unwrap_or("")),
            ]
        })
        .collect();
    table(
        &["When", "Type", "Amount", "Description"],
        &rows,
        "Nothing happened yet.",
    )
}

/// Accrue or withdraw with a reason; block with a reason; send the code again. Each form carries a fresh
/// operation key, so a form sent twice moves points once.
fn care_forms(f: &crate::console::html::Frame, id: i64, member: &Value) -> String {
    let key = accrue_store::imshop::prefixed_key("console").0;
    let points = format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"points-title\">\
         <h2 id=\"points-title\">Points</h2>{csrf}<input type=\"hidden\" name=\"key\" value=\"{key}\">\
         {amount}{reason}\
         <div class=\"row\"><button type=\"submit\" name=\"direction\" value=\"accrue\">Accrue</button>\
         <button type=\"submit\" name=\"direction\" value=\"withdraw\" class=\"secondary\">Withdraw</button></div></form>",
        action = esc(&f.link(&format!("/console/members/{id}/points"))),
        csrf = f.csrf_field(),
        amount = field("amount", "Amount (e.g. 100.50)", "text", "", true),
        reason = field("reason", "Reason (shown in the history)", "text", "", true),
    );
    let code = format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"code-title\">\
         <h2 id=\"code-title\">Confirmation code</h2>{csrf}\
         <p class=\"hint\">Sends the code again to the phone or e-mail awaiting confirmation, else to the member's own.</p>\
         <div class=\"row\"><button type=\"submit\" name=\"channel\" value=\"phone\" class=\"secondary\">By SMS</button>\
         <button type=\"submit\" name=\"channel\" value=\"email\" class=\"secondary\">By e-mail</button></div></form>",
        action = esc(&f.link(&format!("/console/members/{id}/code"))),
        csrf = f.csrf_field(),
    );
    if member["state"] == "blocked" {
        return format!("<div class=\"cards\">{points}{code}</div>");
    }
    let block = format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"block-title\">\
         <h2 id=\"block-title\">Block</h2>{csrf}{reason}\
         <button type=\"submit\" class=\"danger\" data-confirm=\"Block this member?\">Block the member</button></form>",
        action = esc(&f.link(&format!("/console/members/{id}/block"))),
        csrf = f.csrf_field(),
        reason = field("block_reason", "Reason", "text", "", true),
    );
    format!("<div class=\"cards\">{points}{block}{code}</div>")
}

#[derive(Debug, Deserialize)]
pub struct PointsForm {
    #[serde(default)]
    csrf: String,
    key: String,
    amount: String,
    reason: String,
    direction: String,
}

pub async fn move_points(
    State(state): State<ConsoleState>,
    who: Signed,
    Path(id): Path<i64>,
    Query(q): Query<Common>,
    Form(form): Form<PointsForm>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let to = format!("/console/members/{id}");
    let reason = form.reason.trim();
    if reason.is_empty() {
        return back(&to, program, Err(Refusal::invalid("say why: the reason is required")));
    }
    let (path, verb) = match form.direction.as_str() {
        "withdraw" => ("/operations/withdraw", "withdrew"),
        _ => ("/operations/accrue", "accrued"),
    };
    let body = json!({"member_id": id, "amount": form.amount.trim(), "description": reason});
    let path = format!("{path}?program={}", url_encode(program));
    let key = format!("{}:{}", form.key, form.direction);
    let outcome = state
        .call_with(
            &who,
            Method::POST,
            &path,
            Some(&body),
            &[("Idempotency-Key", key.as_str())],
        )
        .await;
    tracing::info!(operator = %who.operator.login, member = id, action = verb, reason, ok = outcome.is_ok(), "console action");
    back(
        &to,
        program,
        outcome.map(|r| format!("{verb} {} {}", form.amount.trim(), r["currency"].as_str().unwrap_or(""))),
    )
}

#[derive(Debug, Deserialize)]
pub struct BlockForm {
    #[serde(default)]
    csrf: String,
    block_reason: String,
}

pub async fn block(
    State(state): State<ConsoleState>,
    who: Signed,
    Path(id): Path<i64>,
    Query(q): Query<Common>,
    Form(form): Form<BlockForm>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let to = format!("/console/members/{id}");
    let reason = form.block_reason.trim();
    if reason.is_empty() {
        return back(&to, program, Err(Refusal::invalid("say why: the reason is required")));
    }
    let path = format!("/members/{id}/block?program={}", url_encode(program));
    let outcome = state.call(&who, Method::POST, &path, None).await;
    // The reason is kept in the log with who blocked, as the member record has no place for it.
    tracing::info!(operator = %who.operator.login, member = id, action = "blocked", reason, ok = outcome.is_ok(), "console action");
    back(&to, program, outcome.map(|_| "blocked".to_string()))
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    channel: String,
}

pub async fn resend_code(
    State(state): State<ConsoleState>,
    who: Signed,
    Path(id): Path<i64>,
    Query(q): Query<Common>,
    Form(form): Form<CodeForm>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program();
    let path = format!("/members/{id}/codes/resend?program={}", url_encode(program));
    let outcome = state
        .call(&who, Method::POST, &path, Some(&json!({"channel": form.channel})))
        .await;
    tracing::info!(operator = %who.operator.login, member = id, action = "resent code", channel = %form.channel, ok = outcome.is_ok(), "console action");
    let to = format!("/console/members/{id}");
    back(
        &to,
        program,
        outcome.map(|r| format!("sent a {}-digit code by {}", r["length"], form.channel)),
    )
}

#[cfg(test)]
mod tests {
    use super::search_query;

    #[test]
    fn a_search_text_says_what_it_is() {
        assert_eq!(search_query(" #12 "), ("id", "12".into()));
        assert_eq!(search_query("id:7"), ("id", "7".into()));
        assert_eq!(search_query("a@b.example"), ("email", "a@b.example".into()));
        assert_eq!(search_query("+79161234567"), ("phone", "+79161234567".into()));
        assert_eq!(search_query("2000000000017"), ("card", "2000000000017".into()));
    }
}
