//! Loymax registration by phone over real HTTP: the document's scenario, an interrupted
//! registration continued, and the errors, reading codes from the log channel.

use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

on_both_backends!(
    registration_by_phone_as_documented,
    an_interrupted_registration_is_continued_with_the_password,
    codes_are_checked_throttled_and_locked,
    program_settings_decide_the_steps,
    cards_are_attached_and_emitted,
    registration_by_card_number_as_documented,
    the_questionnaire_is_answered_and_checked,
    each_step_is_one_transaction,
    code_texts_follow_the_program_template,
    phone_and_email_change_after_registration,
);

const PHONE: &str = "79123487979";

async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    s.call(method, path, token, body).await
}

async fn post(s: &TestServer, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = call(s, Method::POST, path, Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    answer
}

async fn begin(s: &TestServer, login: &str, password: &str) -> Value {
    let (status, answer) = call(
        s,
        Method::POST,
        "/api/v1/Registration/BeginRegistration",
        None,
        Some(json!({"login": login, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn code_for(s: &TestServer, kind: &str, target: &str) -> String {
    s.sent_code(kind, target).await
}

async fn actions(s: &TestServer, token: &str) -> Vec<(String, String, bool)> {
    let (_, answer) = call(s, Method::GET, "/api/v1/user/actions", Some(token), None).await;
    answer["data"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["userActionType"].as_str().unwrap().into(),
                a["actionState"].as_str().unwrap().into(),
                a["isDone"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn registration_by_phone_as_documented(db: TestDb) {
    let s = TestServer::start(db).await;
    let started = begin(&s, PHONE, "").await;
    assert_eq!(
        started["result"],
        json!({"state": "Success", "message": null, "validationErrors": null})
    );
    assert_eq!(
        (
            started["data"]["state"].as_str(),
            started["data"]["errorMessage"].is_null()
        ),
        (Some("Success"), true)
    );
    let token = started["data"]["authToken"].as_str().unwrap().to_string();
    let steps = actions(&s, &token).await;
    let names: Vec<&str> = steps.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "AcceptTenderOffer",
            "ChangePhone",
            "PasswordRequired",
            "ChangeEmail",
            "AssignCard"
        ]
    );
    assert!(steps.iter().all(|a| !a.2) && steps[0].1 == "Required" && steps[3].1 == "Custom" && steps[4].1 == "Custom");

    assert_eq!(
        post(&s, "/api/v1/User/AcceptTenderOffer", &token, json!({})).await["result"]["state"],
        "Success"
    );
    let again = post(&s, "/api/v1/User/AcceptTenderOffer", &token, json!({})).await;
    assert_eq!(
        (again["result"]["state"].as_str(), again["result"]["message"].as_str()),
        (Some("Error"), Some("Шаг регистрации уже выполнен."))
    );
    assert!(actions(&s, &token).await[0].2, "AcceptTenderOffer isDone");

    let (_, phone) = call(&s, Method::GET, "/api/v1/User/PhoneNumber/", Some(&token), None).await;
    assert_eq!(
        phone["data"],
        json!({"currentPhoneNumber": "", "newPhoneNumber": {"phoneNumber": "***7979"}, "confirmCodeLength": 6})
    );
    let code = code_for(&s, "sms", PHONE).await;
    assert_eq!(code.len(), 6);

    let early = post(&s, "/api/v1/Registration/TryFinishRegistration", &token, json!({})).await;
    assert_eq!(
        (
            early["result"]["state"].as_str(),
            early["data"]["registrationCompleted"].as_bool()
        ),
        (Some("Success"), Some(false)),
        "clients read the open steps from a Success"
    );
    let open: Vec<&str> = early["data"]["uncompletedActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["userActionType"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["ChangePhone", "PasswordRequired"]);

    let confirmed = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": code}),
    )
    .await;
    assert_eq!(confirmed["result"]["state"], "Success", "{confirmed}");
    let token2 = confirmed["data"]["authToken"].as_str().unwrap().to_string();
    assert_eq!(
        call(&s, Method::GET, "/api/v1/user/actions", Some(&token), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "the old token is rotated out"
    );
    let set = post(&s, "/api/v1/User/Password/Set", &token2, json!({"password": "111111"})).await;
    let token3 = set["data"]["access_token"].as_str().unwrap().to_string();
    let done = post(&s, "/api/v1/Registration/TryFinishRegistration", &token3, json!({})).await;
    assert_eq!(done["result"]["state"], "Success");
    assert_eq!(done["data"]["registrationCompleted"], true);
    assert!(done["data"]["authToken"].is_string());

    let again = begin(&s, PHONE, "").await;
    assert_eq!(again["data"]["state"], "RegistrationAlreadyCompleted");
    // Once registered, the password is changed with the old one, not set again.
    let token4 = done["data"]["authToken"].as_str().unwrap();
    let set_again = post(&s, "/api/v1/User/Password/Set", token4, json!({"password": "222222"})).await;
    assert_eq!(set_again["result"]["state"], "Error", "{set_again}");
    let change = json!({"oldPassword": "111111", "newPassword": "222222"});
    let changed = post(&s, "/publicapi/v1.2/User/Password/Change", token4, change).await;
    assert_eq!(changed["result"]["state"], "Success", "{changed}");
    let signed_in = s
        .client
        .post(format!("{}/authorizationService/token", s.base))
        .form(&[("grant_type", "password"), ("username", PHONE), ("password", "222222")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK, "the registered member signs in");
    let (_, members) = s
        .admin(Method::GET, &format!("/admin/v1/members?phone={PHONE}"), None)
        .await;
    assert_eq!(members["items"][0]["state"], "active");
}

async fn an_interrupted_registration_is_continued_with_the_password(db: TestDb) {
    let s = TestServer::start(db).await;
    let token = begin(&s, PHONE, "").await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    post(&s, "/api/v1/User/AcceptTenderOffer", &token, json!({})).await;
    let set = post(&s, "/api/v1/User/Password/Set", &token, json!({"password": "352678"})).await;
    assert_eq!(set["result"]["state"], "Success");
    // Later, on another device:
    let asked = begin(&s, PHONE, "").await;
    assert_eq!(
        asked["data"],
        json!({"state": "PasswordRequired", "errorMessage": "Требуется пароль.", "authToken": null})
    );
    let wrong = begin(&s, PHONE, "000000").await;
    assert_eq!(wrong["data"]["state"], "InvalidLoginPassword");
    let resumed = begin(&s, PHONE, "352678").await;
    assert_eq!(resumed["data"]["state"], "Success");
    let token = resumed["data"]["authToken"].as_str().unwrap();
    let done: Vec<bool> = actions(&s, token).await.iter().map(|a| a.2).collect();
    assert_eq!(
        done,
        [true, false, true, false, false],
        "the steps done before are remembered"
    );
}

async fn codes_are_checked_throttled_and_locked(db: TestDb) {
    let s = TestServer::start(db).await;
    let settings = json!({"codes": {"max_attempts": 2, "resend_after_seconds": 60}});
    let (status, _) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/registration-settings",
            Some(settings),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = begin(&s, PHONE, "").await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    let soon = post(&s, "/api/v1/User/PhoneNumber/SendConfirmCode", &token, json!({})).await;
    assert_eq!(soon["result"]["state"], "Error");
    assert!(
        soon["result"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Повторная отправка кода возможна через"),
        "{soon}"
    );
    let code = code_for(&s, "sms", PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let first = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": wrong}),
    )
    .await;
    assert_eq!(
        first["result"]["message"],
        "Неверный код подтверждения. Осталось попыток: 1."
    );
    let second = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": wrong}),
    )
    .await;
    assert!(
        second["result"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Превышено число попыток"),
        "{second}"
    );
    let locked = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": code}),
    )
    .await;
    assert_eq!(
        locked["result"]["state"], "Error",
        "even the right code waits for the lock"
    );
    assert!(!actions(&s, &token).await[1].2, "ChangePhone is not done");
    // Malformed input answers in the envelope and changes nothing.
    let (status, bad) = call(
        &s,
        Method::POST,
        "/api/v1/Registration/BeginRegistration",
        None,
        Some(json!({"login": "12"})),
    )
    .await;
    assert_eq!(
        (status, bad["result"]["state"].as_str()),
        (StatusCode::OK, Some("ValidationError"))
    );
    let raw = s
        .client
        .post(format!("{}/api/v1/User/Password/Set", s.base))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::OK);
    assert_eq!(raw.json::<Value>().await.unwrap()["result"]["state"], "ValidationError");
    assert!(!actions(&s, &token).await[2].2, "no password was set");
    assert_eq!(
        call(&s, Method::GET, "/api/v1/user/actions", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn program_settings_decide_the_steps(db: TestDb) {
    let s = TestServer::start(db).await;
    let settings = json!({"required": ["ChangePhone", "ChangeEmail"], "optional": [], "codes": {"length": 4, "resend_after_seconds": 0}});
    let (status, saved) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/registration-settings",
            Some(settings),
        )
        .await;
    assert_eq!(
        (status, saved["codes"]["length"].as_u64()),
        (StatusCode::OK, Some(4)),
        "{saved}"
    );
    let (status, _) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/registration-settings",
            Some(json!({"required": ["Dance"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let token = begin(&s, PHONE, "").await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    // Re-entering the phone sends the code to the new number; confirming moves the member there.
    post(
        &s,
        "/api/v1/User/PhoneNumber/",
        &token,
        json!({"phoneNumber": "79998887766"}),
    )
    .await;
    let code = code_for(&s, "sms", "79998887766").await;
    assert_eq!(code.len(), 4);
    let token = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": code}),
    )
    .await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    post(&s, "/api/v1/User/Email/", &token, json!({"email": "Test@Loymax.ru"})).await;
    let (_, email) = call(&s, Method::GET, "/api/v1/User/Email/", Some(&token), None).await;
    assert_eq!(
        email["data"],
        json!({"currentEmail": null, "newEmail": {"email": "test@loymax.ru"}, "confirmCodeLength": 4,
               "currentNotifierStatus": "Unverified", "notifierMask": null})
    );
    let code = code_for(&s, "email", "test%40loymax.ru").await;
    assert_eq!(
        post(&s, "/api/v1/User/Email/Confirm", &token, json!({"confirmCode": code})).await["result"]["state"],
        "Success"
    );
    let done = post(&s, "/api/v1/Registration/TryFinishRegistration", &token, json!({})).await;
    assert_eq!(done["data"]["registrationCompleted"], true, "{done}");
    let (_, member) = s.admin(Method::GET, "/admin/v1/members?phone=79998887766", None).await;
    assert_eq!(
        (
            member["items"][0]["email"].as_str(),
            member["items"][0]["state"].as_str()
        ),
        (Some("test@loymax.ru"), Some("active"))
    );
}

async fn cards_are_attached_and_emitted(db: TestDb) {
    let s = TestServer::start(db).await;
    s.admin(
        Method::POST,
        "/admin/v1/cards/import",
        Some(json!({"numbers": ["1001", "1002", "1003"]})),
    )
    .await;
    s.admin(Method::POST, "/admin/v1/cards/1002/block", None).await;
    let (_, other) = s.admin(Method::POST, "/admin/v1/members", Some(json!({}))).await;
    s.admin(
        Method::POST,
        &format!("/admin/v1/members/{}/cards", other["id"]),
        Some(json!({"number": "1003"})),
    )
    .await;
    let token = begin(&s, PHONE, "").await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, emission) = call(&s, Method::GET, "/api/v1/Cards/EmitVirtual", Some(&token), None).await;
    assert_eq!(
        emission["data"],
        json!({"currentCountOfVirtualCards": 0, "isVirtualCardEmissionAllowed": true})
    );
    for (number, message) in [
        ("9999", "Карта не найдена."),
        ("1002", "Карта заблокирована."),
        ("1003", "Карта принадлежит другому участнику."),
    ] {
        let refused = post(&s, "/api/v1/Cards/Set", &token, json!({"cardNumber": number})).await;
        assert_eq!(
            (
                refused["result"]["state"].as_str(),
                refused["result"]["message"].as_str()
            ),
            (Some("Error"), Some(message))
        );
    }
    let (status, set) = call(
        &s,
        Method::POST,
        "/api/v1/Cards/Set",
        Some(&token),
        Some(json!({"cardNumber": "1001"})),
    )
    .await;
    assert_eq!(
        (status, set["result"]["state"].as_str()),
        (StatusCode::CREATED, Some("Success"))
    );
    assert!(
        actions(&s, &token).await.iter().any(|a| a.0 == "AssignCard" && a.2),
        "AssignCard is done"
    );
    let (status, _) = call(&s, Method::PUT, "/api/v1/Cards/EmitVirtual", Some(&token), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, emission) = call(&s, Method::GET, "/api/v1/Cards/EmitVirtual", Some(&token), None).await;
    assert_eq!(
        emission["data"],
        json!({"currentCountOfVirtualCards": 1, "isVirtualCardEmissionAllowed": false})
    );
    let (status, refused) = call(&s, Method::PUT, "/api/v1/Cards/EmitVirtual", Some(&token), None).await;
    assert_eq!(
        (status, refused["result"]["message"].as_str()),
        (StatusCode::OK, Some("Выпуск виртуальной карты запрещён."))
    );
    let (_, cards) = call(&s, Method::GET, "/publicapi/v1.2/Cards", Some(&token), None).await;
    let numbers: Vec<&str> = cards["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len(), 2);
    assert!(numbers.contains(&"1001") && cards["data"][0]["state"] == "Activated");
    // With virtual_cards after_offer, accepting the offer emits one.
    s.admin(
        Method::PUT,
        "/admin/v1/programs/default/registration-settings",
        Some(json!({"virtual_cards": "after_offer"})),
    )
    .await;
    let second = begin(&s, "79990001122", "").await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    post(&s, "/api/v1/User/AcceptTenderOffer", &second, json!({})).await;
    let (_, cards) = call(&s, Method::GET, "/api/v1/Cards", Some(&second), None).await;
    assert_eq!(cards["data"][0]["isVirtual"], true);
}

/// The document's second scenario: by card number, a virtual card after the offer, the
/// phone bound later.
async fn registration_by_card_number_as_documented(db: TestDb) {
    let s = TestServer::start(db).await;
    let settings = json!({"provider": "card", "virtual_cards": "after_offer", "optional": ["ChangeEmail"]});
    let (status, _) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/registration-settings",
            Some(settings),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.admin(
        Method::POST,
        "/admin/v1/cards/import",
        Some(json!({"numbers": ["9116580844911085"]})),
    )
    .await;
    let unknown = begin(&s, "1111222233334444", "").await;
    assert_eq!(
        (
            unknown["result"]["state"].as_str(),
            unknown["result"]["message"].as_str()
        ),
        (Some("Error"), Some("Карта не найдена."))
    );
    let started = begin(&s, "9116580844911085", "").await;
    assert_eq!(started["data"]["state"], "Success");
    let token = started["data"]["authToken"].as_str().unwrap().to_string();
    post(&s, "/api/v1/User/AcceptTenderOffer", &token, json!({})).await;
    let (_, cards) = call(&s, Method::GET, "/api/v1/Cards", Some(&token), None).await;
    assert_eq!(
        cards["data"].as_array().unwrap().len(),
        2,
        "the physical card and a virtual one: {cards}"
    );
    post(&s, "/api/v1/User/PhoneNumber", &token, json!({"phoneNumber": PHONE})).await;
    let code = code_for(&s, "sms", PHONE).await;
    let token = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": code}),
    )
    .await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    let token = post(&s, "/api/v1/User/Password/Set", &token, json!({"password": "111111"})).await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    let done = post(&s, "/api/v1/Registration/TryFinishRegistration", &token, json!({})).await;
    assert_eq!(done["data"]["registrationCompleted"], true, "{done}");
    let (_, found) = s
        .admin(Method::GET, "/admin/v1/members?card=9116580844911085", None)
        .await;
    assert_eq!(
        (found["items"][0]["phone"].as_str(), found["items"][0]["state"].as_str()),
        (Some("+79123487979"), Some("active"))
    );
    assert_eq!(
        begin(&s, "9116580844911085", "").await["data"]["state"],
        "RegistrationAlreadyCompleted"
    );
}

async fn the_questionnaire_is_answered_and_checked(db: TestDb) {
    let s = TestServer::start(db).await;
    let tree = json!({"nodes": [
        {"type": "header", "title": "Личные данные", "children": [
            {"type": "question", "id": 2, "title": "Фамилия", "logical_name": "LastName", "field": "String", "required": true, "max_length": 30},
            {"type": "question", "id": 7, "title": "Дата рождения", "logical_name": "BirthDay", "field": "Date", "required": true, "min_age": 18},
        ]},
        {"type": "question", "id": 5, "title": "Пол", "field": "Select", "answers": [{"id": 1, "title": "Мужской"}, {"id": 2, "title": "Женский"}]},
    ]});
    let (status, _) = s
        .admin(Method::PUT, "/admin/v1/programs/default/questionnaire", Some(tree))
        .await;
    assert_eq!(status, StatusCode::OK);
    let twice = json!({"nodes": [{"type": "question", "id": 1, "title": "a", "field": "String"}, {"type": "question", "id": 1, "title": "b", "field": "String"}]});
    assert_eq!(
        s.admin(Method::PUT, "/admin/v1/programs/default/questionnaire", Some(twice))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let settings = json!({"required": ["AcceptTenderOffer", "Questions"], "optional": []});
    s.admin(
        Method::PUT,
        "/admin/v1/programs/default/registration-settings",
        Some(settings),
    )
    .await;
    let token = begin(&s, PHONE, "").await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();

    let (_, required) = call(
        &s,
        Method::GET,
        "/api/v1/User/Questions?filter.onlyRequired=true",
        Some(&token),
        None,
    )
    .await;
    let header = &required["data"]["questions"][0];
    assert_eq!(
        (header["nodeType"].as_str(), header["displayName"].as_str()),
        (Some("Header"), Some("Личные данные"))
    );
    let first = &header["children"][0];
    assert_eq!(
        (
            first["nodeType"].as_str(),
            first["id"].as_i64(),
            first["fieldType"].as_str()
        ),
        (Some("Question"), Some(2), Some("String"))
    );
    assert_eq!(
        (first["required"].as_bool(), first["logicalName"].as_str()),
        (Some(true), Some("LastName"))
    );
    assert_eq!(
        required["data"]["questions"].as_array().unwrap().len(),
        1,
        "the optional question is left out"
    );

    let young = json!({"answers": [
        {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
        {"groupID": null, "id": 7, "value": "2015-01-01", "selected": false}]});
    let refused = post(&s, "/api/v1/User/Answers", &token, young).await;
    assert_eq!(refused["result"]["state"], "Error");
    assert_eq!(
        refused["data"],
        json!({"errors": [{"idQuestion": "7", "errors": ["Не допускается участие в программе лиц младше 18 лет"]}]})
    );
    assert!(!actions(&s, &token).await.iter().any(|a| a.0 == "Questions" && a.2));

    // The document's example body: a typed answer and a chosen fixed answer.
    let good = json!({"answers": [
        {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
        {"groupID": null, "id": 7, "value": "15.05.1990", "selected": false},
        {"groupID": 5, "id": 1, "value": null, "selected": true}]});
    assert_eq!(
        post(&s, "/api/v1/User/Answers", &token, good).await["result"]["state"],
        "Success"
    );
    assert!(
        actions(&s, &token).await.iter().any(|a| a.0 == "Questions" && a.2),
        "Questions is done"
    );
    let (_, all) = call(&s, Method::GET, "/api/v1/User/Questions", Some(&token), None).await;
    assert_eq!(all["data"]["questions"][0]["children"][0]["value"], "Иванов");
    let gender = &all["data"]["questions"][1];
    assert_eq!(
        (
            gender["children"][0]["selected"].as_bool(),
            gender["children"][1]["selected"].as_bool()
        ),
        (Some(true), Some(false))
    );
    // The v1.2 form: a bare array with fixedAnswerIds.
    let v12 = json!([{"questionId": 5, "questionGroupId": null, "value": null, "fixedAnswerIds": [2], "tag": null}]);
    let (status, answer) = call(
        &s,
        Method::POST,
        "/publicapi/v1.2/User/Answers",
        Some(&token),
        Some(v12),
    )
    .await;
    assert_eq!(
        (status, answer["result"]["state"].as_str()),
        (StatusCode::OK, Some("Success")),
        "{answer}"
    );
    let (_, all) = call(&s, Method::GET, "/api/v1/User/Questions", Some(&token), None).await;
    assert_eq!(
        all["data"]["questions"][1]["children"][1]["selected"], true,
        "one answer changed, the others kept"
    );
    assert_eq!(all["data"]["questions"][0]["children"][0]["value"], "Иванов");
    // The profile shows the birthday from the questionnaire and the masked phone.
    let (_, profile) = call(&s, Method::GET, "/publicapi/v1.2/User", Some(&token), None).await;
    let p = &profile["data"];
    assert_eq!(
        (p["birthDay"].as_str(), p["phoneNumber"].as_str()),
        (Some("15.05.1990"), Some("***7979"))
    );
    assert_eq!(p["state"], "Normal", "registration is not finished yet");
    assert!(p["personUid"].is_string() && p["balanceShortInfo"]["balance"]["currency"] == "BONUS");
}

/// A confirmation that cannot be stored (the phone belongs to someone else) changes
/// nothing — the code stays good, the step undone, the token valid — and the finished
/// registration runs the hooks.
async fn each_step_is_one_transaction(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    let hook = Arc::new(crate::service::Recorder::default());
    s.store.add_hook(hook.clone());
    let (status, other) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": "+79161112233"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let started = begin(&s, PHONE, "").await;
    let token = started["data"]["authToken"].as_str().unwrap().to_string();
    post(&s, "/api/v1/User/AcceptTenderOffer", &token, json!({})).await;
    clock.fetch_add(120_000, Ordering::SeqCst);
    let moved = post(
        &s,
        "/api/v1/User/PhoneNumber",
        &token,
        json!({"phoneNumber": "79161112233"}),
    )
    .await;
    assert_eq!(moved["result"]["state"], "Success", "{moved}");
    let code = code_for(&s, "sms", "79161112233").await;

    let refused = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": code}),
    )
    .await;
    assert_eq!(refused["result"]["state"], "Error", "{refused}");
    assert!(!actions(&s, &token).await[1].2, "ChangePhone is not done");

    let other = other["id"].as_i64().unwrap();
    let away = json!({"phone": "+79160000001"});
    let (status, _) = s
        .admin(Method::PATCH, &format!("/admin/v1/members/{other}"), Some(away))
        .await;
    assert_eq!(status, StatusCode::OK);
    let confirmed = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": code}),
    )
    .await;
    assert_eq!(
        confirmed["result"]["state"], "Success",
        "the same code confirms now: {confirmed}"
    );
    let token = confirmed["data"]["authToken"].as_str().unwrap().to_string();
    let set = post(&s, "/api/v1/User/Password/Set", &token, json!({"password": "111111"})).await;
    let token = set["data"]["access_token"].as_str().unwrap().to_string();
    assert!(hook.seen.lock().unwrap().is_empty());
    let done = post(&s, "/api/v1/Registration/TryFinishRegistration", &token, json!({})).await;
    assert_eq!(done["data"]["registrationCompleted"], true, "{done}");
    let (_, found) = s.admin(Method::GET, "/admin/v1/members?phone=79161112233", None).await;
    let member = &found["items"][0]["id"];
    assert_eq!(*hook.seen.lock().unwrap(), [format!("registered {member}")]);
}

async fn code_texts_follow_the_program_template(db: TestDb) {
    let s = TestServer::start(db).await;
    let path = "/admin/v1/programs/default/messages/code.sms";
    let template = json!({"text": "Shop: {code} is your code"});
    let (status, saved) = s.admin(Method::PUT, path, Some(template.clone())).await;
    assert_eq!((status, &saved["custom"]), (StatusCode::OK, &json!(true)), "{saved}");
    let (status, error) = s.admin(Method::PUT, path, Some(json!({"text": "no code here"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/messages/code.fax",
            Some(template.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    begin(&s, PHONE, "").await;
    let (_, sent) = s
        .admin(
            Method::GET,
            &format!("/admin/v1/outbox/messages?kind=sms&target={PHONE}&count=1"),
            None,
        )
        .await;
    assert_eq!(
        sent["items"][0]["payload"], template,
        "the text is the program's, the code sealed apart"
    );
    assert_eq!(code_for(&s, "sms", PHONE).await.len(), 6);

    let (status, _) = s.admin(Method::DELETE, path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = s.admin(Method::GET, "/admin/v1/programs/default/messages", None).await;
    assert_eq!(
        all["items"][0],
        json!({"name": "code.sms", "template": {"text": "Код подтверждения: {code}"}, "custom": false})
    );
}

async fn email(s: &TestServer, token: &str) -> Value {
    call(s, Method::GET, "/publicapi/v1.2/User/Email", Some(token), None)
        .await
        .1["data"]
        .clone()
}

/// The access token a step answered with (steps that rotate it), else the one given.
fn next_token(answer: &Value, token: &str) -> String {
    answer["data"]["access_token"].as_str().unwrap_or(token).to_string()
}

async fn phone_and_email_change_after_registration(db: TestDb) {
    let s = TestServer::start(db).await;
    let other = "79123480001";
    let mut token = begin(&s, PHONE, "").await["data"]["authToken"]
        .as_str()
        .unwrap()
        .to_string();
    // A corrected number right after BeginRegistration gets its code at once: the resend
    // pause holds for the same number only.
    let corrected = post(&s, "/api/v1/User/PhoneNumber", &token, json!({"phoneNumber": other})).await;
    assert_eq!(corrected["data"], json!({"codeLength": 6}), "{corrected}");
    let code = code_for(&s, "sms", other).await;
    let confirmed = post(
        &s,
        "/api/v1/User/PhoneNumber/Confirm",
        &token,
        json!({"confirmCode": code}),
    )
    .await;
    token = next_token(&confirmed, &token);
    post(&s, "/api/v1/User/AcceptTenderOffer", &token, json!({})).await;
    let set = post(&s, "/api/v1/User/Password/Set", &token, json!({"password": "352678"})).await;
    token = next_token(&set, &token);
    let done = post(&s, "/api/v1/Registration/TryFinishRegistration", &token, json!({})).await;
    assert_eq!(done["data"]["registrationCompleted"], true, "{done}");
    token = next_token(&done, &token);
    let again = begin(&s, other, "").await;
    assert_eq!(
        (again["result"]["state"].as_str(), again["data"]["state"].as_str()),
        (Some("Error"), Some("RegistrationAlreadyCompleted")),
        "clients raise RegistrationAlreadyCompleted from an Error envelope"
    );

    // A registered member changes the e-mail: pending until confirmed, cancellable.
    let started = post(
        &s,
        "/publicapi/v1.2/User/Email",
        &token,
        json!({"email": "first@example.com"}),
    )
    .await;
    assert_eq!(started["data"], json!({"codeLength": 6}), "{started}");
    let pending = email(&s, &token).await;
    assert_eq!(
        (&pending["newEmail"], &pending["currentNotifierStatus"]),
        (&json!({"email": "first@example.com"}), &json!("Unverified"))
    );
    post(&s, "/publicapi/v1.2/User/Email/CancelChange", &token, json!({})).await;
    assert!(email(&s, &token).await["newEmail"].is_null());
    post(
        &s,
        "/publicapi/v1.2/User/Email",
        &token,
        json!({"email": "second@example.com"}),
    )
    .await;
    let code = code_for(&s, "email", "second@example.com").await;
    post(
        &s,
        "/publicapi/v1.2/User/Email/Confirm",
        &token,
        json!({"confirmCode": code}),
    )
    .await;
    let confirmed = email(&s, &token).await;
    assert_eq!(
        (
            &confirmed["currentEmail"],
            &confirmed["currentNotifierStatus"],
            &confirmed["newEmail"]
        ),
        (&json!("second@example.com"), &json!("Verified"), &Value::Null)
    );

    // And the phone: the old number stays until the new one is confirmed.
    post(
        &s,
        "/publicapi/v1.2/User/PhoneNumber",
        &token,
        json!({"phoneNumber": PHONE}),
    )
    .await;
    let (_, phone) = call(&s, Method::GET, "/publicapi/v1.2/User/PhoneNumber", Some(&token), None).await;
    assert_eq!(
        phone["data"],
        json!({"currentPhoneNumber": "***0001", "newPhoneNumber": {"phoneNumber": "***7979"}, "confirmCodeLength": 6})
    );
    post(&s, "/publicapi/v1.2/User/PhoneNumber/CancelChange", &token, json!({})).await;
    let (_, phone) = call(&s, Method::GET, "/publicapi/v1.2/User/PhoneNumber", Some(&token), None).await;
    assert!(phone["data"]["newPhoneNumber"].is_null(), "{phone}");
    let (_, user) = call(&s, Method::GET, "/publicapi/v1.2/User", Some(&token), None).await;
    assert_eq!(user["data"]["phoneNumber"], "***0001");
}
