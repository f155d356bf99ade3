//! The outbox end to end: a real server delivering to a real local receiver.

use accrue_server::testing::{delivering_options, Receiver, Reply, TestServer};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    events_are_signed_and_delivered,
    failures_are_retried_on_schedule_then_succeed,
    retry_after_is_honoured,
    gone_disables_the_endpoint,
    delivery_gives_up_after_the_schedule_and_can_be_retried_by_hand,
    a_rotated_secret_keeps_the_old_one_valid,
    url_templates_are_filled_and_encoded,
    email_and_sms_are_kept_by_the_log_channel,
);

const WAIT: Duration = Duration::from_secs(20);

/// Standard Webhooks verification, written here from the spec and not shared with the server.
fn verify(secret: &str, headers: &std::collections::BTreeMap<String, String>, body: &str) -> bool {
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
    let signed = format!("{}.{}.{}", headers["webhook-id"], headers["webhook-timestamp"], body);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    headers["webhook-signature"].split(' ').any(|s| s == expected)
}

async fn start(db: TestDb, schedule: Vec<i64>) -> TestServer {
    TestServer::start_with(db, delivering_options(schedule)).await
}

async fn call(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.admin(method, path, body).await
}

/// An endpoint at the receiver for `events`; returns its id and secret.
async fn subscribe(s: &TestServer, receiver: &Receiver, events: Value) -> (i64, String) {
    let url = format!("{}/hooks", receiver.base);
    let (status, e) = call(
        s,
        Method::POST,
        "/admin/v1/webhook-endpoints",
        Some(json!({"url": url, "event_types": events})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    (e["id"].as_i64().unwrap(), e["secret"].as_str().unwrap().to_string())
}

async fn accrue(s: &TestServer, key: &str) -> i64 {
    let (_, member) = call(s, Method::POST, "/admin/v1/members", Some(json!({}))).await;
    let member = member["id"].as_i64().unwrap();
    let (status, r) = s
        .admin_with(
            Method::POST,
            "/admin/v1/operations/accrue",
            Some(json!({"member_id": member, "amount": "12.50"})),
            &[("Idempotency-Key", key)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    member
}

/// The only message of the program with this event type, once it is no longer pending.
async fn settled(s: &TestServer, query: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, list) = call(s, Method::GET, &format!("/admin/v1/outbox/messages?{query}"), None).await;
        if let Some(m) = list["items"].as_array().and_then(|i| i.first()) {
            if m["state"] != "pending" {
                let (_, detail) = call(
                    s,
                    Method::GET,
                    &format!("/admin/v1/outbox/messages/{}", m["id"].as_str().unwrap()),
                    None,
                )
                .await;
                return detail;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no settled message for {query}: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn events_are_signed_and_delivered(db: TestDb) {
    let s = start(db, vec![1]).await;
    let receiver = Receiver::start().await;
    let (_, secret) = subscribe(&s, &receiver, json!(["points.accrued"])).await;
    let member = accrue(&s, "a1").await;
    let received = receiver.wait_for(1, WAIT).await;
    let hook = &received[0];
    assert_eq!((hook.method.as_str(), hook.uri.as_str()), ("POST", "/hooks"));
    assert!(
        verify(&secret, &hook.headers, &hook.body),
        "signature: {:?}",
        hook.headers
    );
    assert!(!verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &hook.headers,
        &hook.body
    ));
    let event: Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(event["type"], "points.accrued");
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert!(event["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(event["data"]["member_id"].as_i64(), Some(member));
    assert_eq!(
        (event["data"]["amount"].as_str(), event["data"]["currency"].as_str()),
        (Some("12.50"), Some("BONUS"))
    );
    let message = settled(&s, "event_type=points.accrued").await;
    assert_eq!(message["state"], "delivered");
    assert_eq!(
        message["id"].as_str(),
        Some(hook.headers["webhook-id"].as_str()),
        "webhook-id is the stable message id"
    );
    assert_eq!(message["attempt_log"][0]["status_code"], 200);
    // member.registered was not subscribed: nothing else was sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
}

async fn failures_are_retried_on_schedule_then_succeed(db: TestDb) {
    let s = start(db, vec![1, 1, 1]).await;
    let receiver = Receiver::start().await;
    receiver.plan(vec![Reply::status(500), Reply::status(503)]);
    subscribe(&s, &receiver, json!(["points.accrued"])).await;
    accrue(&s, "a1").await;
    let message = settled(&s, "event_type=points.accrued").await;
    assert_eq!(message["state"], "delivered");
    let codes: Vec<i64> = message["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 503, 200], "attempts in order");
    assert_eq!(message["attempt_log"][0]["response_body"], "answer 500");
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .filter(|r| r.body.contains("points.accrued"))
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert!(
        ids.len() == 3 && ids.iter().all(|i| *i == ids[0]),
        "one message id for every attempt"
    );
    let times: Vec<_> = receiver
        .received()
        .iter()
        .filter(|r| r.body.contains("points.accrued"))
        .map(|r| r.at)
        .collect();
    assert!(
        times[1] - times[0] >= Duration::from_millis(850),
        "retried after the scheduled second"
    );
}

async fn retry_after_is_honoured(db: TestDb) {
    let s = start(db, vec![1]).await;
    let receiver = Receiver::start().await;
    receiver.plan(vec![Reply {
        status: 429,
        retry_after: Some(3),
        ..Reply::default()
    }]);
    subscribe(&s, &receiver, json!(["points.accrued"])).await;
    accrue(&s, "a1").await;
    let received = receiver.wait_for(2, WAIT).await;
    assert!(
        received[1].at - received[0].at >= Duration::from_millis(2_600),
        "waited as Retry-After asked, not the 1 s schedule"
    );
    assert_eq!(settled(&s, "event_type=points.accrued").await["state"], "delivered");
}

async fn gone_disables_the_endpoint(db: TestDb) {
    let s = start(db, vec![1, 1]).await;
    let receiver = Receiver::start().await;
    receiver.plan(vec![Reply::status(410)]);
    let (id, _) = subscribe(&s, &receiver, json!(["points.accrued"])).await;
    accrue(&s, "a1").await;
    let message = settled(&s, "event_type=points.accrued").await;
    assert_eq!(
        (message["state"].as_str(), message["attempts"].as_i64()),
        (Some("failed"), Some(1))
    );
    let (_, endpoint) = call(&s, Method::GET, &format!("/admin/v1/webhook-endpoints/{id}"), None).await;
    assert_eq!(endpoint["enabled"], false);
    assert!(endpoint["disabled_reason"].as_str().unwrap().contains("410"));
    accrue(&s, "a2").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "a disabled endpoint gets nothing");
    let (_, enabled) = call(
        &s,
        Method::PATCH,
        &format!("/admin/v1/webhook-endpoints/{id}"),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(
        (enabled["enabled"].as_bool(), enabled["disabled_reason"].is_null()),
        (Some(true), true)
    );
}

async fn delivery_gives_up_after_the_schedule_and_can_be_retried_by_hand(db: TestDb) {
    let s = start(db, vec![1, 1]).await;
    let receiver = Receiver::start().await;
    receiver.plan(vec![Reply::status(500), Reply::status(500), Reply::status(500)]);
    subscribe(&s, &receiver, json!(["points.accrued"])).await;
    accrue(&s, "a1").await;
    let message = settled(&s, "event_type=points.accrued").await;
    assert_eq!(
        (message["state"].as_str(), message["attempts"].as_i64()),
        (Some("failed"), Some(3))
    );
    assert_eq!(message["last_error"], "answered HTTP 500");
    let (_, failed) = call(&s, Method::GET, "/admin/v1/outbox/messages?state=failed", None).await;
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    let id = message["id"].as_str().unwrap();
    let (status, _) = call(&s, Method::POST, &format!("/admin/v1/outbox/messages/{id}/retry"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    receiver.wait_for(4, WAIT).await;
    let message = settled(&s, "event_type=points.accrued").await;
    assert_eq!(
        (message["state"].as_str(), message["attempts"].as_i64()),
        (Some("delivered"), Some(4))
    );
    let (status, _) = call(&s, Method::POST, &format!("/admin/v1/outbox/messages/{id}/retry"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a delivered message is not sent again");
}

async fn a_rotated_secret_keeps_the_old_one_valid(db: TestDb) {
    let s = start(db, vec![1]).await;
    let receiver = Receiver::start().await;
    let (id, old) = subscribe(&s, &receiver, json!(["webhook.test"])).await;
    let (_, shown) = call(
        &s,
        Method::GET,
        &format!("/admin/v1/webhook-endpoints/{id}/secret"),
        None,
    )
    .await;
    assert_eq!(shown["secret"].as_str(), Some(old.as_str()));
    let (_, rotated) = call(
        &s,
        Method::POST,
        &format!("/admin/v1/webhook-endpoints/{id}/rotate-secret"),
        None,
    )
    .await;
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let (status, _) = call(
        &s,
        Method::POST,
        &format!("/admin/v1/webhook-endpoints/{id}/test"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let hook = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(hook.headers["webhook-signature"].split(' ').count(), 2);
    assert!(verify(&new, &hook.headers, &hook.body) && verify(&old, &hook.headers, &hook.body));
    assert_eq!(
        serde_json::from_str::<Value>(&hook.body).unwrap()["type"],
        "webhook.test"
    );
}

async fn url_templates_are_filled_and_encoded(db: TestDb) {
    let s = start(db, vec![1]).await;
    let receiver = Receiver::start().await;
    let template = format!(
        "{}/postback?cid={{clickid}}&sum={{amount}}&cur={{currency}}",
        receiver.base
    );
    let body = json!({"kind": "http_get", "template": template, "values": {"clickid": "a b&c=d", "amount": "10.50", "currency": "RUB"}});
    let (status, queued) = call(&s, Method::POST, "/admin/v1/outbox/messages", Some(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let hit = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(
        (hit.method.as_str(), hit.uri.as_str()),
        ("GET", "/postback?cid=a%20b%26c%3Dd&sum=10.50&cur=RUB")
    );
    let bad = json!({"kind": "http_get", "template": format!("{}/x?c={{click}}", receiver.base)});
    let (status, error) = call(&s, Method::POST, "/admin/v1/outbox/messages", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]["message"].as_str().unwrap().contains("click"), "{error}");
}

async fn email_and_sms_are_kept_by_the_log_channel(db: TestDb) {
    let s = start(db, vec![1]).await;
    let mail = json!({"kind": "email", "to": "ivan@example.com", "subject": "Код", "body": "Ваш код: 123456"});
    let (status, _) = call(&s, Method::POST, "/admin/v1/outbox/messages", Some(mail)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let sms = json!({"kind": "sms", "to": "+79161234567", "text": "Код 654321"});
    call(&s, Method::POST, "/admin/v1/outbox/messages", Some(sms)).await;
    let email = settled(&s, "kind=email&target=ivan").await;
    assert_eq!(
        (email["state"].as_str(), email["payload"]["body"].as_str()),
        (Some("delivered"), Some("Ваш код: 123456"))
    );
    let sms = settled(&s, "kind=sms").await;
    assert_eq!(
        (sms["target"].as_str(), sms["payload"]["text"].as_str()),
        (Some("+79161234567"), Some("Код 654321"))
    );
    assert_eq!(sms["attempt_log"][0]["response_body"], "stored by the log channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn internal_addresses_are_refused_unless_allowlisted() {
    let s = TestServer::sqlite().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
    ] {
        let (status, body) = call(
            &s,
            Method::POST,
            "/admin/v1/webhook-endpoints",
            Some(json!({"url": url, "event_types": ["*"]})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        let queued = json!({"kind": "http_get", "template": format!("{url}?c={{clickid}}")});
        let (status, body) = call(&s, Method::POST, "/admin/v1/outbox/messages", Some(queued)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
    }
    let allowed = TestServer::start_with(TestDb::sqlite(), delivering_options(vec![1])).await;
    let (status, _) = call(
        &allowed,
        Method::POST,
        "/admin/v1/webhook-endpoints",
        Some(json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "127.0.0.1 is allowlisted there");
    let (status, _) = call(
        &allowed,
        Method::POST,
        "/admin/v1/webhook-endpoints",
        Some(json!({"url": "http://10.0.0.1/hook", "event_types": ["*"]})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the allowlist opens only what it names"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_one_postgres_database_deliver_each_message_once() {
    let Some(db) = TestDb::postgres().await else { return };
    let receiver = Receiver::start().await;
    receiver.plan(
        (0..40)
            .map(|_| Reply {
                status: 200,
                delay: Duration::from_millis(30),
                ..Reply::default()
            })
            .collect(),
    );
    // Servers that share a database share its secret key too.
    let options = delivering_options(vec![1]);
    let a = TestServer::start_on(&db.url, options.clone()).await;
    let b = TestServer::start_on(&db.url, options).await;
    subscribe(&a, &receiver, json!(["points.accrued"])).await;
    for i in 0..100 {
        accrue(if i % 2 == 0 { &a } else { &b }, &format!("k{i}")).await;
    }
    receiver.wait_for(100, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert_eq!(
        (receiver.received().len(), ids.len()),
        (100, 100),
        "each message exactly once"
    );
    assert_eq!(a.metric("accrue_outbox_depth").await, Some(0.0));
    // Each server counts the attempts it made: together, one per message, of which the
    // 40 answered after 30 ms lie above the 25 ms bucket.
    let (mut delivered, mut timed, mut slow) = (0.0, 0.0, 0.0);
    for s in [&a, &b] {
        let failed = s.metric("accrue_outbox_deliveries_total{outcome=\"failed\"}").await;
        assert_eq!(failed, Some(0.0));
        delivered += s
            .metric("accrue_outbox_deliveries_total{outcome=\"delivered\"}")
            .await
            .unwrap();
        let count = s.metric("accrue_outbox_delivery_seconds_count").await.unwrap();
        timed += count;
        slow += count
            - s.metric("accrue_outbox_delivery_seconds_bucket{le=\"0.025\"}")
                .await
                .unwrap();
    }
    assert_eq!((delivered, timed), (100.0, 100.0), "attempts delivered, attempts timed");
    assert!(
        (40.0..=100.0).contains(&slow),
        "{slow} attempts above 25 ms, of 40 slow ones"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sms_go_through_the_gateway_template() {
    use accrue_core::template::UrlTemplate;
    use accrue_server::outbound::worker::{SmsChannel, SMS_PLACEHOLDERS};
    let receiver = Receiver::start().await;
    let mut options = delivering_options(vec![1]);
    let template = format!("{}/send?to={{phone}}&msg={{text}}", receiver.base);
    options.delivery.sms = SmsChannel::Gateway(UrlTemplate::parse(&template, SMS_PLACEHOLDERS).unwrap());
    let s = TestServer::start_with(TestDb::sqlite(), options).await;
    let sms = json!({"kind": "sms", "to": "+79161234567", "text": "Код 4821"});
    call(&s, Method::POST, "/admin/v1/outbox/messages", Some(sms)).await;
    let hit = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(hit.uri, "/send?to=%2B79161234567&msg=%D0%9A%D0%BE%D0%B4%204821");
    assert_eq!(settled(&s, "kind=sms").await["state"], "delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_times_out_is_tried_again() {
    let s = start(TestDb::sqlite(), vec![1]).await;
    let receiver = Receiver::start().await;
    // The test options give up on an answer after 2 s.
    receiver.plan(vec![Reply {
        status: 200,
        delay: Duration::from_secs(4),
        ..Reply::default()
    }]);
    subscribe(&s, &receiver, json!(["points.accrued"])).await;
    accrue(&s, "a1").await;
    let message = settled(&s, "event_type=points.accrued").await;
    assert_eq!(
        (message["state"].as_str(), message["attempts"].as_i64()),
        (Some("delivered"), Some(2))
    );
    let first = &message["attempt_log"][0];
    assert!(
        first["status_code"].is_null() && first["error"].as_str().unwrap().contains("timed out"),
        "{first}"
    );
}
