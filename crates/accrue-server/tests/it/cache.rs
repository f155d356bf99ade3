//! Hot data is served from memory, yet a change is seen by the next request: on the
//! server that made it at once, and on another server of the same PostgreSQL database
//! as soon as its notice arrives (see `accrue_store::cache`). What a server keeps of the
//! purchases it has under way gives way to another server's later steps.

use crate::processing_support::{balance, call, member_token, put_offer, request, setup, token, BASE};
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};

on_both_backends!(
    changes_are_seen_by_the_next_request,
    a_program_unknown_at_first_is_found_once_made
);

/// An offer giving `percent` % off the cheque.
fn discount(percent: u32) -> Value {
    json!({"name": "discount", "effects": [{"type": "discount_percent", "percent": percent, "target": "cheque"}]})
}

/// The discounted total of a 1000.00 cheque, priced by the server's enabled offers.
async fn simulated_total(s: &TestServer) -> i64 {
    let line = json!({"position": 1, "goods_id": "milk", "barcode": null, "quantity": "1",
                      "price": 100000, "amount": 100000, "discount": 0});
    let body = json!({"cheque": {"lines": [line], "coupons": []}});
    let (status, priced) = s.admin(Method::POST, "/admin/v1/offers/simulate", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{priced}");
    priced["total_amount"].as_i64().expect("total_amount")
}

/// A new admin key's secret and id.
async fn new_key(s: &TestServer) -> (String, i64) {
    let (status, key) = s
        .admin(Method::POST, "/admin/v1/admin-keys", Some(json!({"name": "temporary"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    (key["secret"].as_str().unwrap().into(), key["id"].as_i64().unwrap())
}

async fn key_works(s: &TestServer, secret: &str) -> bool {
    let response = s
        .client
        .get(format!("{}/admin/v1/programs", s.base))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    response.status() == StatusCode::OK
}

async fn calculation_status(s: &TestServer, token: &str) -> StatusCode {
    let body = json!({"operationId": "probe", "cheque": {"number": "1", "lines": []}});
    s.call(
        Method::POST,
        &format!("{BASE}/Purchases/p/Calculate"),
        Some(token),
        Some(body),
    )
    .await
    .0
}

async fn changes_are_seen_by_the_next_request(db: TestDb) {
    let s = TestServer::start(db).await;
    let (_, till) = setup(&s, "100.00").await;

    put_offer(&s, "doc", discount(10)).await;
    assert_eq!(simulated_total(&s).await, 90000);
    put_offer(&s, "doc", discount(20)).await;
    assert_eq!(simulated_total(&s).await, 80000, "a saved offer prices the next cheque");

    let dairy = json!({"name": "dairy", "conditions": [{"type": "goods_groups", "groups": ["dairy"]}],
                       "effects": [{"type": "discount_percent", "percent": 30}]});
    put_offer(&s, "doc", dairy).await;
    assert_eq!(simulated_total(&s).await, 100000, "milk is in no group yet");
    let goods = json!({"goods": [{"goods_id": "milk", "barcode": null, "name": "Milk", "groups": ["dairy"]}]});
    let (status, imported) = s.admin(Method::POST, "/admin/v1/goods/import", Some(goods)).await;
    assert!(status.is_success(), "{imported}");
    assert_eq!(
        simulated_total(&s).await,
        70000,
        "imported goods groups price the next cheque"
    );

    let (secret, id) = new_key(&s).await;
    assert!(key_works(&s, &secret).await);
    s.admin(Method::POST, &format!("/admin/v1/admin-keys/{id}/revoke"), None)
        .await;
    assert!(!key_works(&s, &secret).await, "a revoked key stops at once");

    let anonymous = token(&s, &till, None).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &s,
        &anonymous,
        "/Purchases/p/Calculate",
        json!({"operationId": "warm", "cheque": {"number": "1", "lines": []}}),
    )
    .await;
    let (_, devices) = s.admin(Method::GET, "/admin/v1/devices", None).await;
    let device = devices["items"][0]["id"].as_i64().unwrap();
    s.admin(Method::POST, &format!("/admin/v1/devices/{device}/disable"), None)
        .await;
    assert_eq!(
        calculation_status(&s, &anonymous).await,
        StatusCode::UNAUTHORIZED,
        "a disabled device's token stops at once"
    );
}

/// Polls `check` until it holds, for at most two seconds.
async fn soon<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{what}: not seen within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Two servers on one new PostgreSQL database, with the database (dropped last); `None`
/// when no PostgreSQL is configured.
async fn two_servers() -> Option<(TestDb, TestServer, TestServer)> {
    let db = TestDb::postgres().await?;
    let a = TestServer::start_on(&db.url, Default::default()).await;
    let b = TestServer::start_on(&db.url, Default::default()).await;
    Some((db, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_servers_changes_are_heard_on_postgres() {
    let Some((_db, a, b)) = two_servers().await else {
        return;
    };
    let (_, till) = setup(&a, "100.00").await;

    put_offer(&a, "doc", discount(10)).await;
    assert_eq!(simulated_total(&b).await, 90000);
    put_offer(&a, "doc", discount(30)).await;
    soon("server b prices with a's new offer", || async {
        simulated_total(&b).await == 70000
    })
    .await;

    let (secret, id) = new_key(&a).await;
    assert!(key_works(&b, &secret).await);
    a.admin(Method::POST, &format!("/admin/v1/admin-keys/{id}/revoke"), None)
        .await;
    soon("server b refuses the key a revoked", || async {
        !key_works(&b, &secret).await
    })
    .await;

    let anonymous = token(&b, &till, None).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(calculation_status(&b, &anonymous).await, StatusCode::OK);
    let (_, devices) = a.admin(Method::GET, "/admin/v1/devices", None).await;
    let device = devices["items"][0]["id"].as_i64().unwrap();
    a.admin(Method::POST, &format!("/admin/v1/devices/{device}/disable"), None)
        .await;
    soon("server b refuses the token of a device a disabled", || async {
        calculation_status(&b, &anonymous).await == StatusCode::UNAUTHORIZED
    })
    .await;
    a.stop().await;
    b.stop().await;
}

/// A Loymax purchase request whose cheque has one line of `amount`, undiscounted.
fn one_line(operation: &str, amount: f64, extra: Value) -> Value {
    let mut body = request(operation, extra);
    body["cheque"] = json!({"number": "1", "lines": [{"position": 1, "amount": amount, "goodsId": "0036961",
                             "quantity": 1, "price": amount, "discount": 0}]});
    body
}

/// A server keeps the pricing it made last and the purchase as its last call left it, so
/// that the next call need not read them; another server's steps of the same purchase
/// stand over that memory: a cheque as the other server priced it is not priced again
/// (10 % off twice), a Bonus counts the other server's later payment, and Confirm posts
/// the accrual of the other server's later Bonus.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_servers_steps_of_a_purchase_stand_on_postgres() {
    let Some((_db, a, b)) = two_servers().await else {
        return;
    };
    let (member, till) = setup(&a, "1000").await;
    let t = member_token(&a, &till).await;
    let path = |step: &str| format!("/Purchases/p/{step}");

    call(&a, &t, &path("Calculate"), one_line("c1", 100.0, json!({}))).await;
    let by_b = call(&b, &t, &path("Calculate"), one_line("c2", 200.0, json!({}))).await;
    assert_eq!(by_b["cheque"]["totalAmount"].as_f64(), Some(180.0));
    let pay = call(
        &a,
        &t,
        &path("Bonus/Payment"),
        one_line("p1", 180.0, json!({"amount": 10})),
    )
    .await;
    assert_eq!(
        pay["cheque"]["totalAmount"].as_f64(),
        Some(180.0),
        "b's pricing stands: {pay}"
    );

    call(
        &b,
        &t,
        &path("Bonus/Payment"),
        one_line("p2", 180.0, json!({"amount": 5})),
    )
    .await;

    // 5 % of the 165.00 paid with money, b's payment counted.
    let bonus = call(&a, &t, &path("Bonus"), one_line("b1", 180.0, json!({}))).await;
    assert_eq!(bonus["cheque"]["totalCashback"].as_f64(), Some(8.25), "{bonus}");
    // b replaces a's Bonus: 5 % of the 75.00 left of a 100.00 cheque less 10 %.
    let bonus = call(&b, &t, &path("Bonus"), one_line("b2", 100.0, json!({}))).await;
    assert_eq!(bonus["cheque"]["totalCashback"].as_f64(), Some(3.75), "{bonus}");
    let confirm = json!({"operationId": "f1", "operationDate": "2019-04-09T07:24:26.628Z"});
    call(&a, &t, &path("Confirm"), confirm).await;
    assert_eq!(balance(&a, member).await, 988.75, "15 paid, b's 3.75 accrued");
    a.stop().await;
    b.stop().await;
}

/// Programs are kept by code, but only those that exist: a miss is not remembered.
async fn a_program_unknown_at_first_is_found_once_made(db: TestDb) {
    let s = TestServer::start(db).await;
    let (status, _) = s.admin(Method::GET, "/admin/v1/programs/later", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let program = json!({"code": "later", "name": "Later"});
    let (status, made) = s.admin(Method::POST, "/admin/v1/programs", Some(program)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    for _ in 0..2 {
        let (status, found) = s.admin(Method::GET, "/admin/v1/programs/later", None).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["name"], "Later");
    }
}
