//! The `accrue` binary as a user runs it: zero-configuration start, bootstrap key,
//! graceful shutdown, `migrate`, `admin create-key` and `check`.

use accrue_store::testing::TestDb;
use accrue_store::Store;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn accrue(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_accrue"));
    command
        .current_dir(dir)
        .env_remove("ACCRUE_DATABASE_URL")
        .env_remove("ACCRUE_LISTEN")
        .env_remove("ACCRUE_CONFIG");
    command
}

/// A running `accrue serve`, its address, and what it printed on stdout.
struct Running {
    child: Child,
    base: String,
    stdout: String,
    /// The log lines read while waiting for the address.
    early_log: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

/// Starts `accrue serve` on a free port and waits until it says where it listens.
fn serve(dir: &Path, extra: &[&str]) -> Running {
    serve_with_env(dir, extra, &[])
}

fn serve_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Running {
    let mut child = accrue(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accrue serve");
    let addresses = lines_of(child.stderr.take().unwrap());
    let printed = lines_of(child.stdout.take().unwrap());
    let mut early_log = Vec::new();
    let address = loop {
        let line = addresses
            .recv_timeout(Duration::from_secs(60))
            .expect("server announced its address");
        early_log.push(line.clone());
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().to_string();
        }
    };
    // A bootstrap key is printed before the server listens, so it has arrived by now.
    let mut stdout = String::new();
    while let Ok(line) = printed.recv_timeout(Duration::from_millis(300)) {
        stdout.push_str(&line);
        stdout.push('\n');
    }
    Running {
        child,
        base: format!("http://{address}"),
        stdout,
        early_log,
        stderr: addresses,
    }
}

/// The lines a pipe yields, read on a thread of their own.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    received
}

/// Sends SIGTERM and waits for a clean exit; what the server logged.
fn terminate(mut running: Running) -> Vec<String> {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    // The reader ends when the exited server's pipe closes.
    let mut log = running.early_log;
    log.extend(running.stderr.iter());
    assert!(
        exit.success(),
        "accrue serve exited with {exit}; it logged:\n{}",
        log.join("\n")
    );
    log
}

fn bootstrap_key(stdout: &str) -> Option<String> {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("acr_"))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_starts_with_zero_configuration_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let first = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || serve(&dir, &[])
    })
    .await
    .unwrap();
    assert!(
        dir.path().join("accrue.db").exists(),
        "the SQLite file is created in the working directory"
    );
    let key = bootstrap_key(&first.stdout).expect("a bootstrap key on first start");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", first.base);
    let member: Value = client
        .post(url("/admin/v1/members"))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = member["id"].as_i64().unwrap();
    // Requests in flight when SIGTERM arrives are finished, and every answered one is stored.
    let requests: Vec<_> = (0..40)
        .map(|i| {
            let request = client
                .post(url("/admin/v1/operations/accrue"))
                .bearer_auth(&key)
                .header("Idempotency-Key", format!("k{i}"))
                .json(&json!({"member_id": id, "amount": "1"}));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    tokio::task::spawn_blocking(move || terminate(first)).await.unwrap();
    let mut answered = 0;
    for r in requests {
        match r.await.unwrap() {
            Ok(status) => {
                assert_eq!(status, 201);
                answered += 1;
            }
            Err(e) => assert!(e.is_connect() || e.is_request(), "{e}"),
        }
    }
    let db = format!("sqlite://{}", dir.path().join("accrue.db").display());
    let store = Store::open(&db).await.unwrap();
    let balance = store.balances(1, id).await.unwrap()[0].balance;
    assert_eq!(
        balance,
        answered * 100,
        "{answered} answered accruals of 1.00 are all stored"
    );
    assert!(store.check().await.unwrap().is_empty());
    store.close().await;
    // A second start reuses the database and prints no new key.
    let second = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || serve(&dir, &[])
    })
    .await
    .unwrap();
    assert_eq!(bootstrap_key(&second.stdout), None, "{}", second.stdout);
    let answer = client
        .get(format!("{}/admin/v1/members/{id}", second.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "the bootstrap key still works");
    tokio::task::spawn_blocking(move || terminate(second)).await.unwrap();
}

