//! The service layer under the faces, over real HTTP on both backends: the admin
//! simulation prices exactly as a till does (in the program's local time), purchases
//! announce every posting they make, hooks run inside the purchase's transaction, and the
//! keys of different faces never collide.

use crate::processing_support::*;
use accrue_server::testing::{delivering_options, Receiver, TestServer};
use accrue_store::hooks::{Happening, Hook};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use accrue_store::{BoxFuture, Dialect, StoreError, Tx};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_backends!(
    simulate_prices_like_the_till_in_local_time,
    purchases_announce_every_posting,
    hooks_run_inside_the_purchase_transaction,
    keys_of_different_faces_do_not_collide,
    admin_postings_and_expiry_announce_themselves,
    a_purchase_keeps_to_its_statement_budget,
    accruals_and_withdrawals_keep_to_their_statement_budget,
);

/// Sunday 2026-12-06 22:30 UTC: already Monday 01:30 in a program at UTC+3.
const SUNDAY_NIGHT_UTC: i64 = 1_796_596_200_000;

async fn set_utc_offset(s: &TestServer, minutes: i32) {
    let settings = json!({"utc_offset_minutes": minutes});
    let (status, body) = s
        .admin(Method::PUT, "/admin/v1/processing/settings", Some(settings))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The till's Calculate and the admin simulation of the same cheque, as
/// `(total amount, total discount)` in minor units.
async fn both_prices(s: &TestServer, t: &str, member: i64, device: i64, op: &str) -> ((i64, i64), (i64, i64)) {
    let calc = call(s, t, "/Purchases/p-local/Calculate", request(op, json!({}))).await;
    let minor = |v: &Value| (v.as_f64().unwrap() * 100.0).round() as i64;
    let till = (
        minor(&calc["cheque"]["totalAmount"]),
        minor(&calc["cheque"]["totalDiscount"]),
    );
    let cheque = json!({"lines": [{"position": 1, "goods_id": "0036961", "barcode": "8765653477", "quantity": "1",
                                   "price": 10000, "amount": 8500, "discount": 1500}], "coupons": ["string"]});
    let simulate = json!({"cheque": cheque, "member_id": member, "device_id": device});
    let (status, priced) = s.admin(Method::POST, "/admin/v1/offers/simulate", Some(simulate)).await;
    assert_eq!(status, StatusCode::OK, "{priced}");
    let admin = (
        priced["total_amount"].as_i64().unwrap(),
        priced["total_discount"].as_i64().unwrap(),
    );
    (till, admin)
}

async fn simulate_prices_like_the_till_in_local_time(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    clock.store(SUNDAY_NIGHT_UTC, Ordering::SeqCst);
    let monday = json!({"name": "Mondays: 20 % off", "conditions": [{"type": "weekdays", "days": ["monday"]}],
                        "effects": [{"type": "discount_percent", "percent": 20, "target": "cheque"}]});
    put_offer(&s, "monday", monday).await;
    let (member, till) = member_and_till(&s, "100").await;
    let t = member_token(&s, &till).await;
    let (_, devices) = s.admin(Method::GET, "/admin/v1/devices", None).await;
    let device = devices["items"][0]["id"].as_i64().unwrap();

    set_utc_offset(&s, 180).await;
    let (till_price, admin_price) = both_prices(&s, &t, member, device, "local-1").await;
    assert_eq!(till_price, (6800, 3200), "Monday locally: 20 % off the 85.00 line");
    assert_eq!(admin_price, till_price, "the simulation is the till's price");

    set_utc_offset(&s, 0).await;
    let (till_price, admin_price) = both_prices(&s, &t, member, device, "local-2").await;
    assert_eq!(till_price, (8500, 1500), "Sunday in UTC: no Monday offer");
    assert_eq!(admin_price, till_price);
}

/// The events the receiver got, as `(type, data)`, in the order they were queued.
fn events(received: &[accrue_server::testing::Received]) -> Vec<(String, Value)> {
    let mut events: Vec<(String, Value)> = received
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            (body["type"].as_str().unwrap().to_string(), body["data"].clone())
        })
        .collect();
    events.sort_by_key(|(_, data)| data["posting_id"].as_i64());
    events
}

