//! A purchase's hold belongs to the purchase; a stuck item never stops a job; locks
//! are taken in one order (several servers on one PostgreSQL).

use crate::processing_support::{at_once, balance, call, member_token, member_with_card, request, setup, token};
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
    a_purchase_writes_what_the_general_path_writes,
    payments_at_once_on_one_purchase_keep_to_its_limit,
    a_payment_racing_confirm_is_captured_or_refused,
    two_members_paying_on_one_new_purchase_at_once,
    another_members_purchase_is_refused_with_nothing_kept,
    check_finds_a_purchase_row_whose_reference_is_missing,
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

/// What purchase `key` wrote, without row ids and the key itself: the purchase; its
/// operations with their holds; its postings (reserves, captures, the accrual) with their
/// entries, lot moves and new lots; its history entry with the postings linked to it; its
/// offers' usage; and the outcome kept for each operation (its transaction id, which must
/// be set, and its hold id left out).
async fn purchase_written(url: &str, key: &str) -> Vec<String> {
    let purchase = joined(&[
        "state",
        "cheque",
        "bonus_paid",
        "accrual",
        "accrual_posting_id IS NULL",
        "member_id",
        "device_id",
        "currency_id",
        "refunded_lines",
        "cancel_at",
        "created_at",
        "resolved_at",
    ]);
    let operation = joined(&[
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
    ]);
    let held = format!("SELECT o.hold_id FROM purchase_operations o WHERE o.purchase_key = '{key}'");
    let postings = format!(
        "SELECT accrual_posting_id FROM purchases WHERE purchase_key = '{key}' \
         UNION SELECT reserve_posting_id FROM holds WHERE id IN ({held}) \
         UNION SELECT resolve_posting_id FROM holds WHERE id IN ({held})"
    );
    let posting = joined(&[
        "kind",
        "member_id",
        "currency_id",
        "amount",
        "card_id",
        "created_at",
        "hold_id IS NULL",
        &format!("REPLACE(description, '{key}', 'KEY')"),
    ]);
    let of_purchase = format!("(SELECT id FROM purchases WHERE purchase_key = '{key}')");
    let queries = [
        format!("SELECT {purchase} FROM purchases WHERE purchase_key = '{key}'"),
        format!(
            "SELECT {operation} FROM purchase_operations o LEFT JOIN holds h ON h.id = o.hold_id \
             WHERE o.purchase_key = '{key}' ORDER BY o.id"
        ),
        format!("SELECT {posting} FROM postings WHERE id IN ({postings}) ORDER BY id"),
        format!(
            "SELECT {} FROM entries WHERE posting_id IN ({postings}) ORDER BY posting_id, amount",
            joined(&["account_id", "currency_id", "amount", "created_at"])
        ),
        format!(
            "SELECT {} FROM lot_moves WHERE posting_id IN ({postings}) ORDER BY posting_id, lot_id",
            joined(&["lot_id", "amount"])
        ),
        format!(
            "SELECT {} FROM lots WHERE posting_id IN ({postings}) ORDER BY id",
            joined(&[
                "account_id",
                "amount",
                "remaining",
                "activates_at",
                "expires_at",
                "created_at"
            ])
        ),
        format!(
            "SELECT {} FROM purchase_entries WHERE purchase_id = {of_purchase}",
            joined(&["member_id", "currency_id", "entry", "created_at"])
        ),
        format!(
            "SELECT ps.kind FROM purchase_postings pp JOIN postings ps ON ps.id = pp.posting_id \
             JOIN purchase_entries pe ON pe.id = pp.entry_id WHERE pe.purchase_id = {of_purchase} ORDER BY ps.id"
        ),
        format!(
            "SELECT {} FROM offer_usage WHERE purchase_id = {of_purchase} ORDER BY offer_code",
            joined(&["offer_code", "used_at", "applications", "discount", "bonus"])
        ),
    ];
    let mut written = Vec::new();
    for query in queries {
        written.extend(text_rows(url, &query).await);
    }
    let kept = format!(
        "SELECT r.outcome FROM replays r JOIN purchase_operations o ON r.key = o.operation_id \
         WHERE o.purchase_key = '{key}' ORDER BY o.id"
    );
    for outcome in text_rows(url, &kept).await {
        let mut outcome: Value = serde_json::from_str(&outcome).unwrap();
        let ids = outcome.as_object_mut().unwrap();
        assert!(ids.remove("transaction_id").is_some_and(|v| v.is_i64()), "{outcome}");
        ids.remove("hold_id");
        written.push(outcome.to_string());
    }
    written
}

