//! The real server on port 0 against a fresh database, for end-to-end tests.

use crate::outbound::guard::Allowlist;
use crate::{serve, ServerOptions};
use accrue_store::testing::TestDb;
use accrue_store::{Clock, Sealer, Store, StoreOptions};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The sealing key of every test server, so that several servers on one database can
/// open each other's secrets.
pub const TEST_SEALING_KEY: [u8; 32] = [7; 32];

pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub store: Store,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _db: Option<TestDb>,
}

/// Options for tests that deliver to a local receiver: 127.0.0.1 allowed, a short
/// retry schedule, quick polling and a short claim.
pub fn delivering_options(schedule: Vec<i64>) -> ServerOptions {
    let mut options = ServerOptions::default();
    options.delivery.allow = Allowlist::parse(&["127.0.0.1".to_string()]).expect("allowlist");
    options.delivery.schedule = schedule;
    options.delivery.poll_interval = Duration::from_millis(50);
    options.delivery.lease = Duration::from_secs(2);
    options.delivery.timeout = Duration::from_secs(2);
    options
}

/// Sends a request (with a JSON body, if any); the status and the JSON answer
/// (`Null` when empty or not JSON).
pub async fn send(mut request: reqwest::RequestBuilder, body: Option<Value>) -> (StatusCode, Value) {
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        TestServer::start_with(db, ServerOptions::default()).await
    }

    pub async fn start_with(db: TestDb, options: ServerOptions) -> TestServer {
        let mut server = TestServer::start_on(&db.url, options).await;
        server._db = Some(db);
        server
    }

    /// A server whose clock the test moves: it starts at the real now.
    pub async fn start_with_manual_clock(db: TestDb) -> (TestServer, Arc<AtomicI64>) {
        let time = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_millis()));
        let clock = Clock::Manual(time.clone());
        let mut server = TestServer::start_on_clock(&db.url, ServerOptions::default(), clock).await;
        server._db = Some(db);
        (server, time)
    }

    /// Another server on a database that someone else owns (several servers, one database).
    pub async fn start_on(url: &str, options: ServerOptions) -> TestServer {
        TestServer::start_on_clock(url, options, Clock::System).await
    }

    async fn start_on_clock(url: &str, options: ServerOptions, clock: Clock) -> TestServer {
        let store_options = StoreOptions {
            clock,
            sealer: Sealer::new(TEST_SEALING_KEY),
            connections: None,
        };
        let store = Store::open_with(url, store_options).await.expect("open store");
        let admin_key = store.create_admin_key("tests").await.expect("admin key").1;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let server_store = store.clone();
        let done = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            serve(server_store, listener, options, shutdown).await.expect("server");
        });
        TestServer {
            base,
            admin_key,
            client: reqwest::Client::new(),
            store,
            stop: Some(stop),
            done: Some(done),
            _db: None,
        }
    }

    pub async fn sqlite() -> TestServer {
        TestServer::start(TestDb::sqlite()).await
    }

    /// `None` when no PostgreSQL server is configured (the test says it skipped).
    pub async fn postgres() -> Option<TestServer> {
        Some(TestServer::start(TestDb::postgres().await?).await)
    }

    /// An authenticated admin call; returns the status and the JSON body (`Null` when empty).
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.admin_with(method, path, body, &[]).await
    }

    pub async fn admin_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.admin_key);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request, body).await
    }

    /// A call of a face, as a member (`token`) or anonymous; the status and the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        send(request, body).await
    }

    /// A form sent to the token endpoint; the status and the JSON body.
    pub async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let request = self.client.post(format!("{}/authorizationService/token", self.base));
        let response = request.form(form).send().await.expect("token endpoint");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The digits of the latest message of a kind (`sms`, `email`) sent to a target: the
    /// confirmation code, revealed from the outbox's log channel.
    pub async fn sent_code(&self, kind: &str, target: &str) -> String {
        self.sent_code_in("default", kind, target).await
    }

    /// [`TestServer::sent_code`] for a member of `program`.
    pub async fn sent_code_in(&self, program: &str, kind: &str, target: &str) -> String {
        let path = format!("/admin/v1/outbox/messages?program={program}&kind={kind}&target={target}&count=1");
        let (_, list) = self.admin(Method::GET, &path, None).await;
        let id = list["items"][0]["id"].as_str().unwrap_or_default();
        let path = format!("/admin/v1/outbox/messages/{id}?reveal=true&program={program}");
        let (_, detail) = self.admin(Method::GET, &path, None).await;
        let message = &detail["payload"];
        let text = message
            .get("text")
            .or(message.get("body"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        text.chars().filter(char::is_ascii_digit).collect()
    }

    /// The value of one series in `/metrics` (`accrue_outbox_depth`,
    /// `accrue_outbox_deliveries_total{outcome="delivered"}`), or `None` when absent.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let response = self.client.get(format!("{}/metrics", self.base)).send().await;
        let text = response.expect("/metrics").text().await.expect("/metrics text");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.parse().expect("a sample's value"))
    }

    /// Stops the server the way SIGTERM does and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.expect("server task");
        }
    }
}

/// An HTTP receiver for outbound deliveries: records every request and answers by a
/// plan (then 200 once the plan is used up).
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    state: Arc<Mutex<ReceiverState>>,
}

#[derive(Default)]
struct ReceiverState {
    plan: std::collections::VecDeque<Reply>,
    received: Vec<Received>,
}

#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
    pub at: std::time::Instant,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let state = shared.clone();
            async move { Receiver::answer(state, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, state }
    }

    async fn answer(state: Arc<Mutex<ReceiverState>>, request: axum::extract::Request) -> axum::response::Response {
        use axum::response::IntoResponse;
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 10 << 20).await.unwrap_or_default();
        let reply = {
            let mut state = state.lock().expect("receiver lock");
            state.received.push(Received {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                    .collect(),
                body: String::from_utf8_lossy(&body).into_owned(),
                at: std::time::Instant::now(),
            });
            state.plan.pop_front().unwrap_or(Reply::status(200))
        };
        tokio::time::sleep(reply.delay).await;
        let status = axum::http::StatusCode::from_u16(reply.status).expect("status");
        let mut response = (status, format!("answer {}", reply.status)).into_response();
        if let Some(seconds) = reply.retry_after {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        response
    }

    /// Answers the next requests with these replies, in order.
    pub fn plan(&self, replies: Vec<Reply>) {
        self.state.lock().expect("receiver lock").plan.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("receiver lock").received.clone()
    }

    /// Waits until at least `n` requests have arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} requests arrived",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
