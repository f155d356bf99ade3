//! Counting limits under bursts; tokens and devices of other programs; the form body
//! that used to overflow the stack.

use super::member_with_password;
use crate::processing_support::{till, token as grant};
use accrue_server::testing::TestServer;
use accrue_server::ServerOptions;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

on_both_backends!(
    a_burst_of_guesses_gets_at_most_the_allowed_attempts_checked,
    tokens_of_another_program_are_unknown,
);

async fn a_burst_of_guesses_gets_at_most_the_allowed_attempts_checked(db: TestDb) {
    let s = Arc::new(TestServer::start(db).await);
    member_with_password(&s, "+79161234567", "right-one").await;
    // 100 guesses at once, the right one last.
    let guesses: Vec<String> = (0..100)
        .map(|i| {
            if i == 99 {
                "right-one".to_string()
            } else {
                format!("wrong-{i}")
            }
        })
        .collect();
    let tasks: Vec<_> = guesses
        .into_iter()
        .map(|password| {
            let s = s.clone();
            tokio::spawn(async move {
                s.token(&[
                    ("grant_type", "password"),
                    ("username", "79161234567"),
                    ("password", &password),
                ])
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let checked = answers
        .iter()
        .filter(|(status, body)| *status == StatusCode::OK || body["error"] == "IncorrectLoginOrPassword")
        .count();
    let locked = answers
        .iter()
        .filter(|(_, body)| body["error"] == "UserBlocked")
        .count();
    assert!(checked <= 5, "{checked} passwords were checked; the limit is 5");
    assert_eq!(checked + locked, 100, "{answers:?}");
    // Locked now, even for the right password, unless the right one was among those
    // checked (a right password starts the count again).
    let signed_in = answers.iter().any(|(status, _)| *status == StatusCode::OK);
    let (status, body) = s
        .token(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "right-one"),
        ])
        .await;
    if signed_in {
        assert_eq!(status, StatusCode::OK, "{body}");
    } else {
        assert_eq!(body["error"], "UserBlocked", "{body}");
    }
}

async fn tokens_of_another_program_are_unknown(db: TestDb) {
    let url = db.url.clone();
    let a = TestServer::start(db).await;
    a.admin(
        Method::POST,
        "/admin/v1/programs",
        Some(json!({"code": "shop2", "name": "Shop two"})),
    )
    .await;
    let options = ServerOptions {
        loymax_program: "shop2".into(),
        ..ServerOptions::default()
    };
    let b = TestServer::start_on(&url, options).await;
    let token = member_with_password(&a, "+79161234567", "secret-1").await;
    let (_, pair) = a
        .token(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "secret-1"),
        ])
        .await;
    let refresh = pair["refresh_token"].as_str().unwrap();

    let (status, _) = a
        .call(Method::GET, "/publicapi/v1.2/User/Balance", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = b
        .call(Method::GET, "/publicapi/v1.2/User/Balance", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token of another program: {body}");
    let (status, body) = b.call(Method::GET, "/publicapi/v1.2/History", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = b
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let (status, _) = a
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, StatusCode::OK, "still good where it was issued");

    // A device of the default program cannot sign in where shop2 is served.
    let till = till(&a).await;
    let (status, device_token) = grant(&a, &till, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = grant(&b, &till, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client"))
    );
    let balance = json!({"identifier": "79161234567"});
    let (status, _) = b
        .call(
            Method::POST,
            "/publicapi/v1.2/Processing/Balance",
            device_token["access_token"].as_str(),
            Some(balance),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a device token of another program");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_form_body_nested_seven_thousand_deep_is_refused_and_the_server_lives() {
    let s = TestServer::start(TestDb::sqlite()).await;
    let (_, token) = grant(&s, &till(&s).await, None).await;
    let body = format!("{}=1", vec!["a"; 7000].join("."));
    let response = s
        .client
        .post(format!("{}/api/v1/Processing/Purchases/p1/Calculate", s.base))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("an answer, not a dead server");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["data"][0]["code"], "ParseError", "{answer}");
    let health = s.client.get(format!("{}/healthz", s.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