/// On PostgreSQL Payment, Bonus and Confirm are one function call each (`accrue_pay`,
/// `accrue_bonus`, `accrue_confirm`); both paths must leave the same rows.
async fn a_purchase_writes_what_the_general_path_writes(db: TestDb) {
    let url = db.url.clone();
    let (s, _clock) = TestServer::start_with_manual_clock(db).await;
    let (member, till) = setup(&s, "100").await;
    let token = member_token(&s, &till).await;
    // The statements of each call of a purchase: two payments, a Bonus and one that
    // replaces it, Confirm.
    let purchase = |key: &'static str| {
        let (s, token) = (&s, &token);
        async move {
            let calls = [
                ("Bonus/Payment", json!({"amount": 20})),
                ("Bonus/Payment", json!({"amount": 10})),
                ("Bonus", json!({})),
                ("Bonus", json!({})),
                ("Confirm", json!({})),
            ];
            let mut statements = Vec::new();
            for (i, (step, extra)) in calls.into_iter().enumerate() {
                let before = s.store.metrics().write_statements.load(Ordering::SeqCst);
                let path = format!("/Purchases/{key}/{step}");
                let done = call(s, token, &path, request(&format!("{key}-{i}"), extra)).await;
                assert_eq!(done["code"], "Ok", "{done}");
                statements.push(s.store.metrics().write_statements.load(Ordering::SeqCst) - before);
            }
            statements
        }
    };
    purchase("warm-up").await; // fills the caches both paths read from
    let quick = purchase("quick").await;
    s.store.take_the_general_path(true);
    let general = purchase("general").await;
    if s.store.dialect() == Dialect::Postgres {
        // Each call after the first takes the purchase as the call before it left it, from
        // memory.
        assert_eq!(quick, [1, 1, 1, 1, 1], "Payment, Payment, Bonus, Bonus, Confirm");
        assert!(general.iter().all(|&n| n > 1), "the general path: {general:?}");
    }
    let (quick, general) = (
        purchase_written(&url, "quick").await,
        purchase_written(&url, "general").await,
    );
    assert!(
        quick.iter().any(|row| row.starts_with("accrual|")),
        "an accrual: {quick:#?}"
    );
    assert!(
        quick.iter().any(|row| row.starts_with("hold_capture|")),
        "captures: {quick:#?}"
    );
    assert_eq!(quick, general);
    assert_eq!(s.store.check().await.unwrap(), [], "the ledger is whole");
    let (_, balances) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/balances"), None)
        .await;
    assert_eq!(balances["items"].as_array().map(Vec::len), Some(1), "{balances}");
}

/// A purchase's rows name members, accounts, lots, holds, purchases, postings and entries
/// that exist. PostgreSQL no longer checks those references as the rows are written
/// (migration 0034), so `accrue check` reports a row whose reference is missing; SQLite
/// still refuses such a row.
async fn check_finds_a_purchase_row_whose_reference_is_missing(db: TestDb) {
    let s = TestServer::start(db).await;
    let (_, till) = setup(&s, "100").await;
    let token = member_token(&s, &till).await;
    pay(&s, &token, "p1", 30).await;
    let done = call(&s, &token, "/Purchases/p1/Confirm", request("p1-confirm", json!({}))).await;
    assert_eq!(done["code"], "Ok", "{done}");
    assert_eq!(s.store.check().await.unwrap(), [], "the ledger is whole");
    let broken = [
        (
            "entry ",
            "UPDATE entries SET account_id = -1 WHERE id = (SELECT MIN(id) FROM entries)",
        ),
        ("move of lot ", "UPDATE lot_moves SET lot_id = -1"),
        ("hold ", "UPDATE holds SET member_id = -1"),
        ("purchase ", "UPDATE purchases SET member_id = -1"),
        (
            "purchase operation ",
            "UPDATE purchase_operations SET hold_id = -1 WHERE hold_id IS NOT NULL",
        ),
        ("purchase entry ", "UPDATE purchase_entries SET purchase_id = -1"),
        ("purchase posting ", "UPDATE purchase_postings SET entry_id = -1"),
    ];
    let postgres = s.store.dialect() == Dialect::Postgres;
    for (_, sql) in broken {
        let written = s.store.execute_unchecked(sql).await;
        assert_eq!(written.is_ok(), postgres, "{sql}: {written:?}");
    }
    let violations = s.store.check().await.unwrap();
    let missing = violations
        .iter()
        .find(|v| v.invariant == "every entry, lot move, hold and purchase record refers to rows that exist");
    match missing {
        Some(missing) => {
            assert!(postgres, "SQLite kept a broken reference: {missing:?}");
            for (row, sql) in broken {
                // "purchase 7" and not "purchase operation 7": a number follows the row.
                let names_it = |e: &String| {
                    e.strip_prefix(row)
                        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '-'))
                };
                assert!(missing.examples.iter().any(names_it), "{sql} not reported: {missing:?}");
            }
        }
        None => assert!(!postgres, "nothing reported: {violations:?}"),
    }
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

