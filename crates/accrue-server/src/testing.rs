//! The real server on port 0 against a fresh database, for end-to-end tests.

use crate::{serve, ServerOptions};
use accrue_store::testing::TestDb;
use accrue_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub store: Store,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    _db: TestDb,
}

impl TestServer {
    pub async fn start(db: TestDb) -> TestServer {
        let store = Store::open(&db.url).await.expect("open store");
        let admin_key = store.create_admin_key("tests").await.expect("admin key").1;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let server_store = store.clone();
        let done = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            serve(server_store, listener, ServerOptions::default(), shutdown)
                .await
                .expect("server");
        });
        TestServer {
            base,
            admin_key,
            client: reqwest::Client::new(),
            store,
            stop: Some(stop),
            done: Some(done),
            _db: db,
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
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
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
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
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
