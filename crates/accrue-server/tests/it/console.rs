//! The web console over real HTTP on both backends (sign-in, sessions, the form token,
//! roles, brute force), and in headless Chromium: an operator signs in, finds a member,
//! accrues points and sees the balance change, saves an offer and simulates it, creates
//! a tracker integration and copies its link, retries a failed webhook — every page kept
//! as a screenshot, at desktop and phone width.

use accrue_server::testing::{delivering_options, Receiver, Reply, TestServer};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    operators_sign_in_and_forms_need_their_token,
    roles_keep_to_their_part,
    wrong_passwords_lock_a_login,
    settings_links_batches_and_partners_through_forms,
    purchases_referrals_endpoints_partners_and_operators,
    members_are_exported_in_the_background,
);

const PASSWORD: &str = "correct horse 42";

async fn operator(s: &TestServer, login: &str, role: &str) {
    accrue_server::service::operators::create(&s.store, login, "Test operator", role, PASSWORD.into())
        .await
        .unwrap();
}

/// A browser of the console without script: cookies and the form token by hand.
struct Console<'a> {
    s: &'a TestServer,
    http: reqwest::Client,
    cookie: String,
}

impl<'a> Console<'a> {
    fn new(s: &'a TestServer) -> Console<'a> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Console {
            s,
            http,
            cookie: String::new(),
        }
    }

