//! Offers: the program's offers, an editor (the engine's JSON, checked by the admin API,
//! every problem shown with its field), and a simulation that prices a cheque without
//! writing anything — with the offers as saved, or with the one in the editor.

use super::{back, frame, unreadable, Common};
use crate::console::html::{esc, field, notice, table, text_area, url_encode, Frame};
use crate::console::session::{forged, Signed};
use crate::console::ConsoleState;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{json, Value};

const EXAMPLE_OFFER: &str = r#"{
  "name": "5 % back",
  "effects": [{"type": "bonus_percent", "percent": 5}]
}"#;

const EXAMPLE_LINES: &str = r#"[
  {"position": 1, "goods_id": "milk", "quantity": "1", "price": 10000, "amount": 10000, "discount": 0}
]"#;

#[derive(Debug, Default, Deserialize)]
pub struct OffersQuery {
    #[serde(flatten)]
    common: Common,
    /// The offer to load into the editor.
    edit: Option<String>,
}

/// What the editor and the simulation hold, and what came of the last try.
#[derive(Default)]
struct Editor {
    code: String,
    offer: String,
    lines: String,
    member: String,
    error: Option<String>,
    result: Option<Value>,
}

pub async fn page(State(state): State<ConsoleState>, who: Signed, Query(q): Query<OffersQuery>) -> Response {
    let program = q.common.program().to_string();
    let mut editor = Editor {
        offer: EXAMPLE_OFFER.into(),
        lines: EXAMPLE_LINES.into(),
        ..Default::default()
    };
    if let Some(code) = q.edit.as_deref().filter(|c| !c.is_empty()) {
        let path = format!("/offers/{}?program={}", url_encode(code), url_encode(&program));
        if let Ok(found) = state.call(&who, Method::GET, &path, None).await {
            let mut offer = found["offer"].clone();
            if let Some(o) = offer.as_object_mut() {
                o.remove("id");
            }
            editor.code = code.to_string();
            editor.offer = serde_json::to_string_pretty(&offer).unwrap_or_default();
        }
    }
    render(&state, &who, &program, &q.common.notices(), &editor, StatusCode::OK).await
}

async fn render(
    state: &ConsoleState,
    who: &Signed,
    program: &str,
    notices: &str,
    editor: &Editor,
    status: StatusCode,
) -> Response {
    let f = frame(who, program);
    let listed = match state
        .call(
            who,
            Method::GET,
            &format!("/offers?program={}", url_encode(program)),
            None,
        )
        .await
    {
        Ok(listed) => listed,
        Err(refusal) => return unreadable(&f, "/console/offers", "Offers", refusal),
    };
    let rows: Vec<Vec<String>> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let code = o["code"].as_str().unwrap_or("");
            let edit = f.link(&format!("/console/offers?edit={}", url_encode(code)));
            vec![
                format!("<a href=\"{}\">{}</a>", esc(&edit), esc(code)),
                esc(o["offer"]["name"].as_str().unwrap_or("")),
                if o["enabled"] == true { "on" } else { "off" }.to_string(),
                o["version"].to_string(),
            ]
        })
        .collect();
    let error = editor.error.as_deref().map(|e| notice(true, e)).unwrap_or_default();
    let result = editor.result.as_ref().map(simulation).unwrap_or_default();
    let body = format!(
        "{notices}{list}<div class=\"cards\">{edit}{simulate}</div>{error}{result}",
        list = table(&["Code", "Name", "Enabled", "Version"], &rows, "No offers yet."),
        edit = edit_form(&f, editor),
        simulate = simulate_form(&f, editor),
    );
    let mut response = f.page("/console/offers", "Offers", &body);
    *response.status_mut() = status;
    response
}

fn edit_form(f: &Frame, e: &Editor) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"edit-title\">\
         <h2 id=\"edit-title\">Save an offer</h2>{csrf}{code}{offer}\
         <p class=\"hint\">The engine's JSON (see docs/offers.md); amounts in minor units.</p>\
         <button type=\"submit\">Save</button></form>",
        action = esc(&f.link("/console/offers")),
        csrf = f.csrf_field(),
        code = field("code", "Code", "text", &e.code, true),
        offer = text_area("offer", "Offer", &e.offer, 10),
    )
}

fn simulate_form(f: &Frame, e: &Editor) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"card stack\" aria-labelledby=\"simulate-title\">\
         <h2 id=\"simulate-title\">Simulate a cheque</h2>{csrf}{lines}{member}\
         <input type=\"hidden\" name=\"offer\" value=\"{offer}\"><input type=\"hidden\" name=\"code\" value=\"{code}\">\
         <div class=\"row\"><button type=\"submit\" name=\"with\" value=\"saved\">With the saved offers</button>\
         <button type=\"submit\" name=\"with\" value=\"editor\" class=\"secondary\">With the offer in the editor</button></div></form>",
        action = esc(&f.link("/console/offers/simulate")),
        csrf = f.csrf_field(),
        lines = text_area("lines", "Cheque lines", &e.lines, 6),
        member = field("member", "Member id (optional)", "text", &e.member, false),
        offer = esc(&e.offer),
        code = esc(&e.code),
    )
}

