//! The Loymax member API once registered (loymax-api.txt "History";
//! loymax-v1.2-clients.md "Token endpoint", "Envelope", "Shapes worth knowing"): sign-in
//! and its errors, two-factor sign-in, the profile, balances, cards, history, password
//! change and reset, notifications.

use super::{snapshot_scenarios, Call, Wire};
use reqwest::Method;
use serde_json::{json, Value};

snapshot_scenarios!(
    sign_in,
    two_factor_sign_in,
    member_reads,
    password_change_and_reset,
    notifications,
    subscriptions,
    coupons,
    status,
    communications
);

const PHONE: &str = "79161234567";
const EMAIL: &str = "ivan@example.com";
const TOKEN: &str = "/authorizationService/token";

/// A member with a phone, e-mail, card and the password `111111`; its id.
async fn member(w: &Wire) -> i64 {
    let s = &w.s;
    let body = json!({"phone": PHONE, "email": EMAIL, "first_name": "Иван", "last_name": "Петров"});
    let (_, m) = s.admin(Method::POST, "/admin/v1/members", Some(body)).await;
    let id = m["id"].as_i64().expect("member id");
    let card = json!({"numbers": ["2000000000017"]});
    s.admin(Method::POST, "/admin/v1/cards/import", Some(card)).await;
    let card = json!({"number": "2000000000017"});
    s.admin(Method::POST, &format!("/admin/v1/members/{id}/cards"), Some(card))
        .await;
    let password = json!({"password": "111111"});
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/members/{id}/password"),
            Some(password),
        )
        .await;
    assert_eq!(status, 204);
    id
}

fn password_grant(password: &str) -> Call {
    Call::post(TOKEN).form(&[("grant_type", "password"), ("username", PHONE), ("password", password)])
}

async fn signed_in(w: &Wire) -> String {
    let (status, tokens) = w.send(password_grant("111111")).await;
    assert_eq!(status, 200, "{tokens}");
    text(&tokens["access_token"])
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_string()
}

async fn sign_in(mut w: Wire) -> Wire {
    member(&w).await;
    let tokens = w.record("token", password_grant("111111")).await;
    let refresh = text(&tokens["refresh_token"]);
    let again = || Call::post(TOKEN).form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
    w.record("token_refreshed", again()).await;
    w.record("refresh_token_used", again()).await;
    w.record("wrong_password", password_grant("222222")).await;
    let unknown = Call::post(TOKEN).form(&[
        ("grant_type", "password"),
        ("username", "79990000000"),
        ("password", "111111"),
    ]);
    w.record("unknown_login", unknown).await;
    let missing = Call::post(TOKEN).form(&[("grant_type", "password"), ("username", PHONE)]);
    w.record("missing_password", missing).await;
    let grant = Call::post(TOKEN).form(&[("grant_type", "authorization_code")]);
    w.record("unsupported_grant_type", grant).await;
    let json = Call::post(TOKEN).json(json!({"grant_type": "password"}));
    w.record("not_a_form", json).await;
    w.record("wrong_method", Call::get(TOKEN)).await;
    w
}

/// The `X-Loymax-2FA` exchange of loymax-v1.2-clients.md.
async fn two_factor_sign_in(mut w: Wire) -> Wire {
    member(&w).await;
    let settings = json!({"two_factor_sign_in": true});
    let path = "/admin/v1/programs/default/registration-settings";
    assert_eq!(w.s.admin(Method::PUT, path, Some(settings)).await.0, 200);
    w.record("code_required", password_grant("111111")).await;
    let pending = w.last_header("x-loymax-2fa");
    let code = w.s.sent_code("sms", PHONE).await;
    let with_code = |code: &str| {
        Call::post(TOKEN)
            .header("X-Loymax-2FA", &pending)
            .form(&[("grant_type", "password"), ("password", code)])
    };
    let resend = Call::post("/authorizationService/v1.2/auth/SendConfirmationCode").header("X-Loymax-2FA", &pending);
    w.record("send_confirmation_code_too_early", resend).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    w.record("wrong_code", with_code(wrong)).await;
    w.record("token", with_code(&code)).await;
    w.record("two_factor_token_used", with_code(&code)).await;
    // The login alone, as the PHP SDK's README signs in: the code is the proof. The code
    // just used cannot be sent again within the pause.
    let login_only = |phone: &str| Call::post(TOKEN).form(&[("grant_type", "password"), ("username", phone)]);
    w.record("login_only_within_the_pause", login_only(PHONE)).await;
    let other = "79167654321";
    let (status, _) =
        w.s.admin(Method::POST, "/admin/v1/members", Some(json!({"phone": other})))
            .await;
    assert_eq!(status, 201);
    w.record("code_required_for_login_only", login_only(other)).await;
    let pending = w.last_header("x-loymax-2fa");
    let code = w.s.sent_code("sms", other).await;
    let with_code = Call::post(TOKEN)
        .header("X-Loymax-2FA", &pending)
        .form(&[("grant_type", "password"), ("password", &code)]);
    w.record("token_for_login_only", with_code).await;
    w.record("login_only_unknown", login_only("79990000000")).await;
    w
}

