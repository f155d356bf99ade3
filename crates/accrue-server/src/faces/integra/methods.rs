//! The API's methods: each reads its arguments, calls the service, and renders the
//! reference's `data`.

use super::{failed, ok, open_call, refuse, Call};
use crate::format::number;
use crate::service::integra as service;
use crate::AppState;
use accrue_core::integra::{deeplink, is_hash, Code};
use accrue_store::integra::{Identity, IntegraMessage, IntegraUser, NewIntegraUser, Partner};
use accrue_store::{Store, StoreError};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// The largest body read: `readMessages` sends `ids=…` there.
const BODY_LIMIT: usize = 256 * 1024;

/// What the query and the body carry besides the encrypted arguments.
#[derive(Default)]
struct Plain {
    k: String,
    /// `cryptLogin`'s deeplink.
    r: Option<String>,
    /// Fields of the query besides `k` and `r`, and of a form or JSON body (`ids` of
    /// `readMessages`).
    fields: Map<String, Value>,
}

/// The plain parts of a call; what is malformed, otherwise.
fn plain(query: Option<&str>, body: &[u8]) -> Result<Plain, &'static str> {
    let mut plain = Plain::default();
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|_| "the query string is not URL-encoded")?;
    for (name, value) in pairs {
        match name.as_str() {
            "k" => plain.k = value,
            "r" => plain.r = Some(value),
            _ => {
                plain.fields.entry(name).or_insert(Value::String(value));
            }
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(plain);
    }
    if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) {
        plain.fields.extend(fields);
    } else {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| "the body is neither a form nor a JSON object")?;
        plain
            .fields
            .extend(pairs.into_iter().map(|(n, v)| (n, Value::String(v))));
    }
    Ok(plain)
}

/// `GET|POST /integra/{path}/{method}`.
pub(super) async fn call(
    State(app): State<AppState>,
    Path((path, method)): Path<(String, String)>,
    req: Request,
) -> Response {
    let Some(source) = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) else {
        return failed(StoreError::Internal("no peer address".into()));
    };
    let http_method = req.method().clone();
    let query = req.uri().query().map(String::from);
    let body = match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => return refuse(Code::Invalid, "the body is too large"),
    };
    let plain = match plain(query.as_deref(), &body) {
        Ok(plain) => plain,
        Err(malformed) => return refuse(Code::Invalid, malformed),
    };
    let mut call = match open_call(&app.store, &path, &plain.k, source).await {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    // Only what the reference sends outside `k`: arguments there are not authenticated.
    if let Some(ids) = plain.fields.get("ids") {
        call.args.entry("ids").or_insert(ids.clone());
    }
    let store = &app.store;
    match (method.as_str(), &call.identity) {
        ("hello", _) => hello(&call),
        ("cryptLogin" | "iframe", Identity::User(user)) => {
            crypt_login(store, &call, user, plain.r.as_deref(), &http_method).await
        }
        (m, Identity::User(user)) => user_method(store, m, &call, user).await,
        (m, Identity::Partner) => partner_method(store, m, &call).await,
    }
}

async fn partner_method(store: &Store, method: &str, call: &Call) -> Response {
    let partner = &call.partner;
    match method {
        "createUser" => create_user(store, call).await,
        "getUsersData" => {
            let offset = int(&call.args, "offset").unwrap_or(0);
            let count = int(&call.args, "limit").unwrap_or(1000);
            match service::users_data(store, partner, offset, count).await {
                Ok(all) => ok(json!({ "users": all.iter().map(user_json).collect::<Vec<_>>() })),
                Err(e) => failed(e),
            }
        }
        "getMessages" => messages(store, call, None).await,
        "getMessageTemplates" => match service::templates(store, partner).await {
            Ok(templates) => ok(json!({"messages": templates.iter().map(|t| json!({
                "templateId": t.id.to_string(),
                "type": t.kind,
                "textTemplate": t.text_template,
                "titleTemplate": t.title_template,
            })).collect::<Vec<_>>()})),
            Err(e) => failed(e),
        },
        "readMessages" => {
            let ids = text(&call.args, "ids").unwrap_or_default();
            match service::read_messages(store, partner, &ids).await {
                Ok(n) => ok(json!({ "success": n })),
                Err(e) => failed(e),
            }
        }
        m if USER_METHODS.contains(&m) => refuse(Code::Forbidden, "this method is called with a user's hash"),
        _ => refuse(Code::UnknownMethod, "no such method"),
    }
}

