//! Amounts at and past every bound: refused with a clear error, never a 500, and the
//! ledger check always reports.

use crate::processing_support::{call, member_and_till, member_token, request};
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    amounts_are_bounded_per_currency,
    the_ledger_check_reports_what_it_cannot_sum
);

async fn accrue(s: &TestServer, member: i64, amount: &str, key: &str) -> (StatusCode, Value) {
    s.admin_with(
        Method::POST,
        "/admin/v1/operations/accrue",
        Some(json!({"member_id": member, "amount": amount})),
        &[("Idempotency-Key", key)],
    )
    .await
}

async fn amounts_are_bounded_per_currency(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, till) = member_and_till(&s, "1").await;
    // The i64 limit that used to be accepted once and then answer 500.
    let (status, error) = accrue(&s, member, "92233720368547758.07", "huge").await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    assert!(
        error["error"]["message"].as_str().unwrap().contains("too large"),
        "{error}"
    );
    // Past the default bound of an operation.
    let (status, error) = accrue(&s, member, "10000000000.01", "over-default").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["code"], "amount_over_limit");

    let limits = json!({"max_operation": "1000", "max_balance": "2500"});
    let (status, currency) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/currencies/BONUS/limits",
            Some(limits),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{currency}");
    assert_eq!(
        currency["limits"],
        json!({"max_operation": "1000.00", "max_balance": "2500.00"})
    );
    let (status, error) = accrue(&s, member, "1000.01", "op").await;
    assert_eq!(
        (status, error["error"]["details"]["per"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("operation"))
    );
    for key in ["a", "b"] {
        assert_eq!(accrue(&s, member, "1000", key).await.0, StatusCode::CREATED);
    }
    assert_eq!(accrue(&s, member, "499", "c").await.0, StatusCode::CREATED);
    let (status, error) = accrue(&s, member, "0.01", "d").await;
    assert_eq!(
        (status, error["error"]["details"]["per"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("balance"))
    );
    let (_, balances) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/balances"), None)
        .await;
    assert_eq!(balances["items"][0]["balance"], "2500.00", "{balances}");
    let (status, error) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/currencies/BONUS/limits",
            Some(json!({"max_operation": "0"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    // A till's cheque line of 10^15 is refused, not turned into 5·10^13 points.
    let token = member_token(&s, &till).await;
    let mut huge = request("h1", json!({}));
    huge["cheque"]["lines"][0]["amount"] = json!(1_000_000_000_000_000_i64);
    huge["cheque"]["lines"][0]["price"] = json!(1_000_000_000_000_000_i64);
    let answer = call(&s, &token, "/Purchases/huge/Calculate", huge).await;
    assert_eq!(answer["code"], "ParseError", "{answer}");
    assert!(s.store.check().await.unwrap().is_empty());
}

async fn the_ledger_check_reports_what_it_cannot_sum(db: TestDb) {
    let s = TestServer::start(db).await;
    let (member, _) = member_and_till(&s, "10").await;
    assert!(s.store.check().await.unwrap().is_empty());
    // Two entries whose sum no 64-bit integer holds (SQLite's SUM fails on it).
    let posting = format!("(SELECT MIN(id) FROM postings WHERE member_id = {member})");
    let account = format!("(SELECT id FROM accounts WHERE member_id = {member})");
    let sql = format!(
        "INSERT INTO entries (posting_id, account_id, currency_id, amount, created_at) \
         SELECT {posting}, {account}, 1, 9223372036854775000, 0 UNION ALL SELECT {posting}, {account}, 1, 9223372036854775000, 0"
    );
    s.store.execute_unchecked(&sql).await.unwrap();
    let violations = s.store.check().await.expect("the check reports, it does not fail");
    assert!(!violations.is_empty());
    let text = format!("{violations:?}");
    assert!(text.contains("cached balance"), "{text}");
}
