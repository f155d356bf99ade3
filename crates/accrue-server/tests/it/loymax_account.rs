//! The Loymax member's account once registered, over real HTTP on both backends:
//! password change, forgotten password (reset by a code), and notifications — with the
//! shapes the PHP SDK `15web/loymax-php` parses.

use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    the_password_is_changed_with_the_old_one,
    a_forgotten_password_is_reset_by_a_code,
    notifications_are_listed_and_marked_read,
);

const PHONE: &str = "+79161234567";
const EMAIL: &str = "member@example.com";
const V12: &str = "/publicapi/v1.2";

async fn member(s: &TestServer, phone: &str, email: &str) -> i64 {
    let (status, m) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": phone, "email": email})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let id = m["id"].as_i64().unwrap();
    let path = format!("/admin/v1/members/{id}/password");
    let (status, _) = s.admin(Method::POST, &path, Some(json!({"password": "111111"}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    id
}

async fn sign_in(s: &TestServer, login: &str, password: &str) -> Option<String> {
    let form = [("grant_type", "password"), ("username", login), ("password", password)];
    let (_, body) = s.token(&form).await;
    body["access_token"].as_str().map(String::from)
}

async fn post(s: &TestServer, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    s.call(Method::POST, &format!("{V12}{path}"), token, Some(body)).await
}

fn state(answer: &Value) -> &str {
    answer["result"]["state"].as_str().unwrap_or_default()
}

async fn the_password_is_changed_with_the_old_one(db: TestDb) {
    let s = TestServer::start(db).await;
    member(&s, PHONE, EMAIL).await;
    let token = sign_in(&s, PHONE, "111111").await.unwrap();

    let wrong = json!({"oldPassword": "999999", "newPassword": "222222"});
    let (status, refused) = post(&s, "/User/Password/Change", Some(&token), wrong).await;
    assert_eq!((status, state(&refused)), (StatusCode::OK, "Error"), "{refused}");
    assert_eq!(refused["result"]["httpCode"], 400);
    assert!(refused["result"]["message"]
        .as_str()
        .unwrap()
        .contains("Осталось попыток: 4"));

    let same = json!({"oldPassword": "111111", "newPassword": "111111"});
    let (status, invalid) = post(&s, "/User/Password/Change", Some(&token), same).await;
    assert_eq!((status, state(&invalid)), (StatusCode::OK, "ValidationError"));
    assert_eq!(invalid["result"]["validationErrors"][0]["field"], "newPassword");
    let short = json!({"oldPassword": "111111", "newPassword": "1"});
    let (_, invalid) = post(&s, "/User/Password/Change", Some(&token), short).await;
    assert_eq!(state(&invalid), "ValidationError");
    assert!(sign_in(&s, PHONE, "111111").await.is_some(), "nothing changed so far");

    let right = json!({"oldPassword": "111111", "newPassword": "222222"});
    let (status, changed) = post(&s, "/User/Password/Change", Some(&token), right).await;
    assert_eq!((status, state(&changed)), (StatusCode::OK, "Success"), "{changed}");
    assert_eq!(changed["data"]["token_type"], "Bearer");
    let new_token = changed["data"]["access_token"].as_str().unwrap();
    assert!(changed["data"]["refresh_token"].is_string() && changed["data"]["expires_in"].is_i64());

    let (status, _) = s.call(Method::GET, "/api/v1/User", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "earlier sessions end");
    let (status, _) = s.call(Method::GET, "/api/v1/User", Some(new_token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(sign_in(&s, PHONE, "111111").await.is_none());
    assert!(sign_in(&s, PHONE, "222222").await.is_some());

    // The generated Kotlin client sends the fields in the query string.
    let token = sign_in(&s, PHONE, "222222").await.unwrap();
    let path = format!("{V12}/User/Password/Change?oldPassword=222222&newPassword=333333");
    let (_, changed) = s.call(Method::POST, &path, Some(&token), None).await;
    assert_eq!(state(&changed), "Success", "{changed}");
    assert!(sign_in(&s, PHONE, "333333").await.is_some());

    let body = json!({"oldPassword": "333333", "newPassword": "444444"});
    let (status, _) = post(&s, "/User/Password/Change", None, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_forgotten_password_is_reset_by_a_code(db: TestDb) {
    let s = TestServer::start(db).await;
    member(&s, PHONE, EMAIL).await;
    let old_session = sign_in(&s, PHONE, "111111").await.unwrap();

    let (_, unknown) = post(
        &s,
        "/ResetPassword/Start",
        None,
        json!({"notifierIdentity": "79990000000"}),
    )
    .await;
    assert_eq!(state(&unknown), "Error", "{unknown}");
    let (status, empty) = post(&s, "/ResetPassword/Start", None, json!({"notifierIdentity": ""})).await;
    assert_eq!((status, state(&empty)), (StatusCode::OK, "ValidationError"));

    let by_phone = json!({"notifierIdentity": "79161234567"});
    let (status, started) = post(&s, "/ResetPassword/Start", None, by_phone.clone()).await;
    assert_eq!((status, state(&started)), (StatusCode::OK, "Success"), "{started}");
    assert_eq!(started["data"], json!({"codeLength": 6}));
    let (_, too_soon) = post(&s, "/ResetPassword/Start", None, by_phone).await;
    assert_eq!(state(&too_soon), "Error", "a second code only after the resend pause");
    let code = s.sent_code("sms", "79161234567").await;
    assert_eq!(code.len(), 6);

    let confirm = |code: &str, password: &str| json!({"notifierIdentity": "79161234567", "confirmCode": code, "newPassword": password});
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let (_, wrong) = post(&s, "/ResetPassword/Confirm", None, confirm(wrong_code, "555555")).await;
    assert_eq!(state(&wrong), "Error");
    assert!(wrong["result"]["message"]
        .as_str()
        .unwrap()
        .contains("Осталось попыток"));
    let (_, weak) = post(&s, "/ResetPassword/Confirm", None, confirm(&code, "1")).await;
    assert_eq!(state(&weak), "ValidationError", "a bad password spends no attempt");
    assert!(sign_in(&s, PHONE, "111111").await.is_some(), "nothing changed so far");

    let (status, reset) = post(&s, "/ResetPassword/Confirm", None, confirm(&code, "555555")).await;
    assert_eq!((status, state(&reset)), (StatusCode::OK, "Success"), "{reset}");
    assert_eq!(reset["data"]["token_type"], "Bearer");
    assert!(reset["data"]["access_token"].is_string());
    assert!(sign_in(&s, PHONE, "555555").await.is_some());
    assert!(sign_in(&s, PHONE, "111111").await.is_none());
    let (status, _) = s.call(Method::GET, "/api/v1/User", Some(&old_session), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a reset ends earlier sessions");
    let (_, reused) = post(&s, "/ResetPassword/Confirm", None, confirm(&code, "666666")).await;
    assert_eq!(state(&reused), "Error", "a code works once");

    // By e-mail, and a cancelled reset's code no longer works.
    let by_email = json!({"notifierIdentity": EMAIL});
    let (_, started) = post(&s, "/ResetPassword/Start", None, by_email.clone()).await;
    assert_eq!(state(&started), "Success", "{started}");
    let code = s.sent_code("email", "member%40example.com").await;
    let (_, cancelled) = post(&s, "/ResetPassword/Cancel", None, by_email).await;
    assert_eq!(state(&cancelled), "Success");
    let body = json!({"notifierIdentity": EMAIL, "confirmCode": code, "newPassword": "777777"});
    let (_, refused) = post(&s, "/ResetPassword/Confirm", None, body).await;
    assert_eq!(state(&refused), "Error");
    assert!(sign_in(&s, PHONE, "555555").await.is_some());
}

async fn notify(s: &TestServer, member: i64, title: &str) -> (StatusCode, Value) {
    let body = json!({"title": title, "body": format!("{title}: текст")});
    s.admin(
        Method::POST,
        &format!("/admin/v1/members/{member}/notifications"),
        Some(body),
    )
    .await
}

async fn get(s: &TestServer, token: &str, path: &str) -> (StatusCode, Value) {
    s.call(Method::GET, &format!("{V12}{path}"), Some(token), None).await
}

async fn notifications_are_listed_and_marked_read(db: TestDb) {
    let s = TestServer::start(db).await;
    let id = member(&s, PHONE, EMAIL).await;
    let other = member(&s, "+79167654321", "other@example.com").await;
    let mut ids = Vec::new();
    for title in [
        "Оплата покупки",
        "Начисление скидки на покупку",
        "Возвращайтесь, мы соскучились 💕",
    ] {
        let (status, created) = notify(&s, id, title).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["id"].as_i64().unwrap());
    }
    let (_, foreign) = notify(&s, other, "Чужое").await;
    let (status, bad) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/members/{id}/notifications"),
            Some(json!({"title": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");

    let token = sign_in(&s, PHONE, "111111").await.unwrap();
    let (_, list) = get(&s, &token, "/Notification").await;
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 3, "the other member's is not here");
    assert_eq!(items[0]["title"], "Возвращайтесь, мы соскучились 💕", "newest first");
    let first = &items[0];
    for field in [
        "id",
        "title",
        "body",
        "summary",
        "creationDate",
        "isReaded",
        "imageId",
        "imageUrl",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert_eq!(first["summary"], first["body"]);
    assert_eq!(first["isReaded"], false);
    assert!(first["creationDate"].as_str().unwrap().ends_with('Z'));
    let (_, page) = get(&s, &token, "/Notification?from=1&count=1").await;
    assert_eq!(page["data"][0]["id"].as_i64(), Some(ids[1]));
    let (_, count) = get(&s, &token, "/Notification/Count").await;
    assert_eq!(count["data"], json!({"unReadCount": 3}));

    let read_path = |n: i64| format!("{V12}/Notification/{n}/Read");
    let (_, read) = s.call(Method::POST, &read_path(ids[0]), Some(&token), None).await;
    assert_eq!(
        (state(&read), &read["data"]["isReaded"]),
        ("Success", &json!(true)),
        "{read}"
    );
    let (_, count) = get(&s, &token, "/Notification/Count").await;
    assert_eq!(count["data"]["unReadCount"], 2);
    let (_, not_mine) = s
        .call(
            Method::POST,
            &read_path(foreign["id"].as_i64().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (state(&not_mine), &not_mine["result"]["message"]),
        ("Error", &json!("Оповещение не найдено"))
    );
    let (status, _) = s
        .call(
            Method::POST,
            &format!("{V12}/Notification/abc/Read"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, all) = s
        .call(Method::POST, &format!("{V12}/Notification/Read"), Some(&token), None)
        .await;
    assert_eq!(all["data"], 2, "{all}");
    let (_, count) = get(&s, &token, "/Notification/Count").await;
    assert_eq!(count["data"]["unReadCount"], 0);

    let delete = format!("{V12}/Notification/{}", ids[2]);
    let (_, deleted) = s.call(Method::DELETE, &delete, Some(&token), None).await;
    assert_eq!(state(&deleted), "Success");
    let (_, again) = s.call(Method::DELETE, &delete, Some(&token), None).await;
    assert_eq!(state(&again), "Error");
    let (_, list) = get(&s, &token, "/Notification").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    let (status, _) = s.call(Method::GET, &format!("{V12}/Notification"), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, theirs) = s
        .admin(Method::GET, &format!("/admin/v1/members/{other}/notifications"), None)
        .await;
    assert_eq!(
        theirs["items"][0]["read_at"],
        Value::Null,
        "the other member's stays unread"
    );
}