const USER_METHODS: [&str; 12] = [
    "cryptLogin",
    "iframe",
    "archiveUser",
    "unarchiveUser",
    "doPayment",
    "confirmPayment",
    "declinePayment",
    "getFinSummaryByDate",
    "getUserData",
    "getUserMessages",
    "changeUrl",
    "attachYandexMetrikaCounter",
];

async fn user_method(store: &Store, method: &str, call: &Call, user: &IntegraUser) -> Response {
    let (partner, args) = (&call.partner, &call.args);
    if text(args, "partner").is_some_and(|p| p != partner.hash) {
        return refuse(Code::BadKey, "partner is not the hash of this path's partner");
    }
    match method {
        "archiveUser" | "unarchiveUser" => {
            match service::archive(store, partner, user, method == "archiveUser").await {
                Ok((user, last)) => {
                    let mut data = json!({ "userHash": user.hash });
                    if let Some(date) = last {
                        data["lastBillingDate"] = json!(date);
                    }
                    ok(data)
                }
                Err(e) => failed(e),
            }
        }
        "doPayment" => do_payment(store, partner, user, args).await,
        "confirmPayment" | "declinePayment" => {
            let Some(id) = text(args, "transactionId") else {
                return refuse(Code::Invalid, "transactionId is required");
            };
            let amount = text(args, "amount");
            if method == "confirmPayment" && amount.is_none() {
                return refuse(Code::Invalid, "amount is required");
            }
            let confirm = if method == "confirmPayment" {
                amount.as_deref()
            } else {
                None
            };
            match service::decide(store, partner, user, id, confirm).await {
                Ok(payment) => ok(json!({ "transactionId": payment.reference })),
                Err(e) => failed(e),
            }
        }
        "getFinSummaryByDate" => {
            let date = text(args, "date").unwrap_or_default();
            match service::day_summary(store, partner, user, &date).await {
                Ok((day, moved, currency)) => ok(json!({
                    "date": day.to_string(),
                    "balance": number(moved.balance_at_end, currency.scale),
                    "income": number(moved.income, currency.scale),
                    "outcome": number(moved.outcome, currency.scale),
                })),
                Err(e) => failed(e),
            }
        }
        "getUserData" => match service::user_data(store, partner, user.clone()).await {
            Ok(data) => ok(user_json(&data)),
            Err(e) => failed(e),
        },
        "getUserMessages" => messages(store, call, Some(user)).await,
        "changeUrl" => {
            let Some(url) = text(args, "url").or_else(|| text(args, "newUrl")) else {
                return refuse(Code::Invalid, "url is required");
            };
            match service::change_url(store, user, url.clone()).await {
                Ok(old) => ok(json!({ "newUrl": url.trim(), "oldUrl": old })),
                Err(e) => failed(e),
            }
        }
        "attachYandexMetrikaCounter" => {
            let counter = text(args, "counterId").unwrap_or_default();
            let token = text(args, "accessToken").unwrap_or_default();
            match service::attach_counter(store, user, counter, token).await {
                Ok(id) => ok(json!({ "id": id })),
                Err(e) => failed(e),
            }
        }
        "createUser" | "getUsersData" | "getMessages" | "getMessageTemplates" | "readMessages" => {
            refuse(Code::Forbidden, "this method is called with the partner's hash")
        }
        _ => refuse(Code::UnknownMethod, "no such method"),
    }
}

fn hello(call: &Call) -> Response {
    let name = text(&call.args, "name").unwrap_or_else(|| "partner".into());
    ok(json!(format!("Hello, {name}!")))
}