#[tokio::test]
async fn migrate_and_create_key_use_the_configured_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("other.db").display());
    let migrate = accrue(dir.path())
        .args(["--database-url", &db, "migrate"])
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let config = dir.path().join("accrue.toml");
    std::fs::write(&config, format!("database_url = \"{db}\"\n")).unwrap();
    let created = accrue(dir.path())
        .args([
            "--config",
            config.to_str().unwrap(),
            "admin",
            "create-key",
            "--name",
            "ops",
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = String::from_utf8(created.stdout).unwrap().trim().to_string();
    let store = Store::open(&db).await.unwrap();
    assert_eq!(
        store.verify_admin_key(&key).await.unwrap().map(|k| k.name),
        Some("ops".into())
    );
    assert!(
        !dir.path().join("accrue.db").exists(),
        "nothing was written to the default database"
    );
    let scoped = accrue(dir.path())
        .args(["--database-url", &db, "admin", "create-key", "--name", "reader"])
        .args(["--program", "default", "--read-only"])
        .output()
        .unwrap();
    assert!(scoped.status.success(), "{}", String::from_utf8_lossy(&scoped.stderr));
    let key = String::from_utf8(scoped.stdout).unwrap().trim().to_string();
    let scope = store.verify_admin_key(&key).await.unwrap().unwrap().scope;
    assert_eq!((scope.program.as_deref(), scope.read_only), (Some("default"), true));
    let unknown = accrue(dir.path())
        .args([
            "--database-url",
            &db,
            "admin",
            "create-key",
            "--name",
            "x",
            "--program",
            "nosuch",
        ])
        .output()
        .unwrap();
    assert!(!unknown.status.success(), "a key for an unknown program is refused");
}

async fn check_on(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&db.url).await.unwrap();
    let member = store.create_member(1, Default::default()).await.unwrap();
    let movement = accrue_store::ledger::Movement {
        member_id: member.id,
        currency_id: 1,
        amount: 500,
        card: None,
        description: String::new(),
        cause: Default::default(),
    };
    let key = accrue_store::ledger::IdempotencyKey::new("a", &json!(1)).unwrap();
    store.accrue(1, key, movement, Default::default()).await.unwrap();
    let check = || {
        accrue(dir.path())
            .args(["--database-url", &db.url, "check"])
            .output()
            .unwrap()
    };
    let sound = check();
    assert!(sound.status.success());
    assert!(String::from_utf8_lossy(&sound.stdout).contains("ledger OK"));
    store
        .execute_unchecked("UPDATE balances SET balance = balance - 1 WHERE shard = 0")
        .await
        .unwrap();
    let broken = check();
    assert_eq!(broken.status.code(), Some(2));
    let report = String::from_utf8_lossy(&broken.stdout);
    assert!(
        report.contains("every cached balance equals the sum of its account's entries"),
        "{report}"
    );
    store.close().await;
}

#[tokio::test]
async fn check_fails_on_a_corrupted_sqlite_database() {
    check_on(TestDb::sqlite()).await;
}

#[tokio::test]
async fn check_fails_on_a_corrupted_postgres_database() {
    if let Some(db) = TestDb::postgres().await {
        check_on(db).await;
    }
}

