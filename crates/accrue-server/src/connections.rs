//! The accept loop: HTTP/1.1 connections with a deadline for their request headers, a
//! cap on how many are open at once, and a shutdown that ends in bounded time.
//!
//! - A client must send a request's headers within `header_timeout` of the server
//!   starting to wait for them; that also ends idle keep-alive connections.
//! - Past `max_connections` a new connection is answered `503` (JSON, `Retry-After`)
//!   and closed at once, so a flood of idle sockets cannot lock clients out.
//! - On shutdown the listener closes, idle connections close, requests in flight get
//!   `shutdown_timeout` to finish, and whatever is left is dropped.

use axum::extract::connect_info::ConnectInfo;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

/// How connections are accepted and ended.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// The refusal a connection over the cap gets before it is closed.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 84\r\n\r\n\
{\"error\":{\"code\":\"overloaded\",\"message\":\"too many open connections\",\"details\":null}}";

/// Serves `app` on `listener` until `shutdown` resolves, then ends the open connections
/// within `limits.shutdown_timeout`.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Reap finished connection tasks so the set stays small.
        while connections.try_join_next().is_some() {}
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let (app, limits, closed) = (app.clone(), limits.clone(), closed.clone());
                connections.spawn(async move {
                    connection(stream, peer, app, &limits, closed).await;
                    drop(slot);
                });
            }
            Err(_) => {
                connections.spawn(refuse(stream));
            }
        }
    }
    drop(listener);
    let _ = closing.send(true);
    let open = connections.len();
    if open > 0 {
        tracing::info!(connections = open, "waiting for open connections to finish");
    }
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "connections still open after the shutdown timeout were dropped"
        );
        connections.shutdown().await;
    }
}

async fn connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    app: S,
    limits: &ConnectionLimits,
    mut closed: watch::Receiver<bool>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let _ = stream.set_nodelay(true);
    let service = app.map_request(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.map(axum::body::Body::new)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    let closing = async {
        // A dropped sender counts as closing too.
        let _ = closed.wait_for(|closed| *closed).await;
    };
    tokio::select! {
        result = conn.as_mut() => return log_end(result),
        _ = closing => {}
    }
    conn.as_mut().graceful_shutdown();
    log_end(conn.await);
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Header timeouts, resets and malformed requests end here; none is ours to fix.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Answers 503 and closes; the request is read (briefly) first so that closing does
/// not reset the connection before the client has read the answer.
async fn refuse(mut stream: TcpStream) {
    tracing::warn!("connection refused: the connection limit is reached");
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(OVERLOADED).await?;
        stream.shutdown().await?;
        let mut sink = [0_u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            let n = stream.read(&mut sink).await?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_whole_http_answer() {
        let text = std::str::from_utf8(OVERLOADED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "overloaded");
    }
}
