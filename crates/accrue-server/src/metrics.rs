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
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// One series' counters, updated without a lock.
#[derive(Default)]
struct Series {
    count: AtomicU64,
    /// Microseconds: integer, so it can be an atomic.
    sum_micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

impl Series {
    fn observe(&self, seconds: f64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        for (bucket, le) in self.buckets.iter().zip(BUCKETS) {
            if seconds <= le {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Route → (method, status) → series. A request's lookup borrows its route and copies
/// nothing; the map is written only when a series is seen for the first time.
type ByRoute = HashMap<String, HashMap<(Method, u16), Arc<Series>>>;

#[derive(Default)]
pub(crate) struct HttpMetrics {
    series: RwLock<ByRoute>,
}

impl HttpMetrics {
    fn observe(&self, route: &str, method: Method, status: u16, seconds: f64) {
        let key = (method, status);
        let known = {
            let series = self.series.read().expect("metrics lock");
            series.get(route).and_then(|by_key| by_key.get(&key)).cloned()
        };
        let series = known.unwrap_or_else(|| {
            let mut series = self.series.write().expect("metrics lock");
            series
                .entry(route.to_string())
                .or_default()
                .entry(key)
                .or_default()
                .clone()
        });
        series.observe(seconds);
    }
}

/// Counts a request by method, route and status, and its latency. A face routed behind
/// the fallback (Loymax) tells its route on the response (see [`pass_route`]).
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    // Clients may invent methods; each would otherwise become a series of its own.
    let method = match *req.method() {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS => {
            req.method().clone()
        }
        _ => OTHER.clone(),
    };
    let started = Instant::now();
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let route = matched.as_ref().or_else(|| response.extensions().get::<MatchedPath>());
    let route = route.map_or("unmatched", |r| r.as_str());
    state
        .metrics
        .observe(route, method, response.status().as_u16(), seconds);
    response
}

static OTHER: std::sync::LazyLock<Method> =
    std::sync::LazyLock::new(|| Method::from_bytes(b"OTHER").expect("a valid method name"));

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
        (
            "accrue_store_read_statements_total",
            "Statements run outside write transactions.",
            store.reads.load(Ordering::Relaxed),
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
    let series = metrics.series.read().expect("metrics lock");
    let mut rows: Vec<(String, &Series)> = series
        .iter()
        .flat_map(|(route, by_key)| {
            by_key.iter().map(move |((method, status), s)| {
                (
                    format!("method=\"{method}\",route=\"{route}\",status=\"{status}\""),
                    &**s,
                )
            })
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    out.push_str("# HELP accrue_http_requests_total HTTP requests by route and status.\n");
    out.push_str("# TYPE accrue_http_requests_total counter\n");
    for (labels, s) in &rows {
        let _ = writeln!(
            out,
            "accrue_http_requests_total{{{labels}}} {}",
            s.count.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP accrue_http_request_duration_seconds HTTP request latency by route.\n");
    out.push_str("# TYPE accrue_http_request_duration_seconds histogram\n");
    for (labels, s) in &rows {
        let count = s.count.load(Ordering::Relaxed);
        for (le, n) in BUCKETS.iter().zip(&s.buckets) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "accrue_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "accrue_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let sum = s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "accrue_http_request_duration_seconds_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "accrue_http_request_duration_seconds_count{{{labels}}} {count}");
    }
}
