//! The Loymax registration answers (loymax-api.txt, "Registration. Методы процесса
//! регистрации"; loymax-v1.2-clients.md, "Shapes worth knowing"): the document's
//! scenario by phone, a continued registration, the questionnaire and the cards.

use super::{snapshot_scenarios, Call, Wire};
use reqwest::Method;
use serde_json::{json, Value};

snapshot_scenarios!(
    registration_by_phone,
    registration_continued,
    registration_v1_2,
    questionnaire,
    cards,
);

/// The document's phone number.
const PHONE: &str = "79123487979";

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_string()
}

async fn begin(w: &mut Wire, name: &str, prefix: &str, password: &str) -> Value {
    let body = json!({"login": PHONE, "password": password});
    let path = format!("{prefix}/Registration/BeginRegistration");
    w.record(name, Call::post(path).json(body)).await
}

/// A code the code sent to `target` is not.
fn wrong(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

async fn registration_by_phone(mut w: Wire) -> Wire {
    let token = text(&begin(&mut w, "begin_registration", "/api/v1", "").await["data"]["authToken"]);
    w.record("actions", Call::get("/api/v1/user/actions").token(&token))
        .await;
    let accept = || Call::post("/api/v1/User/AcceptTenderOffer").token(&token);
    w.record("accept_tender_offer", accept()).await;
    w.record("accept_tender_offer_again", accept()).await;
    w.record("phone_number", Call::get("/api/v1/User/PhoneNumber/").token(&token))
        .await;
    let finish = |token: &str| Call::post("/api/v1/Registration/TryFinishRegistration").token(token);
    w.record("finish_too_early", finish(&token)).await;
    w.record(
        "phone_send_confirm_code_too_early",
        Call::post("/api/v1/User/PhoneNumber/SendConfirmCode").token(&token),
    )
    .await;
    let code = w.s.sent_code("sms", PHONE).await;
    let confirm = |code: &str| {
        Call::post("/api/v1/User/PhoneNumber/Confirm")
            .token(&token)
            .json(json!({"confirmCode": code}))
    };
    w.record("phone_confirm_wrong_code", confirm(wrong(&code))).await;
    let confirmed = w.record("phone_confirm", confirm(&code)).await;
    w.record("old_token_refused", Call::get("/api/v1/user/actions").token(&token))
        .await;
    let token = text(&confirmed["data"]["authToken"]);
    let set = Call::post("/api/v1/User/Password/Set")
        .token(&token)
        .json(json!({"password": "111111"}));
    let token = text(&w.record("password_set", set).await["data"]["access_token"]);
    w.record("email", Call::get("/api/v1/User/Email/").token(&token)).await;
    let email = Call::post("/api/v1/User/Email/")
        .token(&token)
        .json(json!({"email": "test@loymax.ru"}));
    w.record("email_change", email).await;
    let code = w.s.sent_code("email", "test@loymax.ru").await;
    let confirm = Call::post("/api/v1/User/Email/Confirm")
        .token(&token)
        .json(json!({"confirmCode": code}));
    w.record("email_confirm", confirm).await;
    w.record("actions_done", Call::get("/api/v1/user/actions").token(&token))
        .await;
    w.record("finish", finish(&token)).await;
    begin(&mut w, "begin_registration_completed", "/api/v1", "").await;
    w
}

/// "Продолжение регистрации": the password asked for, a wrong one, the right one.
async fn registration_continued(mut w: Wire) -> Wire {
    let (_, started) = w
        .send(Call::post("/api/v1/Registration/BeginRegistration").json(json!({"login": PHONE, "password": ""})))
        .await;
    let token = text(&started["data"]["authToken"]);
    let set = Call::post("/api/v1/User/Password/Set")
        .token(&token)
        .json(json!({"password": "352678"}));
    w.send(set).await;
    begin(&mut w, "password_required", "/api/v1", "").await;
    begin(&mut w, "wrong_password", "/api/v1", "000000").await;
    let resumed = begin(&mut w, "resumed", "/api/v1", "352678").await;
    let token = text(&resumed["data"]["authToken"]);
    w.record("actions_remembered", Call::get("/api/v1/user/actions").token(&token))
        .await;
    w
}

/// The v1.2 shapes and envelope, and malformed input.
async fn registration_v1_2(mut w: Wire) -> Wire {
    let started = begin(&mut w, "begin_registration", "/publicapi/v1.2", "").await;
    let token = text(&started["data"]["authToken"]);
    let actions = Call::get("/publicapi/v1.2/User/RegistrationActions").token(&token);
    w.record("registration_actions", actions).await;
    let bad_phone = Call::post("/publicapi/v1.2/Registration/BeginRegistration").json(json!({"login": "12"}));
    w.record("bad_login", bad_phone).await;
    let not_json = Call::post("/api/v1/User/Password/Set")
        .token(&token)
        .raw("application/json", "{not json");
    w.record("malformed_body_v1", not_json).await;
    w.record("no_token", Call::get("/publicapi/v1.2/User/RegistrationActions"))
        .await;
    w
}

async fn questionnaire(mut w: Wire) -> Wire {
    let tree = json!({"nodes": [
        {"type": "header", "title": "Личные данные", "children": [
            {"type": "question", "id": 2, "title": "Фамилия", "logical_name": "LastName", "field": "String", "required": true, "max_length": 30},
            {"type": "question", "id": 7, "title": "Дата рождения", "logical_name": "BirthDay", "field": "Date", "required": true, "min_age": 18},
        ]},
        {"type": "question", "id": 5, "title": "Пол", "field": "Select", "answers": [{"id": 1, "title": "Мужской"}, {"id": 2, "title": "Женский"}]},
    ]});
    let (status, _) =
        w.s.admin(Method::PUT, "/admin/v1/programs/default/questionnaire", Some(tree))
            .await;
    assert_eq!(status, 200);
    let settings = json!({"required": ["AcceptTenderOffer", "Questions"], "optional": []});
    w.s.admin(
        Method::PUT,
        "/admin/v1/programs/default/registration-settings",
        Some(settings),
    )
    .await;
    let (_, started) = w
        .send(Call::post("/api/v1/Registration/BeginRegistration").json(json!({"login": PHONE, "password": ""})))
        .await;
    let token = text(&started["data"]["authToken"]);
    let required = Call::get("/api/v1/User/Questions?filter.onlyRequired=true").token(&token);
    w.record("questions_required", required).await;
    let young = json!({"answers": [
        {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
        {"groupID": null, "id": 7, "value": "2015-01-01", "selected": false}]});
    let answers = |body: Value| Call::post("/api/v1/User/Answers").token(&token).json(body);
    w.record("answers_refused", answers(young)).await;
    // The document's example body: a typed answer and a chosen fixed answer.
    let good = json!({"answers": [
        {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
        {"groupID": null, "id": 7, "value": "15.05.1990", "selected": false},
        {"groupID": 5, "id": 1, "value": null, "selected": true}]});
    w.record("answers", answers(good)).await;
    let v12 = json!([{"questionId": 5, "questionGroupId": null, "value": null, "fixedAnswerIds": [2], "tag": null}]);
    let bare = Call::post("/publicapi/v1.2/User/Answers").token(&token).json(v12);
    w.record("answers_v1_2", bare).await;
    w.record("questions", Call::get("/api/v1/User/Questions").token(&token))
        .await;
    w.record(
        "user_during_registration",
        Call::get("/publicapi/v1.2/User").token(&token),
    )
    .await;
    w
}

async fn cards(mut w: Wire) -> Wire {
    w.s.admin(
        Method::POST,
        "/admin/v1/cards/import",
        Some(json!({"numbers": ["9116580844911085", "1002", "1003"]})),
    )
    .await;
    w.s.admin(Method::POST, "/admin/v1/cards/1002/block", None).await;
    let (_, other) = w.s.admin(Method::POST, "/admin/v1/members", Some(json!({}))).await;
    w.s.admin(
        Method::POST,
        &format!("/admin/v1/members/{}/cards", other["id"]),
        Some(json!({"number": "1003"})),
    )
    .await;
    let (_, started) = w
        .send(Call::post("/api/v1/Registration/BeginRegistration").json(json!({"login": PHONE, "password": ""})))
        .await;
    let token = text(&started["data"]["authToken"]);
    let emission = || Call::get("/api/v1/Cards/EmitVirtual").token(&token);
    w.record("emit_virtual_allowed", emission()).await;
    let set = |number: &str| {
        Call::post("/api/v1/Cards/Set")
            .token(&token)
            .json(json!({"cardNumber": number}))
    };
    w.record("set_unknown_card", set("9999")).await;
    w.record("set_blocked_card", set("1002")).await;
    w.record("set_others_card", set("1003")).await;
    w.record("set_card", set("9116580844911085")).await;
    let emit = || Call::new(Method::PUT, "/api/v1/Cards/EmitVirtual").token(&token);
    w.record("emit_virtual", emit()).await;
    for field in ["number", "barCode", "qrContent"] {
        w.redact_last(&format!(".body.data.{field}"), "[virtual card number]");
    }
    w.record("emit_virtual_not_allowed", emission()).await;
    w.record("emit_virtual_refused", emit()).await;
    let cards = w
        .record("cards", Call::get("/publicapi/v1.2/Cards").token(&token))
        .await;
    assert_eq!(cards["data"][1]["isVirtual"], true, "{cards}");
    for field in ["number", "barCode", "qrContent"] {
        w.redact_last(&format!(".body.data[1].{field}"), "[virtual card number]");
    }
    w
}
