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
