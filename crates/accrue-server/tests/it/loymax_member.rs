//! The Loymax member API over real HTTP: sign-in and balance, on both backends.

use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    a_member_signs_in_and_reads_the_balance,
    wrong_credentials_and_grants_get_oauth_errors,
    refresh_tokens_rotate,
    requests_without_a_valid_token_are_refused,
    a_token_reads_only_its_own_member,
    history_follows_the_documented_rules,
    history_pages_and_filters_hundreds_of_operations,
    two_factor_sign_in_asks_for_a_code,
    the_face_serves_only_its_program,
    wrong_passwords_are_counted_and_lock_sign_in,
);

/// A member with a phone, e-mail, card and password; returns its id.
async fn member(s: &TestServer, phone: &str, email: &str, card: &str) -> i64 {
    let (_, m) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": phone, "email": email})),
        )
        .await;
    let id = m["id"].as_i64().unwrap();
    s.admin(Method::POST, "/admin/v1/cards/import", Some(json!({"numbers": [card]})))
        .await;
    s.admin(
        Method::POST,
        &format!("/admin/v1/members/{id}/cards"),
        Some(json!({"number": card})),
    )
    .await;
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/members/{id}/password"),
            Some(json!({"password": "111111"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    id
}

async fn token(s: &TestServer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    s.token(form).await
}

async fn sign_in(s: &TestServer, login: &str) -> String {
    let (status, body) = token(
        s,
        &[("grant_type", "password"), ("username", login), ("password", "111111")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn get(s: &TestServer, path: &str, token: &str) -> (StatusCode, Value) {
    let response = s
        .client
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

async fn move_points(s: &TestServer, path: &str, key: &str, member: i64, amount: &str) {
    let body = json!({"member_id": member, "amount": amount});
    let (status, r) = s
        .admin_with(Method::POST, path, Some(body), &[("Idempotency-Key", key)])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
}

async fn a_member_signs_in_and_reads_the_balance(db: TestDb) {
    let s = TestServer::start(db).await;
    let id = member(&s, "+79161234567", "ivan@example.com", "2000000000017").await;
    let (status, tokens) = token(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "89161234567"),
            ("password", "111111"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (tokens["token_type"].as_str(), tokens["expires_in"].as_i64()),
        (Some("Bearer"), Some(3600))
    );
    assert!(tokens["refresh_token"].is_string());
    let access = tokens["access_token"].as_str().unwrap();
    move_points(&s, "/admin/v1/operations/accrue", "a", id, "100").await;
    move_points(&s, "/admin/v1/operations/withdraw", "w", id, "30.5").await;
    let (status, v12) = get(&s, "/publicapi/v1.2/User/Balance", access).await;
    assert_eq!(status, StatusCode::OK, "{v12}");
    assert_eq!(v12["result"]["state"], "Success");
    assert_eq!(v12["result"]["httpCode"], 200);
    let row = &v12["data"][0];
    assert_eq!(
        (row["balance"].as_f64(), row["notActivated"].as_f64()),
        (Some(69.5), Some(0.0))
    );
    assert_eq!(
        (row["accumulated"].as_f64(), row["paid"].as_f64()),
        (Some(100.0), Some(30.5))
    );
    let currency = &row["currency"];
    assert_eq!(
        (currency["code"].as_str(), currency["isDeleted"].as_bool()),
        (Some("BONUS"), Some(false))
    );
    for key in ["nominative", "genitive", "plural", "abbreviation"] {
        assert!(currency["nameCases"][key].is_string(), "nameCases.{key}");
    }
    // The v1 prefixes, in any case, answer the same data in the documented v1 envelope.
    for path in [
        "/api/v1/User/Balance",
        "/publicapi/v1/user/balance",
        "/API/V1/USER/BALANCE/",
    ] {
        let (status, v1) = get(&s, path, access).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            v1["result"],
            json!({"state": "Success", "message": null, "validationErrors": null}),
            "{path}"
        );
        assert_eq!(v1["data"], v12["data"], "{path}");
    }
    // The detailed balance shows what expires within a week by date (negative), and
    // what expires later by period.
    let soon = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    for (key, amount, expires_at) in [("e1", "7", soon.as_str()), ("e2", "4", "2099-01-01T00:00:00Z")] {
        let expiring = json!({"member_id": id, "amount": amount, "expires_at": expires_at});
        let (status, _) = s
            .admin_with(
                Method::POST,
                "/admin/v1/operations/accrue",
                Some(expiring),
                &[("Idempotency-Key", key)],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, detailed) = get(&s, "/publicapi/v1.2/User/DetailedBalance", access).await;
    let item = &detailed["data"]["items"][0];
    assert_eq!(
        (item["amount"].as_f64(), item["accountIsBlocked"].as_bool()),
        (Some(80.5), Some(false))
    );
    let week = item["lifeTimesByTime"].as_array().unwrap();
    assert_eq!((week.len(), week[0]["amount"].as_f64()), (1, Some(-7.0)), "{item}");
    assert_eq!(
        item["lifeTimesByPeriod"],
        json!([
            {"activationAmount": 0.0, "expirationAmount": 0.0, "period": "FromWeekToMonth"},
            {"activationAmount": 0.0, "expirationAmount": 0.0, "period": "FromMonthToYear"},
            {"activationAmount": 0.0, "expirationAmount": 4.0, "period": "FromYear"},
        ])
    );
    // What the member signs in with, as Loymax lists it.
    let (_, logins) = get(&s, "/publicapi/v1.2/User/Logins", access).await;
    let values: Vec<&str> = logins["data"]["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    assert!(
        values.contains(&"ivan@example.com") && values.contains(&"2000000000017"),
        "{logins}"
    );
    assert_eq!(logins["data"]["socialIdentifiers"], json!([]));
    // E-mail and card number sign in too.
    sign_in(&s, "IVAN@example.com").await;
    sign_in(&s, "2000000000017").await;
}

async fn wrong_credentials_and_grants_get_oauth_errors(db: TestDb) {
    let s = TestServer::start(db).await;
    member(&s, "+79161234567", "ivan@example.com", "1001").await;
    let cases = [
        (
            vec![
                ("grant_type", "password"),
                ("username", "79161234567"),
                ("password", "222222"),
            ],
            "IncorrectLoginOrPassword",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", "79990000000"),
                ("password", "111111"),
            ],
            "IncorrectLoginOrPassword",
        ),
        // Without two-factor sign-in the password is required (Loymax's words).
        (
            vec![("grant_type", "password"), ("username", "79161234567")],
            "IncorrectLoginOrPassword",
        ),
        (
            vec![("grant_type", "password"), ("password", "111111")],
            "invalid_request",
        ),
        (vec![("grant_type", "authorization_code")], "unsupported_grant_type"),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", "nope")],
            "invalid_grant",
        ),
    ];
    for (form, error) in cases {
        let (status, body) = token(&s, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{form:?}"
        );
        assert!(body["error_description"].is_string());
    }
}

async fn refresh_tokens_rotate(db: TestDb) {
    let s = TestServer::start(db).await;
    member(&s, "+79161234567", "ivan@example.com", "1001").await;
    let (_, first) = token(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "111111"),
        ],
    )
    .await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, second) = token(&s, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(
        get(
            &s,
            "/publicapi/v1.2/User/Balance",
            second["access_token"].as_str().unwrap()
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, again) = token(&s, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a refresh token works once"
    );
}

async fn requests_without_a_valid_token_are_refused(db: TestDb) {
    let s = TestServer::start(db).await;
    let anonymous = s
        .client
        .get(format!("{}/publicapi/v1.2/User/Balance", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap(),
        json!({"message": "Authorization has been denied for this request."})
    );
    let (status, _) = get(&s, "/publicapi/v1.2/User/Balance", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An admin key is not a member token.
    let (status, _) = get(&s, "/publicapi/v1.2/User/Balance", &s.admin_key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_token_reads_only_its_own_member(db: TestDb) {
    let s = TestServer::start(db).await;
    let a = member(&s, "+79161234567", "a@example.com", "1001").await;
    let b = member(&s, "+79167654321", "b@example.com", "1002").await;
    move_points(&s, "/admin/v1/operations/accrue", "a", a, "10").await;
    move_points(&s, "/admin/v1/operations/accrue", "b", b, "20").await;
    let (_, of_a) = get(&s, "/publicapi/v1.2/User/Balance", &sign_in(&s, "79161234567").await).await;
    let (_, of_b) = get(&s, "/publicapi/v1.2/User/Balance", &sign_in(&s, "79167654321").await).await;
    assert_eq!(
        (of_a["data"][0]["balance"].as_f64(), of_b["data"][0]["balance"].as_f64()),
        (Some(10.0), Some(20.0))
    );
}

/// A member with `accruals` accruals of 1..n points and one withdrawal of 5 (newest).
async fn member_with_history(s: &TestServer, accruals: i64) -> (i64, String) {
    use accrue_store::ledger::{IdempotencyKey, Movement};
    let id = member(s, "+79161234567", "ivan@example.com", "2000000000017").await;
    let currency = s.store.currency(1, None).await.unwrap().id;
    let movement = |amount| Movement {
        member_id: id,
        currency_id: currency,
        amount,
        card: None,
        description: "за покупку".into(),
        cause: Default::default(),
    };
    for i in 1..=accruals {
        let key = IdempotencyKey::new(&format!("a{i}"), &json!(i)).unwrap();
        s.store
            .accrue(1, key, movement(i * 100), Default::default())
            .await
            .unwrap();
    }
    let key = IdempotencyKey::new("w", &json!("w")).unwrap();
    s.store.withdraw(1, key, movement(500)).await.unwrap();
    (id, sign_in(s, "79161234567").await)
}

async fn history_follows_the_documented_rules(db: TestDb) {
    let s = TestServer::start(db).await;
    let (id, token) = member_with_history(&s, 3).await;
    let (status, full) = get(&s, "/api/v1.1/History?filter.toDate=2100-01-01&filter.count=10", &token).await;
    assert_eq!(status, StatusCode::OK, "{full}");
    assert_eq!(
        full["result"],
        json!({"state": "Success", "message": null, "validationErrors": null})
    );
    assert_eq!(full["data"]["allCount"], 4);
    let rows = full["data"]["rows"].as_array().unwrap();
    let (withdraw, reward) = (&rows[0], &rows[1]);
    let mut keys: Vec<&str> = reward.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    let documented = [
        "brand",
        "brandId",
        "data",
        "dateTime",
        "description",
        "id",
        "identity",
        "location",
        "partnerId",
        "type",
        "userId",
    ];
    assert_eq!(keys, documented);
    assert_eq!(
        (withdraw["type"].as_str(), reward["type"].as_str()),
        (Some("WithdrawData"), Some("RewardData")),
        "newest first"
    );
    assert_eq!(reward["userId"].as_i64(), Some(id));
    assert_eq!(reward["description"], "за покупку");
    assert_eq!(reward["data"]["rewardType"], "Bonus");
    assert_eq!(reward["data"]["amount"]["amount"].as_f64(), Some(3.0));
    assert_eq!(
        reward["data"]["amount"]["currencyInfo"]["nameCases"]["genitive"],
        "бонуса"
    );
    assert_eq!(
        (
            withdraw["data"]["withdrawType"].as_str(),
            withdraw["data"]["amount"]["amount"].as_f64()
        ),
        (Some("Withdraw"), Some(-5.0))
    );
    assert!(reward["id"].as_str().unwrap().len() == 36 && reward["dateTime"].as_str().unwrap().ends_with('Z'));
    // toDate alone: the count without rows; count alone or nothing: zero rows.
    let (_, count_only) = get(&s, "/api/v1.1/History?filter.toDate=2100-01-01", &token).await;
    assert_eq!(count_only["data"], json!({"allCount": 4, "rows": []}));
    for query in ["?filter.count=10", ""] {
        let (_, nothing) = get(&s, &format!("/api/v1.1/History{query}"), &token).await;
        assert_eq!(nothing["data"], json!({"allCount": 0, "rows": []}), "{query}");
    }
    let (_, before) = get(&s, "/api/v1.1/History?filter.toDate=2000-01-01&filter.count=10", &token).await;
    assert_eq!(before["data"]["allCount"], 0);
    let (status, bad) = get(&s, "/api/v1.1/History?filter.toDate=tomorrow&filter.count=10", &token).await;
    assert_eq!(
        (status, bad["result"]["state"].as_str()),
        (StatusCode::OK, Some("ValidationError"))
    );
    assert_eq!(bad["result"]["validationErrors"][0]["field"], "filter.toDate");
    // v1.2: the item type filter and its extra fields.
    let (_, v12) = get(
        &s,
        "/publicapi/v1.2/History?filter.toDate=2100-01-01&filter.count=10&filter.historyItemType=WithdrawData",
        &token,
    )
    .await;
    assert_eq!(v12["data"]["allCount"], 1);
    let row = &v12["data"]["rows"][0];
    assert_eq!(
        row["data"]["$type"],
        "Loymax.History.UI.Model.HistoryWithdrawDataModel, Loymax.History.UI.Model"
    );
    assert_eq!(
        (row["historyVersion"].as_str(), row["userUid"].is_string()),
        (Some("V2"), true)
    );
    let (_, purchases) = get(
        &s,
        "/publicapi/v1.2/History?filter.toDate=2100-01-01&filter.count=10&filter.historyItemType=Purchase",
        &token,
    )
    .await;
    assert_eq!(purchases["data"]["allCount"], 0);
    // Another member's token sees none of it.
    member(&s, "+79167654321", "b@example.com", "1002").await;
    let (_, other) = get(
        &s,
        "/api/v1.1/History?filter.toDate=2100-01-01&filter.count=10",
        &sign_in(&s, "79167654321").await,
    )
    .await;
    assert_eq!(other["data"]["allCount"], 0);
}

async fn history_pages_and_filters_hundreds_of_operations(db: TestDb) {
    let s = TestServer::start(db).await;
    let (_, token) = member_with_history(&s, 300).await;
    let page = |from: i64| {
        let (s, token) = (&s, &token);
        async move {
            let (_, body) = get(
                s,
                &format!("/api/v1.1/History?filter.toDate=2100-01-01&filter.count=50&filter.from={from}"),
                token,
            )
            .await;
            assert_eq!(body["data"]["allCount"], 301);
            body["data"]["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    for from in (0..301).step_by(50) {
        let ids = page(from).await;
        assert_eq!(ids.len(), (301 - from).min(50) as usize);
        assert!(ids.into_iter().all(|id| seen.insert(id)), "pages do not overlap");
    }
    assert_eq!(seen.len(), 301);
    let (_, rewards) = get(
        &s,
        "/publicapi/v1.2/History?filter.toDate=2100-01-01&filter.count=1&filter.historyItemType=RewardData",
        &token,
    )
    .await;
    assert_eq!(
        (
            rewards["data"]["allCount"].as_i64(),
            rewards["data"]["rows"][0]["data"]["amount"]["amount"].as_f64()
        ),
        (Some(300), Some(300.0))
    );
}

async fn two_factor_sign_in_asks_for_a_code(db: TestDb) {
    let s = TestServer::start(db).await;
    member(&s, "+79161234567", "ivan@example.com", "1001").await;
    let settings = json!({"two_factor_sign_in": true});
    assert_eq!(
        s.admin(
            Method::PUT,
            "/admin/v1/programs/default/registration-settings",
            Some(settings)
        )
        .await
        .0,
        StatusCode::OK
    );
    let first = s
        .client
        .post(format!("{}/authorizationService/token", s.base))
        .form(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "111111"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    let pending = first.headers()["x-loymax-2fa"].to_str().unwrap().to_string();
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"], "TwoFactorAuthenticationCodeRequired");
    assert!(body["error_description"].as_str().unwrap().contains("***4567"));
    let code = s.sent_code("sms", "79161234567").await;
    assert_eq!(code.len(), 6, "the code is revealed from the log channel");
    let with_code = |code: String| {
        let (client, base, pending) = (s.client.clone(), s.base.clone(), pending.clone());
        async move {
            let response = client
                .post(format!("{base}/authorizationService/token"))
                .header("X-Loymax-2FA", pending)
                .form(&[("grant_type", "password"), ("password", code.as_str())])
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, refused) = with_code(wrong.into()).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("IncorrectLoginOrPassword"))
    );
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("осталось 4 попыток"),
        "{refused}"
    );
    let resend = s
        .client
        .post(format!(
            "{}/authorizationService/v1.2/auth/SendConfirmationCode",
            s.base
        ))
        .header("X-Loymax-2FA", &pending)
        .send()
        .await
        .unwrap();
    let resend: Value = resend.json().await.unwrap();
    assert_eq!(resend["result"]["state"], "Error", "too soon: {resend}");
    let (status, tokens) = with_code(code.clone()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, _) = get(
        &s,
        "/publicapi/v1.2/User/Balance",
        tokens["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = with_code(code).await;
    assert_eq!(
        again["error"], "AuthenticationWithConfirmCodeExpired",
        "a two-factor token works once"
    );
}

async fn the_face_serves_only_its_program(db: TestDb) {
    let s = TestServer::start(db).await;
    s.admin(
        Method::POST,
        "/admin/v1/programs",
        Some(json!({"code": "shop2", "name": "Shop two"})),
    )
    .await;
    let (_, other) = s
        .admin(
            Method::POST,
            "/admin/v1/members?program=shop2",
            Some(json!({"phone": "+79161234567"})),
        )
        .await;
    let path = format!("/admin/v1/members/{}/password?program=shop2", other["id"]);
    assert_eq!(
        s.admin(Method::POST, &path, Some(json!({"password": "111111"})))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = token(
        &s,
        &[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "111111"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("IncorrectLoginOrPassword")),
        "shop2's member is unknown here"
    );
}

async fn wrong_passwords_are_counted_and_lock_sign_in(db: TestDb) {
    let s = TestServer::start(db).await;
    member(&s, "+79161234567", "ivan@example.com", "1001").await;
    let settings = json!({"password_attempts": 3, "password_lock_seconds": 600});
    assert_eq!(
        s.admin(
            Method::PUT,
            "/admin/v1/programs/default/registration-settings",
            Some(settings)
        )
        .await
        .0,
        StatusCode::OK
    );
    let attempt = |password: &'static str| {
        let s = &s;
        async move {
            token(
                s,
                &[
                    ("grant_type", "password"),
                    ("username", "79161234567"),
                    ("password", password),
                ],
            )
            .await
        }
    };
    let (_, first) = attempt("000000").await;
    assert_eq!(
        first["error_description"],
        "Неверный логин или пароль, осталось 2 попыток."
    );
    // A right password starts the count again.
    assert_eq!(attempt("111111").await.0, StatusCode::OK);
    assert_eq!(
        attempt("000000").await.1["error_description"],
        "Неверный логин или пароль, осталось 2 попыток."
    );
    attempt("000000").await;
    let (_, third) = attempt("000000").await;
    assert_eq!(
        (third["error"].as_str(), third["error_description"].as_str()),
        (Some("UserBlocked"), Some("Вход заблокирован, повторите через 600 сек."))
    );
    let (status, locked) = attempt("111111").await;
    assert_eq!(
        (status, locked["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UserBlocked")),
        "even the right password waits"
    );
}
