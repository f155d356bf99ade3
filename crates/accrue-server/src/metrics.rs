//! Prometheus metrics at `/metrics`, kept and encoded by `prometheus-client` (the
//! OpenMetrics text format): requests and their latencies by route, the store's counters,
//! webhook deliveries and the outbox's depth.

use crate::outbound::worker::DeliveryMetrics;
use crate::AppState;
use accrue_store::Store;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::time::Instant;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn request_latencies() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
    ])
}

/// A request's series: its method, the route it matched and its answer's status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

/// The route a request matched, as the router holds it: a series is found without
/// copying the route's text.
#[derive(Clone, Debug)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The server's registry and the metrics the server itself updates.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latencies: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    pub fn new(store: Store, deliveries: &DeliveryMetrics) -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let latencies: Family<_, _, fn() -> Histogram> = Family::new_with_constructor(request_latencies);
        // The registry ends each help text with a period; a collector's are written as given.
        let mut registry = Registry::with_prefix("accrue");
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by route",
            Unit::Seconds,
            latencies.clone(),
        );
        registry.register_collector(Box::new(StoreCounters(store)));
        deliveries.register(&mut registry);
        Metrics {
            registry,
            requests,
            latencies,
        }
    }

    fn observe(&self, labels: &RequestLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.latencies.get_or_create(labels).observe(seconds);
    }
}

/// Counts a request by method, route and status, and its latency. A face routed behind
/// the fallback (Loymax) tells its route on the response (see [`pass_route`]).
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    // Clients may invent methods; each would otherwise become a series of its own.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let started = Instant::now();
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let route = matched.or_else(|| response.extensions().get::<MatchedPath>().cloned());
    let labels = RequestLabels {
        method,
        route: Route(route),
        status: response.status().as_u16(),
    };
    state.metrics.observe(&labels, seconds);
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

/// The registry's metrics, then the outbox's depth as read now: left out when it cannot be
/// read, rather than shown as it was at an earlier scrape.
pub(crate) async fn render(State(state): State<AppState>) -> Response {
    let mut now = Registry::with_prefix("accrue");
    match state.store.outbox_depth().await {
        Ok(depth) => {
            let gauge = Gauge::<i64>::default();
            gauge.set(depth);
            now.register("outbox_depth", "Messages waiting for delivery", gauge);
        }
        Err(e) => tracing::warn!(error = %e, "reading the outbox depth failed"),
    }
    let mut out = String::new();
    let encoded = encode_registry(&mut out, &state.metrics.registry)
        .and_then(|()| encode_registry(&mut out, &now))
        .and_then(|()| encode_eof(&mut out));
    if let Err(e) = encoded {
        tracing::error!(error = %e, "encoding the metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(CONTENT_TYPE, OPENMETRICS)], out).into_response()
}

/// The store's counters, read at each scrape.
struct StoreCounters(Store);

impl std::fmt::Debug for StoreCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCounters")
    }
}

impl Collector for StoreCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let store = self.0.metrics();
        let counters = [
            ("ledger_postings", "Ledger postings written.", &store.postings),
            ("store_writes", "Write transactions requested.", &store.writes),
            ("store_write_batches", "SQLite group commits.", &store.write_batches),
            (
                "store_write_statements",
                "Statements run inside committed write transactions.",
                &store.write_statements,
            ),
            (
                "store_read_statements",
                "Statements run outside write transactions.",
                &store.reads,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value.load(Ordering::Relaxed));
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        Ok(())
    }
}
