//! Several servers on one database: one bootstrap key, one postback allowance. And admin
//! keys limited to a program or to reading.

use accrue_server::testing::TestServer;
use accrue_server::ServerOptions;
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use accrue_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    servers_starting_together_make_one_bootstrap_key,
    the_postback_rate_limit_holds_across_servers,
    admin_keys_keep_to_their_scope,
);

async fn servers_starting_together_make_one_bootstrap_key(db: TestDb) {
    Store::open(&db.url).await.unwrap().close().await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Store::open(&db.url).await.unwrap());
    }
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|store| tokio::spawn(async move { store.bootstrap_admin_key().await.unwrap() }))
        .collect();
    let mut keys = Vec::new();
    for task in tasks {
        keys.extend(task.await.unwrap());
    }
    assert_eq!(keys.len(), 1, "one key printed: {keys:?}");
    assert_eq!(stores[0].admin_keys().await.unwrap().len(), 1, "one key stored");
    assert_eq!(stores[0].bootstrap_admin_key().await.unwrap(), None, "and never again");
    for store in stores {
        store.close().await;
    }
}

async fn the_postback_rate_limit_holds_across_servers(db: TestDb) {
    let url = db.url.clone();
    let a = TestServer::start(db).await;
    let b = TestServer::start_on(&url, ServerOptions::default()).await;
    let (_, integration) = a
        .admin(
            Method::POST,
            "/admin/v1/tracker/integrations",
            Some(json!({"name": "Net", "click_param": "sub1", "rate_limit_per_minute": 10})),
        )
        .await;
    let uid = integration["id"].as_str().unwrap();
    let mut accepted = 0;
    let mut limited = 0;
    let started = std::time::Instant::now();
    for i in 0..30 {
        let server = if i % 2 == 0 { &a } else { &b };
        let url = format!(
            "{}/api/postbacks/{uid}/tracker-postback?tracker.event=sale&clickid=c{i}",
            server.base
        );
        let response = server.client.get(url).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], "rate_limited", "{body}");
            limited += 1;
        } else {
            accepted += 1;
        }
    }
    // A minute's allowance of 10, and one more for every 6 s the test took.
    let refilled = started.elapsed().as_secs() as usize / 6 + 1;
    assert!(
        (10..=10 + refilled).contains(&accepted),
        "{accepted} accepted, {limited} limited"
    );
    b.stop().await;
}

async fn admin_keys_keep_to_their_scope(db: TestDb) {
    let s = TestServer::start(db).await;
    s.admin(
        Method::POST,
        "/admin/v1/programs",
        Some(json!({"code": "shop2", "name": "Shop two"})),
    )
    .await;
    let create = |body: Value| s.admin(Method::POST, "/admin/v1/admin-keys", Some(body));
    let (status, shop) = create(json!({"name": "shop2 only", "program": "shop2"})).await;
    assert_eq!(status, StatusCode::CREATED, "{shop}");
    let (_, reader) = create(json!({"name": "reader", "read_only": true})).await;
    let (status, _) = create(json!({"name": "x", "program": "nosuch"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let call = |key: &Value, method: Method, path: &str, body: Option<Value>| {
        let request = s
            .client
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(key["secret"].as_str().unwrap());
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let member = json!({"phone": "+79161234567"});
    let cases = [
        (
            &shop,
            Method::GET,
            "/admin/v1/members?program=shop2",
            None,
            StatusCode::OK,
        ),
        (
            &shop,
            Method::POST,
            "/admin/v1/members?program=shop2",
            Some(member.clone()),
            StatusCode::CREATED,
        ),
        (&shop, Method::GET, "/admin/v1/programs/shop2", None, StatusCode::OK),
        (&shop, Method::GET, "/admin/v1/members", None, StatusCode::FORBIDDEN),
        (
            &shop,
            Method::GET,
            "/admin/v1/members?program=default",
            None,
            StatusCode::FORBIDDEN,
        ),
        (
            &shop,
            Method::GET,
            "/admin/v1/programs/default",
            None,
            StatusCode::FORBIDDEN,
        ),
        (&shop, Method::GET, "/admin/v1/programs", None, StatusCode::FORBIDDEN),
        (&shop, Method::GET, "/admin/v1/admin-keys", None, StatusCode::FORBIDDEN),
        (&reader, Method::GET, "/admin/v1/members", None, StatusCode::OK),
        (
            &reader,
            Method::GET,
            "/admin/v1/members?program=shop2",
            None,
            StatusCode::OK,
        ),
        (
            &reader,
            Method::POST,
            "/admin/v1/members",
            Some(member.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            &reader,
            Method::POST,
            "/admin/v1/admin-keys",
            Some(json!({"name": "y"})),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (key, method, path, body, expected) in cases {
        let (status, answer) = call(key, method.clone(), path, body).await;
        assert_eq!(status, expected, "{} {method} {path}: {answer}", key["name"]);
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(answer["error"]["code"], "forbidden", "{answer}");
        }
    }
    let (_, keys) = s.admin(Method::GET, "/admin/v1/admin-keys", None).await;
    let names: Vec<&str> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["reader", "shop2 only", "tests"]);
    assert!(keys["items"][0].get("secret").is_none(), "secrets are shown once");
    let id = shop["id"].as_i64().unwrap();
    let (status, _) = s
        .admin(Method::POST, &format!("/admin/v1/admin-keys/{id}/revoke"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&shop, Method::GET, "/admin/v1/members?program=shop2", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked key stops at once");
}
