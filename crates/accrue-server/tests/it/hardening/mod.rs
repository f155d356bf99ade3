//! Issue 11: one request must never bring the server down, locks must hold under
//! bursts, secrets stay secret. Each module replays defects found by attacking the
//! release binary, over real HTTP on both backends where storage is involved.

mod amounts;
mod attempts;
mod connections;
mod envelopes;
mod purchases;
mod shared;

/// Reads from a raw connection until it closes or `within` passes; what it read.
pub async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> (Vec<u8>, bool) {
    use tokio::io::AsyncReadExt;
    let mut read = Vec::new();
    let mut buffer = [0_u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (read, true),
            Ok(Ok(n)) => read.extend_from_slice(&buffer[..n]),
            Err(_) => return (read, false),
        }
    }
}

/// The envelope a face answers in.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// `{"data", "result": {"state", "message", …}}`
    Loymax,
    /// `{"error", "error_description"}`
    OAuth,
    /// `{"message"}` (ASP.NET's 401)
    AspNet,
    /// `{"status", "error"}`
    Tracker,
    /// `{"error": {"code", "message", "details"}}`
    Admin,
}

impl Expect {
    pub fn check(self, name: &str, body: &serde_json::Value) {
        let text = |v: &serde_json::Value| v.as_str().is_some_and(|s| !s.is_empty());
        let ok = match self {
            Expect::Loymax => {
                body.get("data").is_some()
                    && ["ValidationError", "Error", "Fail"].contains(&body["result"]["state"].as_str().unwrap_or(""))
                    && text(&body["result"]["message"])
            }
            Expect::OAuth => text(&body["error"]) && text(&body["error_description"]),
            Expect::AspNet => text(&body["message"]),
            Expect::Tracker => text(&body["status"]) && text(&body["error"]),
            Expect::Admin => text(&body["error"]["code"]) && text(&body["error"]["message"]),
        };
        assert!(ok, "{name}: not the {self:?} envelope: {body}");
    }
}

/// A member of the default program with a password, signed in: the access token.
pub async fn member_with_password(s: &accrue_server::testing::TestServer, phone: &str, password: &str) -> String {
    use reqwest::Method;
    use serde_json::json;
    let (status, member) = s
        .admin(Method::POST, "/admin/v1/members", Some(json!({ "phone": phone })))
        .await;
    assert!(status.is_success(), "{member}");
    let id = member["id"].as_i64().unwrap();
    let (status, answer) = s
        .admin(
            Method::POST,
            &format!("/admin/v1/members/{id}/password"),
            Some(json!({ "password": password })),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    let (status, tokens) = s
        .token(&[("grant_type", "password"), ("username", phone), ("password", password)])
        .await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_string()
}

/// Sends `head` and then `body` as chunks on a raw connection; the answer as text.
pub async fn raw(s: &accrue_server::testing::TestServer, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let conn = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut reader, mut writer) = conn.into_split();
    // Read while writing: an answer that comes before the body is sent must be read
    // before the server's close resets the connection.
    let answer = tokio::spawn(async move {
        let mut read = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reader.read_to_end(&mut read)).await;
        read
    });
    writer.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(64 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if writer.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = writer.write_all(b"0\r\n\r\n").await;
    String::from_utf8_lossy(&answer.await.unwrap()).into_owned()
}

/// The JSON body of a raw HTTP/1.1 answer (chunked or not).
pub fn body_of(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |e| e + 1);
    serde_json::from_str(&body[start..end]).unwrap_or(serde_json::Value::Null)
}