/// A payment sent with Confirm: it is captured with the others (it came first, and
/// Confirm saw its purchase change) or refused (it came after); no hold is left active.
async fn a_payment_racing_confirm_is_captured_or_refused(db: TestDb) {
    let url = db.url.clone();
    let s = Arc::new(TestServer::start(db).await);
    let (_, till) = setup(&s, "1000").await;
    let token = member_token(&s, &till).await;
    let program = s.store.program("default").await.unwrap().id;
    for round in 0..12 {
        let key = format!("race-{round}");
        let path = |step: &str| format!("/Purchases/{key}/{step}");
        let first = call(
            &s,
            &token,
            &path("Bonus/Payment"),
            request(&format!("{key}-0"), json!({"amount": 10})),
        )
        .await;
        assert_eq!(first["code"], "Ok", "{first}");
        let calls = vec![
            (
                path("Bonus/Payment"),
                request(&format!("{key}-1"), json!({"amount": 10})),
            ),
            (path("Confirm"), json!({"operationId": format!("{key}-2")})),
        ];
        let answers = at_once(&s, &token, calls).await;
        assert_eq!(answers[1]["code"], "Ok", "{answers:?}");
        let second_paid = match answers[0]["code"].as_str() {
            Some("Ok") => true,
            Some("OperationIsConfirmed") => false,
            _ => panic!("{answers:?}"),
        };
        let purchase = s.store.purchase(program, &key).await.unwrap();
        assert_eq!(
            purchase.bonus_paid,
            if second_paid { 2000 } else { 1000 },
            "{answers:?}"
        );
    }
    let active = text_rows(&url, "SELECT CAST(COUNT(*) AS TEXT) FROM holds WHERE state = 'active'").await;
    assert_eq!(active, ["0"], "every payment captured");
    assert_eq!(s.store.check().await.unwrap(), [], "the ledger is whole");
}

/// Two members' tills pay at once on one new purchase: one payment opens it, the other
/// is refused as another member's purchase and leaves nothing behind (on PostgreSQL it
/// may find the purchase opened only as it writes, and is undone there).
async fn two_members_paying_on_one_new_purchase_at_once(db: TestDb) {
    let s = Arc::new(TestServer::start(db).await);
    let (first, till) = setup(&s, "1000").await;
    let second = member_with_card(&s, "+79161234568", "2000002", "1000").await;
    let (_, second_token) = token(&s, &till, Some("2000002")).await;
    let tokens = [
        member_token(&s, &till).await,
        second_token["access_token"].as_str().unwrap().to_string(),
    ];
    for round in 0..12 {
        let key = format!("shared-{round}");
        let payments = tokens.iter().enumerate().map(|(i, t)| {
            let (s, t, key) = (s.clone(), t.clone(), key.clone());
            tokio::spawn(async move {
                let body = request(&format!("{key}-{i}"), json!({"amount": 10}));
                call(&s, &t, &format!("/Purchases/{key}/Bonus/Payment"), body).await
            })
        });
        let mut codes = Vec::new();
        for payment in payments.collect::<Vec<_>>() {
            codes.push(payment.await.unwrap()["code"].clone());
        }
        codes.sort_by_key(|c| c.to_string());
        assert_eq!(codes, [json!("BusinessError"), json!("Ok")], "round {round}");
    }
    assert_eq!(balance(&s, first).await + balance(&s, second).await, 2000.0 - 120.0);
    assert_eq!(s.store.check().await.unwrap(), [], "the ledger is whole");
}

/// A till with one member's token is refused another member's purchase — Calculate, which
/// reads no purchase, as well as Payment and Bonus — and keeps nothing of the refusals:
/// the same request from the purchase's own member then goes through.
async fn another_members_purchase_is_refused_with_nothing_kept(db: TestDb) {
    let s = TestServer::start(db).await;
    let (_, till) = setup(&s, "1000").await;
    member_with_card(&s, "+79161234568", "2000002", "1000").await;
    let owner = member_token(&s, &till).await;
    let (_, other) = token(&s, &till, Some("2000002")).await;
    let other = other["access_token"].as_str().unwrap().to_string();
    let body = |i: usize| request(&format!("x-{i}"), json!({"amount": 10}));
    let paid = call(&s, &owner, "/Purchases/x/Bonus/Payment", body(0)).await;
    assert_eq!(paid["code"], "Ok", "{paid}");
    let steps = ["Calculate", "Bonus/Payment", "Bonus"];
    for (i, step) in steps.iter().enumerate() {
        let refused = call(&s, &other, &format!("/Purchases/x/{step}"), body(i + 1)).await;
        assert_eq!(
            (&refused["code"], &refused["errorMessage"]),
            (
                &json!("BusinessError"),
                &json!("Покупка принадлежит другому участнику.")
            ),
            "{step}: {refused}"
        );
    }
    for (i, step) in steps.iter().enumerate() {
        let done = call(&s, &owner, &format!("/Purchases/x/{step}"), body(i + 1)).await;
        assert_eq!(done["code"], "Ok", "{step}: {done}");
    }
}