async fn purchases_announce_every_posting(db: TestDb) {
    let s = TestServer::start_with(db, delivering_options(vec![1])).await;
    let (member, till) = setup(&s, "100").await;
    let receiver = Receiver::start().await;
    let kinds = json!([
        "points.accrued",
        "points.held",
        "points.withdrawn",
        "points.refunded",
        "points.reversed"
    ]);
    let endpoint = json!({"url": format!("{}/hooks", receiver.base), "event_types": kinds});
    let (status, body) = s
        .admin(Method::POST, "/admin/v1/webhook-endpoints", Some(endpoint))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let t = member_token(&s, &till).await;
    let p = "/Purchases/hooked-1/";
    let pay = call(
        &s,
        &t,
        &format!("{p}Bonus/Payment"),
        request("op-pay", json!({"amount": 10})),
    )
    .await;
    assert_eq!(pay["code"], "Ok", "{pay}");
    assert_eq!(
        call(&s, &t, &format!("{p}Bonus"), request("op-bonus", json!({}))).await["code"],
        "Ok"
    );
    let confirm = json!({"operationId": "op-confirm"});
    assert_eq!(call(&s, &t, &format!("{p}Confirm"), confirm).await["code"], "Ok");

    let got = events(&receiver.wait_for(3, Duration::from_secs(20)).await);
    let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["points.held", "points.withdrawn", "points.accrued"], "{got:?}");
    for ((_, data), operation) in got.iter().zip(["op-pay", "op-confirm", "op-confirm"]) {
        assert_eq!(data["purchase_id"], "hooked-1", "{data}");
        assert_eq!(data["operation_id"], operation, "{data}");
        assert_eq!(data["member_id"], member);
    }
    assert_eq!(got[0].1["amount"], "10.00");
    let accrued = &got[2].1;
    assert_eq!(accrued["type"], "accrual");
    assert!(
        accrued["amount"].as_str().unwrap().parse::<f64>().unwrap() > 0.0,
        "{accrued}"
    );

    let refund = json!({"operationId": "op-refund"});
    let refunded = call(&s, &t, &format!("{p}Refund"), refund).await;
    assert_eq!(refunded["code"], "Ok", "{refunded}");
    let got = events(&receiver.wait_for(5, Duration::from_secs(20)).await);
    let refunds: Vec<&(String, Value)> = got.iter().skip(3).collect();
    assert_eq!(refunds[0].0, "points.refunded", "{got:?}");
    assert_eq!(refunds[0].1["amount"], "10.00", "the points paid come back");
    assert_eq!(refunds[1].0, "points.reversed", "{got:?}");
    assert_eq!(refunds[1].1["amount"], accrued["amount"], "the accrual is taken back");
    for (_, data) in refunds {
        assert_eq!(
            (&data["purchase_id"], &data["operation_id"]),
            (&json!("hooked-1"), &json!("op-refund"))
        );
    }
}

/// Records what happened, and fails confirmations while `fail` is set.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) fail: AtomicBool,
    pub(crate) seen: Mutex<Vec<String>>,
}

impl Hook for Recorder {
    fn run<'t>(
        &'t self,
        _tx: &'t mut Tx,
        _program: i64,
        what: &'t Happening<'t>,
    ) -> BoxFuture<'t, Result<(), StoreError>> {
        Box::pin(async move {
            let seen = match what {
                Happening::PurchaseConfirmed { purchase } => {
                    if self.fail.load(Ordering::SeqCst) {
                        return Err(StoreError::Internal("the hook failed".into()));
                    }
                    format!("confirmed {} accrual {}", purchase.purchase_key, purchase.accrual)
                }
                Happening::PurchaseRefunded { purchase, refund } => {
                    format!("refunded {} returned {}", purchase.purchase_key, refund.bonus_returned)
                }
                Happening::RegistrationFinished { member_id } => format!("registered {member_id}"),
            };
            self.seen.lock().unwrap().push(seen);
            Ok(())
        })
    }
}

async fn hooks_run_inside_the_purchase_transaction(db: TestDb) {
    let s = TestServer::start(db).await;
    let hook = Arc::new(Recorder::default());
    s.store.add_hook(hook.clone());
    let (member, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    let p = "/Purchases/hooked-2/";
    assert_eq!(
        call(
            &s,
            &t,
            &format!("{p}Bonus/Payment"),
            request("h-pay", json!({"amount": 10}))
        )
        .await["code"],
        "Ok"
    );
    assert_eq!(
        call(&s, &t, &format!("{p}Bonus"), request("h-bonus", json!({}))).await["code"],
        "Ok"
    );
    let held = balance(&s, member).await;

    hook.fail.store(true, Ordering::SeqCst);
    let confirm = json!({"operationId": "h-confirm"});
    let (status, failed) = s
        .call(
            Method::POST,
            &format!("{BASE}{p}Confirm"),
            Some(&t),
            Some(confirm.clone()),
        )
        .await;
    assert_ne!(failed["result"]["state"], "Success", "{status} {failed}");
    assert_eq!(
        balance(&s, member).await,
        held,
        "a failing hook undoes the confirmation"
    );
    assert!(hook.seen.lock().unwrap().is_empty());

    hook.fail.store(false, Ordering::SeqCst);
    assert_eq!(
        call(&s, &t, &format!("{p}Confirm"), confirm).await["code"],
        "Ok",
        "the key was not used up"
    );
    assert!(balance(&s, member).await > held, "the accrual is posted");
    let refunded = call(&s, &t, &format!("{p}Refund"), json!({"operationId": "h-refund"})).await;
    assert_eq!(refunded["code"], "Ok", "{refunded}");
    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("confirmed hooked-2 accrual "), "{seen:?}");
    assert_eq!(seen[1], "refunded hooked-2 returned 1000");
}