    /// Signs in; the answer's status and its `Set-Cookie`.
    async fn sign_in(&mut self, login: &str, password: &str) -> (StatusCode, String) {
        let answer = self
            .http
            .post(format!("{}/console/sign-in", self.s.base))
            .form(&[("login", login), ("password", password)])
            .send()
            .await
            .unwrap();
        let set = answer
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        if let Some(pair) = set.split(';').next().filter(|p| !p.is_empty()) {
            self.cookie = pair.to_string();
        }
        (answer.status(), set)
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let answer = self
            .http
            .get(format!("{}{path}", self.s.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (answer.status(), answer.text().await.unwrap())
    }

    /// Posts a form; the status and where it redirects (or the page).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let answer = self
            .http
            .post(format!("{}{path}", self.s.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        match answer.headers().get("location") {
            Some(to) => (status, to.to_str().unwrap().to_string()),
            None => (status, answer.text().await.unwrap()),
        }
    }

    /// The form token of a page.
    async fn csrf(&self) -> String {
        let (_, page) = self.get("/console/members").await;
        let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
        page[at..at + 64].to_string()
    }
}

async fn balance(s: &TestServer, member: i64) -> String {
    let (_, b) = s
        .admin(Method::GET, &format!("/admin/v1/members/{member}/balances"), None)
        .await;
    b["items"][0]["balance"].as_str().unwrap_or("0.00").to_string()
}

async fn member(s: &TestServer) -> i64 {
    let (_, m) = s
        .admin(
            Method::POST,
            "/admin/v1/members",
            Some(json!({"phone": "+79161234567"})),
        )
        .await;
    m["id"].as_i64().unwrap()
}

async fn operators_sign_in_and_forms_need_their_token(db: TestDb) {
    let s = TestServer::start(db).await;
    operator(&s, "anna", "admin").await;
    let id = member(&s).await;
    let mut c = Console::new(&s);
    let (status, page) = c.get("/console").await;
    assert_eq!(
        (status, page.as_str()),
        (StatusCode::SEE_OTHER, ""),
        "signed out: to the sign-in"
    );
    assert_eq!(
        c.get("/").await.0,
        StatusCode::SEE_OTHER,
        "the root leads to the console"
    );

    let (status, cookie) = c.sign_in("anna", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console"));
    assert!(!cookie.contains("Secure"), "on this machine over plain HTTP: {cookie}");
    let (status, page) = c.get("/console").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<h1>Dashboard</h1>") && page.contains("id=\"members-total\">1<"),
        "{page}"
    );

    // Without the form token nothing moves; with it the points do, once per form.
    let path = format!("/console/members/{id}/points");
    let form = [
        ("key", "k1"),
        ("amount", "12.50"),
        ("reason", "Goodwill"),
        ("direction", "accrue"),
    ];
    let (status, _) = c.post(&path, &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(balance(&s, id).await, "0.00");
    let csrf = c.csrf().await;
    let with_token = [&form[..], &[("csrf", csrf.as_str())]].concat();
    let (status, to) = c.post(&path, &with_token).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.contains("done=accrued"), "{to}");
    c.post(&path, &with_token).await;
    assert_eq!(balance(&s, id).await, "12.50", "the same form twice accrues once");
    let (_, page) = c.get(&format!("/console/members/{id}")).await;
    assert!(page.contains("Goodwill") && page.contains(">12.50<"), "{page}");

    // Another site's page cannot sign the operator out either; the operator can.
    assert_eq!(c.post("/console/sign-out", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        c.post("/console/sign-out", &[("csrf", &csrf)]).await.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(c.get("/console").await.0, StatusCode::SEE_OTHER, "the session ended");

    // Behind a proxy the cookie is secure.
    let answer = c
        .http
        .post(format!("{}/console/sign-in", s.base))
        .header("x-forwarded-proto", "https")
        .form(&[("login", "anna"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(answer.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
}

async fn roles_keep_to_their_part(db: TestDb) {
    let s = TestServer::start(db).await;
    operator(&s, "sam", "support").await;
    operator(&s, "ada", "analyst").await;
    let id = member(&s).await;

    let mut support = Console::new(&s);
    support.sign_in("sam", PASSWORD).await;
    let csrf = support.csrf().await;
    let form = [
        ("csrf", csrf.as_str()),
        ("key", "s1"),
        ("amount", "5"),
        ("reason", "Late parcel"),
        ("direction", "accrue"),
    ];
    support.post(&format!("/console/members/{id}/points"), &form).await;
    assert_eq!(balance(&s, id).await, "5.00", "support cares for members");
    let offer = [
        ("csrf", csrf.as_str()),
        ("code", "x"),
        (
            "offer",
            r#"{"name": "x", "effects": [{"type": "bonus_percent", "percent": 5}]}"#,
        ),
    ];
    let (status, page) = support.post("/console/offers", &offer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "support does not change offers");
    assert!(page.contains("may not do this"));
    assert_eq!(support.get("/console/operators").await.0, StatusCode::FORBIDDEN);

    let mut analyst = Console::new(&s);
    analyst.sign_in("ada", PASSWORD).await;
    let (status, page) = analyst.get("/console").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("href=\"/console/members"),
        "no Members in an analyst's menu"
    );
    let (_, page) = analyst.get(&format!("/console/members/{id}")).await;
    assert!(page.contains("your role (analyst) may not do this"), "{page}");
    let csrf = analyst.csrf().await;
    let form = [
        ("csrf", csrf.as_str()),
        ("key", "a1"),
        ("amount", "5"),
        ("reason", "x"),
        ("direction", "accrue"),
    ];
    let (_, to) = analyst.post(&format!("/console/members/{id}/points"), &form).await;
    assert!(to.contains("failed="), "{to}");
    assert_eq!(balance(&s, id).await, "5.00", "an analyst moves no points");
}

async fn wrong_passwords_lock_a_login(db: TestDb) {
    let s = TestServer::start(db).await;
    operator(&s, "anna", "admin").await;
    let mut c = Console::new(&s);
    assert_eq!(c.sign_in("nobody", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    for _ in 0..5 {
        assert_eq!(c.sign_in("anna", "guess").await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        c.sign_in("anna", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "locked after five wrong passwords, the right one too"
    );
}

/// The form of `path`'s page with the form token added.
fn with_csrf<'a>(csrf: &'a str, form: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    [form, &[("csrf", csrf)]].concat()
}

async fn settings_links_batches_and_partners_through_forms(db: TestDb) {
    let s = TestServer::start(db).await;
    operator(&s, "anna", "admin").await;
    operator(&s, "ada", "analyst").await;
    let id = member(&s).await;
    let mut c = Console::new(&s);
    c.sign_in("anna", PASSWORD).await;
    let csrf = c.csrf().await;

    // The program's settings read as JSON; a lifetime definition saved; bad JSON and a
    // setting the admin API refuses change nothing.
    let (status, page) = c.get("/console/programs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Registration steps and codes") && page.contains("&quot;resend_after_seconds&quot;: 60"));
    let lifetime = r#"{"name": "Next month", "expiry": {"type": "end_of_month", "months_after": 1}}"#;
    let form = [
        ("what", "lifetime"),
        ("key-lifetime", "NEXT"),
        ("json-lifetime", lifetime),
    ];
    let (status, to) = c.post("/console/programs", &with_csrf(&csrf, &form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.contains("done=saved"), "{to}");
    let (_, kept) = s.admin(Method::GET, "/admin/v1/programs/default/lifetimes", None).await;
    assert_eq!(kept["lifetimes"][0]["external_id"], "NEXT", "{kept}");
    let form = [("what", "registration"), ("json-registration", "{not json")];
    let (_, to) = c.post("/console/programs", &with_csrf(&csrf, &form)).await;
    assert!(to.contains("failed=") && to.contains("not%20JSON"), "{to}");
    let form = [
        ("what", "registration"),
        ("json-registration", r#"{"codes": {"length": 1}}"#),
    ];
    let (_, to) = c.post("/console/programs", &with_csrf(&csrf, &form)).await;
    assert!(to.contains("failed="), "{to}");
    let (_, settings) = s
        .admin(Method::GET, "/admin/v1/programs/default/registration-settings", None)
        .await;
    assert_eq!(settings["codes"]["length"], 6, "refused settings change nothing");
    let form = [
        ("what", "card-category"),
        ("json-card-category", r#"{"code": "gold", "title": "Gold"}"#),
    ];
    c.post("/console/programs", &with_csrf(&csrf, &form)).await;
    let (_, page) = c.get("/console/programs").await;
    assert!(
        page.contains("<td>gold</td>") && page.contains("<td>NEXT</td>"),
        "{page}"
    );
    let pool = r#"{"numbers": ["2000000000017"], "category": "gold"}"#;
    let form = [("what", "card-pool"), ("json-card-pool", pool)];
    let (_, to) = c.post("/console/programs", &with_csrf(&csrf, &form)).await;
    assert!(to.contains("done="), "{to}");
    let (_, cards) = s.admin(Method::GET, "/admin/v1/cards?state=free", None).await;
    assert_eq!(cards["items"][0]["number"], "2000000000017", "{cards}");
    let series = r#"{"code": "WELCOME", "title": "Welcome"}"#;
    c.post(
        "/console/programs",
        &with_csrf(&csrf, &[("what", "coupon-series"), ("json-coupon-series", series)]),
    )
    .await;
    let issue = format!(r#"{{"member_id": {id}, "count": 2}}"#);
    let form = [
        ("what", "coupons"),
        ("key-coupons", ""),
        ("json-coupons", issue.as_str()),
    ];
    let (_, to) = c.post("/console/programs", &with_csrf(&csrf, &form)).await;
    assert!(to.contains("failed=Series%20code%20is%20required"), "{to}");
    let form = [
        ("what", "coupons"),
        ("key-coupons", "WELCOME"),
        ("json-coupons", issue.as_str()),
    ];
    let (_, to) = c.post("/console/programs", &with_csrf(&csrf, &form)).await;
    assert!(to.contains("done="), "{to}");
    let (_, coupons) = s
        .admin(Method::GET, &format!("/admin/v1/members/{id}/coupons"), None)
        .await;
    assert_eq!(coupons["items"].as_array().map(Vec::len), Some(2), "{coupons}");

    // The member's page: cards, referrals, messages; the code sent again by SMS.
    let (_, page) = c.get(&format!("/console/members/{id}")).await;
    for part in [
        "<h2>Cards</h2>",
        "<h2>Referrals</h2>",
        "<h2>Messages</h2>",
        "Invite link",
    ] {
        assert!(page.contains(part), "{part} in {page}");
    }
    let path = format!("/console/members/{id}/code");
    let (_, to) = c.post(&path, &with_csrf(&csrf, &[("channel", "phone")])).await;
    assert!(to.contains("done=sent%20a%206-digit%20code%20by%20phone"), "{to}");
    assert_eq!(s.sent_code("sms", "%2B79161234567").await.len(), 6);
    let (_, to) = c.post(&path, &with_csrf(&csrf, &[("channel", "email")])).await;
    assert!(to.contains("failed="), "no e-mail to send to: {to}");

    // A registration link built from lines of parameters; a bad line refused.
    let (_, templates) = s.admin(Method::GET, "/admin/v1/tracker/templates", None).await;
    let template = templates["items"][0]["code"].as_str().unwrap();
    c.post(
        "/console/tracker",
        &with_csrf(&csrf, &[("name", "Casino"), ("template", template)]),
    )
    .await;
    let (_, integrations) = s.admin(Method::GET, "/admin/v1/tracker/integrations", None).await;
    let integration = integrations["items"][0]["id"].as_str().unwrap();
    let link = [
        ("integration", integration),
        ("link_name", "Sign-up"),
        ("base_url", "https://partner.example/reg"),
        ("params", "sub1={{tracker.clickid}}\nsub2=console"),
    ];
    let (_, to) = c.post("/console/tracker/links", &with_csrf(&csrf, &link)).await;
    assert!(to.contains("done=built"), "{to}");
    let (_, links) = s.admin(Method::GET, "/admin/v1/tracker/links", None).await;
    let url = links["items"][0]["final_url"].as_str().unwrap();
    assert!(url.contains("sub1=") && url.contains("sub2=console"), "{url}");
    let bad = [
        ("params", "no equals sign"),
        ("integration", integration),
        ("link_name", "x"),
        ("base_url", "https://p.example"),
    ];
    let (_, to) = c.post("/console/tracker/links", &with_csrf(&csrf, &bad)).await;
    assert!(to.contains("failed=a%20parameter%20line"), "{to}");
    let (_, page) = c.get("/console/tracker").await;
    assert!(page.contains("Sign-up") && page.contains("Download as CSV"), "{page}");

    // The statistics as CSV, for an analyst too.
    let mut analyst = Console::new(&s);
    analyst.sign_in("ada", PASSWORD).await;
    let csv = analyst
        .http
        .get(format!("{}/console/tracker/stats.csv?program=default", s.base))
        .header("cookie", &analyst.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.text().await.unwrap().starts_with("day,"), "a CSV with its header");
    assert!(analyst.get("/console/batch").await.1.contains("may not do this"));

    // A batch request with its progress; a partner with its users and payments.
    let batch = json!({"requestId": "b-1", "type": 4, "accrue": [{"memberNo": "+79161234567", "pointsAmount": 3}]});
    s.admin(Method::POST, "/admin/v1/batch/requests", Some(batch)).await;
    let (_, page) = c.get("/console/batch").await;
    assert!(page.contains("<td>b-1</td>") && page.contains("1 / 1"), "{page}");
    let partner = json!({"path": "acme", "name": "Acme hosting"});
    let (status, _) = s.admin(Method::POST, "/admin/v1/partners", Some(partner)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, page) = c.get("/console/partners?partner=acme").await;
    assert!(
        page.contains("Acme hosting") && page.contains("Users of acme") && page.contains("No payments yet."),
        "{page}"
    );
}

async fn purchases_referrals_endpoints_partners_and_operators(db: TestDb) {
    use crate::processing_support::{call, member_token, request, setup};
    let s = TestServer::start(db).await;
    operator(&s, "anna", "admin").await;
    operator(&s, "sam", "support").await;
    let mut c = Console::new(&s);
    c.sign_in("anna", PASSWORD).await;
    let csrf = c.csrf().await;

    // A member's purchases, newest first and paged, in the admin API and on the page.
    let (member, till) = setup(&s, "100").await;
    let t = member_token(&s, &till).await;
    call(
        &s,
        &t,
        "/Purchases/p1/Bonus/Payment",
        request("p1-pay", json!({"amount": 10})),
    )
    .await;
    call(&s, &t, "/Purchases/p1/Confirm", json!({"operationId": "p1-confirm"})).await;
    call(
        &s,
        &t,
        "/Purchases/p2/Bonus/Payment",
        request("p2-pay", json!({"amount": 5})),
    )
    .await;
    let path = format!("/admin/v1/members/{member}/purchases");
    let (status, newest) = s.admin(Method::GET, &format!("{path}?count=1"), None).await;
    assert_eq!(status, StatusCode::OK, "{newest}");
    assert_eq!(newest["total"], 2);
    let p2 = &newest["items"][0];
    assert_eq!(
        (&p2["key"], &p2["state"], &p2["bonus_paid"]),
        (&json!("p2"), &json!("open"), &json!("5.00"))
    );
    let (_, older) = s.admin(Method::GET, &format!("{path}?count=1&offset=1"), None).await;
    let p1 = &older["items"][0];
    assert_eq!(
        (
            &p1["key"],
            &p1["state"],
            &p1["bonus_paid"],
            &p1["number"],
            &p1["currency"]
        ),
        (
            &json!("p1"),
            &json!("confirmed"),
            &json!("10.00"),
            &json!("string"),
            &json!("BONUS")
        ),
        "{older}"
    );
    assert_eq!(p1["total"], "76.50", "85.00 less the offer's 10 %: {p1}");
    let (status, _) = s.admin(Method::GET, &format!("{path}?count=0"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s.admin(Method::GET, "/admin/v1/members/999999/purchases", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = c.get(&format!("/console/members/{member}")).await;
    assert!(
        page.contains("<h2>Purchases</h2>") && page.contains("<small>p1</small>"),
        "{page}"
    );
    assert!(
        page.contains("<td>confirmed</td>") && page.contains("<td>76.50</td>"),
        "{page}"
    );

    // A referral held for review (the friend signed up on the inviter's phone): support
    // sees it and may not decide; the admin approves it from the list.
    let key = crate::referral::program(&s, json!({"self_referral": true})).await;
    let inviter = crate::referral::sign_in(&s, &key, "79162220001", None, "phone-of-a").await;
    let inviter = inviter["id"].as_str().unwrap();
    crate::referral::sign_in(&s, &key, "79162220002", Some(inviter), "phone-of-a").await;
    let (_, held) = s.admin(Method::GET, "/admin/v1/referrals?state=review", None).await;
    let held = held["items"][0]["id"].as_i64().expect("a referral in review");
    let mut support = Console::new(&s);
    support.sign_in("sam", PASSWORD).await;
    let (_, page) = support.get("/console/referrals").await;
    assert!(page.contains("same_device") && !page.contains("Approve"), "{page}");
    let decision = [("id", held.to_string()), ("decision", "approve".into())];
    let decision: Vec<(&str, &str)> = decision.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let support_csrf = support.csrf().await;
    let (_, to) = support
        .post("/console/referrals/decide", &with_csrf(&support_csrf, &decision))
        .await;
    assert!(to.contains("failed=") && to.contains("may%20not"), "{to}");
    let (_, page) = c.get("/console/referrals").await;
    assert!(page.contains("Approve") && page.contains("Reject"), "{page}");
    let (_, to) = c.post("/console/referrals/decide", &with_csrf(&csrf, &decision)).await;
    assert!(to.contains(&format!("done=referral%20{held}%20approved")), "{to}");
    let (_, approved) = s.admin(Method::GET, "/admin/v1/referrals?state=approved", None).await;
    assert_eq!(approved["items"][0]["id"], held, "{approved}");
    let (_, to) = c.post("/console/referrals/decide", &with_csrf(&csrf, &decision)).await;
    assert!(to.contains("failed="), "a decided referral stays decided: {to}");

    // A webhook endpoint: its secret on the answer only; a bad URL refused. Its first
    // message on a page of its own, with its attempts.
    let hook = [
        ("url", "https://hooks.example/accrue"),
        ("event_types", "points.accrued, points.withdrawn"),
    ];
    let (status, page) = c.post("/console/webhooks/endpoints", &with_csrf(&csrf, &hook)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (_, endpoints) = s.admin(Method::GET, "/admin/v1/webhook-endpoints", None).await;
    let endpoint = endpoints["items"][0]["id"].as_i64().unwrap();
    assert_eq!(
        endpoints["items"][0]["event_types"],
        json!(["points.accrued", "points.withdrawn"])
    );
    let (_, secret) = s
        .admin(
            Method::GET,
            &format!("/admin/v1/webhook-endpoints/{endpoint}/secret"),
            None,
        )
        .await;
    let secret = secret["secret"].as_str().unwrap();
    assert!(
        page.contains(&format!("<code id=\"endpoint-secret\">{secret}</code>")),
        "{page}"
    );
    let bad = [("url", "ftp://hooks.example"), ("event_types", "*")];
    let (_, to) = c.post("/console/webhooks/endpoints", &with_csrf(&csrf, &bad)).await;
    assert!(to.contains("failed="), "{to}");
    let accrual = json!({"member_id": member, "amount": "1"});
    s.admin_with(
        Method::POST,
        "/admin/v1/operations/accrue",
        Some(accrual),
        &[("Idempotency-Key", "hook-1")],
    )
    .await;
    let (_, queued) = s
        .admin(Method::GET, "/admin/v1/outbox/messages?kind=webhook", None)
        .await;
    let message = queued["items"][0]["id"].as_str().unwrap();
    let (status, page) = c.get(&format!("/console/webhooks/messages/{message}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("hooks.example/accrue") && page.contains("<h2>Attempts</h2>"),
        "{page}"
    );
    assert!(page.contains("points.accrued") && page.contains("Retry"), "{page}");

    // A partner: its hash and key on the answer only; a path taken refused.
    let partner = [
        ("path", "acme"),
        ("name", "Acme hosting"),
        ("currency", ""),
        ("scheme", "aes-256-gcm"),
        ("module_url", ""),
    ];
    let (status, page) = c.post("/console/partners", &with_csrf(&csrf, &partner)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (_, made) = s.admin(Method::GET, "/admin/v1/partners/acme", None).await;
    let hash = made["hash"].as_str().unwrap();
    assert!(
        page.contains(&format!("<code id=\"partner-hash\">{hash}</code>")),
        "{page}"
    );
    assert!(page.contains("id=\"partner-key\""), "{page}");
    let (_, to) = c.post("/console/partners", &with_csrf(&csrf, &partner)).await;
    assert!(to.contains("failed="), "the path is taken: {to}");

    // Operators: one disabled (signed out at once, no sign-in), enabled again, given a
    // new password; the last admin stays; an operator changes their own password.
    let (_, to) = c
        .post(
            "/console/operators/switch",
            &with_csrf(&csrf, &[("login", "sam"), ("action", "disable")]),
        )
        .await;
    assert!(to.contains("done=sam%20disabled"), "{to}");
    assert_eq!(
        support.get("/console").await.0,
        StatusCode::SEE_OTHER,
        "the session ended"
    );
    assert_eq!(support.sign_in("sam", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    c.post(
        "/console/operators/switch",
        &with_csrf(&csrf, &[("login", "sam"), ("action", "enable")]),
    )
    .await;
    let new = [("login", "sam"), ("new_password", "a brand new secret")];
    let (_, to) = c.post("/console/operators/password", &with_csrf(&csrf, &new)).await;
    assert!(to.contains("done=sam%20has%20a%20new%20password"), "{to}");
    assert_eq!(support.sign_in("sam", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        support.sign_in("sam", "a brand new secret").await.0,
        StatusCode::SEE_OTHER
    );
    let short = [("login", "sam"), ("new_password", "short")];
    let (_, to) = c.post("/console/operators/password", &with_csrf(&csrf, &short)).await;
    assert!(to.contains("failed="), "{to}");
    let (_, to) = c
        .post(
            "/console/operators/switch",
            &with_csrf(&csrf, &[("login", "anna"), ("action", "disable")]),
        )
        .await;
    assert!(to.contains("failed=you%20cannot%20disable%20yourself"), "{to}");
    let odd = with_csrf(&csrf, &[("login", "sam"), ("action", "drop")]);
    let (_, to) = c.post("/console/operators/switch", &odd).await;
    assert!(to.contains("failed=the%20action%20is%20enable%20or%20disable"), "{to}");
    let last = accrue_server::service::operators::set_disabled(&s.store, "anna", true).await;
    assert!(last.unwrap_err().to_string().contains("last active admin"));
    let support_csrf = support.csrf().await;
    let (_, to) = support
        .post(
            "/console/operators/switch",
            &with_csrf(&support_csrf, &[("login", "anna"), ("action", "disable")]),
        )
        .await;
    assert!(to.contains("Only an admin"), "{to}");
    let wrong = [
        ("current_password", "not it at all"),
        ("new_password", "sams own secret"),
    ];
    let (_, to) = support
        .post("/console/password", &with_csrf(&support_csrf, &wrong))
        .await;
    assert!(to.contains("failed=the%20current%20password%20is%20wrong"), "{to}");
    let own = [
        ("current_password", "a brand new secret"),
        ("new_password", "sams own secret"),
    ];
    let (status, to) = support.post("/console/password", &with_csrf(&support_csrf, &own)).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/console/sign-in"));
    assert_eq!(support.sign_in("sam", "sams own secret").await.0, StatusCode::SEE_OTHER);
}

/// An export's state once the worker has finished with it.
async fn finished_export(s: &TestServer, id: i64) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, export) = s.admin(Method::GET, &format!("/admin/v1/exports/{id}"), None).await;
        if export["state"] != "running" {
            return export;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the export never ended: {export}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn members_are_exported_in_the_background(db: TestDb) {
    use accrue_server::service::exports::PART_ROWS;
    let s = TestServer::start(db).await;
    operator(&s, "sam", "support").await;
    operator(&s, "ada", "analyst").await;
    // Two full parts of members, so the last part holds nothing; one of them with a
    // name a spreadsheet would run and a balance.
    let program = s.store.program("default").await.unwrap().id;
    for n in 1..2 * PART_ROWS {
        let phone = format!("+7916{n:07}");
        let fields = accrue_store::MemberFields {
            phone: Some(phone),
            ..Default::default()
        };
        s.store.create_member(program, fields).await.unwrap();
    }
    let special = json!({"phone": "+79990000001", "first_name": "=cmd, \"x\"", "last_name": "Petrova"});
    let (_, special) = s.admin(Method::POST, "/admin/v1/members", Some(special)).await;
    let special = special["id"].as_i64().unwrap();
    let accrual = json!({"member_id": special, "amount": "12.50"});
    s.admin_with(
        Method::POST,
        "/admin/v1/operations/accrue",
        Some(accrual),
        &[("Idempotency-Key", "x-1")],
    )
    .await;

    let mut c = Console::new(&s);
    c.sign_in("sam", PASSWORD).await;
    let csrf = c.csrf().await;
    let (_, page) = c.get("/console/members").await;
    assert!(
        page.contains("Export all members (CSV)") && page.contains("No exports yet."),
        "{page}"
    );
    let (_, to) = c.post("/console/exports", &[("csrf", csrf.as_str())]).await;
    assert!(to.contains("done=export%201%20started%3A%202000%20members"), "{to}");
    let export = finished_export(&s, 1).await;
    assert_eq!(
        (&export["state"], &export["rows_done"], &export["rows_total"]),
        (&json!("done"), &json!(2000), &json!(2000))
    );
    assert_eq!(export["requested_by"], "console:sam");
    assert_eq!(export["file"], "/admin/v1/exports/1/file");

    // The file: a header, every member once in id order, the name quoted and guarded.
    let file = s
        .client
        .get(format!("{}/admin/v1/exports/1/file", s.base))
        .header("authorization", format!("Bearer {}", s.admin_key))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert!(file.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = file.text().await.unwrap();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines[0], "id,phone,email,first_name,last_name,state,joined_at,balance");
    assert_eq!(lines.len(), 2001, "a header and 2000 members");
    assert!(lines[1].starts_with("1,+79160000001,,,,active,"), "{}", lines[1]);
    let last = lines[2000];
    assert!(
        last.starts_with(&format!("{special},+79990000001,,\"'=cmd, \"\"x\"\"\",Petrova,active,"))
            && last.ends_with(",12.50"),
        "{last}"
    );
    let (_, page) = c.get("/console/members").await;
    assert!(
        page.contains("/console/exports/1.csv") && page.contains("2000 / 2000"),
        "{page}"
    );
    let (status, through_console) = c.get("/console/exports/1.csv").await;
    assert_eq!((status, through_console.as_str()), (StatusCode::OK, text.as_str()));

    // A writer that read the export before it moved on writes nothing.
    let stale = accrue_store::exports::Export {
        state: "running".into(),
        rows_done: 0,
        last_key: 0,
        finished_at: None,
        ..s.store.export(program, 1).await.unwrap()
    };
    let next = accrue_server::service::exports::write_next(&s.store, &stale)
        .await
        .unwrap();
    assert_eq!(next, None);
    let (_, again) = c.get("/console/exports/1.csv").await;
    assert_eq!(again, text, "the file is as it was");

    // An unknown kind is refused; an analyst neither starts nor downloads.
    let (status, _) = s
        .admin(Method::POST, "/admin/v1/exports", Some(json!({"kind": "postings"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut analyst = Console::new(&s);
    analyst.sign_in("ada", PASSWORD).await;
    assert_eq!(analyst.get("/console/exports/1.csv").await.0, StatusCode::FORBIDDEN);
    let (_, list) = s.admin(Method::GET, "/admin/v1/exports", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}

/// The whole console in headless Chromium, every page kept as a screenshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_works_in_a_browser() {
    use crate::browser::{artifacts_dir, Browser};
    let Some(browser) = Browser::start().await else { return };
    let s = TestServer::start_with(TestDb::sqlite(), delivering_options(vec![1])).await;
    operator(&s, "anna", "admin").await;
    let id = member(&s).await;
    let receiver = Receiver::start().await;
    receiver.plan(vec![Reply::status(500), Reply::status(500)]);
    let hook = json!({"url": format!("{}/hooks", receiver.base), "event_types": ["points.accrued"]});
    s.admin(Method::POST, "/admin/v1/webhook-endpoints", Some(hook)).await;
    let shots = artifacts_dir().join("console");
    let wait = Duration::from_secs(15);
    let base = &s.base;

    browser.goto(&format!("{base}/console")).await.unwrap();
    browser
        .wait_for("#login", wait)
        .await
        .expect("signed out: the sign-in page");
    browser.screenshot(&shots.join("sign-in.png")).await.unwrap();
    browser.type_into("#login", "anna").await.unwrap();
    browser.type_into("#password", PASSWORD).await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser.wait_for("#members-total", wait).await.expect("the dashboard");
    browser.screenshot(&shots.join("dashboard.png")).await.unwrap();

    // Find the member, accrue with a reason, see the balance change.
    browser.click("nav a[href^='/console/members']").await.unwrap();
    browser.wait_for("#q", wait).await.unwrap();
    browser.type_into("#q", "+79161234567").await.unwrap();
    browser.click("form[role=search] button").await.unwrap();
    browser.wait_for("td a", wait).await.unwrap();
    browser.screenshot(&shots.join("members.png")).await.unwrap();
    browser.click("td a").await.unwrap();
    browser.wait_for("#amount", wait).await.unwrap();
    assert_eq!(browser.text(".balance").await.unwrap(), "0.00", "no points yet");
    browser.type_into("#amount", "250").await.unwrap();
    browser.type_into("#reason", "Welcome gift").await.unwrap();
    browser.click("button[value=accrue]").await.unwrap();
    browser.wait_for(".notice.done", wait).await.unwrap();
    assert_eq!(browser.text(".balance").await.unwrap(), "250.00");
    browser.screenshot(&shots.join("member.png")).await.unwrap();
    assert_eq!(balance(&s, id).await, "250.00");

    // Save an offer, then price a cheque with it.
    browser.click("nav a[href^='/console/offers']").await.unwrap();
    browser.wait_for("#code", wait).await.unwrap();
    browser.type_into("#code", "ten-off").await.unwrap();
    let offer = r#"{"name": "10 % off", "effects": [{"type": "discount_percent", "percent": 10}]}"#;
    browser
        .eval("document.getElementById('offer').value = arguments[0]", &[json!(offer)])
        .await
        .unwrap();
    browser.click("#edit-title ~ button[type=submit]").await.unwrap();
    browser.wait_for(".notice.done", wait).await.unwrap();
    assert!(browser.text("table").await.unwrap().contains("ten-off"));
    browser.click("button[value=saved]").await.unwrap();
    browser.wait_for("#simulated-total", wait).await.unwrap();
    assert_eq!(
        browser.text("#simulated-total").await.unwrap(),
        "9000",
        "10 % off 100.00"
    );
    browser.screenshot(&shots.join("offers.png")).await.unwrap();

    // A tracker integration from a template, and its postback link copied.
    browser.click("nav a[href^='/console/tracker']").await.unwrap();
    browser.wait_for("#name", wait).await.unwrap();
    browser.type_into("#name", "1win traffic").await.unwrap();
    browser.click("#new-integration ~ button[type=submit]").await.unwrap();
    browser.wait_for("[data-copy]", wait).await.unwrap();
    let link = browser.text(".copy code").await.unwrap();
    assert!(link.starts_with(&format!("{base}/")), "a ready postback link: {link}");
    browser.click("[data-copy]").await.unwrap();
    // The clipboard answers asynchronously: the button says what came of it.
    let mut copied = json!("Copy");
    for _ in 0..50 {
        copied = browser
            .eval("return document.querySelector('[data-copy]').dataset.copied || document.querySelector('[data-copy]').textContent", &[])
            .await
            .unwrap();
        if copied != json!("Copy") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(copied == json!(link) || copied == json!("Select and copy"), "{copied}");
    browser.screenshot(&shots.join("tracker.png")).await.unwrap();

    // The webhook of the accrual failed: retry it by hand once the receiver is well.
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (_, failed) = s
            .admin(Method::GET, "/admin/v1/outbox/messages?state=failed", None)
            .await;
        if failed["items"].as_array().is_some_and(|i| !i.is_empty()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the webhook never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.click("nav a[href^='/console/webhooks']").await.unwrap();
    browser.wait_for(".state.failed", wait).await.unwrap();
    browser.screenshot(&shots.join("webhooks.png")).await.unwrap();
    browser.click("form button.small").await.unwrap();
    browser.wait_for(".notice.done", wait).await.unwrap();
    receiver.wait_for(3, wait).await;
    browser.set_window_size(390, 844).await.unwrap();
    browser
        .goto(&format!("{base}/console/webhooks?state=delivered"))
        .await
        .unwrap();
    browser
        .wait_for(".state.delivered", wait)
        .await
        .expect("delivered on the retry");
    browser.screenshot(&shots.join("webhooks-phone.png")).await.unwrap();
    browser.goto(&format!("{base}/console/members/{id}")).await.unwrap();
    browser.wait_for(".balance", wait).await.unwrap();
    let overflow = browser
        .eval(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            &[],
        )
        .await
        .unwrap();
    let wide = browser
        .eval("return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '.' + e.className).slice(0, 5).join(' ')", &[])
        .await
        .unwrap();
    assert_eq!(overflow, json!(true), "the member page fits a phone; too wide: {wide}");
    browser.screenshot(&shots.join("member-phone.png")).await.unwrap();

    // The other screens at desktop width: the dashboard with the day's points, the
    // program's settings, a batch request, a partner.
    browser.set_window_size(1200, 900).await.unwrap();
    let batch = json!({"requestId": "b-1", "type": 4, "accrue": [{"memberNo": "+79161234567", "pointsAmount": 3}]});
    s.admin(Method::POST, "/admin/v1/batch/requests", Some(batch)).await;
    s.admin(
        Method::POST,
        "/admin/v1/partners",
        Some(json!({"path": "acme", "name": "Acme hosting"})),
    )
    .await;
    let (_, export) = s
        .admin(Method::POST, "/admin/v1/exports", Some(json!({"kind": "members"})))
        .await;
    finished_export(&s, export["id"].as_i64().unwrap()).await;
    let (_, delivered) = s
        .admin(
            Method::GET,
            "/admin/v1/outbox/messages?state=delivered&kind=webhook",
            None,
        )
        .await;
    let retried = delivered["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["attempts"] == 3)
        .expect("the retried webhook");
    let message = format!("/console/webhooks/messages/{}", retried["id"].as_str().unwrap());
    let screens = [
        ("/console", "svg rect", "dashboard-points.png"),
        (&message as &str, "#message-state", "message.png"),
        ("/console/referrals", "#state", "referrals.png"),
        ("/console/members", "progress", "exports.png"),
        ("/console/password", "#current_password", "password.png"),
        (
            &format!("/console/members/{id}") as &str,
            ".balance",
            "member-desktop.png",
        ),
        ("/console/offers", "#offer", "offers-desktop.png"),
        ("/console/tracker", "#integration", "tracker-desktop.png"),
        ("/console/webhooks", "#state", "webhooks-desktop.png"),
        ("/console/operators", "table", "operators.png"),
        ("/console/programs", "details summary", "program.png"),
        ("/console/batch", "progress", "batch.png"),
        ("/console/partners?partner=acme", "table", "partners.png"),
    ];
    for (path, shows, shot) in screens {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        browser
            .wait_for(shows, wait)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        browser.screenshot(&shots.join(shot)).await.unwrap();
        let unlabelled = browser
            .eval(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
                 .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.name)",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(unlabelled, json!([]), "{path}: every control has a label");
    }
    browser.goto(&format!("{base}/console/batch")).await.unwrap();
    assert_eq!(
        browser.attribute("progress", "value").await.unwrap().as_deref(),
        Some("1")
    );
    browser.goto(&format!("{base}/console")).await.unwrap();
    browser.wait_for(".funnel svg", wait).await.unwrap();
    browser
        .eval("document.querySelector('.funnel').scrollIntoView()", &[])
        .await
        .unwrap();
    browser.screenshot(&shots.join("dashboard-funnels.png")).await.unwrap();
    // The delivery log of the retried webhook: two failures, then the retry delivered.
    browser.goto(&format!("{base}{message}")).await.unwrap();
    browser.wait_for("#message-state", wait).await.unwrap();
    assert_eq!(browser.text("#message-state").await.unwrap(), "delivered");
    let statuses = browser
        .eval(
            "return [...document.querySelectorAll('tbody tr td:nth-child(2)')].map(e => e.textContent)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!(["500", "500", "200"]), "oldest first");
}