async fn create_user(store: &Store, call: &Call) -> Response {
    let args = &call.args;
    let Some(login) = text(args, "username") else {
        return refuse(Code::Invalid, "username is required");
    };
    let hash = text(args, "hash").unwrap_or_default();
    if !is_hash(&hash) {
        return refuse(Code::HashLength, "the hash must be 32 letters and digits");
    }
    let new = NewIntegraUser {
        login,
        hash,
        email: text(args, "email").filter(|e| !e.is_empty()),
        phone: text(args, "phone").filter(|p| !p.is_empty()),
        url: text(args, "suggestedDomain").filter(|d| !d.is_empty()),
        inviter_user_id: text(args, "inviterUserId").filter(|i| !i.is_empty()),
    };
    match service::create_user(store, &call.partner, new).await {
        Ok((_, key)) => ok(json!({ "cryptKey": key })),
        Err(StoreError::Conflict(m)) => refuse(Code::HashTaken, &m),
        Err(e) => failed(e),
    }
}

/// `cryptLogin`: a GET (an iframe's `src`) is sent on to the cabinet; a POST (the PHP
/// client) is told the cabinet's address.
async fn crypt_login(store: &Store, call: &Call, user: &IntegraUser, r: Option<&str>, method: &Method) -> Response {
    let args = &call.args;
    if text(args, "hash").is_some_and(|h| h != user.hash) {
        return refuse(Code::Invalid, "hash is not this user's");
    }
    let notify = text(args, "paymentNotifyUrl").filter(|u| !u.is_empty());
    let login = text(args, "login");
    let token = match service::log_in(store, &call.partner, user, login.as_deref(), notify).await {
        Ok(token) => token,
        Err(e) => return failed(e),
    };
    let page = r.and_then(deeplink).map(|p| format!("/{p}")).unwrap_or_default();
    let url = format!("/integra/{}/cabinet/{token}{page}", call.partner.path);
    if method == Method::GET {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response();
    }
    ok(json!({ "url": url }))
}

async fn do_payment(store: &Store, partner: &Partner, user: &IntegraUser, args: &Map<String, Value>) -> Response {
    if text(args, "userLogin").is_some_and(|l| l != user.login) {
        return refuse(Code::Invalid, "userLogin is not this user's");
    }
    let (Some(sum), Some(reference)) = (text(args, "paymentSum"), text(args, "paymentHash")) else {
        return refuse(Code::Invalid, "paymentSum and paymentHash are required");
    };
    let bonus = text(args, "paymentSumBonus");
    match service::pay(store, partner, user, reference, &sum, bonus.as_deref()).await {
        Ok((payment, _)) => ok(json!({ "paymentId": payment.id.to_string() })),
        Err(e) => failed(e),
    }
}

async fn messages(store: &Store, call: &Call, user: Option<&IntegraUser>) -> Response {
    let mark_read = flag(&call.args, "markRead");
    match service::messages(store, &call.partner, user, mark_read).await {
        Ok(list) => ok(json!({ "messages": list.iter().map(message_json).collect::<Vec<_>>() })),
        Err(e) => failed(e),
    }
}

fn message_json(m: &IntegraMessage) -> Value {
    json!({
        "id": m.id.to_string(),
        "userLogin": m.login,
        "type": m.kind,
        "title": m.title,
        "text": m.text,
        "params": m.params,
        "templateId": m.template_id.map(|id| id.to_string()),
        "textTemplate": m.text_template,
        "titleTemplate": m.title_template,
    })
}

fn user_json(d: &service::UserData) -> Value {
    let scale = d.scale;
    json!({
        "hash": d.user.hash,
        "login": d.user.login,
        "balance": number(d.balance, scale),
        "dailyBudget": number(d.daily_budget, scale),
        "dailyExpense": number(d.daily_expense, scale),
        "url": d.user.url,
        "keywords": d.user.keywords,
        "status": d.standing.status().as_str(),
        "progress": d.standing.progress().as_str(),
    })
}

/// An argument as text: a string as is, a number as written.
fn text(args: &Map<String, Value>, name: &str) -> Option<String> {
    match args.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(args: &Map<String, Value>, name: &str) -> Option<i64> {
    text(args, name)?.trim().parse().ok()
}

/// PHP's ideas of true: `true`, `1`, `"1"`, `"true"`.
fn flag(args: &Map<String, Value>, name: &str) -> bool {
    match args.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.as_str(), "1" | "true" | "TRUE"),
        _ => false,
    }
}
