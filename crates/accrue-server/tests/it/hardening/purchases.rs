//! A purchase's hold belongs to the purchase; a stuck item never stops a job; locks
//! are taken in one order (several servers on one PostgreSQL).

use crate::processing_support::{at_once, balance, call, member_token, request, setup};
use accrue_server::testing::TestServer;
use accrue_server::ServerOptions;
use accrue_store::on_both_backends;
use accrue_store::testing::{text_rows, TestDb};
use accrue_store::Dialect;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

on_both_backends!(
    a_purchase_hold_is_resolved_only_through_its_purchase,
    one_stuck_purchase_never_stops_the_auto_cancel,
    a_payment_writes_what_the_general_path_writes,
    payments_at_once_on_one_purchase_keep_to_its_limit,
);

/// The hold the member's latest payment reserved.
async fn last_hold(s: &TestServer, member: i64) -> i64 {
    let (_, history) = s
        .admin(
            Method::GET,
            &format!("/admin/v1/members/{member}/history?count=50"),
            None,
        )
        .await;
    history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|i| i["hold_id"].as_i64())
        .unwrap_or_else(|| panic!("no hold in {history}"))
}

async fn pay(s: &TestServer, token: &str, purchase: &str, amount: i64) {
    let item = call(
        s,
        token,
        &format!("/Purchases/{purchase}/Bonus/Payment"),
        request(&format!("{purchase}-pay"), json!({"amount": amount})),
    )
    .await;
    assert_eq!(item["code"], "Ok", "{item}");
}

async fn a_purchase_hold_is_resolved_only_through_its_purchase(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = setup(&s, "100").await;
    let token = member_token(&s, &till).await;
    pay(&s, &token, "p1", 30).await;
    let hold = last_hold(&s, member).await;
    for action in ["void", "capture"] {
        let (status, error) = s
            .admin_with(
                Method::POST,
                &format!("/admin/v1/holds/{hold}/{action}"),
                Some(json!({})),
                &[("Idempotency-Key", action)],
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains("purchase p1"),
            "{error}"
        );
    }
    let canceled = call(&s, &token, "/Purchases/p1/Cancel", json!({"operationId": "p1-cancel"})).await;
    assert_eq!(canceled["code"], "Ok", "{canceled}");
    assert_eq!(balance(&s, member).await, 100.0);

    // A hold that expired under a purchase (as the expiry job once could do): Cancel
    // still cancels, Confirm says what happened instead of failing.
    for purchase in ["p2", "p3"] {
        pay(&s, &token, purchase, 10).await;
    }
    s.store
        .execute_unchecked("UPDATE holds SET expires_at = 1 WHERE state = 'active'")
        .await
        .unwrap();
    let report = s.store.expire_due(100).await.unwrap();
    assert_eq!(report.holds, 2);
    let canceled = call(&s, &token, "/Purchases/p2/Cancel", json!({"operationId": "p2-cancel"})).await;
    assert_eq!(canceled["code"], "Ok", "{canceled}");
    let confirmed = call(
        &s,
        &token,
        "/Purchases/p3/Confirm",
        json!({"operationId": "p3-confirm"}),
    )
    .await;
    assert_eq!(confirmed["code"], "BusinessError", "{confirmed}");
    assert_eq!(balance(&s, member).await, 100.0);
    assert!(s.store.check().await.unwrap().is_empty());
}

async fn one_stuck_purchase_never_stops_the_auto_cancel(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    let (member, till) = setup(&s, "100").await;
    s.admin(
        Method::PUT,
        "/admin/v1/processing/settings",
        Some(json!({"auto_cancel_minutes": 30})),
    )
    .await;
    let token = member_token(&s, &till).await;
    pay(&s, &token, "stuck", 10).await;
    clock.fetch_add(1000, Ordering::SeqCst);
    pay(&s, &token, "fine", 20).await;
    // The first purchase due can no longer be read.
    s.store
        .execute_unchecked("UPDATE purchases SET cheque = 'not json' WHERE purchase_key = 'stuck'")
        .await
        .unwrap();
    clock.fetch_add(31 * 60 * 1000, Ordering::SeqCst);
    let swept = s.store.cancel_due_purchases(1).await.unwrap();
    assert_eq!((swept.done, swept.failed), (1, 1));
    assert_eq!(s.store.purchase(1, "fine").await.unwrap().state.as_str(), "canceled");
    assert_eq!(balance(&s, member).await, 90.0, "the stuck purchase keeps its hold");
}

