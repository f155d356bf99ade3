//! The IMSHOP face (original/imshop-referral-program.md for the referral statistics, the
//! rest as docs/imshop.md shows it) and the invite-link face: the seed's statistics
//! request replayed exactly, each webhook's answers and refusals, and the links.

use super::{snapshot_scenarios, Call, Wire};
use crate::referral::program;
use reqwest::Method;
use serde_json::{json, Value};

snapshot_scenarios!(imshop_webhooks, referral_statistics_as_the_seed, invite_links);

/// The program of [`program`] with its invite links on the shop's own domain; the key.
async fn shop(w: &mut Wire) -> String {
    let key = program(&w.s, json!({})).await;
    w.alias(&key, "{api_key}");
    let links = json!({"link_base": "https://invite.shop.example"});
    w.s.admin(Method::PUT, "/admin/v1/programs/default/imshop", Some(links))
        .await;
    key
}

fn webhook(key: &str, path: &str, body: Value) -> Call {
    Call::post(format!("/imshop/default{path}")).token(key).json(body)
}

async fn imshop_webhooks(mut w: Wire) -> Wire {
    let key = shop(&mut w).await;
    let ask = json!({"userIdentifier": "79651234500", "installId": "ed6b1eec-082f-4880-9100-bcd8e2016cd1"});
    w.record("otp_request_new_phone", webhook(&key, "/otp/request", ask.clone()))
        .await;
    w.record("otp_request", webhook(&key, "/otp/request", ask.clone()))
        .await;
    w.record("otp_request_too_soon", webhook(&key, "/otp/request", ask))
        .await;
    w.record(
        "otp_request_bad_phone",
        webhook(&key, "/otp/request", json!({"userIdentifier": "12"})),
    )
    .await;
    let wrong = json!({"userIdentifier": "79651234500", "otp": "000000"});
    w.record("otp_confirm_wrong", webhook(&key, "/otp/confirm", wrong))
        .await;
    let code = w.s.sent_code("sms", "79651234500").await;
    let right = json!({"userIdentifier": "79651234500", "otp": code});
    w.record("otp_confirm", webhook(&key, "/otp/confirm", right)).await;
    w.record("user", webhook(&key, "/user", json!({"userIdentifier": "1"})))
        .await;
    w.record("user_unknown", webhook(&key, "/user", json!({"userIdentifier": "77"})))
        .await;
    let items = json!([
        {"name": "Тестовый товар 1", "id": "00a03026", "privateId": "3464", "configurationId": "3464", "price": 3735, "quantity": 1, "subtotal": 3735},
        {"name": "Тестовый товар 3", "id": "3ccd380e", "privateId": "34607", "configurationId": "34607", "price": 5723, "quantity": 2, "subtotal": 11446},
        {"name": "Отложенный", "id": "x", "privateId": "9", "price": 10, "quantity": 1, "selected": false},
    ]);
    let cart = json!({"items": items, "externalUserId": "1", "promocode": null, "installId": "ed6b1eec-082f-4880-9100-bcd8e2016cd1"});
    w.record("cart", webhook(&key, "/cart", cart)).await;
    let order_items = json!([{"name": "Тестовый товар 1", "id": "00a03026", "privateId": "3464", "configurationId": "3464", "quantity": 1}]);
    let orders = json!({"device": {"platform": "ios"}, "installId": "ed6b1eec-082f-4880-9100-bcd8e2016cd1",
        "orders": [{"uuid": "2d81f6e5-01cb-44ca-abb0-ded88c1fc982", "externalUserId": "1", "authorizedBonuses": 0,
                    "status": "placed", "items": order_items}]});
    w.record("orders", webhook(&key, "/orders", orders)).await;
    let too_much = json!({"orders": [{"uuid": "o-2", "externalUserId": "1", "authorizedBonuses": 10000,
        "items": [{"privateId": "3464", "price": 3735, "quantity": 1}]}]});
    w.record("orders_over_bonus_limit", webhook(&key, "/orders", too_much))
        .await;
    let unpriced =
        json!({"orders": [{"uuid": "o-3", "items": [{"privateId": "nope", "name": "Без цены", "quantity": 1}]}]});
    w.record("orders_without_price", webhook(&key, "/orders", unpriced))
        .await;
    w.record(
        "invite",
        webhook(&key, "/referral/invite", json!({"userIdentity": {"userId": "1"}})),
    )
    .await;
    w.record(
        "unauthorized",
        Call::post("/imshop/default/user").json(json!({"userIdentifier": "1"})),
    )
    .await;
    w.record("malformed", webhook(&key, "/user", json!({"userId": 1})))
        .await;
    w.record("unknown_path", webhook(&key, "/nothing", json!({}))).await;
    w
}

