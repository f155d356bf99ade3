//! The program's status system: confirmed purchases within its period lift a member up
//! its ladder (`User/Status`); older ones no longer count.

use crate::processing_support::{call, member_api_token, member_token, request, setup};
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_backends!(purchases_within_the_period_decide_the_status);

async fn purchases_within_the_period_decide_the_status(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    let (member, till) = setup(&s, "100").await;
    let app = member_api_token(&s, member).await;
    let status = || async {
        let (_, answer) = s
            .call(Method::GET, "/publicapi/v1.2/User/Status", Some(&app), None)
            .await;
        answer["data"].clone()
    };
    assert_eq!(status().await, json!([]), "no status system yet");
    let ladder = json!({"name": "Статусы", "logical_name": "StatusSystem", "description": "За 30 дней",
        "period_days": 30, "levels": [
            {"name": "Новичок", "threshold": 0},
            {"name": "Любитель", "threshold": 5000, "description": "3 % бонусами", "preferences": "3%"},
            {"name": "Знаток", "threshold": 20000}]});
    let bad = json!({"status": {"name": "S", "logical_name": "S", "period_days": 30,
        "levels": [{"name": "A", "threshold": 100}, {"name": "B", "threshold": 50}]}});
    let (code, _) = s.admin(Method::PUT, "/admin/v1/processing/settings", Some(bad)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (code, body) = s
        .admin(
            Method::PUT,
            "/admin/v1/processing/settings",
            Some(json!({"status": ladder})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let before = status().await;
    assert_eq!(before[0]["currentStatus"]["name"], "Новичок");
    assert_eq!(
        (
            before[0]["currentValue"].as_f64(),
            before[0]["nextStatusValue"].as_f64()
        ),
        (Some(0.0), Some(50.0))
    );

    // A purchase of 76.50 (the document's cheque, 10 % off 85).
    let t = member_token(&s, &till).await;
    call(&s, &t, "/Purchases/p1/Calculate", request("c1", json!({}))).await;
    let pays = json!({"pays": [{"type": "Card", "amount": 76.5}]});
    assert_eq!(
        call(&s, &t, "/Purchases/p1/Bonus", request("b1", pays)).await["code"],
        "Ok"
    );
    assert_eq!(
        call(&s, &t, "/Purchases/p1/Confirm", json!({"operationId": "f1"})).await["code"],
        "Ok"
    );
    let after = status().await;
    assert_eq!(after[0]["currentStatus"]["name"], "Любитель", "{after}");
    assert_eq!(after[0]["currentStatus"]["threshold"].as_f64(), Some(50.0));
    assert_eq!(
        (after[0]["currentValue"].as_f64(), after[0]["nextStatusValue"].as_f64()),
        (Some(76.5), Some(200.0))
    );
    assert_eq!(after[0]["statuses"].as_array().unwrap().len(), 3);

    // A month later the purchase no longer counts.
    clock.fetch_add(31 * 86_400_000, std::sync::atomic::Ordering::SeqCst);
    let app = member_api_token(&s, member).await;
    let (_, later) = s
        .call(Method::GET, "/publicapi/v1.2/User/Status", Some(&app), None)
        .await;
    assert_eq!(later["data"][0]["currentStatus"]["name"], "Новичок", "{later}");
}