/// Admin voids meet the tills' Cancel of the same purchases on three servers sharing one
/// PostgreSQL: every call is answered, none with a 500 (the admin path used to lock the
/// hold before the member, the purchase path the member first).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_voids_and_till_cancels_of_one_purchase_never_deadlock() {
    let Some(db) = TestDb::postgres().await else { return };
    let servers: Vec<Arc<TestServer>> = {
        let mut servers = Vec::new();
        for _ in 0..3 {
            servers.push(Arc::new(TestServer::start_on(&db.url, ServerOptions::default()).await));
        }
        servers
    };
    let (member, till) = setup(&servers[0], "1000").await;
    let token = member_token(&servers[0], &till).await;
    let mut holds = Vec::new();
    for i in 0..12 {
        pay(&servers[0], &token, &format!("d{i}"), 10).await;
        holds.push(last_hold(&servers[0], member).await);
    }
    let mut tasks = Vec::new();
    for (i, hold) in holds.into_iter().enumerate() {
        let (admin, till_server, token) = (servers[1 + i % 2].clone(), servers[2 - i % 2].clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let (void_path, key) = (format!("/admin/v1/holds/{hold}/void"), format!("v{i}"));
            let cancel_path = format!("{}/Purchases/d{i}/Cancel", crate::processing_support::BASE);
            let headers = [("Idempotency-Key", key.as_str())];
            let void = admin.admin_with(Method::POST, &void_path, Some(json!({})), &headers);
            let cancel_body = json!({"operationId": format!("c{i}")});
            let cancel = till_server.call(Method::POST, &cancel_path, Some(&token), Some(cancel_body));
            let ((void_status, void), (cancel_status, cancel)) = tokio::join!(void, cancel);
            assert_eq!(void_status, StatusCode::CONFLICT, "{void}");
            assert_eq!(
                (cancel_status, cancel["data"][0]["code"].as_str()),
                (StatusCode::OK, Some("Ok")),
                "{cancel}"
            );
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(balance(&servers[0], member).await, 1000.0);
    assert!(servers[0].store.check().await.unwrap().is_empty());
}

/// Columns as one text, nulls as `-`, on either backend.
fn joined(columns: &[&str]) -> String {
    let each: Vec<String> = columns
        .iter()
        .map(|c| format!("COALESCE(CAST({c} AS TEXT), '-')"))
        .collect();
    each.join(" || '|' || ")
}

/// What the payments of purchase `key` wrote, without row ids and the key itself: the
/// purchase, each payment's operation row with its hold and reserve posting, the
/// posting's entries and lot moves, and the outcome kept for each (its transaction and
/// hold ids, which must be set, left out).
async fn payments_written(url: &str, key: &str) -> Vec<String> {
    let purchase = joined(&[
        "state",
        "cheque",
        "bonus_paid",
        "accrual",
        "accrual_posting_id",
        "member_id",
        "device_id",
        "currency_id",
        "refunded_lines",
        "cancel_at",
        "created_at",
        "resolved_at",
    ]);
    let payment = joined(&[
        "o.kind",
        "o.amount",
        "o.priced",
        "o.cheque",
        "o.canceled_at",
        "o.member_id",
        "o.device_id",
        "o.created_at",
        "h.member_id",
        "h.currency_id",
        "h.amount",
        "h.captured",
        "h.state",
        "h.expires_at",
        "h.created_at",
        "h.resolved_at",
        "ps.kind",
        "ps.member_id",
        "ps.currency_id",
        "ps.amount",
        "ps.card_id",
        "ps.created_at",
        "REPLACE(ps.description, p.purchase_key, 'KEY')",
        "ps.hold_id - h.id",
    ]);
    // The payments' rows, with one more table joined to each.
    let of_payments = |joined: &str| {
        format!(
            "FROM purchase_operations o JOIN purchases p ON p.purchase_key = o.purchase_key \
             JOIN holds h ON h.id = o.hold_id JOIN postings ps ON ps.id = h.reserve_posting_id {joined} \
             WHERE o.purchase_key = '{key}' ORDER BY o.id"
        )
    };
    let mut written = text_rows(
        url,
        &format!("SELECT {purchase} FROM purchases WHERE purchase_key = '{key}'"),
    )
    .await;
    written.extend(text_rows(url, &format!("SELECT {payment} {}", of_payments(""))).await);
    let entry = joined(&["e.account_id", "e.currency_id", "e.amount", "e.created_at"]);
    let entries = of_payments("JOIN entries e ON e.posting_id = ps.id");
    written.extend(text_rows(url, &format!("SELECT {entry} {entries}, e.amount")).await);
    let moves = of_payments("JOIN lot_moves m ON m.posting_id = ps.id");
    let moved = joined(&["m.lot_id", "m.amount"]);
    written.extend(text_rows(url, &format!("SELECT {moved} {moves}, m.lot_id")).await);
    let kept = format!(
        "SELECT r.outcome {}",
        of_payments("JOIN replays r ON r.key = o.operation_id")
    );
    for outcome in text_rows(url, &kept).await {
        let mut outcome: Value = serde_json::from_str(&outcome).unwrap();
        let ids = outcome.as_object_mut().unwrap();
        for id in ["transaction_id", "hold_id"] {
            assert!(ids.remove(id).is_some_and(|v| v.is_i64()), "{id} kept: {outcome}");
        }
        written.push(outcome.to_string());
    }
    written
}

/// On PostgreSQL a payment is one statement (`accrue_pay`); a program whose webhooks hear
/// of holds gets the general path. Both must leave the same rows.
async fn a_payment_writes_what_the_general_path_writes(db: TestDb) {
    let url = db.url.clone();
    let (s, _clock) = TestServer::start_with_manual_clock(db).await;
    let (member, till) = setup(&s, "100").await;
    let token = member_token(&s, &till).await;
    let pay_twice = |key: &'static str| {
        let (s, token) = (&s, &token);
        async move {
            let before = s.store.metrics().write_statements.load(Ordering::SeqCst);
            for (i, amount) in [20, 10].into_iter().enumerate() {
                let path = format!("/Purchases/{key}/Bonus/Payment");
                let paid = call(
                    s,
                    token,
                    &path,
                    request(&format!("{key}-{i}"), json!({"amount": amount})),
                )
                .await;
                assert_eq!(paid["code"], "Ok", "{paid}");
            }
            s.store.metrics().write_statements.load(Ordering::SeqCst) - before
        }
    };
    pay_twice("warm-up").await; // fills the caches both paths read from
    let quick = pay_twice("quick").await;
    let endpoint = json!({"url": "https://hooks.example.com/accrue", "event_types": ["points.held"]});
    let (status, body) = s
        .admin(Method::POST, "/admin/v1/webhook-endpoints", Some(endpoint))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let general = pay_twice("general").await;
    if s.store.dialect() == Dialect::Postgres {
        assert_eq!(quick, 2, "one statement a payment");
        assert!(general > 2, "the general path: {general} statements");
    }
    let (quick, general) = (
        payments_written(&url, "quick").await,
        payments_written(&url, "general").await,
    );
    assert_eq!(quick.len(), 1 + 2 + 4 + 2 + 2, "{quick:#?}");
    assert_eq!(quick, general);
    assert_eq!(balance(&s, member).await, 10.0);
    assert_eq!(s.store.check().await.unwrap(), [], "the ledger is whole");
}

/// Payments sent at once on one purchase: those within the cheque's limit go through
/// (85.00 may be paid with at most 38.25 of points), the rest are refused.
async fn payments_at_once_on_one_purchase_keep_to_its_limit(db: TestDb) {
    let s = Arc::new(TestServer::start(db).await);
    let (member, till) = setup(&s, "1000").await;
    let token = member_token(&s, &till).await;
    let calls = (0..8).map(|i| {
        let body = request(&format!("shared-{i}"), json!({"amount": 10}));
        ("/Purchases/shared/Bonus/Payment".to_string(), body)
    });
    let answers = at_once(&s, &token, calls.collect()).await;
    let count = |code: &str| answers.iter().filter(|a| a["code"] == code).count();
    assert_eq!((count("Ok"), count("LargePaymentAmount")), (3, 5), "{answers:?}");
    assert_eq!(balance(&s, member).await, 970.0);
    let purchase = s
        .store
        .purchase(s.store.program("default").await.unwrap().id, "shared")
        .await
        .unwrap();
    assert_eq!(purchase.bonus_paid, 3000);
    assert_eq!(s.store.check().await.unwrap(), [], "the ledger is whole");
}
