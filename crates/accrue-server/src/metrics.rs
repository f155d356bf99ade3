//! Prometheus metrics in the text exposition format: requests and latencies per
//! route, and the store's counters.

use crate::outbound::worker::DeliveryMetrics;
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub(crate) struct HttpMetrics {
    /// (method, route, status) → latencies.
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

/// Counts a request by method, route and status, and its latency. A face routed behind
/// the fallback (Loymax) tells its route on the response (see [`pass_route`]).
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    // Clients may invent methods; each would otherwise become a series of its own.
    let method = match *req.method() {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS => {
            req.method().to_string()
        }
        _ => "OTHER".to_string(),
    };
    let started = Instant::now();
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let route = matched
        .or_else(|| response.extensions().get::<MatchedPath>().cloned())
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let mut series = state.metrics.series.lock().expect("metrics lock");
    let s = series.entry((method, route, response.status().as_u16())).or_default();
    s.count += 1;
    s.sum += seconds;
    for (i, le) in BUCKETS.iter().enumerate() {
        if seconds <= *le {
            s.buckets[i] += 1;
        }
    }
    response
}

/// Puts the route a request matched on its response, for [`track`] outside the router.
pub(crate) async fn pass_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(matched);
    }
    response
}

pub(crate) async fn render(
    State(state): State<AppState>,
    Extension(deliveries): Extension<Arc<DeliveryMetrics>>,
) -> impl IntoResponse {
    let mut out = String::new();
    render_http(&state.metrics, &mut out);
    let store = state.store.metrics();
    let counters = [
        (
            "accrue_ledger_postings_total",
            "Ledger postings written.",
            store.postings.load(Ordering::Relaxed),
        ),
        (
            "accrue_store_writes_total",
            "Write transactions requested.",
            store.writes.load(Ordering::Relaxed),
        ),
        (
            "accrue_store_write_batches_total",
            "SQLite group commits.",
            store.write_batches.load(Ordering::Relaxed),
        ),
        (
            "accrue_store_write_statements_total",
            "Statements run inside committed write transactions.",
            store.write_statements.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    render_deliveries(&state, &deliveries, &mut out).await;
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

async fn render_deliveries(state: &AppState, d: &DeliveryMetrics, out: &mut String) {
    out.push_str("# HELP accrue_outbox_deliveries_total Delivery attempts by outcome.\n");
    out.push_str("# TYPE accrue_outbox_deliveries_total counter\n");
    for (outcome, n) in [
        ("delivered", &d.delivered),
        ("retried", &d.retried),
        ("failed", &d.failed),
    ] {
        let _ = writeln!(
            out,
            "accrue_outbox_deliveries_total{{outcome=\"{outcome}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
    let (count, sum) = d.latency();
    out.push_str("# HELP accrue_outbox_delivery_seconds Time delivery attempts took.\n");
    out.push_str("# TYPE accrue_outbox_delivery_seconds summary\n");
    let _ = writeln!(
        out,
        "accrue_outbox_delivery_seconds_sum {sum}\naccrue_outbox_delivery_seconds_count {count}"
    );
    match state.store.outbox_depth().await {
        Ok(depth) => {
            out.push_str(
                "# HELP accrue_outbox_depth Messages waiting for delivery.\n# TYPE accrue_outbox_depth gauge\n",
            );
            let _ = writeln!(out, "accrue_outbox_depth {depth}");
        }
        Err(e) => tracing::warn!(error = %e, "reading the outbox depth failed"),
    }
}

fn render_http(metrics: &HttpMetrics, out: &mut String) {
    out.push_str("# HELP accrue_http_requests_total HTTP requests by route and status.\n");
    out.push_str("# TYPE accrue_http_requests_total counter\n");
    let series = metrics.series.lock().expect("metrics lock");
    for ((method, route, status), s) in series.iter() {
        let _ = writeln!(
            out,
            "accrue_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
            s.count
        );
    }
    out.push_str("# HELP accrue_http_request_duration_seconds HTTP request latency by route.\n");
    out.push_str("# TYPE accrue_http_request_duration_seconds histogram\n");
    for ((method, route, status), s) in series.iter() {
        let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
        for (le, n) in BUCKETS.iter().zip(s.buckets) {
            let _ = writeln!(
                out,
                "accrue_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "accrue_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            s.count
        );
        let _ = writeln!(out, "accrue_http_request_duration_seconds_sum{{{labels}}} {}", s.sum);
        let _ = writeln!(
            out,
            "accrue_http_request_duration_seconds_count{{{labels}}} {}",
            s.count
        );
    }
}
