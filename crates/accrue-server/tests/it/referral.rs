//! The referral program over real HTTP on both backends: the whole funnel from an invite
//! link to a refund, through IMSHOP's webhooks and a Loymax till; the fraud rules and the
//! review queue; concurrent registrations with one code; and the IMSHOP face's
//! authentication.

use crate::processing_support::{put_offer, till, token, BASE};
use accrue_server::testing::TestServer;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

on_both_backends!(
    the_funnel_from_link_to_refund,
    fraud_rules_hold_referrals_for_review,
    concurrent_registrations_with_one_code_pay_once,
    imshop_calls_are_authenticated,
    links_route_by_platform_and_domain,
    an_inviters_cap_holds,
);

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36";

/// A program with a 5 % bonus offer, referral rewards (the invitee 50 points on
/// registration; the inviter 300 on the invitee's first purchase of 100 or more) and the
/// IMSHOP face on merchant `shop`; the IMSHOP API key.
pub(crate) async fn program(s: &TestServer, fraud: Value) -> String {
    put_offer(
        s,
        "five",
        json!({"name": "5 % back", "effects": [
        {"type": "max_bonus_payment", "percent": 50, "target": "cheque"},
        {"type": "bonus_percent", "percent": 5, "target": "cheque"}]}),
    )
    .await;
    till(s).await;
    let settings = json!({
        "links": {"ios_url": "https://apps.apple.com/app/id1", "android_package": "com.shop.app",
                  "apple_app_site_association": {"applinks": {"details": []}}},
        "rewards": [
            {"on": "registration", "invitee": {"fixed": "50"}},
            {"on": "first_purchase", "min_order": "100", "inviter": {"fixed": "300"}, "lifetime_days": 365},
        ],
        "fraud": fraud,
    });
    let (status, saved) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/referral-settings",
            Some(settings),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (status, imshop) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/imshop",
            Some(json!({"merchant": "shop"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{imshop}");
    assert_eq!(imshop["path"], "/imshop/default");
    imshop["api_key"].as_str().expect("the key is shown once").to_string()
}

/// A call of an IMSHOP webhook with the key; the status and the answer.
async fn imshop(s: &TestServer, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let request = s
        .client
        .post(format!("{}/imshop/default{path}", s.base))
        .bearer_auth(key);
    accrue_server::testing::send(request, Some(body)).await
}

/// Signs a phone in through IMSHOP's two OTP calls (answering `dataRequired` with the
/// referral code when asked); the user object.
pub(crate) async fn sign_in(s: &TestServer, key: &str, phone: &str, referral: Option<&str>, install: &str) -> Value {
    let ask = json!({"userIdentifier": phone, "installId": install});
    let (status, first) = imshop(s, key, "/otp/request", ask.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let sent = if first.get("dataRequired").is_some() {
        assert_eq!(
            first,
            json!({"dataRequired": ["referralCode"], "dataOptional": ["referralCode"]})
        );
        let mut again = ask;
        if let Some(code) = referral {
            again["referralCode"] = json!(code);
        }
        imshop(s, key, "/otp/request", again).await.1
    } else {
        first
    };
    assert_eq!(sent["otp"]["codeLength"], 6, "{sent}");
    let code = s.sent_code("sms", phone).await;
    let (status, user) = imshop(
        s,
        key,
        "/otp/confirm",
        json!({"userIdentifier": phone, "otp": code, "installId": install}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert!(user.get("error").is_none(), "{user}");
    user["user"].clone()
}

async fn stats(s: &TestServer, key: &str, user: &str) -> Value {
    let (status, answer) = imshop(s, key, "/referral/stats", json!({"userId": user})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// The member's points (none without a wallet).
async fn balance(s: &TestServer, member: &str) -> f64 {
    let (_, b) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/balances"), None)
        .await;
    b["items"][0]["balance"].as_str().unwrap_or("0").parse().unwrap()
}

fn order(uuid: &str, user: &str, bonuses: u32) -> Value {
    json!({"installId": "inst-b", "orders": [{"uuid": uuid, "externalUserId": user, "authorizedBonuses": bonuses,
        "items": [{"id": "p-1", "privateId": "sku-1", "configurationId": "sku-1", "name": "Чайник", "quantity": 2}]}]})
}

async fn the_funnel_from_link_to_refund(db: TestDb) {
    let s = TestServer::start(db).await;
    let key = program(&s, json!({})).await;
    let kinds = json!(["referral.attributed", "referral.rewarded", "referral.reversed"]);
    let endpoint = json!({"url": "https://hooks.example.com/accrue", "event_types": kinds});
    let (status, _) = s
        .admin(Method::POST, "/admin/v1/webhook-endpoints", Some(endpoint))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let inviter = sign_in(&s, &key, "79161110001", None, "inst-a").await;
    let a = inviter["id"].as_str().expect("user id").to_string();
    assert_eq!(inviter["bonuses"], 0);

    // The app asks for the inviter's link; a friend's iPhone follows it, then opens the app.
    let (_, invite) = imshop(&s, &key, "/referral/invite", json!({"userIdentity": {"userId": a}})).await;
    assert_eq!(invite["success"], true);
    assert_eq!(invite["referralCode"], a.as_str());
    let link = invite["url"].as_str().expect("url").to_string();
    assert_eq!(link, format!("{}/r/{a}", s.base));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let followed = no_redirects
        .get(format!("{link}?banner=summer"))
        .header("user-agent", IPHONE)
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), StatusCode::FOUND);
    assert_eq!(followed.headers()["location"], "https://apps.apple.com/app/id1");
    let (status, opened) = s
        .call(
            Method::POST,
            "/referral/first-open",
            None,
            Some(json!({"platform": "ios"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(
        opened,
        json!({"referralCode": a, "bannerId": "summer", "matchedBy": "ip_window"})
    );
    let (_, again) = s
        .call(
            Method::POST,
            "/referral/first-open",
            None,
            Some(json!({"platform": "ios"})),
        )
        .await;
    assert_eq!(again["referralCode"], Value::Null, "a click is matched once");
    let (_, clicks) = s
        .admin(Method::GET, &format!("/admin/v1/referral-clicks?inviter={a}"), None)
        .await;
    let click = &clicks["items"][0];
    assert_eq!(
        (
            click["code"].clone(),
            click["banner_id"].clone(),
            click["platform"].clone()
        ),
        (json!(a), json!("summer"), json!("ios"))
    );
    assert_eq!(
        (click["ip"].clone(), click["user_agent"].clone()),
        (json!("127.0.0.1"), json!(IPHONE))
    );
    assert!(click["matched_at"].is_string(), "{clicks}");

    // The friend registers with the code: the registration reward is theirs at once.
    let invitee = sign_in(&s, &key, "79161110002", Some(&a), "inst-b").await;
    let b = invitee["id"].as_str().expect("user id").to_string();
    assert_eq!(invitee["bonuses"], 50, "{invitee}");
    let seed =
        json!({"stats": [{"title": "Бонус (руб)", "value": 0}, {"title": "Кол-во приглашенных друзей", "value": 1}]});
    assert_eq!(stats(&s, &key, &a).await, seed);

    // The cart, then the order: the inviter is rewarded once, however often it is sent.
    let cart = json!({"installId": "inst-b", "externalUserId": b, "authorizedBonuses": 20,
        "items": [{"id": "p-1", "privateId": "sku-1", "configurationId": "sku-1", "name": "Чайник", "price": 100, "quantity": 2, "subtotal": 200}]});
    let (status, priced) = imshop(&s, &key, "/cart", cart).await;
    assert_eq!(status, StatusCode::OK, "{priced}");
    assert_eq!(priced["totalPrice"], 200);
    assert_eq!(priced["bonuses"], json!({"canSpend": 50, "willEarn": 9}), "{priced}");
    assert_eq!(priced["items"][0]["bonuses"], json!({"canSpend": 100, "willEarn": 9}));
    let (status, placed) = imshop(&s, &key, "/orders", order("o-1", &b, 20)).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    let first = &placed["orders"][0];
    assert_eq!(first["success"], true, "{placed}");
    assert_eq!(
        (
            first["uuid"].clone(),
            first["price"].clone(),
            first["bonusesSpent"].clone()
        ),
        (json!("o-1"), json!(180), json!(20))
    );
    assert_eq!(first["bonusesEarned"], 9);
    let (_, repeated) = imshop(&s, &key, "/orders", order("o-1", &b, 20)).await;
    assert_eq!(repeated, placed, "a repeated order is answered as the first");
    let (_, changed) = imshop(&s, &key, "/orders", order("o-1", &b, 10)).await;
    assert_eq!(changed["orders"][0]["errorCode"], "order_changed", "{changed}");
    assert_eq!(balance(&s, &a).await, 300.0);
    assert_eq!(balance(&s, &b).await, 39.0);
    let (_, balances) = s
        .admin(Method::GET, &format!("/admin/v1/members/{a}/balances"), None)
        .await;
    let expires = balances["items"][0]["expirations"][0]["expires_at"]
        .as_str()
        .expect("the reward expires")
        .to_string();
    let in_a_year = chrono::Utc::now() + chrono::Duration::days(365);
    assert_eq!(
        &expires[..10],
        &in_a_year.to_rfc3339()[..10],
        "the rule's lifetime: {balances}"
    );
    let figures =
        json!({"stats": [{"title": "Бонус (руб)", "value": 300}, {"title": "Кол-во приглашенных друзей", "value": 1}]});
    assert_eq!(stats(&s, &key, &a).await, figures);
    let (_, second) = imshop(&s, &key, "/orders", order("o-2", &b, 0)).await;
    assert_eq!(second["orders"][0]["success"], true, "{second}");
    assert_eq!(balance(&s, &a).await, 300.0, "only the first purchase rewards");

    // The shop refunds the first order at a till: the reward goes back with it.
    let till_token = token(&s, &till(&s).await, None).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refund = json!({"operationId": "r-1", "operationDate": "2026-12-03T10:00:00Z", "cashier": "x"});
    let (status, refunded) = s
        .call(
            Method::POST,
            &format!("{BASE}/Purchases/o-1/Refund"),
            Some(&till_token),
            Some(refund),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refunded}");
    assert_eq!(refunded["result"]["state"], "Success", "{refunded}");
    assert_eq!(balance(&s, &a).await, 0.0);
    let reversed =
        json!({"stats": [{"title": "Бонус (руб)", "value": 0}, {"title": "Кол-во приглашенных друзей", "value": 1}]});
    assert_eq!(stats(&s, &key, &a).await, reversed);
    let (_, view) = s
        .admin(Method::GET, &format!("/admin/v1/members/{a}/referral"), None)
        .await;
    assert_eq!(
        (view["invited"].clone(), view["rewarded"].clone(), view["code"].clone()),
        (json!(1), json!(0), json!(a))
    );
    // The inviter sees the same in a Loymax client.
    let password = json!({"password": "111111"});
    s.admin(Method::POST, &format!("/admin/v1/members/{a}/password"), Some(password))
        .await;
    let (_, signed) = s
        .token(&[
            ("grant_type", "password"),
            ("username", "79161110001"),
            ("password", "111111"),
        ])
        .await;
    let member_token = signed["access_token"].as_str().expect("a member token");
    let (status, mine) = s
        .call(Method::GET, "/publicapi/v1.2/User/Referral", Some(member_token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["data"]["code"], a.as_str(), "{mine}");
    assert_eq!(mine["data"]["link"], format!("{}/r/{a}", s.base));
    assert_eq!(
        (mine["data"]["invitedCount"].clone(), mine["data"]["bonus"].clone()),
        (json!(1), json!(0.0)),
        "{mine}"
    );
    let (_, unknown) = imshop(&s, &key, "/referral/stats", json!({"userId": "999999"})).await;
    assert!(unknown.get("stats").is_none(), "an unknown user has no data: {unknown}");
    let events: Vec<(String, String)> = queued(&s)
        .await
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap().to_string(),
                m["data"]["role"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let expected = [
        ("referral.attributed", "-"),
        ("referral.rewarded", "invitee"),
        ("referral.rewarded", "inviter"),
        ("referral.reversed", "-"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(t, r)| (t.to_string(), r.to_string())).collect();
    assert_eq!(events, expected);

    // The dashboard's figures for today: the funnel, the two orders, the points.
    let (_, activity) = s.admin(Method::GET, "/admin/v1/reports/activity", None).await;
    assert_eq!(
        activity["referrals"],
        json!({"clicks": 1, "registrations": 1, "approved": 1, "rewarded": 1})
    );
    assert_eq!(
        (&activity["purchases"]["count"], &activity["purchases"]["revenue"]),
        (&json!(2), &json!("400.00")),
        "{activity}"
    );
    let (_, points) = s.admin(Method::GET, "/admin/v1/reports/points", None).await;
    assert_eq!(points["members"], json!({"total": 2, "joined": 2}));
    // 50 + 9 + 300 + 10 accrued, the refund took 9 + 300 back; 20 spent, then returned.
    assert_eq!(
        points["currencies"][0]["totals"],
        json!({"accrued": "60.00", "spent": "0.00", "expired": "0.00"}),
        "{points}"
    );
}

/// The webhook events queued so far, oldest first.
async fn queued(s: &TestServer) -> Vec<Value> {
    let (status, list) = s
        .admin(Method::GET, "/admin/v1/outbox/messages?kind=webhook&count=50", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut items: Vec<Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["payload"].clone())
        .collect();
    items.reverse();
    items
}

async fn fraud_rules_hold_referrals_for_review(db: TestDb) {
    let s = TestServer::start(db).await;
    let key = program(&s, json!({"self_referral": true, "velocity": {"max": 1, "hours": 24}})).await;
    let a = sign_in(&s, &key, "79162220001", None, "phone-of-a").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Own code: nothing attributed.
    let own = sign_in(&s, &key, "79162220009", Some("nobody-has-this"), "x").await;
    assert_eq!(own["bonuses"], 0, "an unknown code registers without a referral");
    // The same device as the inviter: held for review, nothing paid.
    let b = sign_in(&s, &key, "79162220002", Some(&a), "phone-of-a").await;
    assert_eq!(b["bonuses"], 0, "{b}");
    let (_, queue) = s.admin(Method::GET, "/admin/v1/referrals?state=review", None).await;
    assert_eq!(queue["items"].as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue["items"][0]["suspicions"], json!(["same_device"]));
    let held = queue["items"][0]["id"].as_i64().unwrap();
    // Over the velocity limit (one a day): held too.
    let c = sign_in(&s, &key, "79162220003", Some(&a), "phone-of-c").await;
    assert_eq!(c["bonuses"], 0);
    let (_, queue) = s.admin(Method::GET, "/admin/v1/referrals?state=review", None).await;
    let second = queue["items"][0].clone();
    assert_eq!(second["suspicions"], json!(["velocity"]), "{queue}");
    // One inviter per invitee: a later code changes nothing.
    let (_, list) = s.admin(Method::GET, "/admin/v1/referrals", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    // Approving pays what was held; rejecting voids it; a decided referral stays decided.
    let (status, approved) = s
        .admin(Method::POST, &format!("/admin/v1/referrals/{held}/approve"), None)
        .await;
    assert_eq!(
        (status, approved["state"].clone()),
        (StatusCode::OK, json!("approved")),
        "{approved}"
    );
    assert_eq!(balance(&s, b["id"].as_str().unwrap()).await, 50.0);
    let rejected = second["id"].as_i64().unwrap();
    let (_, decided) = s
        .admin(Method::POST, &format!("/admin/v1/referrals/{rejected}/reject"), None)
        .await;
    assert_eq!(decided["state"], "rejected");
    assert_eq!(balance(&s, c["id"].as_str().unwrap()).await, 0.0);
    let (status, again) = s
        .admin(Method::POST, &format!("/admin/v1/referrals/{rejected}/approve"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    // Two installs that first opened from one address (here both from 127.0.0.1).
    for install in ["install-e", "install-f"] {
        let open = json!({"platform": "android", "installId": install});
        s.call(Method::POST, "/referral/first-open", None, Some(open)).await;
    }
    let e = sign_in(&s, &key, "79162220005", None, "install-e").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    sign_in(&s, &key, "79162220006", Some(&e), "install-f").await;
    let (_, queue) = s.admin(Method::GET, "/admin/v1/referrals?state=review", None).await;
    assert_eq!(queue["items"][0]["suspicions"], json!(["same_ip"]), "{queue}");
    // A friend giving the inviter's e-mail (also over the inviter's velocity by now).
    let email = json!({"email": "a@shop.example"});
    let (status, _) = s
        .admin(Method::PATCH, &format!("/admin/v1/members/{a}"), Some(email))
        .await;
    assert_eq!(status, StatusCode::OK);
    let ask = json!({"userIdentifier": "79162220007", "installId": "install-g"});
    imshop(&s, &key, "/otp/request", ask.clone()).await;
    let mut again = ask;
    again["referralCode"] = json!(a);
    again["email"] = json!("A@Shop.example");
    again["fullName"] = json!("Иван Петров");
    let (_, sent) = imshop(&s, &key, "/otp/request", again).await;
    assert!(sent.get("otp").is_some(), "{sent}");
    let code = s.sent_code("sms", "79162220007").await;
    let (_, user) = imshop(
        &s,
        &key,
        "/otp/confirm",
        json!({"userIdentifier": "79162220007", "otp": code}),
    )
    .await;
    assert_eq!(user["user"]["name"], "Иван Петров", "{user}");
    assert!(
        user["user"].get("email").is_none(),
        "the inviter's address stays the inviter's"
    );
    let (_, queue) = s.admin(Method::GET, "/admin/v1/referrals?state=review", None).await;
    assert_eq!(
        queue["items"][0]["suspicions"],
        json!(["same_email", "velocity"]),
        "{queue}"
    );
}

async fn an_inviters_cap_holds(db: TestDb) {
    let s = TestServer::start(db).await;
    let key = program(&s, json!({"velocity": null})).await;
    let capped = json!({"rewards": [{"on": "first_purchase", "inviter": {"percent": "10"}, "inviter_cap": {"rewards": 1, "days": 30}}]});
    let (status, saved) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/referral-settings",
            Some(capped),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let a = sign_in(&s, &key, "79165550001", None, "c-a").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (n, phone) in ["79165550002", "79165550003"].iter().enumerate() {
        let friend = sign_in(&s, &key, phone, Some(&a), &format!("c-{n}")).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        // Prices as the order sends them (no cart was priced for these installs).
        let mut priced = order(&format!("cap-{n}"), &friend, 0);
        priced["orders"][0]["items"][0]["price"] = json!(100);
        let (_, placed) = imshop(&s, &key, "/orders", priced).await;
        assert_eq!(placed["orders"][0]["success"], true, "{placed}");
    }
    assert_eq!(
        balance(&s, &a).await,
        20.0,
        "10 % of the first 200 only: the cap is one a month"
    );
}

async fn concurrent_registrations_with_one_code_pay_once(db: TestDb) {
    let s = Arc::new(TestServer::start(db).await);
    let key = program(&s, json!({"velocity": null})).await;
    let a = sign_in(&s, &key, "79163330001", None, "i-a").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let phone = "79163330002";
    let ask = json!({"userIdentifier": phone, "referralCode": a});
    imshop(&s, &key, "/otp/request", ask.clone()).await;
    let (_, sent) = imshop(&s, &key, "/otp/request", ask).await;
    assert!(sent.get("otp").is_some(), "{sent}");
    let code = s.sent_code("sms", phone).await;
    let confirm = json!({"userIdentifier": phone, "otp": code, "referralCode": a});
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, key, confirm) = (s.clone(), key.clone(), confirm.clone());
            tokio::spawn(async move { imshop(&s, &key, "/otp/confirm", confirm).await })
        })
        .collect();
    let mut signed_in = 0;
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        signed_in += usize::from(answer.get("user").is_some());
    }
    assert_eq!(signed_in, 1, "the code is used once");
    let (_, list) = s.admin(Method::GET, "/admin/v1/referrals", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let b = list["items"][0]["invitee_id"].as_i64().unwrap().to_string();
    assert_eq!(balance(&s, &b).await, 50.0, "the registration reward is paid once");
    // The friend's first order, sent eight times at once: paid for and rewarded once.
    let mut first = order("o-at-once", &b, 20);
    first["orders"][0]["items"][0]["price"] = json!(100);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, key, first) = (s.clone(), key.clone(), first.clone());
            tokio::spawn(async move { imshop(&s, &key, "/orders", first).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
        answers.push(answer);
    }
    assert!(
        answers
            .iter()
            .all(|a| a == &answers[0] && a["orders"][0]["success"] == true),
        "{answers:?}"
    );
    assert_eq!(balance(&s, &a).await, 300.0, "the inviter is rewarded once");
    assert_eq!(balance(&s, &b).await, 39.0, "50 - 20 paid + 9 earned, once");
}

async fn imshop_calls_are_authenticated(db: TestDb) {
    let s = TestServer::start(db).await;
    let key = program(&s, json!({})).await;
    let path = format!("{}/imshop/default/referral/stats", s.base);
    let body = json!({"userId": "1"});
    let (status, refused) = accrue_server::testing::send(s.client.post(&path), Some(body.clone())).await;
    assert_eq!(
        (status, refused),
        (
            StatusCode::UNAUTHORIZED,
            json!({"error": {"message": "a valid API key is required"}})
        )
    );
    let wrong = s.client.post(&path).bearer_auth("imk_wrong");
    assert_eq!(
        accrue_server::testing::send(wrong, Some(body.clone())).await.0,
        StatusCode::UNAUTHORIZED
    );
    let basic = s.client.post(&path).basic_auth("imshop", Some(&key));
    assert_eq!(
        accrue_server::testing::send(basic, Some(body.clone())).await.0,
        StatusCode::NOT_FOUND
    );
    let in_body = json!({"userId": "1", "key": key});
    assert_eq!(
        accrue_server::testing::send(s.client.post(&path), Some(in_body))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, bad) =
        accrue_server::testing::send(s.client.post(&path).bearer_auth(&key), Some(json!({"user": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    // A new key replaces the old one; an address list keeps others out.
    let (_, rotated) = s
        .admin(Method::POST, "/admin/v1/programs/default/imshop/rotate-key", None)
        .await;
    let new_key = rotated["api_key"].as_str().unwrap();
    let old = s.client.post(&path).bearer_auth(&key);
    assert_eq!(
        accrue_server::testing::send(old, Some(body.clone())).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Setting the same merchant again keeps the device and the key.
    let (_, before) = s.admin(Method::GET, "/admin/v1/programs/default/imshop", None).await;
    let (_, again) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/imshop",
            Some(json!({"merchant": "shop"})),
        )
        .await;
    assert_eq!(
        (again["device_id"].clone(), again["api_key"].clone()),
        (before["device_id"].clone(), Value::Null)
    );
    let settings = json!({"allowed_ips": ["10.0.0.0/8"]});
    let (status, _) = s
        .admin(Method::PUT, "/admin/v1/programs/default/imshop", Some(settings))
        .await;
    assert_eq!(status, StatusCode::OK);
    let outside = s.client.post(&path).bearer_auth(new_key);
    assert_eq!(
        accrue_server::testing::send(outside, Some(body)).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, unknown) =
        accrue_server::testing::send(s.client.post(format!("{}/imshop/nope/user", s.base)), Some(json!({}))).await;
    assert_eq!(
        unknown,
        json!({"error": {"message": "no program has this IMSHOP path"}})
    );
}

async fn links_route_by_platform_and_domain(db: TestDb) {
    let s = TestServer::start(db).await;
    program(&s, json!({})).await;
    let (_, member) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": "+79164440001"})),
        )
        .await;
    let code = member["referral_code"].as_str().unwrap().to_string();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let android = client
        .get(format!("{}/r/{}?banner_id=b7", s.base, code.to_lowercase()))
        .header("user-agent", ANDROID)
        .send()
        .await
        .unwrap();
    assert_eq!(
        android.status(),
        StatusCode::FOUND,
        "the generated code resolves in any case"
    );
    let expected = format!(
        "https://play.google.com/store/apps/details?id=com.shop.app&referrer=referral_code%3D{}%26banner_id%3Db7",
        code.to_lowercase()
    );
    assert_eq!(android.headers()["location"], expected.as_str());
    let (status, opened) = s
        .call(
            Method::POST,
            "/referral/first-open",
            None,
            Some(json!({"platform": "android", "installReferrer": format!("referral_code={code}&banner_id=b7")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        opened,
        json!({"referralCode": code, "bannerId": "b7", "matchedBy": "install_referrer"})
    );
    let page = client
        .get(format!("{}/r/{code}", s.base))
        .header("user-agent", "curl/8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(&code), "a web page shows the code");
    let unknown = client.get(format!("{}/r/NOSUCH1", s.base)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let aasa = client
        .get(format!("{}/.well-known/apple-app-site-association", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        aasa.json::<Value>().await.unwrap(),
        json!({"applinks": {"details": []}})
    );
    let none = client
        .get(format!("{}/.well-known/assetlinks.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    // Another program's link domain serves that program's settings.
    let (status, _) = s
        .admin(
            Method::POST,
            "/admin/v1/programs",
            Some(json!({"code": "p2", "name": "Second", "phone_region": "RU"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let second = json!({"links": {"assetlinks": [{"relation": ["delegate_permission/common.handle_all_urls"]}]}});
    s.admin(Method::PUT, "/admin/v1/programs/p2/referral-settings", Some(second))
        .await;
    let (status, hosts) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/p2/link-hosts",
            Some(json!({"hosts": ["invite.p2.example"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{hosts}");
    let bound = client
        .get(format!("{}/.well-known/assetlinks.json", s.base))
        .header("host", "invite.p2.example")
        .send()
        .await
        .unwrap();
    assert_eq!(bound.status(), StatusCode::OK);
    let (status, bad) = s
        .admin(
            Method::PUT,
            "/admin/v1/programs/default/referral-settings",
            Some(json!({"rewards": [{"on": "registration", "inviter": {"percent": "5"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
}