fn simulation(priced: &Value) -> String {
    let rows: Vec<Vec<String>> = priced["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            vec![
                l["position"].to_string(),
                esc(l["goods_id"].as_str().unwrap_or("")),
                l["amount"].to_string(),
                l["discount"].to_string(),
                l["max_bonus_payment"].to_string(),
            ]
        })
        .collect();
    let applied: Vec<String> = priced["applied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| esc(a["offer_id"].as_str().or(a["id"].as_str()).unwrap_or("")))
        .collect();
    format!(
        "<section aria-labelledby=\"result-title\"><h2 id=\"result-title\">Simulation</h2>\
         <p class=\"figures\"><span>Total <strong id=\"simulated-total\">{}</strong></span>\
         <span>Discount <strong>{}</strong></span><span>Payable with bonuses <strong>{}</strong></span>\
         <span>Applied: {}</span></p>{}</section>",
        priced["total_amount"],
        priced["total_discount"],
        priced["max_bonus_payment"],
        if applied.is_empty() {
            "none".to_string()
        } else {
            applied.join(", ")
        },
        table(
            &["Line", "Goods", "Amount", "Discount", "Bonus payable"],
            &rows,
            "No lines."
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct OfferForm {
    #[serde(default)]
    csrf: String,
    code: String,
    offer: String,
    #[serde(default)]
    lines: Option<String>,
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    with: Option<String>,
}

impl OfferForm {
    fn editor(&self) -> Editor {
        Editor {
            code: self.code.trim().to_string(),
            offer: self.offer.clone(),
            lines: self.lines.clone().unwrap_or_else(|| EXAMPLE_LINES.into()),
            member: self.member.clone().unwrap_or_default(),
            ..Default::default()
        }
    }
}

pub async fn save(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<OfferForm>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program().to_string();
    let mut editor = form.editor();
    let offer: Value = match serde_json::from_str(&form.offer) {
        Ok(offer) => offer,
        Err(e) => {
            editor.error = Some(format!("The offer is not JSON: {e}"));
            return render(&state, &who, &program, "", &editor, StatusCode::BAD_REQUEST).await;
        }
    };
    let path = format!("/offers/{}?program={}", url_encode(&editor.code), url_encode(&program));
    match state.call(&who, Method::PUT, &path, Some(&offer)).await {
        Ok(saved) => {
            let to = format!("/console/offers?edit={}", url_encode(&editor.code));
            back(
                &to,
                &program,
                Ok(format!("saved {} (version {})", editor.code, saved["version"])),
            )
        }
        Err(refusal) => {
            editor.error = Some(refusal.message);
            render(&state, &who, &program, "", &editor, refusal.status).await
        }
    }
}

pub async fn simulate(
    State(state): State<ConsoleState>,
    who: Signed,
    Query(q): Query<Common>,
    Form(form): Form<OfferForm>,
) -> Response {
    if !who.checks(&form.csrf) {
        return forged();
    }
    let program = q.program().to_string();
    let mut editor = form.editor();
    let asked = cheque(&form, &editor);
    match asked {
        Err(problem) => editor.error = Some(problem),
        Ok(body) => {
            let path = format!("/offers/simulate?program={}", url_encode(&program));
            match state.call(&who, Method::POST, &path, Some(&body)).await {
                Ok(priced) => editor.result = Some(priced),
                Err(refusal) => editor.error = Some(refusal.message),
            }
        }
    }
    let status = if editor.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(&state, &who, &program, "", &editor, status)
        .await
        .into_response()
}

/// The simulation's request: the lines, the member if given, and the editor's offer
/// when asked to try it.
fn cheque(form: &OfferForm, editor: &Editor) -> Result<Value, String> {
    let lines: Value =
        serde_json::from_str(&editor.lines).map_err(|e| format!("The cheque lines are not JSON: {e}"))?;
    let mut body = json!({"cheque": {"lines": lines, "coupons": []}});
    let member = editor.member.trim();
    if !member.is_empty() {
        let id: i64 = member.parse().map_err(|_| "The member id is a number.".to_string())?;
        body["member_id"] = json!(id);
    }
    if form.with.as_deref() == Some("editor") {
        let mut offer: Value = serde_json::from_str(&form.offer).map_err(|e| format!("The offer is not JSON: {e}"))?;
        let code = if editor.code.is_empty() {
            "draft"
        } else {
            editor.code.as_str()
        };
        offer["id"] = json!(code);
        body["offers"] = json!([offer]);
    }
    Ok(body)
}