async fn keys_of_different_faces_do_not_collide(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    let accrual = json!({"member_id": member, "amount": "5"});
    let (status, body) = s
        .admin_with(
            Method::POST,
            "/admin/v1/operations/accrue",
            Some(accrual),
            &[("Idempotency-Key", "shared-key")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let pay = call(
        &s,
        &t,
        "/Purchases/k-1/Bonus/Payment",
        request("shared-key", json!({"amount": 10})),
    )
    .await;
    assert_eq!(pay["code"], "Ok", "a till's operation id is not the admin's key: {pay}");
    let again = call(
        &s,
        &t,
        "/Purchases/k-1/Bonus/Payment",
        request("shared-key", json!({"amount": 10})),
    )
    .await;
    assert_eq!(again, pay, "a repeat gets the original answer");
    assert_eq!(balance(&s, member).await, 95.0);
}

/// The events queued for an endpoint of this type, oldest first.
async fn queued(s: &TestServer, event: &str) -> Vec<Value> {
    let path = format!("/admin/v1/outbox/messages?event_type={event}&count=50");
    let (status, list) = s.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut items: Vec<Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"]["data"].clone())
        .collect();
    items.reverse();
    items
}

async fn admin_postings_and_expiry_announce_themselves(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    let kinds = json!(["points.accrued", "points.held", "points.released", "points.expired"]);
    let endpoint = json!({"url": "https://hooks.example.com/accrue", "event_types": kinds});
    let (status, body) = s
        .admin(Method::POST, "/admin/v1/webhook-endpoints", Some(endpoint))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, member) = s.admin(Method::POST, "/admin/v1/members", Some(json!({}))).await;
    let member = member["id"].as_i64().unwrap();
    let soon = chrono::DateTime::from_timestamp_millis(clock.load(Ordering::SeqCst) + 3_600_000).unwrap();
    let keyed = |path: &'static str, body: Value, key: &'static str| {
        let s = &s;
        async move {
            let (status, answer) = s
                .admin_with(Method::POST, path, Some(body), &[("Idempotency-Key", key)])
                .await;
            assert!(status.is_success(), "{path}: {answer}");
            answer
        }
    };
    let accrual = json!({"member_id": member, "amount": "7", "expires_at": soon.to_rfc3339()});
    keyed("/admin/v1/operations/accrue", accrual, "grant-1").await;
    let hold = keyed("/admin/v1/holds", json!({"member_id": member, "amount": "2"}), "hold-1").await;
    let void = format!("/admin/v1/holds/{}/void", hold["hold_id"]);
    let (status, _) = s
        .admin_with(Method::POST, &void, None, &[("Idempotency-Key", "void-1")])
        .await;
    assert_eq!(status, StatusCode::OK);

    clock.fetch_add(2 * 3_600_000, Ordering::SeqCst);
    let report = s.store.expire_due(100).await.unwrap();
    assert_eq!(report.lots, 1, "{report:?}");

    let accrued = queued(&s, "points.accrued").await;
    assert_eq!((accrued.len(), &accrued[0]["operation_id"]), (1, &json!("grant-1")));
    let held = queued(&s, "points.held").await;
    assert_eq!(
        (&held[0]["amount"], &held[0]["operation_id"]),
        (&json!("2.00"), &json!("hold-1"))
    );
    let released = queued(&s, "points.released").await;
    assert_eq!(
        (&released[0]["hold_id"], &released[0]["operation_id"]),
        (&hold["hold_id"], &json!("void-1"))
    );
    let expired = queued(&s, "points.expired").await;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(
        (
            &expired[0]["amount"],
            &expired[0]["balance"],
            &expired[0]["purchase_id"]
        ),
        (&json!("7.00"), &json!("0.00"), &Value::Null)
    );
}

/// The statements each call of a purchase writes with, once the caches are warm: each
/// call is one write, and a change that adds statements to a till's hot path shows here.
/// A server with no background work (expiry, delivery polls) writing meanwhile.
async fn quiet_server(db: TestDb) -> TestServer {
    let mut quiet = accrue_server::ServerOptions {
        expiry_interval: Duration::from_secs(3600),
        ..Default::default()
    };
    quiet.delivery.poll_interval = Duration::from_secs(3600);
    TestServer::start_with(db, quiet).await
}

/// The statements of the one write that `call` makes, and those it reads with outside
/// that write.
async fn statements_of<F: std::future::Future<Output = ()>>(s: &TestServer, call: F) -> (u64, u64) {
    let metrics = s.store.metrics();
    let counts = || {
        (
            metrics.writes.load(Ordering::SeqCst),
            metrics.write_statements.load(Ordering::SeqCst),
            metrics.reads.load(Ordering::SeqCst),
        )
    };
    let before = counts();
    call.await;
    let after = counts();
    assert_eq!(after.0 - before.0, 1, "one write");
    (after.1 - before.1, after.2 - before.2)
}

async fn a_purchase_keeps_to_its_statement_budget(db: TestDb) {
    let s = quiet_server(db).await;
    let (_, till) = setup(&s, "1000").await;
    let t = member_token(&s, &till).await;
    let mut bonus_cheque = cheque_85();
    bonus_cheque["lines"][0]["amount"] = json!(76.5);
    let steps = [
        ("Calculate", json!({})),
        ("Bonus/Payment", json!({"amount": 36.5})),
        ("Bonus", json!({"cheque": bonus_cheque})),
        ("Confirm", json!({})),
    ];
    // The fewest of three purchases after a warm-up: the server's idle workers (batches,
    // exports) read now and then, and a read of theirs may fall in a call's count.
    let mut spent: Vec<_> = steps.iter().map(|(step, _)| (*step, u64::MAX, u64::MAX)).collect();
    for purchase in ["warm-up", "first", "second", "third"] {
        for (i, (step, extra)) in steps.iter().enumerate() {
            let path = format!("/Purchases/{purchase}/{step}");
            let body = request(&format!("{purchase}-{i}"), extra.clone());
            let (writes, reads) = statements_of(&s, async {
                call(&s, &t, &path, body).await;
            })
            .await;
            if purchase != "warm-up" {
                spent[i] = (*step, spent[i].1.min(writes), spent[i].2.min(reads));
            }
        }
    }
    // PostgreSQL runs a Calculate as its record alone (it reads no purchase), and a
    // Payment, a Bonus and a Confirm as one function call each (migrations 0030–0032),
    // each on the purchase as the call before it left it (kept in memory, as are the
    // goods' names). SQLite's writer runs their parts one by one. The
    // pricing each call after Calculate stands on is the one this server made last, kept
    // in memory: only Calculate reads, the member's facts for its offers and the coupons
    // the cheque names. As (call, statements in its write, statements outside it).
    let budget = match s.store.dialect() {
        Dialect::Postgres => [
            ("Calculate", 1, 2),
            ("Bonus/Payment", 1, 0),
            ("Bonus", 1, 0),
            ("Confirm", 1, 0),
        ],
        Dialect::Sqlite => [
            ("Calculate", 2, 2),
            ("Bonus/Payment", 14, 0),
            ("Bonus", 4, 0),
            ("Confirm", 20, 0),
        ],
    };
    eprintln!("statements per call: {spent:?}");
    assert_eq!(spent, budget, "statements per call");
}

async fn accruals_and_withdrawals_keep_to_their_statement_budget(db: TestDb) {
    let s = quiet_server(db).await;
    let (_, member) = s.admin(Method::POST, "/admin/v1/members", Some(json!({}))).await;
    let member = member["id"].as_i64().unwrap();
    let mut spent = Vec::new();
    for round in ["warm-up", "measured"] {
        spent.clear();
        for operation in ["accrue", "withdraw"] {
            let path = format!("/admin/v1/operations/{operation}");
            let key = format!("{round}-{operation}");
            let (statements, _) = statements_of(&s, async {
                let body = json!({"member_id": member, "amount": "1.00"});
                let (status, answer) = s
                    .admin_with(Method::POST, &path, Some(body), &[("Idempotency-Key", &key)])
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{answer}");
            })
            .await;
            spent.push((operation, statements));
        }
    }
    // PostgreSQL: the member lock, the posting with the accrual's lot, and the
    // idempotency key; a withdrawal is one function call that keeps its key too
    // (migration 0026).
    let budget = match s.store.dialect() {
        Dialect::Postgres => [("accrue", 3), ("withdraw", 1)],
        Dialect::Sqlite => [("accrue", 8), ("withdraw", 9)],
    };
    assert_eq!(spent, budget, "statements per call");
}
