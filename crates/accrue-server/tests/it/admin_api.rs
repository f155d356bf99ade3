//! The admin API over real HTTP, on SQLite and (when configured) PostgreSQL.

use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

on_both_backends!(
    a_member_earns_spends_and_reads_history,
    holds_reserve_capture_and_void,
    bad_input_gets_a_clear_error_and_changes_nothing,
    programs_never_see_each_others_data,
    concurrent_withdrawals_never_overdraw,
    repeated_requests_post_once,
    members_are_found_updated_and_blocked,
    cards_are_imported_assigned_and_emitted,
    service_endpoints_answer,
);

async fn post(s: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    s.admin(Method::POST, path, Some(body)).await
}

async fn get(s: &TestServer, path: &str) -> (StatusCode, Value) {
    s.admin(Method::GET, path, None).await
}

async fn op(s: &TestServer, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
    s.admin_with(Method::POST, path, Some(body), &[("Idempotency-Key", key)])
        .await
}

/// Writes raw HTTP on a fresh connection and reads until the server closes it.
async fn raw_exchange(s: &TestServer, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn new_member(s: &TestServer, body: Value) -> i64 {
    let (status, member) = post(s, "/admin/v1/members", body).await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    member["id"].as_i64().unwrap()
}

async fn balance(s: &TestServer, member: i64) -> String {
    let (_, b) = get(s, &format!("/admin/v1/members/{member}/balances")).await;
    b["items"][0]["balance"].as_str().unwrap().to_string()
}

async fn assert_ledger_sound(s: &TestServer) {
    let violations = s.store.check().await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
}

async fn a_member_earns_spends_and_reads_history(db: TestDb) {
    let s = TestServer::start(db).await;
    let m = new_member(&s, json!({"phone": "+7 916 123-45-67", "first_name": "Ivan"})).await;
    let (status, r) = op(
        &s,
        "/admin/v1/operations/accrue",
        "a1",
        json!({"member_id": m, "amount": "100.50", "description": "welcome"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["type"].as_str(), r["amount"].as_str(), r["balance"].as_str()),
        (Some("accrual"), Some("100.50"), Some("100.50"))
    );
    let (status, r) = op(
        &s,
        "/admin/v1/operations/withdraw",
        "w1",
        json!({"member_id": m, "amount": 30}),
    )
    .await;
    assert_eq!((status, r["balance"].as_str()), (StatusCode::CREATED, Some("70.50")));
    let (status, history) = get(&s, &format!("/admin/v1/members/{m}/history")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["total"], 2);
    assert_eq!(history["items"][0]["amount"], "-30.00", "newest first");
    assert_eq!(history["items"][1]["description"], "welcome");
    let (_, only_accruals) = get(&s, &format!("/admin/v1/members/{m}/history?type=accrual&count=1")).await;
    assert_eq!(
        (
            only_accruals["total"].as_i64(),
            only_accruals["items"].as_array().unwrap().len()
        ),
        (Some(1), 1)
    );
    let (_, b) = get(&s, &format!("/admin/v1/members/{m}/balances")).await;
    assert_eq!(
        b["items"][0],
        json!({"currency": "BONUS", "balance": "70.50", "available": "70.50", "not_activated": "0.00", "held": "0.00", "expirations": []})
    );
    assert_ledger_sound(&s).await;
}

async fn holds_reserve_capture_and_void(db: TestDb) {
    let s = TestServer::start(db).await;
    let m = new_member(&s, json!({})).await;
    op(
        &s,
        "/admin/v1/operations/accrue",
        "a",
        json!({"member_id": m, "amount": "50"}),
    )
    .await;
    let (status, h) = op(&s, "/admin/v1/holds", "h1", json!({"member_id": m, "amount": "20"})).await;
    assert_eq!(
        (status, h["balance"].as_str()),
        (StatusCode::CREATED, Some("30.00")),
        "{h}"
    );
    let hold = h["hold_id"].as_i64().unwrap();
    let (_, info) = get(&s, &format!("/admin/v1/holds/{hold}")).await;
    assert_eq!(
        (info["state"].as_str(), info["amount"].as_str()),
        (Some("active"), Some("20.00"))
    );
    let (status, c) = op(
        &s,
        &format!("/admin/v1/holds/{hold}/capture"),
        "c1",
        json!({"amount": "5"}),
    )
    .await;
    assert_eq!(
        (status, c["balance"].as_str(), c["type"].as_str()),
        (StatusCode::OK, Some("45.00"), Some("hold_capture")),
        "{c}"
    );
    assert_eq!(c["amount"], "5.00", "a capture receipt shows what was captured");
    let (status, again) = op(&s, &format!("/admin/v1/holds/{hold}/void"), "v1", json!({})).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("hold_resolved"))
    );
    let (_, h2) = op(&s, "/admin/v1/holds", "h2", json!({"member_id": m, "amount": "45"})).await;
    let hold2 = h2["hold_id"].as_i64().unwrap();
    let (status, v) = op(&s, &format!("/admin/v1/holds/{hold2}/void"), "v2", json!({})).await;
    assert_eq!((status, v["balance"].as_str()), (StatusCode::OK, Some("45.00")));
    assert_ledger_sound(&s).await;
}