/// Kills the server outright, as a crash would.
fn kill(mut running: Running) {
    Command::new("kill")
        .args(["-KILL", &running.child.id().to_string()])
        .status()
        .unwrap();
    running.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_a_killed_server_and_are_delivered_after_restart() {
    use accrue_server::testing::{Receiver, Reply};
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    // The first deliveries hang, so the server dies with them in flight.
    receiver.plan(
        (0..10)
            .map(|_| Reply {
                status: 200,
                delay: Duration::from_secs(30),
                ..Reply::default()
            })
            .collect(),
    );
    let flags = [
        "--outbound-allow",
        "127.0.0.1",
        "--delivery-lease",
        "2",
        "--retry-schedule",
        "1,1,1",
    ];
    let start = |dir: std::path::PathBuf| tokio::task::spawn_blocking(move || serve(&dir, &flags));
    let first = start(dir.path().to_path_buf()).await.unwrap();
    let key = bootstrap_key(&first.stdout).unwrap();
    let client = reqwest::Client::new();
    let hooks = json!({"url": format!("{}/hooks", receiver.base), "event_types": ["points.accrued"]});
    let endpoint = client
        .post(format!("{}/admin/v1/webhook-endpoints", first.base))
        .bearer_auth(&key)
        .json(&hooks)
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint.status(), 201);
    let member: Value = client
        .post(format!("{}/admin/v1/members", first.base))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for i in 0..10 {
        let accrued = client
            .post(format!("{}/admin/v1/operations/accrue", first.base))
            .bearer_auth(&key)
            .header("Idempotency-Key", format!("k{i}"))
            .json(&json!({"member_id": member["id"], "amount": "1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(accrued.status(), 201);
    }
    receiver.wait_for(1, Duration::from_secs(20)).await;
    tokio::task::spawn_blocking(move || kill(first)).await.unwrap();

    let second = start(dir.path().to_path_buf()).await.unwrap();
    let pending = || {
        let (client, base, key) = (client.clone(), second.base.clone(), key.clone());
        async move {
            let list: Value = client
                .get(format!("{base}/admin/v1/outbox/messages?count=100"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list["items"].as_array().unwrap().clone()
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let messages = loop {
        let messages = pending().await;
        if messages.len() == 10 && messages.iter().all(|m| m["state"] == "delivered") {
            break messages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all delivered after the restart: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for m in messages {
        let id = m["id"].as_str().unwrap();
        let detail: Value = client
            .get(format!("{}/admin/v1/outbox/messages/{id}", second.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let last = detail["attempt_log"].as_array().unwrap().last().cloned().unwrap();
        assert_eq!(last["status_code"], 200, "delivered only on a 2xx: {detail}");
        assert!(
            receiver.received().iter().any(|r| r.headers["webhook-id"] == id),
            "{id} reached the receiver"
        );
    }
    tokio::task::spawn_blocking(move || terminate(second)).await.unwrap();
}

/// Calls of the admin API and the faces of a running server, as one client.
struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.send(method, path, Some(&self.key.clone()), body).await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Value {
        let url = format!("{}/authorizationService/token", self.base);
        let response = self.http.post(url).form(form).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Every secret the server hands out, used the way clients use it, then looked for in
/// the database and in the server's log (at debug level): none may be there in clear.
async fn secrets_stay_secret_on(db: TestDb) {
    use accrue_server::testing::Receiver;
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let sealing_key = "M2yQp3g3tOq7J5u9H7aKq0dV1s8N6bXcZ4eR2wY5uT0=";
    let gateway = format!("{}/sms?to={{phone}}&text={{text}}", receiver.base);
    let flags = [
        "--database-url".to_string(),
        db.url.clone(),
        "--outbound-allow".into(),
        "127.0.0.1".into(),
        "--sms-gateway".into(),
        gateway,
    ];
    let running = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            serve_with_env(
                &dir,
                &flags,
                &[("ACCRUE_LOG", "debug"), ("ACCRUE_SECRET_KEY", sealing_key)],
            )
        }
    })
    .await
    .unwrap();
    let key = bootstrap_key(&running.stdout).unwrap();
    let c = Client {
        http: reqwest::Client::new(),
        base: running.base.clone(),
        key: key.clone(),
    };
    let mut secrets = vec![key.clone(), sealing_key.to_string()];

    // A member registers by phone; the code travels to the SMS gateway only.
    let settings = json!({"codes": {"length": 8}});
    c.admin(
        Method::PUT,
        "/admin/v1/programs/default/registration-settings",
        Some(settings),
    )
    .await;
    let begun = c
        .send(
            Method::POST,
            "/api/v1/Registration/BeginRegistration",
            None,
            Some(json!({"login": "+79161234567", "password": ""})),
        )
        .await;
    let auth = begun["data"]["authToken"].as_str().unwrap().to_string();
    let sms = receiver.wait_for(1, Duration::from_secs(20)).await;
    let code: String = percent_decoded(&sms[0].uri)
        .chars()
        .filter(char::is_ascii_digit)
        .skip(11)
        .collect();
    assert_eq!(code.len(), 8, "{}", sms[0].uri);
    c.send(
        Method::POST,
        "/api/v1/User/PhoneNumber/Confirm",
        Some(&auth),
        Some(json!({"confirmCode": code})),
    )
    .await;
    secrets.extend([auth, code]);
    let members = c.admin(Method::GET, "/admin/v1/members?count=1", None).await;
    let id = members["items"][0]["id"].as_i64().unwrap();
    let password = "Pa55-word-zq9";
    c.admin(
        Method::POST,
        &format!("/admin/v1/members/{id}/password"),
        Some(json!({ "password": password })),
    )
    .await;
    let pair = c
        .token(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", password),
        ])
        .await;
    let refreshed = c
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pair["refresh_token"].as_str().unwrap()),
        ])
        .await;
    for tokens in [&pair, &refreshed] {
        secrets.push(tokens["access_token"].as_str().unwrap().to_string());
        secrets.push(tokens["refresh_token"].as_str().unwrap().to_string());
    }
    secrets.push(password.to_string());

    // A till, a webhook endpoint, a tracker integration with a shared secret, a scoped key.
    c.admin(
        Method::POST,
        "/admin/v1/merchants",
        Some(json!({"code": "shop", "name": "Shop"})),
    )
    .await;
    let device = c
        .admin(
            Method::POST,
            "/admin/v1/merchants/shop/devices",
            Some(json!({"name": "till"})),
        )
        .await;
    let client_secret = device["client_secret"].as_str().unwrap().to_string();
    let device_token = c
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", device["client_id"].as_str().unwrap()),
            ("client_secret", &client_secret),
        ])
        .await;
    secrets.extend([
        client_secret,
        device_token["access_token"].as_str().unwrap().to_string(),
    ]);
    let endpoint = c
        .admin(
            Method::POST,
            "/admin/v1/webhook-endpoints",
            Some(json!({"url": format!("{}/hooks", receiver.base), "event_types": ["*"]})),
        )
        .await;
    let signing = c
        .admin(
            Method::GET,
            &format!("/admin/v1/webhook-endpoints/{}/secret", endpoint["id"]),
            None,
        )
        .await;
    secrets.push(signing["secret"].as_str().unwrap().to_string());
    let integration = c
        .admin(
            Method::POST,
            "/admin/v1/tracker/integrations",
            Some(json!({"name": "Net", "click_param": "sub1", "secret": true})),
        )
        .await;
    let link = integration["postbacks"][0]["link"].as_str().unwrap();
    let shared = link.rsplit("&secret=").next().unwrap().to_string();
    let postback = format!(
        "{}/api/postbacks/{}/tracker-postback",
        c.base,
        integration["id"].as_str().unwrap()
    );
    c.http
        .get(format!(
            "{postback}?tracker.event=registration&clickid=a&secret={shared}"
        ))
        .send()
        .await
        .unwrap();
    c.http
        .post(&postback)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("tracker.event=registration&clickid=b&secret={shared}"))
        .send()
        .await
        .unwrap();
    c.http
        .post(&postback)
        .json(&json!({"tracker.event": "registration", "clickid": "c", "secret": shared}))
        .send()
        .await
        .unwrap();
    c.http
        .post(&postback)
        .header("content-type", "application/json")
        .body(format!("not json {shared}"))
        .send()
        .await
        .unwrap();
    secrets.push(shared);
    let scoped = c
        .admin(
            Method::POST,
            "/admin/v1/admin-keys",
            Some(json!({"name": "reader", "read_only": true})),
        )
        .await;
    secrets.push(scoped["secret"].as_str().unwrap().to_string());
    // A signed webhook goes out.
    let accrual = c
        .http
        .post(format!("{}/admin/v1/operations/accrue", c.base))
        .bearer_auth(&key)
        .header("Idempotency-Key", "w1")
        .json(&json!({"member_id": id, "amount": "5"}))
        .send()
        .await
        .unwrap();
    assert_eq!(accrual.status(), 201);
    receiver.wait_for(2, Duration::from_secs(20)).await;

    let log = tokio::task::spawn_blocking(move || terminate(running))
        .await
        .unwrap()
        .join("\n");
    let stored = String::from_utf8_lossy(&db.contents().await).into_owned();
    // The search looks where it should: the log has the requests, the database the member.
    assert!(
        log.contains("/api/v1/User/PhoneNumber/Confirm") && log.contains("DEBUG"),
        "{log}"
    );
    assert!(stored.contains("+79161234567"));
    let at_rest = format!("{log}\n{stored}");
    for secret in &secrets {
        assert!(secret.len() >= 8, "{secret}");
        assert!(
            !at_rest.contains(secret.as_str()),
            "a secret was found in clear: {secret}"
        );
    }
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_secret_on_sqlite() {
    secrets_stay_secret_on(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_secret_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        secrets_stay_secret_on(db).await;
    }
}

/// An admin ledger operation of the crash test, sent (and resent) under its own key.
#[derive(Debug, Clone)]
struct Operation {
    key: String,
    member: i64,
    withdrawal: bool,
    /// Minor units.
    cents: i64,
}

/// Minor units of a two-decimal currency as the admin API writes them.
fn points(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

impl Operation {
    fn amount(&self) -> String {
        points(self.cents)
    }

    /// The member's history row it must leave: type and signed amount.
    fn row(&self) -> (&'static str, String) {
        if self.withdrawal {
            ("withdrawal", format!("-{}", self.amount()))
        } else {
            ("accrual", self.amount())
        }
    }
}

impl Client {
    /// Sends the operation under its key: the receipt and whether it was a replay, or
    /// the error of a request the server never answered. Any answer but 201 fails.
    async fn operate(&self, op: &Operation) -> Result<(Value, bool), reqwest::Error> {
        let path = if op.withdrawal { "withdraw" } else { "accrue" };
        let response = self
            .http
            .post(format!("{}/admin/v1/operations/{path}", self.base))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", &op.key)
            .json(&json!({"member_id": op.member, "amount": op.amount()}))
            .send()
            .await?;
        let status = response.status();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let text = response.text().await?;
        let receipt: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert_eq!(status, 201, "{op:?} was answered {receipt}");
        let (kind, _) = op.row();
        assert_eq!(
            (&receipt["type"], &receipt["member_id"], &receipt["amount"]),
            (&json!(kind), &json!(op.member), &json!(op.amount())),
            "the receipt of {op:?}: {receipt}"
        );
        Ok((receipt, replayed))
    }

    /// Every row of the member's history: posting, type and signed amount.
    async fn history(&self, member: i64) -> Vec<(i64, String, String)> {
        let mut rows = Vec::new();
        loop {
            let path = format!("/admin/v1/members/{member}/history?count=1000&offset={}", rows.len());
            let page = self.admin(reqwest::Method::GET, &path, None).await;
            let items = page["items"].as_array().unwrap();
            rows.extend(items.iter().map(|i| {
                let text = |field: &str| i[field].as_str().unwrap().to_string();
                (i["posting_id"].as_i64().unwrap(), text("type"), text("amount"))
            }));
            if items.is_empty() || rows.len() as i64 >= page["total"].as_i64().unwrap() {
                return rows;
            }
        }
    }
}

/// Runs `accrue check` on the database; it must find the ledger sound.
fn assert_check_clean(dir: &Path, url: &str, when: &str) {
    let check = accrue(dir).args(["--database-url", url, "check"]).output().unwrap();
    assert!(
        check.status.success(),
        "accrue check {when}: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// One client of the load: operations on random members, one after another, until the
/// server stops answering. Each comes back with its receipt, or `None` if unanswered.
async fn send_until_killed(
    c: std::sync::Arc<Client>,
    members: Vec<i64>,
    prefix: String,
    seed: u64,
) -> Vec<(Operation, Option<Value>)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sent = Vec::new();
    for i in 0.. {
        let withdrawal = rng.gen_bool(0.25);
        let op = Operation {
            key: format!("{prefix}-{i}"),
            member: members[rng.gen_range(0..members.len())],
            withdrawal,
            cents: rng.gen_range(1..=if withdrawal { 500 } else { 2000 }),
        };
        let answer = c.operate(&op).await.ok().map(|(receipt, _)| receipt);
        let unanswered = answer.is_none();
        sent.push((op, answer));
        if unanswered {
            break;
        }
    }
    sent
}

/// The member's history holds each of its operations in `stored` exactly once, under
/// the posting its receipt named, and nothing else; its balance is their sum.
async fn assert_stored_once(c: &Client, member: i64, stored: &[(Operation, Value)], context: &str) {
    use std::collections::BTreeSet;
    let mine: Vec<_> = stored.iter().filter(|(op, _)| op.member == member).collect();
    let expected: BTreeSet<_> = mine
        .iter()
        .map(|(op, receipt)| {
            let (kind, amount) = op.row();
            (receipt["posting_id"].as_i64().unwrap(), kind.to_string(), amount)
        })
        .collect();
    let rows = c.history(member).await;
    let actual: BTreeSet<_> = rows.iter().cloned().collect();
    let lost: Vec<_> = expected.difference(&actual).collect();
    let unexpected: Vec<_> = actual.difference(&expected).collect();
    assert!(
        lost.is_empty() && unexpected.is_empty() && rows.len() == actual.len() && expected.len() == mine.len(),
        "{context}: member {member}: {} operations, {} history rows; lost {lost:?}; \
         rows no answer accounts for {unexpected:?}",
        mine.len(),
        rows.len()
    );
    let cents = mine
        .iter()
        .map(|(op, _)| if op.withdrawal { -op.cents } else { op.cents });
    let path = format!("/admin/v1/members/{member}/balances");
    let balances = c.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(
        balances["items"][0]["balance"],
        json!(points(cents.sum())),
        "{context}: member {member}'s balance is the sum of its operations"
    );
}

/// Crash safety of the write path, end to end, on the real binary: round after round,
/// SIGKILL at a random moment under concurrent keyed accruals and withdrawals, then a
/// restart on the same database. The database each crash left passes `accrue check`;
/// every unanswered request, retried with its key, succeeds; every answered one replays
/// its first answer; each member's history holds every operation once, with the balance
/// their sum. So nothing answered is lost, and nothing retried is posted twice.
async fn crash_under_write_load_on(db: TestDb, rounds: usize) {
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;
    const CLIENTS: u64 = 8;
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let (dir, url) = (dir.path().to_path_buf(), db.url.clone());
        tokio::task::spawn_blocking(move || serve(&dir, &["--database-url", &url]))
    };
    let mut server = start().await.unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = |server: &Running, key: &str| {
        Arc::new(Client {
            http: http.clone(),
            base: server.base.clone(),
            key: key.to_string(),
        })
    };
    let key = bootstrap_key(&server.stdout).unwrap();
    let mut c = client(&server, &key);
    let mut members = Vec::new();
    // Every operation stored so far, with its receipt. Each member starts with enough
    // points that no withdrawal of the load is refused.
    let mut stored = Vec::new();
    for m in 0..4 {
        let member = c
            .admin(reqwest::Method::POST, "/admin/v1/members", Some(json!({})))
            .await;
        let op = Operation {
            key: format!("start-{m}"),
            member: member["id"].as_i64().unwrap(),
            withdrawal: false,
            cents: 100_000_000,
        };
        members.push(op.member);
        stored.push((op.clone(), c.operate(&op).await.unwrap().0));
    }
    let mut unanswered_total = 0;
    for round in 0..rounds {
        let delay = rng.gen_range(50..=400);
        let context = format!("seed {seed}, round {round}, killed after {delay} ms");
        let load: Vec<_> = (0..CLIENTS)
            .map(|n| {
                tokio::spawn(send_until_killed(
                    c.clone(),
                    members.clone(),
                    format!("r{round}c{n}"),
                    rng.gen(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(delay)).await;
        tokio::task::spawn_blocking(move || kill(server)).await.unwrap();
        let mut sent = Vec::new();
        for client in load {
            sent.extend(client.await.unwrap());
        }
        assert_check_clean(
            dir.path(),
            &db.url,
            &format!("on the database the kill left ({context})"),
        );

        server = start().await.unwrap();
        c = client(&server, &key);
        let (mut unanswered, mut already_stored) = (0, 0);
        for (op, answer) in sent {
            let (receipt, replayed) = c
                .operate(&op)
                .await
                .unwrap_or_else(|e| panic!("{context}: {op:?} after the restart: {e}"));
            match answer {
                Some(first) => assert!(
                    replayed && receipt == first,
                    "{context}: {op:?} answered {first} before the kill, then {receipt} (replayed: {replayed})"
                ),
                None => {
                    unanswered += 1;
                    already_stored += usize::from(replayed);
                }
            }
            stored.push((op, receipt));
        }
        eprintln!(
            "{context}: {unanswered} requests unanswered, {already_stored} of them stored before the kill; {} operations in all",
            stored.len()
        );
        unanswered_total += unanswered;

        for &member in &members {
            assert_stored_once(&c, member, &stored, &context).await;
        }
    }
    assert!(unanswered_total > 0, "seed {seed}: no kill caught a request in flight");
    tokio::task::spawn_blocking(move || terminate(server)).await.unwrap();
    assert_check_clean(dir.path(), &db.url, &format!("after a clean stop (seed {seed})"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_under_write_load_loses_and_doubles_nothing_on_sqlite() {
    crash_under_write_load_on(TestDb::sqlite(), 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_under_write_load_loses_and_doubles_nothing_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        crash_under_write_load_on(db, 15).await;
    }
}
