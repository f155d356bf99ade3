//! The Integra face over real HTTP on both backends: the PHP client's flow with the
//! default scheme, the top-up flow with a real local receiver for the notify URL,
//! expiry of unanswered top-ups, bad `k` values (each refused in the envelope, nothing
//! changed), and concurrent payments and confirmations that credit once.

use accrue_core::integra::Scheme;
use accrue_server::testing::{delivering_options, Receiver, TestServer};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    the_clients_flow,
    a_top_up_is_confirmed_or_declined_once,
    an_unanswered_top_up_expires,
    bad_k_values_change_nothing,
    concurrent_payments_credit_once,
    partners_in_the_admin_api,
);

/// A partner as its integration keeps it.
#[derive(Clone)]
pub(crate) struct Partner {
    pub path: String,
    pub hash: String,
    pub key: String,
    pub scheme: Scheme,
}

/// An identity that calls: the partner or one of its users.
#[derive(Clone)]
pub(crate) struct Caller {
    pub hash: String,
    pub key: String,
}

impl Partner {
    pub fn me(&self) -> Caller {
        Caller {
            hash: self.hash.clone(),
            key: self.key.clone(),
        }
    }

    /// The `k` of a call with `args` by `who`.
    pub fn k(&self, who: &Caller, args: &Value) -> String {
        let data = self.scheme.encrypt(args.to_string().as_bytes(), &who.key, nonce());
        format!("zaa{}{data}", who.hash)
    }

    /// The URL of a call, as the client makes it.
    pub fn url(&self, s: &TestServer, method: &str, who: &Caller, args: &Value) -> String {
        let k = self.k(who, args);
        let k: String = url_encode(&k);
        format!("{}/integra/{}/{method}?k={k}", s.base, self.path)
    }
}

pub(crate) fn url_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).unwrap()[1..].to_string()
}

fn nonce() -> [u8; 12] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut nonce = [0_u8; 12];
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u32;
    nonce[..8].copy_from_slice(&n.to_le_bytes());
    nonce[8..].copy_from_slice(&t.to_le_bytes());
    nonce
}

/// Registers a partner in the default program (currency RUB with two decimals).
pub(crate) async fn partner(s: &TestServer, path: &str, scheme: &str, settings: Value) -> Partner {
    let body = json!({"path": path, "name": "Acme hosting", "scheme": scheme, "settings": settings});
    let (status, made) = s.admin(Method::POST, "/admin/v1/partners", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["crypt_key"].as_str().unwrap().len(), 52);
    Partner {
        path: path.into(),
        hash: made["hash"].as_str().unwrap().into(),
        key: made["crypt_key"].as_str().unwrap().into(),
        scheme: Scheme::parse(scheme).unwrap(),
    }
}

/// A call as the PHP client sends it: a POST with an empty body; the envelope.
pub(crate) async fn call(s: &TestServer, p: &Partner, method: &str, who: &Caller, args: Value) -> Value {
    let response = s
        .client
        .post(p.url(s, method, who, &args))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "every answer is HTTP 200");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["version"], "1");
    assert_eq!(answer["notices"], json!([]));
    answer
}

/// The data of a call that must succeed.
pub(crate) async fn data(s: &TestServer, p: &Partner, method: &str, who: &Caller, args: Value) -> Value {
    let answer = call(s, p, method, who, args).await;
    assert_eq!(answer["error"], false, "{method}: {answer}");
    assert_eq!(answer["status"], json!({"code": 0, "message": "ok"}));
    answer["data"].clone()
}

/// The status code of a call that must be refused (and has no data).
async fn refused(s: &TestServer, p: &Partner, method: &str, who: &Caller, args: Value) -> i64 {
    let answer = call(s, p, method, who, args).await;
    assert_eq!(answer["error"], true, "{method}: {answer}");
    assert!(answer.get("data").is_none(), "{answer}");
    answer["status"]["code"].as_i64().unwrap()
}

