//! What the processing tests share: a program with a member and a till, device tokens,
//! processing calls and the member's balance.
#![allow(dead_code)]

use accrue_server::testing::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

pub const BASE: &str = "/publicapi/v1.2/Processing";

pub struct Till {
    pub client_id: String,
    pub secret: String,
}

/// A program with the document's offer, a member with `points` bonuses, and a device.
pub async fn setup(s: &TestServer, points: &str) -> (i64, Till) {
    let offer = json!({"name": "10 % off, half payable with bonuses", "effects": [
        {"type": "discount_percent", "percent": 10, "target": "cheque"},
        {"type": "max_bonus_payment", "percent": 50, "target": "cheque"},
        {"type": "bonus_percent", "percent": 5, "target": "cheque"}]});
    put_offer(s, "doc", offer).await;
    member_and_till(s, points).await
}

pub async fn put_offer(s: &TestServer, code: &str, offer: Value) {
    let (status, saved) = s
        .admin(Method::PUT, &format!("/admin/v1/offers/{code}"), Some(offer))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
}

/// A member with card 2000001 and `points` bonuses, and a till of merchant `shop`.
pub async fn member_and_till(s: &TestServer, points: &str) -> (i64, Till) {
    let member = member_with_card(s, "+79161234567", "2000001", points).await;
    (member, till(s).await)
}

/// A new member with this phone, this card and `points` bonuses: its id.
pub async fn member_with_card(s: &TestServer, phone: &str, card: &str, points: &str) -> i64 {
    let (_, m) = s
        .admin(Method::POST, "/admin/v1/members", Some(json!({"phone": phone})))
        .await;
    let member = m["id"].as_i64().unwrap();
    s.admin(Method::POST, "/admin/v1/cards/import", Some(json!({"numbers": [card]})))
        .await;
    s.admin(
        Method::POST,
        &format!("/admin/v1/members/{member}/cards"),
        Some(json!({"number": card})),
    )
    .await;
    let accrual = json!({"member_id": member, "amount": points});
    let seed = format!("seed-{card}");
    let (status, _) = s
        .admin_with(
            Method::POST,
            "/admin/v1/operations/accrue",
            Some(accrual),
            &[("Idempotency-Key", &seed)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    member
}

/// A till of merchant `shop` (created on first use).
pub async fn till(s: &TestServer) -> Till {
    s.admin(
        Method::POST,
        "/admin/v1/merchants",
        Some(json!({"code": "shop", "name": "Web shop"})),
    )
    .await;
    let (status, device) = s
        .admin(
            Method::POST,
            "/admin/v1/merchants/shop/devices",
            Some(json!({"name": "till 1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{device}");
    Till {
        client_id: device["client_id"].as_str().unwrap().into(),
        secret: device["client_secret"].as_str().unwrap().into(),
    }
}

/// A device token for the member with this card (or anonymous).
pub async fn token(s: &TestServer, till: &Till, identifier: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", till.client_id.as_str()),
        ("client_secret", till.secret.as_str()),
    ];
    if let Some(identifier) = identifier {
        form.push(("identifier", identifier));
    }
    s.token(&form).await
}

pub async fn member_token(s: &TestServer, till: &Till) -> String {
    let (status, body) = token(s, till, Some("2000001")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// One processing call; the first result item.
pub async fn call(s: &TestServer, token: &str, path: &str, body: Value) -> Value {
    let (status, answer) = s
        .call(Method::POST, &format!("{BASE}{path}"), Some(token), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    assert_eq!(answer["result"]["state"], "Success", "{answer}");
    answer["data"][0].clone()
}

/// The member of [`member_and_till`] with a password, signed in to the member API: its
/// access token.
pub async fn member_api_token(s: &TestServer, member: i64) -> String {
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/members/{member}/password"),
            Some(json!({"password": "111111"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let form = [
        ("grant_type", "password"),
        ("username", "79161234567"),
        ("password", "111111"),
    ];
    let (_, body) = s.token(&form).await;
    body["access_token"].as_str().unwrap().to_string()
}

pub fn cheque_85() -> Value {
    json!({"number": "string", "date": "2019-04-09T07:24:26.628Z", "lines": [{
        "position": 1, "amount": 85, "goodsId": "0036961", "barcode": "8765653477", "quantity": 1,
        "cashback": 0, "discount": 15, "name": "Товар100", "price": 100, "correction": 0}]})
}

pub fn request(operation_id: &str, extra: Value) -> Value {
    let mut body = json!({"operationId": operation_id, "operationDate": "2019-04-09T07:24:26.628Z",
                          "cashier": "string", "cheque": cheque_85(), "coupons": [{"number": "string"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

pub async fn balance(s: &TestServer, member: i64) -> f64 {
    let (_, b) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/balances"), None)
        .await;
    b["items"][0]["balance"].as_str().unwrap().parse().unwrap()
}

/// The calls `(path, body)` sent at once, each from a task of its own; the result items.
pub async fn at_once(s: &Arc<TestServer>, token: &str, calls: Vec<(String, Value)>) -> Vec<Value> {
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|(path, body)| {
            let (s, token) = (s.clone(), token.to_string());
            tokio::spawn(async move { call(&s, &token, &path, body).await })
        })
        .collect();
    let mut items = Vec::new();
    for t in tasks {
        items.push(t.await.unwrap());
    }
    items
}