async fn member_reads(mut w: Wire) -> Wire {
    let id = member(&w).await;
    for (path, key, body) in [
        (
            "accrue",
            "a",
            json!({"member_id": id, "amount": "100", "description": "за покупку"}),
        ),
        (
            "withdraw",
            "w",
            json!({"member_id": id, "amount": "30.5", "description": "за покупку"}),
        ),
        (
            "accrue",
            "e",
            json!({"member_id": id, "amount": "7", "expires_at": "2099-01-01T00:00:00Z"}),
        ),
    ] {
        let path = format!("/admin/v1/operations/{path}");
        let (status, answer) =
            w.s.admin_with(Method::POST, &path, Some(body), &[("Idempotency-Key", key)])
                .await;
        assert_eq!(status, 201, "{answer}");
    }
    let token = signed_in(&w).await;
    let get = |path: &str| Call::get(path).token(&token);
    w.record("user", get("/publicapi/v1.2/User")).await;
    w.record("user_v1", get("/api/v1/User")).await;
    w.record("balance", get("/publicapi/v1.2/User/Balance")).await;
    w.record("balance_v1", get("/api/v1/User/Balance")).await;
    w.record("detailed_balance", get("/publicapi/v1.2/User/DetailedBalance"))
        .await;
    w.record("cards", get("/publicapi/v1.2/Cards")).await;
    let history = "History?filter.toDate=2099-12-31&filter.count=10";
    w.record("history_v1_1", get(&format!("/api/v1.1/{history}"))).await;
    w.record("history_v1_2", get(&format!("/publicapi/v1.2/{history}")))
        .await;
    w.record("history_count_only", get("/api/v1.1/History?filter.toDate=2099-12-31"))
        .await;
    w.record("history_without_filter", get("/api/v1.1/History")).await;
    w.record(
        "history_bad_date",
        get("/api/v1.1/History?filter.toDate=yesterday&filter.count=1"),
    )
    .await;
    // Summaries: the coming lifetime changes of one currency, the history's sums, the
    // card's code for the app to draw.
    let (status, answer) =
        w.s.admin_with(
            Method::POST,
            "/admin/v1/operations/accrue",
            Some(
                json!({"member_id": id, "amount": "5", "activates_at": "2098-01-01T00:00:00Z",
                        "expires_at": "2099-06-01T00:00:00Z"}),
            ),
            &[("Idempotency-Key", "f")],
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let operations = "/publicapi/v1.2/User/DetailedBalance/1/Operations";
    w.record(
        "detailed_balance_operations",
        get(&format!("{operations}?orderByDateAscending=true")),
    )
    .await;
    w.record(
        "detailed_balance_expirations_newest_first",
        get(&format!(
            "{operations}?orderByDateAscending=false&filter.changeTypes=BonusExpiration"
        )),
    )
    .await;
    w.record(
        "detailed_balance_operations_of_no_currency",
        get("/publicapi/v1.2/User/DetailedBalance/99/Operations"),
    )
    .await;
    let aggregate = "/publicapi/v1.2/History/AggregateWithdrawRewardPurchase";
    w.record("aggregate", get(aggregate)).await;
    w.record(
        "aggregate_rewards",
        get(&format!("{aggregate}?filter.historyItemType=RewardData")),
    )
    .await;
    w.record("qr_code", get("/publicapi/v1.2/Cards/1/QrCode")).await;
    w.record("qr_code_of_no_card", get("/publicapi/v1.2/Cards/2/QrCode"))
        .await;
    w.record("no_token", Call::get("/publicapi/v1.2/User/Balance")).await;
    w.record(
        "unknown_token",
        Call::get("/publicapi/v1.2/User/Balance").token("not-a-token"),
    )
    .await;
    w
}

async fn password_change_and_reset(mut w: Wire) -> Wire {
    member(&w).await;
    let token = signed_in(&w).await;
    let change = |old: &str, new: &str| {
        Call::post("/publicapi/v1.2/User/Password/Change")
            .token(&token)
            .json(json!({"oldPassword": old, "newPassword": new}))
    };
    w.record("change_wrong_old_password", change("999999", "222222")).await;
    w.record("change_too_short", change("111111", "1")).await;
    w.record("change", change("111111", "222222")).await;
    let identity = |extra: Value| {
        let mut body = json!({"notifierIdentity": PHONE});
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    let reset = |step: &str, body: Value| Call::post(format!("/publicapi/v1.2/ResetPassword/{step}")).json(body);
    let unknown = json!({"notifierIdentity": "79990000000"});
    w.record("reset_unknown_member", reset("Start", unknown)).await;
    w.record("reset_start", reset("Start", identity(json!({})))).await;
    w.record("reset_start_too_early", reset("Start", identity(json!({}))))
        .await;
    let code = w.s.sent_code("sms", PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm = |code: &str| identity(json!({"confirmCode": code, "newPassword": "555555"}));
    w.record("reset_confirm_wrong_code", reset("Confirm", confirm(wrong)))
        .await;
    w.record("reset_confirm", reset("Confirm", confirm(&code))).await;
    w.record("reset_cancel", reset("Cancel", identity(json!({})))).await;
    w
}

async fn notifications(mut w: Wire) -> Wire {
    let id = member(&w).await;
    for title in ["Оплата покупки", "Начислены бонусы"] {
        let body = json!({"title": title, "body": format!("{title}: текст"), "summary": "кратко"});
        let path = format!("/admin/v1/members/{id}/notifications");
        let (status, answer) = w.s.admin(Method::POST, &path, Some(body)).await;
        assert_eq!(status, 201, "{answer}");
    }
    let token = signed_in(&w).await;
    let base = "/publicapi/v1.2/Notification";
    let list = w
        .record("list", Call::get(format!("{base}?from=0&count=20")).token(&token))
        .await;
    let newest = list["data"][0]["id"].as_i64().expect("notification id");
    w.record("count", Call::get(format!("{base}/Count")).token(&token))
        .await;
    let read = Call::post(format!("{base}/{newest}/Read")).token(&token);
    w.record("read_one", read).await;
    w.record("read_all", Call::post(format!("{base}/Read")).token(&token))
        .await;
    let delete = Call::new(Method::DELETE, format!("{base}/{newest}")).token(&token);
    w.record("delete", delete).await;
    let unknown = Call::post(format!("{base}/9999/Read")).token(&token);
    w.record("unknown", unknown).await;
    w
}

/// Consents as the PHP SDK reads and changes them (its recorded answers: every channel
/// `{readOnly, selected}`; void answers with `result` only).
async fn subscriptions(mut w: Wire) -> Wire {
    member(&w).await;
    let token = signed_in(&w).await;
    let path = "/publicapi/v1.2/User/Subscriptions";
    let two = format!(
        "{path}?subscriptionExternalIds%5B%5D%5B0%5D=Advertisement&subscriptionExternalIds%5B%5D%5B1%5D=System"
    );
    w.record("by_default", Call::get(&two).token(&token)).await;
    let change = json!([{"typeId": 6, "smsNotification": {"selected": true}, "emailNotification": {"selected": false},
                         "pushNotification": null, "viberNotification": null,
                         "socialNetworksNotification": null, "chatBotNotification": null}]);
    w.record("update", Call::post(path).token(&token).json(change)).await;
    w.record("after_update", Call::get(&two).token(&token)).await;
    let read_only = json!([{"typeId": 5, "smsNotification": {"selected": false}}]);
    w.record("update_read_only", Call::post(path).token(&token).json(read_only))
        .await;
    w.record(
        "confirm",
        Call::post(format!("{path}/Confirm")).token(&token).json(json!({})),
    )
    .await;
    w.record("after_confirm", Call::get(&two).token(&token)).await;
    w.record(
        "unknown_type",
        Call::get(format!("{path}?subscriptionExternalIds%5B0%5D=Gossip")).token(&token),
    )
    .await;
    // A device registers for pushes, as the SDK's registerDevice sends it.
    let device =
        json!({"token": "fkBQTHxKKhs:AP91bHuEedxM4xFAUn0z", "platformType": "Android", "pushServiceType": "Fcm"});
    let push = |id: Option<&str>| {
        let call = Call::post("/publicapi/v1.2/Pushes").token(&token).json(device.clone());
        match id {
            Some(id) => call.header("X-DeviceId", id).header("X-PlatformType", "Android"),
            None => call,
        }
    };
    w.record("push_device", push(Some("device-1"))).await;
    w.record("push_not_a_device", push(None)).await;
    w
}

/// Coupons as the PHP SDK parses them (its recorded answers: `couponState`, the
/// emission's title, id and uid).
async fn coupons(mut w: Wire) -> Wire {
    let id = member(&w).await;
    let series = json!({"code": "spring", "title": "Весенний купон", "short_description": "−20 %",
                        "description": "Скидка 20 % на чек"});
    assert_eq!(
        w.s.admin(Method::POST, "/admin/v1/coupon-series", Some(series)).await.0,
        201
    );
    let issue = json!({"member_id": id, "expires_at": "2099-01-01T00:00:00Z"});
    let (status, issued) =
        w.s.admin(Method::POST, "/admin/v1/coupon-series/spring/issue", Some(issue))
            .await;
    assert_eq!(status, 201, "{issued}");
    let number = text(&issued["items"][0]["number"]);
    w.alias(&number, "NUMBER");
    let token = signed_in(&w).await;
    w.record(
        "list",
        Call::get("/publicapi/v1.2/Coupons?from=0&count=10&couponListFilter.couponStates%5B0%5D=Issued").token(&token),
    )
    .await;
    w.redact_last(".body.data[0].code", "[coupon]");
    w.redact_last(".body.data[0].qrContent", "[coupon]");
    w.record(
        "by_number",
        Call::get(format!("/publicapi/v1.2/Coupons/number/{number}")).token(&token),
    )
    .await;
    w.redact_last(".body.data.code", "[coupon]");
    w.redact_last(".body.data.qrContent", "[coupon]");
    w.record(
        "unknown_number",
        Call::get("/publicapi/v1.2/Coupons/number/NOSUCHCOUPON").token(&token),
    )
    .await;
    w
}

/// The status system as the PHP SDK parses it (its recorded answer: levels with float
/// thresholds, the current level, the current and next values).
async fn status(mut w: Wire) -> Wire {
    member(&w).await;
    let token = signed_in(&w).await;
    w.record("none", Call::get("/publicapi/v1.2/User/Status").token(&token))
        .await;
    let ladder = json!({"status": {"name": "Статусная система 1", "logical_name": "StatusSystem",
        "description": "Статус считается за 180 дней", "period_days": 180, "levels": [
            {"name": "Дегустатор", "threshold": 0, "description": "Начисление бонусов 2% от суммы чека", "preferences": "2%"},
            {"name": "Любитель", "threshold": 19900, "description": "Начисление бонусов 3% от суммы чека", "preferences": "3%"}]}});
    let (code, body) =
        w.s.admin(Method::PUT, "/admin/v1/processing/settings", Some(ladder))
            .await;
    assert_eq!(code, 200, "{body}");
    w.record("ladder", Call::get("/publicapi/v1.2/User/Status").token(&token))
        .await;
    w
}

/// The communication service's list of advertised goods, as the PHP SDK's
/// CommunicationService reads it (outside `/publicapi`).
async fn communications(mut w: Wire) -> Wire {
    member(&w).await;
    let token = signed_in(&w).await;
    let path = "/CommunicationService/api/v1/Communication/Communications";
    w.record("none", Call::post(path).token(&token).json(json!({}))).await;
    let goods = json!({"goods": [{"goods_id": "34235", "name": "Сыр «Великолукский» 45 %", "groups": ["cheese"]}]});
    assert_eq!(
        w.s.admin(Method::POST, "/admin/v1/goods/import", Some(goods)).await.0,
        200
    );
    let offer = json!({"name": "15 % бонусами за сыр",
        "conditions": [{"type": "goods", "ids": ["34235", "34277"]},
                       {"type": "period", "from": "2026-07-05T00:00:00", "until": "2100-09-05T23:59:00"}],
        "effects": [{"type": "bonus_percent", "percent": 15}],
        "showcase": {"title": "Сыр", "description": "БОНУСЫ за покупку товаров", "images": ["https://cdn.example/cheese.png"]}});
    assert_eq!(
        w.s.admin(Method::PUT, "/admin/v1/offers/cheese", Some(offer)).await.0,
        200
    );
    w.record("goods", Call::post(path).token(&token).json(json!({}))).await;
    w.record("no_token", Call::post(path).json(json!({}))).await;
    w
}
