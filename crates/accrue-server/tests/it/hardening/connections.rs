//! Slow and idle clients, floods of connections, shutdown, keep-alive.

use super::read_until_closed;
use accrue_server::testing::TestServer;
use accrue_server::ServerOptions;
use accrue_store::testing::TestDb;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn options(header_timeout: u64, max_connections: usize, shutdown_timeout: u64) -> ServerOptions {
    let mut options = ServerOptions::default();
    options.connections.header_timeout = Duration::from_secs(header_timeout);
    options.connections.max_connections = max_connections;
    options.connections.shutdown_timeout = Duration::from_secs(shutdown_timeout);
    options
}

async fn connect(s: &TestServer) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let s = TestServer::start_with(TestDb::sqlite(), options(1, 64, 5)).await;
    let mut slow = connect(&s).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed, "the connection is closed");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // An idle keep-alive connection ends the same way.
    let mut idle = connect(&s).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(closed, "an idle connection is closed after the header deadline");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_over_the_cap_are_refused_clearly() {
    let s = TestServer::start_with(TestDb::sqlite(), options(30, 3, 5)).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&s).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = connect(&s).await;
    over.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("retry-after: 1") && answer.contains(r#""code":"overloaded""#),
        "{answer}"
    );
    assert!(closed);
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
    assert_eq!(health.status(), 200, "a freed slot serves again");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_ends_in_bounded_time_whatever_the_clients_do() {
    let s = TestServer::start_with(TestDb::sqlite(), options(30, 64, 1)).await;
    // A request whose body never comes, and a connection that sends nothing at all.
    let mut stuck = connect(&s).await;
    stuck
        .write_all(b"POST /admin/v1/members HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let _silent = connect(&s).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), s.stop())
        .await
        .expect("the server stops");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_to_an_unread_body_keeps_the_connection_usable() {
    let s = TestServer::start(TestDb::sqlite()).await;
    let mut conn = connect(&s).await;
    // A till without a token: the server answers 401 without needing the body, which
    // arrives after the answer is decided.
    let head = "POST /api/v1/Processing/Purchases/p1/Calculate HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/json\r\nContent-Length: 20\r\n\r\n";
    conn.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.write_all(b"{\"operationId\":\"o1\"}").await.unwrap();
    let first = read_answer(&mut conn).await;
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let second = read_answer(&mut conn).await;
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "the same connection serves the next request: {second:?}"
    );

    // A body too large to read ahead, left unread: the answer says the connection closes.
    let mut conn = connect(&s).await;
    let head = "POST /api/v1/Processing/Purchases/p1/Calculate HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/json\r\nContent-Length: 200000\r\n\r\n";
    conn.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_still_sending_a_refused_body_reads_the_refusal() {
    let s = TestServer::start(TestDb::sqlite()).await;
    // A client that reads only after sending its whole body (as reqwest and PHP's curl
    // do), with a pause in between, to a server that answers without needing it: the server
    // must not close before the body is in, or the client sees a reset, not the answer.
    let (large, small) = (4 * 1024 * 1024, 900 * 1024);
    let refusals = [
        ("/publicapi/v1.2/Registration/BeginRegistration", large, "413"),
        ("/admin/v1/members", large, "413"),
        // Within the limit, but answered without being read: no till token.
        ("/api/v1/Processing/Purchases/p1/Calculate", small, "401"),
    ];
    for (path, declared, status) in refusals {
        let mut conn = connect(&s).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n",
            s.admin_key
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let half = vec![b' '; declared / 2];
        conn.write_all(&half).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        conn.write_all(&half)
            .await
            .unwrap_or_else(|e| panic!("{path}: the server closed before the body was in: {e}"));
        let answer = read_answer(&mut conn).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{path}: {answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    }
    s.stop().await;
}

/// Reads one answer whose body has a Content-Length.
async fn read_answer(conn: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut read = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&read).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return text,
            Ok(Ok(n)) => read.extend_from_slice(&buffer[..n]),
        }
    }
}
