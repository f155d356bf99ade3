//! The error envelopes of the Loymax member API (loymax-v1.2-clients.md "Envelope") and
//! of the admin API (one JSON error shape), and of a path no face owns. The token
//! endpoint's OAuth errors are in `loymax_member`, the processing and tracker ones in
//! their scenarios.

use super::{snapshot_scenarios, Call, Wire};
use reqwest::Method;
use serde_json::json;

snapshot_scenarios!(loymax_envelopes, loymax_system_error, admin_envelopes);

async fn loymax_envelopes(mut w: Wire) -> Wire {
    w.record("unknown_route_v1", Call::get("/api/v1/NoSuchThing")).await;
    w.record("unknown_route_v1_2", Call::get("/publicapi/v1.2/NoSuchThing"))
        .await;
    let begin = "/publicapi/v1.2/Registration/BeginRegistration";
    w.record("wrong_method", Call::get(begin)).await;
    let text = Call::post(begin).raw("text/plain", r#"{"login": "+79160000000"}"#);
    w.record("wrong_content_type", text).await;
    let nul = Call::post(begin).raw("application/json", r#"{"login": "+7916\u0000"}"#);
    w.record("nul_character", nul).await;
    let large = Call::post(begin).raw("application/json", vec![b' '; 2 * 1024 * 1024]);
    w.record("body_too_large", large).await;
    w.record("unknown_route_elsewhere", Call::get("/nothing/here")).await;
    w
}

/// "Системная ошибка" (loymax-api.txt): the database goes away under the server.
async fn loymax_system_error(mut w: Wire) -> Wire {
    w.s.store.close().await;
    let begin = |prefix: &str| {
        Call::post(format!("{prefix}/Registration/BeginRegistration"))
            .json(json!({"login": "79123487979", "password": ""}))
    };
    w.record("database_gone_v1", begin("/api/v1")).await;
    w.redact_last(".body.result.message", "[error id]");
    w.record("database_gone_v1_2", begin("/publicapi/v1.2")).await;
    w.redact_last(".body.result.message", "[error id]");
    w
}

async fn admin_envelopes(mut w: Wire) -> Wire {
    let key = w.s.admin_key.clone();
    w.record("no_key", Call::get("/admin/v1/members")).await;
    w.record("wrong_key", Call::get("/admin/v1/members").token("acr_wrong"))
        .await;
    w.record("unknown_route", Call::get("/admin/v1/nosuch").token(&key))
        .await;
    let delete = Call::new(Method::DELETE, "/admin/v1/members").token(&key);
    w.record("wrong_method", delete).await;
    w.record("bad_query", Call::get("/admin/v1/members?count=abc").token(&key))
        .await;
    w.record("unknown_member", Call::get("/admin/v1/members/999").token(&key))
        .await;
    let phone = json!({"phone": "12"});
    w.record("bad_phone", Call::post("/admin/v1/members").token(&key).json(phone))
        .await;
    let (_, member) = w.s.admin(Method::POST, "/admin/v1/members", Some(json!({}))).await;
    let accrue = |amount: &str| {
        Call::post("/admin/v1/operations/accrue")
            .token(&key)
            .header("Idempotency-Key", "k1")
            .json(json!({"member_id": member["id"], "amount": amount}))
    };
    w.record("bad_amount", accrue("12,5")).await;
    w.send(accrue("10")).await;
    w.record("idempotency_key_reused", accrue("11")).await;
    w
}
