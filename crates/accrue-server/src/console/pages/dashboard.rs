//! The dashboard: members, points accrued, spent and expired per day, purchases and
//! revenue per day, the referral funnel, and the tracker's funnel (click → registration → first deposit → repeat deposit) with sums per currency,
//! over a period.

use super::{frame, section, Common};
use crate::console::html::{bar_chart, esc, funnel_chart, notice, plain, table};
use crate::console::session::Signed;
use crate::console::{ConsoleState, Refusal};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
pub struct Period {
    #[serde(flatten)]
    common: Common,
    from: Option<String>,
    to: Option<String>,
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<Period>) -> Response {
    let program = q.common.program();
    let f = frame(&who, program);
    let period: String = [("from", &q.from), ("to", &q.to)]
        .iter()
        .filter_map(|(name, value)| {
            value
                .as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("&{name}={v}"))
        })
        .collect();
    let query = format!("?program={}{period}", crate::console::html::url_encode(program));
    let (programs, points, activity, funnel) = tokio::join!(
        state.get(&who, "/programs".into()),
        state.get(&who, format!("/reports/points{query}")),
        state.get(&who, format!("/reports/activity{query}")),
        state.get(&who, format!("/tracker/stats{query}")),
    );
    let mut body = picker(&programs.unwrap_or_default(), program, &q);
    body.push_str(&unless_refused(points, points_section));
    body.push_str(&unless_refused(activity, activity_section));
    body.push_str(&section("Tracker funnel", funnel, |stats| {
        funnel_section(&stats["total"])
    }));
    f.page("/console", "Dashboard", &body)
}

/// The program and the period, as a form that reads without script.
fn picker(programs: &Value, program: &str, q: &Period) -> String {
    let options: String = programs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["code"].as_str())
        .map(|code| {
            let selected = if code == program { " selected" } else { "" };
            format!("<option value=\"{0}\"{selected}>{0}</option>", esc(code))
        })
        .collect();
    format!(
        "<form method=\"get\" action=\"/console\" class=\"row\">\
         <label for=\"program\">Program</label><select id=\"program\" name=\"program\">{options}</select>\
         <label for=\"from\">From</label><input id=\"from\" name=\"from\" type=\"date\" value=\"{from}\">\
         <label for=\"to\">To</label><input id=\"to\" name=\"to\" type=\"date\" value=\"{to}\">\
         <button type=\"submit\">Show</button></form>",
        from = esc(q.from.as_deref().unwrap_or("")),
        to = esc(q.to.as_deref().unwrap_or("")),
    )
}

fn points_section(report: &Value) -> String {
    let members = &report["members"];
    let mut out = format!(
        "<p class=\"figures\"><span><strong id=\"members-total\">{}</strong> members</span>\
         <span><strong>{}</strong> joined from {} to {}</span></p>",
        members["total"],
        members["joined"],
        esc(report["from"].as_str().unwrap_or("")),
        esc(report["to"].as_str().unwrap_or("")),
    );
    for currency in report["currencies"].as_array().into_iter().flatten() {
        let code = currency["currency"].as_str().unwrap_or("");
        let number = |v: &Value| v.as_str().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        let days: Vec<(String, Vec<f64>)> = currency["days"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let day = d["day"].as_str().unwrap_or("").to_string();
                (
                    day,
                    vec![number(&d["accrued"]), number(&d["spent"]), number(&d["expired"])],
                )
            })
            .collect();
        let t = &currency["totals"];
        out.push_str(&format!(
            "<h2>Points, {code}</h2><p class=\"figures\"><span><strong>{}</strong> accrued</span>\
             <span><strong>{}</strong> spent</span><span><strong>{}</strong> expired</span></p>",
            esc(t["accrued"].as_str().unwrap_or("0")),
            esc(t["spent"].as_str().unwrap_or("0")),
            esc(t["expired"].as_str().unwrap_or("0")),
            code = esc(code),
        ));
        out.push_str(&bar_chart(
            &format!("Points per day, {code}"),
            &["accrued", "spent", "expired"],
            &days,
        ));
    }
    out
}

/// What was read rendered, or why it could not be read.
fn unless_refused(read: Result<Value, Refusal>, render: fn(&Value) -> String) -> String {
    match read {
        Ok(value) => render(&value),
        Err(refusal) => notice(true, &refusal.message),
    }
}

/// Purchases and revenue per day, and the referral funnel.
fn activity_section(report: &Value) -> String {
    let purchases = &report["purchases"];
    let days: Vec<(String, Vec<f64>)> = purchases["days"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let revenue = d["revenue"].as_str().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            (d["day"].as_str().unwrap_or("").to_string(), vec![revenue])
        })
        .collect();
    let r = &report["referrals"];
    let steps = [
        ("Invite links opened", &r["clicks"]),
        ("Invited registrations", &r["registrations"]),
        ("Approved", &r["approved"]),
        ("Rewarded", &r["rewarded"]),
    ];
    let rows: Vec<Vec<String>> = steps.iter().map(|(name, n)| vec![esc(name), plain(n)]).collect();
    let bars: Vec<(&str, f64)> = steps
        .iter()
        .map(|(name, n)| (*name, n.as_f64().unwrap_or(0.0)))
        .collect();
    format!(
        "<h2>Purchases</h2><p class=\"figures\"><span><strong id=\"purchases-count\">{count}</strong> purchases</span>\
         <span><strong>{revenue}</strong> revenue</span></p>{chart}<h2>Referral funnel</h2>{bars}{funnel}",
        count = plain(&purchases["count"]),
        revenue = plain(&purchases["revenue"]),
        chart = bar_chart("Revenue per day", &["revenue"], &days),
        bars = funnel_chart("Referral funnel", &bars),
        funnel = table(&["Step", "Count"], &rows, "No referral activity."),
    )
}

/// The tracker's funnel over the period, with deposit sums per currency.
fn funnel_section(total: &Value) -> String {
    let sums = |v: &Value| -> String {
        let listed: Vec<String> = v["sums"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(currency, sum)| format!("{} {}", esc(sum.as_str().unwrap_or("")), esc(currency)))
            .collect();
        listed.join(", ")
    };
    let steps = [
        ("Clicks", total["clicks"].to_string(), String::new()),
        ("Registrations", total["registrations"].to_string(), String::new()),
        (
            "First deposits",
            total["first_deposits"]["count"].to_string(),
            sums(&total["first_deposits"]),
        ),
        (
            "Repeat deposits",
            total["repeat_deposits"]["count"].to_string(),
            sums(&total["repeat_deposits"]),
        ),
    ];
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|(name, count, sums)| vec![esc(name), esc(count), sums.clone()])
        .collect();
    let bars: Vec<(&str, f64)> = steps
        .iter()
        .map(|(name, count, _)| (*name, count.parse().unwrap_or(0.0)))
        .collect();
    format!(
        "{}{}",
        funnel_chart("Tracker funnel", &bars),
        table(&["Step", "Count", "Sums"], &rows, "No tracker activity.")
    )
}
