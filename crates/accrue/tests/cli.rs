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
    stderr: mpsc::Receiver<String>,
}

/// Starts `accrue serve` on a free port and waits until it says where it listens.
fn serve(dir: &Path, extra: &[&str]) -> Running {
    let mut child = accrue(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accrue serve");
    let addresses = lines_of(child.stderr.take().unwrap());
    let printed = lines_of(child.stdout.take().unwrap());
    let address = loop {
        let line = addresses
            .recv_timeout(Duration::from_secs(60))
            .expect("server announced its address");
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

/// Sends SIGTERM and waits for a clean exit.
fn terminate(mut running: Running) {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    let log: Vec<String> = running.stderr.try_iter().collect();
    assert!(
        exit.success(),
        "accrue serve exited with {exit}; it logged:\n{}",
        log.join("\n")
    );
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