/// Registers a user with the partner; the user as a caller.
pub(crate) async fn user(s: &TestServer, p: &Partner, login: &str, hash: &str) -> Caller {
    let made = data(s, p, "createUser", &p.me(), json!({"username": login, "hash": hash})).await;
    Caller {
        hash: hash.into(),
        key: made["cryptKey"].as_str().unwrap().into(),
    }
}

/// Today in UTC, the zone of a partner that sets none.
pub(crate) fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

const USER_HASH: &str = "5f4dcc3b5aa765d61d8327deb882cf99";

async fn the_clients_flow(db: TestDb) {
    let s = TestServer::start(db).await;
    let p = partner(&s, "acme", "aes-256-gcm", json!({"utc_offset_minutes": 180})).await;
    assert_eq!(
        data(&s, &p, "hello", &p.me(), json!({"name": "Dmitry"})).await,
        "Hello, Dmitry!"
    );
    let args = json!({"username": "acme-site.ru-11235813", "hash": USER_HASH, "email": "u@acme.example",
                      "phone": "+79551234567", "suggestedDomain": "site.ru", "inviterUserId": "11235813"});
    let made = data(&s, &p, "createUser", &p.me(), args.clone()).await;
    let key = made["cryptKey"].as_str().unwrap();
    assert!(key.len() == 52 && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_eq!(
        refused(&s, &p, "createUser", &p.me(), args).await,
        3,
        "the hash is taken"
    );
    let same_login = json!({"username": "acme-site.ru-11235813", "hash": "f".repeat(32)});
    let answer = call(&s, &p, "createUser", &p.me(), same_login).await;
    assert_eq!(
        (&answer["status"]["code"], &answer["status"]["message"]),
        (&json!(1), &json!("username acme-site.ru-11235813 is taken")),
        "{answer}"
    );
    let u = Caller {
        hash: USER_HASH.into(),
        key: key.into(),
    };

    // The cabinet: cryptLogin names it; the page shows the balance.
    let login = json!({"login": "acme-site.ru-11235813", "hash": USER_HASH});
    let url = data(&s, &p, "cryptLogin", &u, login).await["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with("/integra/acme/cabinet/"), "{url}");
    let page = s.client.get(format!("{}{url}", s.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors *"));
    assert!(page.text().await.unwrap().contains("0.00"));

    // Payments: credited once per paymentHash; a refund is a negative one.
    let pay = json!({"paymentSum": "100", "paymentSumBonus": "10", "paymentHash": "202cb962ac59075b964b07152d234b70",
                     "userLogin": "acme-site.ru-11235813"});
    let id = data(&s, &p, "doPayment", &u, pay.clone()).await["paymentId"].clone();
    assert!(id.as_str().unwrap().parse::<i64>().is_ok(), "{id}");
    assert_eq!(
        data(&s, &p, "doPayment", &u, pay.clone()).await["paymentId"],
        id,
        "a replay"
    );
    let other = json!({"paymentSum": "5", "paymentHash": "202cb962ac59075b964b07152d234b70"});
    assert_eq!(refused(&s, &p, "doPayment", &u, other).await, 6);
    let refund = json!({"paymentSum": -30, "paymentHash": "refund-1"});
    data(&s, &p, "doPayment", &u, refund).await;
    let too_much = json!({"paymentSum": "-1000", "paymentHash": "refund-2"});
    assert_eq!(refused(&s, &p, "doPayment", &u, too_much).await, 7);

    // Figures: the balance, and today in the partner's zone.
    let user = data(&s, &p, "getUserData", &u, json!({"partner": p.hash})).await;
    assert_eq!(user["hash"], USER_HASH);
    assert_eq!(user["balance"], 80);
    assert_eq!(
        (user["status"].as_str(), user["progress"].as_str()),
        (Some("run"), Some("CAMPAIGN_PAID"))
    );
    assert_eq!(user["url"], "site.ru");
    let today = (chrono::Utc::now() + chrono::Duration::minutes(180))
        .date_naive()
        .to_string();
    let summary = data(&s, &p, "getFinSummaryByDate", &u, json!({"date": today})).await;
    assert_eq!(
        summary,
        json!({"date": today, "balance": 80, "income": 110, "outcome": -30})
    );
    let all = data(
        &s,
        &p,
        "getUsersData",
        &p.me(),
        json!({"partner": p.hash, "createdOn": "2026-12-03 10:00:00"}),
    )
    .await;
    assert_eq!(all["users"].as_array().unwrap().len(), 1);

    // Messages: made from the program's templates, read once.
    let sent = json!({"type": "low_balance", "params": {"balance": "80.00"}});
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/partners/acme/users/{USER_HASH}/messages"),
            Some(sent),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let messages = data(&s, &p, "getMessages", &p.me(), json!({"partner": p.hash})).await["messages"].clone();
    let message = &messages.as_array().unwrap()[0];
    assert_eq!(message["type"], "low_balance");
    assert_eq!(message["userLogin"], "acme-site.ru-11235813");
    assert!(
        message["text"].as_str().unwrap().contains("80.00")
            && message["text"].as_str().unwrap().contains("{{go/payment}}")
    );
    assert!(message["textTemplate"].as_str().unwrap().contains("{{balance}}"));
    let mine = data(
        &s,
        &p,
        "getUserMessages",
        &u,
        json!({"partner": p.hash, "markRead": true}),
    )
    .await;
    assert_eq!(mine["messages"].as_array().unwrap().len(), 1);
    let after = data(&s, &p, "getUserMessages", &u, json!({"partner": p.hash})).await;
    assert_eq!(after["messages"], json!([]), "read once");
    let templates = data(&s, &p, "getMessageTemplates", &p.me(), json!({"partner": p.hash})).await;
    assert!(templates["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "low_balance"));
    let read = data(&s, &p, "readMessages", &p.me(), json!({"ids": message["id"]})).await;
    assert_eq!(read["success"], 0, "already read");

    // The project: its URL and a Metrika counter.
    let changed = data(&s, &p, "changeUrl", &u, json!({"url": "http://my-new-domain.com"})).await;
    assert_eq!(
        changed,
        json!({"newUrl": "http://my-new-domain.com", "oldUrl": "site.ru"})
    );
    let counter = json!({"counterId": "44147844", "accessToken": "AgAAAA-secret"});
    let id = data(&s, &p, "attachYandexMetrikaCounter", &u, counter).await["id"].clone();
    assert!(id.as_i64().is_some());

    // Archived: no cabinet; brought back: the cabinet again.
    let archived = data(&s, &p, "archiveUser", &u, json!({"partner": p.hash})).await;
    assert_eq!(archived["userHash"], USER_HASH);
    assert_eq!(archived["lastBillingDate"], today);
    assert_eq!(refused(&s, &p, "cryptLogin", &u, json!({})).await, 6);
    let page = s.client.get(format!("{}{url}", s.base)).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::UNAUTHORIZED,
        "the old session ends with the archive"
    );
    assert_eq!(
        data(&s, &p, "unarchiveUser", &u, json!({"partner": p.hash})).await,
        json!({"userHash": USER_HASH})
    );
    data(&s, &p, "cryptLogin", &u, json!({})).await;
}

/// A cabinet session's address, from a GET of cryptLogin (as an iframe loads it).
pub(crate) async fn cabinet(s: &TestServer, p: &Partner, u: &Caller, args: Value, r: Option<&str>) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = p.url(s, "cryptLogin", u, &args);
    if let Some(r) = r {
        url.push_str(&format!("&r={}", url_encode(r)));
    }
    let answer = client.get(url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    format!("{}{}", s.base, answer.headers()["location"].to_str().unwrap())
}

async fn balance(s: &TestServer, p: &Partner, u: &Caller) -> Value {
    data(s, p, "getUserData", u, json!({"partner": p.hash})).await["balance"].clone()
}

/// Asks for a top-up in the cabinet as the user's browser does.
async fn ask_top_up(cabinet: &str, amount: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    client
        .post(format!("{cabinet}/go/payment"))
        .form(&[("amount", amount)])
        .send()
        .await
        .unwrap()
}

async fn a_top_up_is_confirmed_or_declined_once(db: TestDb) {
    let receiver = Receiver::start().await;
    let s = TestServer::start_with(db, delivering_options(vec![1, 1])).await;
    let p = partner(&s, "acme", "aes-256-gcm", json!({})).await;
    let u = user(&s, &p, "acme-1", USER_HASH).await;
    let notify = format!(
        "{}/payment-notify?amount={{amount}}&transaction_id={{id}}&user={{hash}}",
        receiver.base
    );
    let cabinet = cabinet(&s, &p, &u, json!({"paymentNotifyUrl": notify}), Some("go/payment")).await;
    assert!(
        cabinet.ends_with("/go/payment"),
        "the deeplink opens the top-up page: {cabinet}"
    );
    let cabinet = cabinet.trim_end_matches("/go/payment").to_string();

    let bad = ask_top_up(&cabinet, "-5").await;
    assert_eq!(bad.status(), StatusCode::OK);
    assert!(
        bad.text().await.unwrap().contains("role=\"alert\""),
        "the form says what was wrong"
    );
    let asked = ask_top_up(&cabinet, "250").await;
    assert_eq!(asked.status(), StatusCode::SEE_OTHER);
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].method, "GET");
    let query: Vec<(String, String)> = serde_urlencoded::from_str(got[0].uri.split_once('?').unwrap().1).unwrap();
    assert_eq!(query[0], ("amount".into(), "250.00".into()));
    assert_eq!(query[2], ("user".into(), USER_HASH.into()));
    let transaction = query[1].1.clone();
    assert_eq!(transaction.len(), 32);
    let page = s
        .client
        .get(format!("{cabinet}/go/payment"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("ждёт подтверждения"),
        "the cabinet shows the waiting top-up"
    );

    let wrong = json!({"amount": "25", "transactionId": transaction});
    assert_eq!(refused(&s, &p, "confirmPayment", &u, wrong).await, 1, "another amount");
    assert_eq!(balance(&s, &p, &u).await, 0);
    let confirm = json!({"amount": "250", "transactionId": transaction});
    assert_eq!(
        data(&s, &p, "confirmPayment", &u, confirm.clone()).await,
        json!({"transactionId": transaction})
    );
    assert_eq!(
        data(&s, &p, "confirmPayment", &u, confirm).await,
        json!({"transactionId": transaction}),
        "again"
    );
    assert_eq!(balance(&s, &p, &u).await, 250, "credited once");
    let decline = json!({"transactionId": transaction});
    assert_eq!(refused(&s, &p, "declinePayment", &u, decline).await, 6);

    ask_top_up(&cabinet, "40").await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let second = got[1].uri.split("transaction_id=").nth(1).unwrap()[..32].to_string();
    data(
        &s,
        &p,
        "declinePayment",
        &u,
        json!({"transactionId": second, "errorCode": 1}),
    )
    .await;
    let late = json!({"amount": "40", "transactionId": second});
    assert_eq!(refused(&s, &p, "confirmPayment", &u, late).await, 6);
    assert_eq!(balance(&s, &p, &u).await, 250, "nothing credited for a declined top-up");
    let kinds: Vec<Value> = data(&s, &p, "getUserMessages", &u, json!({})).await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("payment_confirmed"), json!("payment_declined")]);

    // Another partner's user cannot answer this partner's top-ups.
    let q = partner(&s, "other", "aes-256-gcm", json!({})).await;
    let stranger = user(&s, &q, "other-1", "9e107d9d372bb6826bd81d3542a419d6").await;
    let url = p.url(
        &s,
        "confirmPayment",
        &stranger,
        &json!({"amount": "40", "transactionId": second}),
    );
    let answer: Value = s.client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["status"]["code"], 2, "{answer}");
    let (_, payments) = s.admin(Method::GET, "/admin/v1/partners/acme/payments", None).await;
    let states: Vec<&str> = payments["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["declined", "confirmed"]);
}

async fn an_unanswered_top_up_expires(db: TestDb) {
    let (s, clock) = TestServer::start_with_manual_clock(db).await;
    let p = partner(
        &s,
        "acme",
        "aes-256-gcm",
        json!({"payment_ttl_minutes": 30, "session_minutes": 120}),
    )
    .await;
    let u = user(&s, &p, "acme-1", USER_HASH).await;
    let cabinet = cabinet(&s, &p, &u, json!({}), None).await;
    assert_eq!(ask_top_up(&cabinet, "10").await.status(), StatusCode::SEE_OTHER);
    let (_, payments) = s.admin(Method::GET, "/admin/v1/partners/acme/payments", None).await;
    let id = payments["payments"][0]["reference"].as_str().unwrap().to_string();
    clock.fetch_add(31 * 60_000, Ordering::SeqCst);
    assert_eq!(s.store.expire_top_ups(100).await.unwrap(), 1);
    let confirm = json!({"amount": "10", "transactionId": id});
    assert_eq!(refused(&s, &p, "confirmPayment", &u, confirm).await, 6);
    assert_eq!(balance(&s, &p, &u).await, 0);
    let page = s
        .client
        .get(format!("{cabinet}/go/payment"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("не подтверждено вовремя"));
    clock.fetch_add(90 * 60_000, Ordering::SeqCst);
    let gone = s.client.get(&cabinet).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::UNAUTHORIZED, "the session is short-lived");
}

async fn bad_k_values_change_nothing(db: TestDb) {
    let s = TestServer::start(db).await;
    let p = partner(&s, "acme", "aes-256-gcm", json!({})).await;
    let u = user(&s, &p, "acme-1", USER_HASH).await;
    let q = partner(&s, "other", "aes-256-gcm", json!({"allowed_ips": ["10.0.0.0/8"]})).await;
    let get = |k: String| {
        let url = format!("{}/integra/acme/doPayment?k={}", s.base, url_encode(&k));
        let client = s.client.clone();
        async move {
            let answer = client.get(url).send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["error"], true, "{body}");
            body["status"]["code"].as_i64().unwrap()
        }
    };
    let pay = json!({"paymentSum": "100", "paymentHash": "h1"});
    let good = p.k(&u, &pay);
    assert_eq!(get(good.replacen("zaa", "zab", 1)).await, 1, "wrong prefix");
    assert_eq!(get(String::new()).await, 1, "no k");
    assert_eq!(get(format!("zaa{}", &USER_HASH[..20])).await, 4, "short hash");
    assert_eq!(
        get(good.replace(USER_HASH, "00000000000000000000000000000000")).await,
        2,
        "unknown hash"
    );
    assert_eq!(
        get(format!("zaa{USER_HASH}bm90IGVuY3J5cHRlZA==")).await,
        2,
        "undecryptable"
    );
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 5;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(get(String::from_utf8(tampered).unwrap()).await, 2, "a changed payload");
    let not_json = Scheme::Aes256Gcm.encrypt(b"not json", &u.key, [1; 12]);
    assert_eq!(get(format!("zaa{USER_HASH}{not_json}")).await, 1, "not JSON");
    // Arguments outside k are not taken: a captured call cannot gain a bonus.
    let url = p.url(&s, "doPayment", &u, &json!({"paymentSum": "1", "paymentHash": "h0"}));
    let answer: Value = s
        .client
        .get(format!("{url}&paymentSumBonus=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["error"], false);
    assert_eq!(balance(&s, &p, &u).await, 1);
    assert_eq!(
        refused(&s, &p, "doPayment", &p.me(), pay.clone()).await,
        9,
        "a user's method with the partner's hash"
    );
    assert_eq!(
        refused(&s, &p, "createUser", &u, json!({"username": "x", "hash": USER_HASH})).await,
        9
    );
    assert_eq!(refused(&s, &p, "dropDatabase", &p.me(), json!({})).await, 8);
    let short = json!({"username": "acme-2", "hash": "abc"});
    assert_eq!(refused(&s, &p, "createUser", &p.me(), short).await, 4);
    assert_eq!(
        refused(&s, &p, "createUser", &p.me(), json!({"hash": "0".repeat(32)})).await,
        1
    );
    // A user's hash and key, sent to another partner's path.
    let elsewhere = Partner {
        path: "other".into(),
        ..p.clone()
    };
    assert_eq!(
        refused(&s, &elsewhere, "doPayment", &u, pay.clone()).await,
        9,
        "the other partner allows 10/8 only"
    );
    let (_, _) = s
        .admin(Method::PATCH, "/admin/v1/partners/other", Some(json!({"settings": {}})))
        .await;
    assert_eq!(
        refused(&s, &elsewhere, "doPayment", &u, pay).await,
        2,
        "unknown to the other partner"
    );
    assert_eq!(refused(&s, &q, "getUserData", &u, json!({})).await, 2);
    // Nothing changed but the one payment made.
    assert_eq!(balance(&s, &p, &u).await, 1);
    let (_, payments) = s.admin(Method::GET, "/admin/v1/partners/acme/payments", None).await;
    assert_eq!(payments["payments"].as_array().unwrap().len(), 1);
    let (_, users) = s.admin(Method::GET, "/admin/v1/partners/acme/users", None).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
}

async fn concurrent_payments_credit_once(db: TestDb) {
    let s = Arc::new(TestServer::start(db).await);
    let p = partner(&s, "acme", "aes-256-gcm", json!({})).await;
    let u = user(&s, &p, "acme-1", USER_HASH).await;
    let pay = json!({"paymentSum": "100", "paymentHash": "same"});
    let calls = (0..8).map(|_| {
        let (s, p, u, pay) = (s.clone(), p.clone(), u.clone(), pay.clone());
        tokio::spawn(async move { data(&s, &p, "doPayment", &u, pay).await["paymentId"].clone() })
    });
    let ids: Vec<Value> = futures_join(calls).await;
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one payment: {ids:?}");
    assert_eq!(balance(&s, &p, &u).await, 100);

    let cabinet = cabinet(&s, &p, &u, json!({}), None).await;
    ask_top_up(&cabinet, "50").await;
    let (_, payments) = s.admin(Method::GET, "/admin/v1/partners/acme/payments", None).await;
    let id = payments["payments"][0]["reference"].as_str().unwrap().to_string();
    let confirm = json!({"amount": "50", "transactionId": id});
    let calls = (0..8).map(|_| {
        let (s, p, u, confirm) = (s.clone(), p.clone(), u.clone(), confirm.clone());
        tokio::spawn(async move { call(&s, &p, "confirmPayment", &u, confirm).await["error"].clone() })
    });
    let errors = futures_join(calls).await;
    assert!(
        errors.iter().all(|e| e == &json!(false)),
        "every repeat answers the confirmation: {errors:?}"
    );
    assert_eq!(balance(&s, &p, &u).await, 150, "credited once");
}

async fn futures_join(tasks: impl Iterator<Item = tokio::task::JoinHandle<Value>>) -> Vec<Value> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}

async fn partners_in_the_admin_api(db: TestDb) {
    let s = TestServer::start(db).await;
    let p = partner(&s, "acme", "aes-256-gcm", json!({})).await;
    let post = |body: Value| s.admin(Method::POST, "/admin/v1/partners", Some(body));
    let (status, _) = post(json!({"path": "acme", "name": "again"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "one partner per path");
    let (status, _) = post(json!({"path": "a/b", "name": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let framing =
        json!({"path": "b", "name": "x", "settings": {"frame_ancestors": ["https://a.example; script-src *"]}});
    assert_eq!(post(framing).await.0, StatusCode::BAD_REQUEST, "no policy injection");
    let (status, _) = post(json!({"path": "c", "name": "x", "currency": "NOPE"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(json!({"path": "d", "name": "x", "scheme": "rot13"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, seen) = s.admin(Method::GET, "/admin/v1/partners/acme", None).await;
    assert!(seen.get("crypt_key").is_none(), "the key is shown once: {seen}");
    assert_eq!(seen["hash"], p.hash.as_str());
    let (_, all) = s.admin(Method::GET, "/admin/v1/partners", None).await;
    assert_eq!(all["partners"].as_array().unwrap().len(), 1);
    let (status, _) = s.admin(Method::GET, "/admin/v1/partners/acme?program=nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A new key opens calls; the old one no longer does.
    let (_, rotated) = s.admin(Method::POST, "/admin/v1/partners/acme/rotate-key", None).await;
    let fresh = Partner {
        key: rotated["crypt_key"].as_str().unwrap().into(),
        ..p.clone()
    };
    assert_eq!(refused(&s, &p, "hello", &p.me(), json!({})).await, 2);
    assert_eq!(
        data(&s, &fresh, "hello", &fresh.me(), json!({"name": "again"})).await,
        "Hello, again!"
    );

    // The sandbox scheme, switched on for this partner only.
    let (status, _) = s
        .admin(
            Method::PATCH,
            "/admin/v1/partners/acme",
            Some(json!({"scheme": "base64"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let sandbox = Partner {
        scheme: Scheme::Base64,
        ..fresh
    };
    assert_eq!(
        data(&s, &sandbox, "hello", &sandbox.me(), json!({"name": "sandbox"})).await,
        "Hello, sandbox!"
    );

    // The campaign figures the operator keeps for getUserData.
    let u = user(&s, &sandbox, "acme-1", USER_HASH).await;
    let campaign = json!({"keywords": ["хостинг", "vps"], "monthly_budget": "3000"});
    let (status, _) = s
        .admin(
            Method::PATCH,
            &format!("/admin/v1/partners/acme/users/{USER_HASH}"),
            Some(campaign),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let user = data(&s, &sandbox, "getUserData", &u, json!({})).await;
    assert_eq!(
        (user["dailyBudget"].clone(), user["keywords"].clone()),
        (json!(100), json!(["хостинг", "vps"]))
    );
    assert_eq!(
        (user["status"].as_str(), user["progress"].as_str()),
        (Some("new"), Some("WIZARD_STEP_1"))
    );

    // Templates are checked when saved.
    let bad = json!({"title_template": "x", "text_template": "{{#list}}x{{/list}}"});
    let path = "/admin/v1/programs/default/notification-templates/custom";
    assert_eq!(s.admin(Method::PUT, path, Some(bad)).await.0, StatusCode::BAD_REQUEST);
    let good = json!({"title_template": "Hi {{name}}", "text_template": "<b>{{name}}</b>, see {{go/help}}"});
    assert_eq!(s.admin(Method::PUT, path, Some(good)).await.0, StatusCode::OK);
    let send = json!({"type": "custom", "params": {"name": "<script>"}});
    let (status, sent) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/partners/acme/users/{USER_HASH}/messages"),
            Some(send),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(sent["text"], "<b>&lt;script&gt;</b>, see {{go/help}}");
}

/// The cabinet in a partner's page of another origin, in headless Chromium: the
/// deeplink opens the top-up page, a top-up is asked, iframe-resizer (served by Accrue)
/// sizes the frame, and every page is kept as a screenshot, at desktop and phone width.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cabinet_lives_in_a_partners_iframe() {
    use crate::browser::{artifacts_dir, serve, Browser};
    let Some(browser) = Browser::start().await else { return };
    let s = TestServer::sqlite().await;
    let p = partner(
        &s,
        "acme",
        "aes-256-gcm",
        json!({"help_text": "Как пополнить счёт.\n\nЧто такое баллы."}),
    )
    .await;
    let u = user(&s, &p, "acme-1", USER_HASH).await;
    data(
        &s,
        &p,
        "doPayment",
        &u,
        json!({"paymentSum": "100", "paymentHash": "p1"}),
    )
    .await;
    let sent = json!({"type": "low_balance", "params": {"balance": "100.00"}});
    s.admin(
        Method::POST,
        &format!("/admin/v1/partners/acme/users/{USER_HASH}/messages"),
        Some(sent),
    )
    .await;
    let src = format!(
        "{}&r={}",
        p.url(&s, "cryptLogin", &u, &json!({})),
        url_encode("go/payment")
    );
    let page = format!(
        r#"<!doctype html><title>Acme</title><h1>Acme hosting</h1>
        <script src="{}/integra/assets/iframeResizer.min.js"></script>
        <iframe id="cabinet" src="{src}" scrolling="no" style="width:100%;min-height:100px;border:0"
                onload="iFrameResize({{ checkOrigin: false }}, this)"></iframe>"#,
        s.base
    );
    let port = serve(axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    ))
    .await;
    let shots = artifacts_dir().join("integra");
    let wait = Duration::from_secs(15);

    browser.goto(&format!("http://localhost:{port}/")).await.unwrap();
    browser.wait_for("#cabinet", wait).await.unwrap();
    browser.switch_to_frame("#cabinet").await.unwrap();
    browser
        .wait_for("#amount", wait)
        .await
        .expect("the deeplink opens the top-up page");
    assert_eq!(browser.text("#balance").await.unwrap(), "100.00 Б");
    browser.screenshot(&shots.join("top-up.png")).await.unwrap();
    browser.type_into("#amount", "25").await.unwrap();
    browser.click("button[type=submit]").await.unwrap();
    browser
        .wait_for(".payments .pending", wait)
        .await
        .expect("the asked top-up is listed");
    assert!(browser.text(".payments .pending").await.unwrap().contains("25.00 Б"));
    browser.screenshot(&shots.join("top-up-asked.png")).await.unwrap();

    for (link, name) in [
        ("/messages", "messages"),
        ("/go/support", "support"),
        ("/go/help", "help"),
    ] {
        browser.click(&format!("nav a[href$='{link}']")).await.unwrap();
        browser.wait_for("main h1", wait).await.unwrap();
        browser.screenshot(&shots.join(format!("{name}.png"))).await.unwrap();
    }
    let help = browser.text("main").await.unwrap();
    assert!(help.contains("Что такое баллы"), "{help}");
    browser.click("nav a:first-child").await.unwrap();
    browser.wait_for(".balance", wait).await.unwrap();
    browser.switch_to_parent().await.unwrap();
    // iframe-resizer sets the frame's height from its content.
    let mut height = Value::Null;
    for _ in 0..50 {
        height = browser
            .eval("return document.getElementById('cabinet').style.height", &[])
            .await
            .unwrap();
        if height.as_str().is_some_and(|h| h.ends_with("px") && h != "100px") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let px: f64 = height
        .as_str()
        .unwrap_or_default()
        .trim_end_matches("px")
        .parse()
        .unwrap_or_default();
    assert!(px > 300.0, "the frame is sized to the cabinet: {height}");
    browser.screenshot(&shots.join("home.png")).await.unwrap();
    browser.set_window_size(390, 844).await.unwrap();
    browser.switch_to_frame("#cabinet").await.unwrap();
    let overflow = browser
        .eval(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            &[],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "nothing wider than a phone: {overflow}"
    );
    browser.switch_to_parent().await.unwrap();
    browser.screenshot(&shots.join("home-phone.png")).await.unwrap();

    let (_, payments) = s.admin(Method::GET, "/admin/v1/partners/acme/payments", None).await;
    assert_eq!(payments["payments"][0]["state"], "pending");
    assert_eq!(payments["payments"][0]["amount"], "25.00");
}
