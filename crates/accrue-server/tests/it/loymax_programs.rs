//! The Loymax face serving several programs, over real HTTP: a program is chosen by the
//! host name or the path prefix bound to it in the admin API, and the default program
//! where nothing matches; tokens and devices stay with their program; bad bindings are
//! refused and change nothing; every route answers in any case under every prefix.

use accrue_server::faces::loymax::route_paths;
use accrue_server::testing::{send, TestServer};
use accrue_store::on_both_backends;
use accrue_store::testing::TestDb;
use reqwest::header::HOST;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    programs_are_served_by_host_and_by_path_prefix,
    tokens_and_devices_stay_with_their_program,
    bad_bindings_are_refused_and_change_nothing,
);

const PHONE: &str = "79123487979";

/// Where a client reaches the face: the host name it sends (the server's address when
/// `None`) and what stands before the Loymax paths.
#[derive(Clone, Copy)]
struct Site<'a> {
    s: &'a TestServer,
    host: Option<&'a str>,
    prefix: &'a str,
}

fn site<'a>(s: &'a TestServer, host: Option<&'a str>, prefix: &'a str) -> Site<'a> {
    Site { s, host, prefix }
}

impl Site<'_> {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .s
            .client
            .request(method, format!("{}{}{path}", self.s.base, self.prefix));
        match self.host {
            Some(host) => request.header(HOST, host),
            None => request,
        }
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let request = self.request(method, path);
        match token {
            Some(token) => send(request.bearer_auth(token), body).await,
            None => send(request, body).await,
        }
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        send(
            self.request(Method::POST, "/authorizationService/token").form(form),
            None,
        )
        .await
    }

    /// The `data` of a member's call that succeeded.
    async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, answer) = self.call(Method::POST, path, Some(token), Some(body)).await;
        assert_eq!(
            (status, &answer["result"]["state"]),
            (StatusCode::OK, &json!("Success")),
            "{path}: {answer}"
        );
        answer["data"].clone()
    }

    /// The member's balance as `User/Balance` answers it here.
    async fn balance(&self, token: &str) -> f64 {
        let (status, answer) = self
            .call(Method::GET, "/publicapi/v1.2/User/Balance", Some(token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["data"][0]["balance"].as_f64().expect("a balance")
    }

    /// Registers [`PHONE`] here as the Loymax document does; the member's access token.
    async fn register(&self, program: &str) -> String {
        let begin = json!({"login": PHONE, "password": ""});
        let (_, begun) = self
            .call(
                Method::POST,
                "/api/v1/Registration/BeginRegistration",
                None,
                Some(begin),
            )
            .await;
        let token = begun["data"]["authToken"].as_str().expect("a token").to_string();
        self.post("/api/v1/User/AcceptTenderOffer", &token, json!({})).await;
        let code = self.s.sent_code_in(program, "sms", PHONE).await;
        let confirmed = self
            .post("/api/v1/User/PhoneNumber/Confirm", &token, json!({"confirmCode": code}))
            .await;
        let token = confirmed["authToken"].as_str().unwrap();
        let set = self
            .post("/api/v1/User/Password/Set", token, json!({"password": "111111"}))
            .await;
        let token = set["access_token"].as_str().unwrap();
        let done = self
            .post("/api/v1/Registration/TryFinishRegistration", token, json!({}))
            .await;
        done["authToken"].as_str().unwrap().to_string()
    }
}

async fn admin_ok(s: &TestServer, method: Method, path: &str, body: Value, expected: StatusCode) -> Value {
    let (status, answer) = s.admin(method, path, Some(body)).await;
    assert_eq!(status, expected, "{path}: {answer}");
    answer
}

async fn bind(s: &TestServer, program: &str, binding: Value) -> (StatusCode, Value) {
    let path = format!("/admin/v1/programs/{program}/faces/loymax");
    s.admin(Method::PUT, &path, Some(binding)).await
}

/// Programs `shop2`, served at the host `shop2.example`, and `shop3`, under `/shop3`.
async fn two_programs(s: &TestServer) {
    for code in ["shop2", "shop3"] {
        let program = json!({"code": code, "name": code});
        admin_ok(s, Method::POST, "/admin/v1/programs", program, StatusCode::CREATED).await;
    }
    let by_host = bind(s, "shop2", json!({"hosts": ["Shop2.Example"]})).await;
    let expected = json!({"program": "shop2", "hosts": ["shop2.example"], "path_prefix": null});
    assert_eq!(by_host, (StatusCode::OK, expected));
    let by_prefix = bind(s, "shop3", json!({"path_prefix": "/shop3"})).await;
    let expected = json!({"program": "shop3", "hosts": [], "path_prefix": "/shop3"});
    assert_eq!(by_prefix, (StatusCode::OK, expected));
}

/// The member of a program with [`PHONE`].
async fn member_of(s: &TestServer, program: &str) -> Value {
    let path = format!("/admin/v1/members?program={program}&phone={PHONE}");
    let (_, found) = s.admin(Method::GET, &path, None).await;
    found["items"][0].clone()
}

/// Accrues points to the member of a program with [`PHONE`].
async fn accrue(s: &TestServer, program: &str, amount: &str) {
    let accrual = json!({"member_id": member_of(s, program).await["id"], "amount": amount});
    let path = format!("/admin/v1/operations/accrue?program={program}");
    let (status, answer) = s
        .admin_with(Method::POST, &path, Some(accrual), &[("Idempotency-Key", program)])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

async fn programs_are_served_by_host_and_by_path_prefix(db: TestDb) {
    let s = TestServer::start(db).await;
    two_programs(&s).await;
    let main = site(&s, None, "");
    let shop2 = site(&s, Some("shop2.example"), "");
    let shop3 = site(&s, None, "/shop3");
    let mut tokens = Vec::new();
    for (at, program, points) in [(main, "default", 10.0), (shop2, "shop2", 20.0), (shop3, "shop3", 30.0)] {
        let token = at.register(program).await;
        accrue(&s, program, &points.to_string()).await;
        assert_eq!(at.balance(&token).await, points, "{program}");
        tokens.push(token);
    }
    for program in ["default", "shop2", "shop3"] {
        let member = member_of(&s, program).await;
        assert_eq!(member["state"], "active", "{program}: {member}");
    }

    // The prefix wins over the host, both in any case; an unknown host gets the default.
    let both = site(&s, Some("SHOP2.example:8080"), "/SHOP3");
    assert_eq!(both.balance(&tokens[2]).await, 30.0);
    assert_eq!(site(&s, Some("unknown.example"), "").balance(&tokens[0]).await, 10.0);
    let unbound = site(&s, None, "/shop4");
    let (status, answer) = unbound
        .call(Method::GET, "/api/v1/User/Balance", Some(&tokens[0]), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a prefix no program has: {answer}");
    assert_eq!(answer["result"]["state"], "Error", "in the Loymax envelope: {answer}");

    let (_, all) = s.admin(Method::GET, "/admin/v1/faces/loymax", None).await;
    assert_eq!(
        all,
        json!({"default_program": "default", "items": [
            {"program": "shop2", "hosts": ["shop2.example"], "path_prefix": null},
            {"program": "shop3", "hosts": [], "path_prefix": "/shop3"}]})
    );

    // A change counts at once: without its binding, shop2.example gets the default program.
    let path = "/admin/v1/programs/shop2/faces/loymax";
    assert_eq!(s.admin(Method::DELETE, path, None).await.0, StatusCode::NO_CONTENT);
    let (status, _) = shop2
        .call(Method::GET, "/publicapi/v1.2/User/Balance", Some(&tokens[1]), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "shop2's token where the default is served"
    );
    assert_eq!(shop2.balance(&tokens[0]).await, 10.0);
    let (_, unbound) = s.admin(Method::GET, path, None).await;
    assert_eq!(unbound, json!({"program": "shop2", "hosts": [], "path_prefix": null}));

    // Metrics count the face's requests by its routes, whatever the prefix.
    let metrics = s.client.get(format!("{}/metrics", s.base)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let balances = r#"{method="GET",route="/loymax/user/balance",status="200"} 6"#;
    assert!(metrics.contains(balances), "{metrics}");
    s.stop().await;
}

async fn tokens_and_devices_stay_with_their_program(db: TestDb) {
    let s = TestServer::start(db).await;
    two_programs(&s).await;
    let (main, shop2, shop3) = (
        site(&s, None, ""),
        site(&s, Some("shop2.example"), ""),
        site(&s, None, "/shop3"),
    );
    let member = json!({"phone": PHONE});
    let member = admin_ok(
        &s,
        Method::POST,
        "/admin/v1/members?program=shop2",
        member,
        StatusCode::CREATED,
    )
    .await;
    let path = format!("/admin/v1/members/{}/password?program=shop2", member["id"]);
    admin_ok(
        &s,
        Method::POST,
        &path,
        json!({"password": "secret-1"}),
        StatusCode::NO_CONTENT,
    )
    .await;
    accrue(&s, "shop2", "5").await;

    let sign_in = [
        ("grant_type", "password"),
        ("username", PHONE),
        ("password", "secret-1"),
    ];
    let (status, pair) = shop2.token(&sign_in).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (access, refresh) = (
        pair["access_token"].as_str().unwrap(),
        pair["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(shop2.balance(access).await, 5.0);
    for other in [main, shop3] {
        let (_, refused) = other.token(&sign_in).await;
        assert_eq!(
            refused["error"], "IncorrectLoginOrPassword",
            "no such member there: {refused}"
        );
        let (status, _) = other
            .call(Method::GET, "/publicapi/v1.2/User/Balance", Some(access), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "an access token of another program");
        let (_, refused) = other
            .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await;
        assert_eq!(refused["error"], "invalid_grant", "{refused}");
    }

    // A device of shop2 signs in where shop2 is served, and its token works only there.
    admin_ok(
        &s,
        Method::POST,
        "/admin/v1/merchants?program=shop2",
        json!({"code": "shop", "name": "Shop"}),
        StatusCode::CREATED,
    )
    .await;
    let path = "/admin/v1/merchants/shop/devices?program=shop2";
    let device = admin_ok(&s, Method::POST, path, json!({"name": "till"}), StatusCode::CREATED).await;
    let grant = [
        ("grant_type", "client_credentials"),
        ("client_id", device["client_id"].as_str().unwrap()),
        ("client_secret", device["client_secret"].as_str().unwrap()),
        ("identifier", PHONE),
    ];
    let (_, refused) = main.token(&grant).await;
    assert_eq!(refused["error"], "invalid_client", "{refused}");
    let (status, granted) = shop2.token(&grant).await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    let device_token = granted["access_token"].as_str();
    let balance = Some(json!({"identifier": PHONE}));
    for other in [main, shop3] {
        let (status, _) = other
            .call(
                Method::POST,
                "/api/v1/Processing/Balance",
                device_token,
                balance.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a device token of another program");
    }
    let (status, answer) = shop2
        .call(Method::POST, "/api/v1/Processing/Balance", device_token, balance)
        .await;
    assert_eq!(
        (status, &answer["result"]["state"]),
        (StatusCode::OK, &json!("Success")),
        "{answer}"
    );
    s.stop().await;
}

async fn bad_bindings_are_refused_and_change_nothing(db: TestDb) {
    let s = TestServer::start(db).await;
    two_programs(&s).await;
    let (_, before) = s.admin(Method::GET, "/admin/v1/faces/loymax", None).await;
    let invalid = [
        json!({}),
        json!({"hosts": []}),
        json!({"hosts": ["shop.example:8080"]}),
        json!({"hosts": ["*.example"]}),
        json!({"hosts": ["bad host"]}),
        json!({"hosts": ["a.example", "A.example"]}),
        json!({"hosts": "a.example"}),
        json!({"host": ["a.example"]}),
        json!({"path_prefix": "shop4"}),
        json!({"path_prefix": "/shop/4"}),
        json!({"path_prefix": "/api"}),
        json!({"path_prefix": "/Admin"}),
        json!({"path_prefix": "/authorizationService"}),
    ];
    for body in invalid {
        let (status, answer) = bind(&s, "shop3", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request", "{body}: {answer}");
    }
    let (status, answer) = bind(&s, "shop3", json!({"hosts": ["new.example", "SHOP2.EXAMPLE"]})).await;
    assert_eq!(
        (
            status,
            answer["error"]["code"].as_str(),
            answer["error"]["message"].as_str()
        ),
        (
            StatusCode::CONFLICT,
            Some("conflict"),
            Some("host shop2.example is bound to program shop2")
        )
    );
    let (status, answer) = bind(
        &s,
        "shop2",
        json!({"hosts": ["shop2.example"], "path_prefix": "/Shop3"}),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["message"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("path prefix /shop3 is bound to program shop3")
        )
    );
    let (status, answer) = bind(&s, "nosuch", json!({"hosts": ["x.example"]})).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // A key limited to a program reads its binding, but bindings route the whole server:
    // it changes none and does not list them.
    let key = json!({"name": "shop3 only", "program": "shop3"});
    let key = admin_ok(&s, Method::POST, "/admin/v1/admin-keys", key, StatusCode::CREATED).await;
    let as_shop3 = |method: Method, path: &str| {
        let request = s.client.request(method, format!("{}{path}", s.base));
        request.bearer_auth(key["secret"].as_str().unwrap())
    };
    let path = "/admin/v1/programs/shop3/faces/loymax";
    assert_eq!(send(as_shop3(Method::GET, path), None).await.0, StatusCode::OK);
    let (status, answer) = send(as_shop3(Method::PUT, path), Some(json!({"hosts": ["shop3.example"]}))).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = send(as_shop3(Method::GET, "/admin/v1/faces/loymax"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, after) = s.admin(Method::GET, "/admin/v1/faces/loymax", None).await;
    assert_eq!(before, after, "nothing changed");
    s.stop().await;
}

/// Each literal segment of a route path changed by `case`; parameters filled in.
fn written(path: &str, case: fn(&str) -> String) -> String {
    let segments: Vec<String> = path
        .split('/')
        .map(|s| if s.starts_with('{') { "7".to_string() } else { case(s) })
        .collect();
    segments.join("/")
}

fn mixed_case(word: &str) -> String {
    let flip = |(i, c): (usize, char)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c };
    word.chars().enumerate().map(flip).collect()
}

/// Routing does not depend on the backend: SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_in_any_case_under_every_prefix() {
    let s = TestServer::sqlite().await;
    two_programs(&s).await;
    let prefixes = ["/api/v1/", "/api/v1.1/", "/publicapi/v1/", "/publicapi/v1.2/"];
    let cases: [fn(&str) -> String; 2] = [str::to_ascii_uppercase, mixed_case];
    let mut sent = 0;
    for route in route_paths() {
        for (prefix, case) in prefixes.iter().flat_map(|p| cases.map(|c| (p, c))) {
            for at in [site(&s, None, ""), site(&s, None, "/Shop3")] {
                let path = format!("{}{}", case(prefix), written(&route, case));
                let (status, answer) = at.call(Method::GET, &path, None, None).await;
                assert_ne!(status, StatusCode::NOT_FOUND, "{}{path}: {answer}", at.prefix);
                sent += 1;
            }
        }
    }
    // The token endpoint refuses in OAuth's way (HTTP 400); the code endpoint with a
    // ValidationError (HTTP 200, 400 inside).
    for (path, status) in [
        ("/AUTHORIZATIONSERVICE/TOKEN", StatusCode::BAD_REQUEST),
        ("/authorizationService/V1.2/Auth/SendConfirmationCode", StatusCode::OK),
    ] {
        for at in [site(&s, None, ""), site(&s, None, "/shop3")] {
            let (got, answer) = at.call(Method::POST, path, None, None).await;
            assert_eq!(got, status, "{}{path}: {answer}", at.prefix);
        }
    }
    assert!(sent > 500, "{sent} calls");
    s.stop().await;
}