async fn referral_statistics_as_the_seed(mut w: Wire) -> Wire {
    let key = shop(&mut w).await;
    // The shop's own user ids are the codes; two friends earned the inviter 4,250.
    let settings = json!({"code": {"kind": "external_id", "source": "shop"},
                          "rewards": [{"on": "registration", "inviter": {"fixed": "2125"}}]});
    w.s.admin(
        Method::PUT,
        "/admin/v1/programs/default/referral-settings",
        Some(settings),
    )
    .await;
    let inviter = json!({"phone": "+79650000001", "external_ids": {"shop": "12345"}});
    w.s.admin(Method::POST, "/admin/v1/members", Some(inviter)).await;
    for phone in ["79650000002", "79650000003"] {
        let ask = json!({"userIdentifier": phone, "referralCode": "12345"});
        w.send(webhook(&key, "/otp/request", ask.clone())).await;
        w.send(webhook(&key, "/otp/request", ask)).await;
        let code = w.s.sent_code("sms", phone).await;
        w.send(webhook(
            &key,
            "/otp/confirm",
            json!({"userIdentifier": phone, "otp": code}),
        ))
        .await;
    }
    w.record("stats", webhook(&key, "/referral/stats", json!({"userId": "12345"})))
        .await;
    w.record(
        "stats_unknown_user",
        webhook(&key, "/referral/stats", json!({"userId": "99999"})),
    )
    .await;
    w.record(
        "invite",
        webhook(&key, "/referral/invite", json!({"userIdentity": {"userId": "12345"}})),
    )
    .await;
    w
}

async fn invite_links(mut w: Wire) -> Wire {
    program(&w.s, json!({})).await;
    let (_, member) =
        w.s.admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": "+79650000009"})),
        )
        .await;
    let code = member["id"].to_string();
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)";
    w.record(
        "ios",
        Call::get(format!("/r/{code}?banner=summer")).header("user-agent", iphone),
    )
    .await;
    let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8)";
    w.record(
        "android",
        Call::get(format!("/r/{code}?banner=summer")).header("user-agent", android),
    )
    .await;
    w.record(
        "first_open_ios",
        Call::post("/referral/first-open").json(json!({"platform": "ios"})),
    )
    .await;
    let referrer = json!({"platform": "android", "installReferrer": "referral_code=1&banner_id=summer"});
    w.record("first_open_android", Call::post("/referral/first-open").json(referrer))
        .await;
    w.record(
        "first_open_nothing",
        Call::post("/referral/first-open").json(json!({"platform": "ios"})),
    )
    .await;
    w.record(
        "first_open_bad",
        Call::post("/referral/first-open").json(json!({"platform": "tv"})),
    )
    .await;
    w.record("unknown_code", Call::get("/r/NOSUCHCODE")).await;
    w.record(
        "apple_app_site_association",
        Call::get("/.well-known/apple-app-site-association"),
    )
    .await;
    w.record("assetlinks_unset", Call::get("/.well-known/assetlinks.json"))
        .await;
    w
}
