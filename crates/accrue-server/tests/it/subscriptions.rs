//! Members' consents decide who gets news: what a member says in the app
//! (`User/Subscriptions`) is what the outbox honours when the operator sends to a topic.

use super::hardening::member_with_password;
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(only_members_who_agreed_get_news);

async fn send(s: &TestServer, body: Value) -> (StatusCode, Value) {
    s.admin(Method::POST, "/admin/v1/subscribers/messages", Some(body))
        .await
}

async fn sms_to(s: &TestServer, text: &str) -> Vec<String> {
    let (_, list) = s
        .admin(Method::GET, "/admin/v1/outbox/messages?kind=sms&count=100", None)
        .await;
    let items = list["items"].as_array().expect("messages");
    let sent = items.iter().filter(|m| m["payload"]["text"] == text);
    let mut targets: Vec<String> = sent.map(|m| m["target"].as_str().unwrap().to_string()).collect();
    targets.sort();
    targets
}

async fn only_members_who_agreed_get_news(db: TestDb) {
    let s = TestServer::start(db).await;
    let (agreed, refused, silent) = ("+79160000001", "+79160000002", "+79160000003");
    let mut tokens = Vec::new();
    for phone in [agreed, refused, silent] {
        tokens.push(member_with_password(&s, phone, "secret-1").await);
    }
    let subscriptions = "/publicapi/v1.2/User/Subscriptions";
    // The first agrees to news by SMS only; the second agrees to everything, then refuses.
    let change = json!([{"typeId": 6, "smsNotification": {"selected": true}, "emailNotification": null,
                         "pushNotification": null, "viberNotification": null,
                         "socialNetworksNotification": null, "chatBotNotification": null}]);
    let (status, body) = s
        .call(Method::POST, subscriptions, Some(&tokens[0]), Some(change))
        .await;
    assert_eq!(
        (status, &body["result"]["state"]),
        (StatusCode::OK, &json!("Success")),
        "{body}"
    );
    for step in ["Confirm", "Reject"] {
        let path = format!("{subscriptions}/{step}");
        let (_, body) = s.call(Method::POST, &path, Some(&tokens[1]), Some(json!({}))).await;
        assert_eq!(body["result"]["state"], "Success", "{body}");
    }
    let (_, read) = s
        .call(
            Method::GET,
            &format!("{subscriptions}?subscriptionExternalIds%5B%5D%5B0%5D=Advertisement"),
            Some(&tokens[0]),
            None,
        )
        .await;
    assert_eq!(
        read["data"][0]["smsNotification"],
        json!({"readOnly": false, "selected": true}),
        "{read}"
    );
    assert_eq!(read["data"][0]["emailNotification"]["selected"], false);

    // System messages cannot be refused; a change to them is refused and changes nothing.
    let system =
        json!([{"typeId": 5, "smsNotification": {"selected": false}, "emailNotification": {"selected": true}}]);
    let (_, body) = s
        .call(Method::POST, subscriptions, Some(&tokens[2]), Some(system))
        .await;
    assert_eq!(body["result"]["state"], "ValidationError", "{body}");
    let (_, read) = s.call(Method::GET, subscriptions, Some(&tokens[2]), None).await;
    let system = read["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["externalId"] == "System")
        .unwrap()
        .clone();
    assert_eq!(system["smsNotification"], json!({"readOnly": true, "selected": true}));
    assert_eq!(read["data"].as_array().unwrap().len(), 7);

    // News go to the one who agreed; system messages to all three.
    let (status, sent) = send(&s, json!({"topic": "Advertisement", "sms": {"text": "Скидки недели"}})).await;
    assert_eq!(
        (status, sent),
        (StatusCode::ACCEPTED, json!({"queued": 1, "passed_over": 2}))
    );
    assert_eq!(sms_to(&s, "Скидки недели").await, [agreed]);
    let (_, sent) = send(
        &s,
        json!({"topic": "System", "sms": {"text": "Новые правила"}, "members": [1, 2, 3, 3, 99]}),
    )
    .await;
    assert_eq!(sent, json!({"queued": 3, "passed_over": 1}));
    // By e-mail nobody agreed (and nobody has an address).
    let email = json!({"topic": "Advertisement", "email": {"subject": "Скидки", "body": "…"}});
    assert_eq!(send(&s, email).await.1, json!({"queued": 0, "passed_over": 3}));

    // Bad requests queue nothing.
    for bad in [
        json!({"topic": "Gossip", "sms": {"text": "x"}}),
        json!({"topic": "System"}),
        json!({"topic": "System", "sms": {"text": " "}}),
        json!({"topic": "System", "sms": {"text": "x"}, "email": {"subject": "x", "body": "x"}}),
    ] {
        assert_eq!(send(&s, bad.clone()).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (_, list) = s
        .admin(Method::GET, "/admin/v1/outbox/messages?kind=sms&count=100", None)
        .await;
    let texts: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["payload"]["text"])
        .collect();
    assert_eq!(texts.iter().filter(|t| **t == "x").count(), 0);
}

on_both_backends!(pushes_reach_registered_devices_through_the_gateway);

async fn pushes_reach_registered_devices_through_the_gateway(db: TestDb) {
    use accrue_server::outbound::worker::PushChannel;
    use accrue_server::testing::{delivering_options, Receiver};
    let gateway = Receiver::start().await;
    let mut options = delivering_options(vec![1]);
    options.delivery.push = PushChannel::Gateway(format!("{}/api/push", gateway.base));
    let s = TestServer::start_with(db, options).await;
    let token = member_with_password(&s, "+79160000001", "secret-1").await;
    let register = |device: Option<&str>, body: Value| {
        let mut request = s
            .client
            .post(format!("{}/publicapi/v1.2/Pushes", s.base))
            .bearer_auth(&token)
            .header("X-PlatformType", "Android")
            .header("X-PlatformVersion", "14")
            .header("User-Agent", "shop-app/2.1");
        if let Some(device) = device {
            request = request.header("X-DeviceId", device);
        }
        accrue_server::testing::send(request, Some(body))
    };
    // Refused: not from a device, no token, an unknown platform or service.
    let (_, answer) = register(None, json!({"token": "fcm-1", "platformType": "Android"})).await;
    assert_eq!(
        answer["result"]["message"],
        "Метод доступен только для мобильных устройств"
    );
    for bad in [
        json!({"platformType": "Android"}),
        json!({"token": "fcm-1", "platformType": "Symbian"}),
        json!({"token": "fcm-1", "platformType": "Android", "pushServiceType": "Pager"}),
    ] {
        let (_, answer) = register(Some("phone-1"), bad.clone()).await;
        assert_eq!(answer["result"]["state"], "ValidationError", "{bad}: {answer}");
    }
    // Two devices; the first registers again with a new token, which replaces the old.
    for (device, push_token) in [("phone-1", "fcm-old"), ("tablet-1", "fcm-2"), ("phone-1", "fcm-1")] {
        let body = json!({"token": push_token, "platformType": "Android", "pushServiceType": "Fcm"});
        let (status, answer) = register(Some(device), body).await;
        assert_eq!(
            (status, &answer["result"]["state"]),
            (StatusCode::OK, &json!("Success")),
            "{answer}"
        );
    }
    // Not agreed to news: nothing is pushed. Agreed: one push per device.
    let news = json!({"topic": "Advertisement", "push": {"title": "Скидки", "body": "Неделя сыра"}});
    assert_eq!(send(&s, news.clone()).await.1, json!({"queued": 0, "passed_over": 1}));
    let (_, agreed) = s
        .call(
            Method::POST,
            "/publicapi/v1.2/User/Subscriptions/Confirm",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(agreed["result"]["state"], "Success");
    assert_eq!(send(&s, news).await.1, json!({"queued": 2, "passed_over": 0}));
    let mut hits = gateway.wait_for(2, std::time::Duration::from_secs(10)).await;
    hits.sort_by(|a, b| a.body.cmp(&b.body));
    let bodies: Vec<Value> = hits.iter().map(|h| serde_json::from_str(&h.body).unwrap()).collect();
    for (body, push_token) in bodies.iter().zip(["fcm-1", "fcm-2"]) {
        assert_eq!(
            body["notifications"][0],
            json!({"tokens": [push_token], "platform": 2, "title": "Скидки", "message": "Неделя сыра", "data": {}})
        );
    }
    // The outbox keeps the token sealed: what it shows names the placeholder only.
    let (_, list) = s.admin(Method::GET, "/admin/v1/outbox/messages?kind=push", None).await;
    let shown = list.to_string();
    assert!(!shown.contains("fcm-1") && !shown.contains("fcm-old"), "{shown}");
}