async fn bad_input_gets_a_clear_error_and_changes_nothing(db: TestDb) {
    let s = TestServer::start(db).await;
    let m = new_member(&s, json!({})).await;
    op(
        &s,
        "/admin/v1/operations/accrue",
        "seed",
        json!({"member_id": m, "amount": "10"}),
    )
    .await;
    let accrue = |key: &'static str, body: Value| op(&s, "/admin/v1/operations/accrue", key, body);
    let cases = [
        (
            accrue("b1", json!({"member_id": m, "amount": "-5"})).await,
            StatusCode::BAD_REQUEST,
            "greater than zero",
        ),
        (
            accrue("b2", json!({"member_id": m, "amount": "1.001"})).await,
            StatusCode::BAD_REQUEST,
            "decimal places",
        ),
        (
            accrue("b3", json!({"member_id": m, "amount": "ten"})).await,
            StatusCode::BAD_REQUEST,
            "decimal number",
        ),
        (
            accrue("b4", json!({"member_id": "one", "amount": "1"})).await,
            StatusCode::BAD_REQUEST,
            "member_id",
        ),
        (
            accrue("b5", json!({"member_id": 999999, "amount": "1"})).await,
            StatusCode::NOT_FOUND,
            "member not found",
        ),
        (
            accrue("b6", json!({"member_id": m, "amount": "1", "currency": "XXX"})).await,
            StatusCode::NOT_FOUND,
            "currency XXX",
        ),
        (
            accrue("b7", json!({"member_id": m, "amount": "1", "bonus": true})).await,
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            op(
                &s,
                "/admin/v1/operations/withdraw",
                "b8",
                json!({"member_id": m, "amount": "10.01"}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "10.00 BONUS available",
        ),
        (
            post(
                &s,
                "/admin/v1/operations/accrue",
                json!({"member_id": m, "amount": "1"}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "Idempotency-Key",
        ),
        (
            post(&s, "/admin/v1/members", json!({"phone": "12"})).await,
            StatusCode::BAD_REQUEST,
            "phone number",
        ),
        (
            post(&s, "/admin/v1/members", json!({"email": "no-at-sign"})).await,
            StatusCode::BAD_REQUEST,
            "e-mail",
        ),
        (
            get(&s, &format!("/admin/v1/members/{m}/history?count=0")).await,
            StatusCode::BAD_REQUEST,
            "count",
        ),
        (
            get(&s, &format!("/admin/v1/members/{m}/history?type=gift")).await,
            StatusCode::BAD_REQUEST,
            "gift",
        ),
        (get(&s, "/admin/v1/members/abc").await, StatusCode::BAD_REQUEST, "parse"),
        (
            get(&s, "/admin/v1/members?program=nope").await,
            StatusCode::NOT_FOUND,
            "program nope",
        ),
    ];
    for ((status, body), expected, needle) in cases {
        assert_eq!(status, expected, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle:?} not in {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    // Malformed JSON and an oversized body, sent raw.
    let raw = |body: Vec<u8>| {
        s.client
            .post(format!("{}/admin/v1/members", s.base))
            .bearer_auth(&s.admin_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let malformed = raw(b"{\"phone\":".to_vec()).await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    // An oversized body is refused on its declared length, before it is read.
    let oversized = raw_exchange(
        &s,
        &format!(
            "POST /admin/v1/members HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            s.admin_key,
            2 << 20
        ),
    )
    .await;
    assert!(oversized.starts_with("HTTP/1.1 413"), "{oversized}");
    assert!(oversized.contains("payload_too_large"), "{oversized}");
    // Without a valid key nothing is served.
    let anonymous = s
        .client
        .get(format!("{}/admin/v1/members", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = s
        .client
        .get(format!("{}/admin/v1/members", s.base))
        .bearer_auth("acr_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // Nothing of the above was written.
    assert_eq!(balance(&s, m).await, "10.00");
    let (_, history) = get(&s, &format!("/admin/v1/members/{m}/history")).await;
    assert_eq!(history["total"], 1);
    let (_, members) = get(&s, "/admin/v1/members").await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    assert_ledger_sound(&s).await;
}

async fn programs_never_see_each_others_data(db: TestDb) {
    let s = TestServer::start(db).await;
    let (status, p) = post(
        &s,
        "/admin/v1/programs",
        json!({"code": "shop2", "name": "Shop two", "currency": {"code": "PTS", "scale": 0}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["currencies"][0]["code"], "PTS");
    let (status, _) = post(&s, "/admin/v1/programs", json!({"code": "shop2", "name": "again"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let a = new_member(&s, json!({"phone": "+79160000001"})).await;
    let (status, b) = post(&s, "/admin/v1/members?program=shop2", json!({"phone": "+79160000001"})).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the same phone may exist in another program"
    );
    let b = b["id"].as_i64().unwrap();
    // The same idempotency key in two programs is two operations.
    op(
        &s,
        "/admin/v1/operations/accrue",
        "k",
        json!({"member_id": a, "amount": "5"}),
    )
    .await;
    let (status, r) = op(
        &s,
        "/admin/v1/operations/accrue?program=shop2",
        "k",
        json!({"member_id": b, "amount": "7"}),
    )
    .await;
    assert_eq!((status, r["balance"].as_str()), (StatusCode::CREATED, Some("7")), "{r}");
    // Members, their history and search stay inside their program.
    assert_eq!(
        get(&s, &format!("/admin/v1/members/{a}?program=shop2")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&s, &format!("/admin/v1/members/{b}/history")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, r) = op(
        &s,
        "/admin/v1/operations/withdraw?program=shop2",
        "x",
        json!({"member_id": a, "amount": "1"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{r}");
    let (_, found) = get(&s, "/admin/v1/members?program=shop2&phone=%2B79160000001").await;
    assert_eq!(found["items"][0]["id"].as_i64(), Some(b));
    let (_, cards) = post(&s, "/admin/v1/cards/import?program=shop2", json!({"numbers": ["5000"]})).await;
    assert_eq!(cards["imported"], 1);
    let (status, _) = post(&s, &format!("/admin/v1/members/{a}/cards"), json!({"number": "5000"})).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a card of another program is unknown here"
    );
    assert_eq!(balance(&s, a).await, "5.00");
    assert_ledger_sound(&s).await;
}

async fn concurrent_withdrawals_never_overdraw(db: TestDb) {
    let s = TestServer::start(db).await;
    let s = Arc::new(s);
    let m = new_member(&s, json!({})).await;
    op(
        &s,
        "/admin/v1/operations/accrue",
        "seed",
        json!({"member_id": m, "amount": "10"}),
    )
    .await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                op(
                    &s,
                    "/admin/v1/operations/withdraw",
                    &format!("w{i}"),
                    json!({"member_id": m, "amount": "1"}),
                )
                .await
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(body["error"]["code"], "insufficient_balance");
        }
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    assert_eq!(statuses, [(201, 10), (422, 54)].into_iter().collect());
    assert_eq!(balance(&s, m).await, "0.00");
    assert_ledger_sound(&s).await;
}

async fn repeated_requests_post_once(db: TestDb) {
    let s = TestServer::start(db).await;
    let s = Arc::new(s);
    let m = new_member(&s, json!({})).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                op(
                    &s,
                    "/admin/v1/operations/accrue",
                    "once",
                    json!({"member_id": m, "amount": "3"}),
                )
                .await
            })
        })
        .collect();
    let mut postings = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::CREATED);
        postings.insert(body["posting_id"].as_i64().unwrap());
    }
    assert_eq!(postings.len(), 1);
    // Field order does not matter; another amount under the same key is refused.
    let (status, _) = op(
        &s,
        "/admin/v1/operations/accrue",
        "once",
        json!({"amount": "3", "member_id": m}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = op(
        &s,
        "/admin/v1/operations/accrue",
        "once",
        json!({"member_id": m, "amount": "4"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused"))
    );
    let replay = s
        .client
        .post(format!("{}/admin/v1/operations/accrue", s.base))
        .bearer_auth(&s.admin_key)
        .header("Idempotency-Key", "once")
        .json(&json!({"member_id": m, "amount": "3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(balance(&s, m).await, "3.00");
    assert_ledger_sound(&s).await;
}

async fn members_are_found_updated_and_blocked(db: TestDb) {
    let s = TestServer::start(db).await;
    let m = new_member(
        &s,
        json!({"phone": "8 (916) 555-00-11", "email": "Ivan@Example.com", "external_ids": {"imshop": "u-42"}}),
    )
    .await;
    let (status, dup) = post(&s, "/admin/v1/members", json!({"phone": "+79165550011"})).await;
    assert_eq!(
        (status, dup["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    for query in [
        "phone=89165550011",
        "email=ivan%40example.com",
        "external_source=imshop&external_id=u-42",
    ] {
        let (_, found) = get(&s, &format!("/admin/v1/members?{query}")).await;
        assert_eq!(found["items"][0]["id"].as_i64(), Some(m), "{query}");
    }
    let (_, none) = get(&s, "/admin/v1/members?phone=%2B79160000000").await;
    assert_eq!(none["items"], json!([]));
    let (_, member) = get(&s, &format!("/admin/v1/members/{m}")).await;
    let code = member["referral_code"].as_str().unwrap().to_string();
    let (_, found) = get(&s, &format!("/admin/v1/members?referral_code={code}")).await;
    assert_eq!(found["items"][0]["id"].as_i64(), Some(m));
    let (status, updated) = s
        .admin(
            Method::PATCH,
            &format!("/admin/v1/members/{m}"),
            Some(json!({"first_name": "Ivan", "attributes": {"tier": "gold"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (updated["first_name"].as_str(), updated["attributes"]["tier"].as_str()),
        (Some("Ivan"), Some("gold"))
    );
    assert_eq!(updated["email"], "ivan@example.com", "untouched fields stay");
    let (status, blocked) = post(&s, &format!("/admin/v1/members/{m}/block"), json!({})).await;
    assert_eq!((status, blocked["state"].as_str()), (StatusCode::OK, Some("blocked")));
    let (status, r) = op(
        &s,
        "/admin/v1/operations/accrue",
        "a",
        json!({"member_id": m, "amount": "1"}),
    )
    .await;
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("member_inactive"))
    );
    let (_, archived) = post(&s, &format!("/admin/v1/members/{m}/archive"), json!({})).await;
    assert_eq!(archived["state"], "archived");
}

async fn cards_are_imported_assigned_and_emitted(db: TestDb) {
    let s = TestServer::start(db).await;
    let (_, r) = post(&s, "/admin/v1/cards/import", json!({"numbers": ["1001", "1002"]})).await;
    assert_eq!(r, json!({"imported": 2, "skipped": []}));
    let csv = s
        .client
        .post(format!("{}/admin/v1/cards/import", s.base))
        .bearer_auth(&s.admin_key)
        .header("content-type", "text/csv")
        .body("number\n1002\n1003\n")
        .send()
        .await
        .unwrap();
    assert_eq!(
        csv.json::<Value>().await.unwrap(),
        json!({"imported": 1, "skipped": ["1002"]})
    );
    let (a, b) = (new_member(&s, json!({})).await, new_member(&s, json!({})).await);
    let (status, card) = post(&s, &format!("/admin/v1/members/{a}/cards"), json!({"number": "1001"})).await;
    assert_eq!(
        (status, card["state"].as_str(), card["member_id"].as_i64()),
        (StatusCode::CREATED, Some("active"), Some(a))
    );
    let (status, _) = post(&s, &format!("/admin/v1/members/{b}/cards"), json!({"number": "1001"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "taken");
    let (status, _) = post(&s, &format!("/admin/v1/members/{b}/cards"), json!({"number": "9999"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown");
    post(&s, "/admin/v1/cards/1002/block", json!({})).await;
    let (status, body) = post(&s, &format!("/admin/v1/members/{b}/cards"), json!({"number": "1002"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("blocked"));
    let (status, virt) = post(&s, &format!("/admin/v1/members/{b}/cards/virtual"), json!({})).await;
    assert_eq!((status, virt["kind"].as_str()), (StatusCode::CREATED, Some("virtual")));
    let (_, found) = get(&s, "/admin/v1/members?card=1001").await;
    assert_eq!(found["items"][0]["id"].as_i64(), Some(a));
    let (_, owned) = get(&s, &format!("/admin/v1/cards?member_id={b}")).await;
    assert_eq!(owned["items"].as_array().unwrap().len(), 1);
    let (_, free) = get(&s, "/admin/v1/cards?state=free").await;
    assert_eq!(free["items"][0]["number"], "1003");
    // An operation with a card records it; another member's card is refused.
    let (status, _) = op(
        &s,
        "/admin/v1/operations/accrue",
        "c1",
        json!({"member_id": a, "amount": "1", "card": "1001"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = op(
        &s,
        "/admin/v1/operations/accrue",
        "c2",
        json!({"member_id": b, "amount": "1", "card": "1001"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, history) = get(&s, &format!("/admin/v1/members/{a}/history?card=1001")).await;
    assert_eq!(history["items"][0]["card"], "1001");
}

/// Checks the exposition's shape as a scraper reads it: every family described once
/// (help, then type), every sample a number in a described family, `# EOF` last.
fn assert_openmetrics(text: &str) {
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut families = std::collections::BTreeMap::new();
    for line in text.lines().filter(|line| *line != "# EOF") {
        if let Some(described) = line.strip_prefix("# TYPE ") {
            let (name, kind) = described.split_once(' ').unwrap();
            assert!(
                families.insert(name.to_string(), kind.to_string()).is_none(),
                "{name} twice"
            );
        } else if !line.starts_with("# HELP ") && !line.starts_with("# UNIT ") {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            let name = series.split('{').next().unwrap();
            let family = ["_total", "_bucket", "_sum", "_count", ""]
                .into_iter()
                .find_map(|suffix| families.get(name.strip_suffix(suffix)?))
                .unwrap_or_else(|| panic!("{line} in no family described before it"));
            assert!(["counter", "gauge", "histogram"].contains(&family.as_str()), "{line}");
        }
    }
}

async fn service_endpoints_answer(db: TestDb) {
    let s = TestServer::start(db).await;
    let text = |path: &'static str| {
        let s = &s;
        async move { s.client.get(format!("{}{path}", s.base)).send().await.unwrap() }
    };
    assert_eq!(text("/healthz").await.status(), StatusCode::OK);
    assert_eq!(text("/readyz").await.status(), StatusCode::OK);
    let doc: Value = text("/admin/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/admin/v1/members",
        "/admin/v1/operations/accrue",
        "/admin/v1/holds/{id}/capture",
        "/admin/v1/cards/import",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    new_member(&s, json!({})).await;
    let metrics = text("/metrics").await;
    let content_type = &metrics.headers()["content-type"];
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let metrics = metrics.text().await.unwrap();
    assert_openmetrics(&metrics);
    let created = r#"{method="POST",route="/admin/v1/members",status="201"}"#;
    for series in [
        format!("accrue_http_requests_total{created} 1"),
        format!("accrue_http_request_duration_seconds_count{created} 1"),
        "accrue_ledger_postings_total 0".into(),
        "accrue_outbox_deliveries_total{outcome=\"retried\"} 0".into(),
        "accrue_outbox_depth 0".into(),
    ] {
        assert!(metrics.lines().any(|line| line == series), "{series} in {metrics}");
    }
    let (status, body) = get(&s, "/admin/v1/nothing-here").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = s.admin(Method::DELETE, "/admin/v1/members", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    s.stop().await;
}
