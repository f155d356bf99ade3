//! The HTTP server of Accrue: the admin API, health and metrics, scheduled jobs.
//! Faces live in their own modules and call the store; none of them writes SQL.

pub mod admin;
pub mod connections;
mod console;
pub(crate) mod error;
mod extract;
pub mod faces;
mod format;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod jobs;
pub(crate) mod limits;
mod metrics;
pub mod outbound;
mod passwords;
pub mod service;
mod strays;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::ApiError;

use connections::ConnectionLimits;
use faces::loymax::programs::Programs;
use outbound::worker::{Deliverer, DeliveryMetrics, DeliveryOptions};

use accrue_store::Store;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// What the server needs besides the database.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The outbox worker and its channels.
    pub delivery: DeliveryOptions,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Requests running longer are answered 408.
    pub request_timeout: Duration,
    /// How often expired points and holds are processed.
    pub expiry_interval: Duration,
    /// The program the Loymax face serves where no program is bound to the request's
    /// host or path prefix.
    pub loymax_program: String,
    /// Header deadline, connection cap, shutdown time.
    pub connections: ConnectionLimits,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            delivery: DeliveryOptions::default(),
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            expiry_interval: Duration::from_secs(60),
            loymax_program: "default".into(),
            connections: ConnectionLimits::default(),
        }
    }
}

/// What every face shares: the store and the metrics. What only one face needs
/// lives with that face: the admin API's [`admin::AdminState`], the programs the Loymax
/// face serves ([`faces::loymax::programs::Programs`]).
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub(crate) metrics: Arc<metrics::Metrics>,
}

pub fn router(store: Store, options: &ServerOptions, deliveries: &DeliveryMetrics) -> Router {
    let app = AppState {
        store: store.clone(),
        metrics: Arc::new(metrics::Metrics::new(store.clone(), deliveries)),
    };
    let loymax_programs = Arc::new(Programs::new(store, &options.loymax_program));
    let admin = admin::AdminState {
        app: app.clone(),
        allow: options.delivery.allow.clone(),
        loymax_programs: loymax_programs.clone(),
    };
    let admin_api = admin::router(admin, options.body_limit);
    let console = console::ConsoleState {
        app: app.clone(),
        admin: admin_api.clone(),
    };
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .with_state(app.clone())
        .nest(
            "/admin/v1",
            admin_api.layer(axum::middleware::from_fn(limits::refuse_nul)),
        )
        .merge(console::router(console))
        .merge(faces::tracker::router(app.clone()))
        .merge(faces::imshop::router(app.clone()))
        .merge(faces::integra::router(app.clone()))
        .merge(faces::batch::router(app.clone()))
        .merge(faces::social::router(app.clone()))
        .merge(faces::referral::router(app.clone(), &options.loymax_program))
        // Loymax paths have several prefixes in any letter case: the face takes what no
        // other route matched, and routes it itself.
        .fallback_service(faces::loymax::router(app.clone(), loymax_programs, options.body_limit))
        .layer(axum::middleware::from_fn_with_state(app, metrics::track))
        .layer(axum::middleware::from_fn(limits::intake))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        ))
        .layer(axum::middleware::from_fn(strays::render))
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        // Spans name the path only: query strings may carry secrets (a tracker's shared
        // secret, a partner's hash).
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .layer(SetRequestIdLayer::new(request_id, RequestIds::new()))
}

/// Request ids: a random prefix per router and a counter, unique across servers without
/// drawing a random number for every request.
#[derive(Clone)]
struct RequestIds(Arc<(String, AtomicU64)>);

impl RequestIds {
    fn new() -> RequestIds {
        use rand::RngCore;
        let prefix = format!("{:016x}", rand::thread_rng().next_u64());
        RequestIds(Arc::new((prefix, AtomicU64::new(0))))
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let (prefix, next) = &*self.0;
        let id = format!("{prefix}-{:x}", next.fetch_add(1, Ordering::Relaxed));
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "database is not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish (within the
/// shutdown timeout), stops the jobs and closes the store (queued writes are committed
/// first).
pub async fn serve(
    store: Store,
    listener: tokio::net::TcpListener,
    options: ServerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
    let mut jobs = tokio::task::JoinSet::new();
    jobs.spawn(jobs::run(store.clone(), options.expiry_interval, jobs_stopped.clone()));
    jobs.spawn(jobs::batches(store.clone(), jobs_stopped.clone()));
    jobs.spawn(jobs::exports(store.clone(), jobs_stopped.clone()));
    jobs.spawn(jobs::vk_collectors(store.clone(), jobs_stopped.clone()));
    jobs.spawn(jobs::birthdays(store.clone(), jobs_stopped.clone()));
    let deliveries = Arc::<DeliveryMetrics>::default();
    if options.delivery.enabled {
        let deliverer = Deliverer::new(store.clone(), options.delivery.clone(), deliveries.clone());
        jobs.spawn(deliverer.run(jobs_stopped));
    }
    let app = router(store.clone(), &options, &deliveries);
    connections::serve(listener, app, options.connections.clone(), shutdown).await;
    let _ = stop_jobs.send(true);
    while jobs.join_next().await.is_some() {}
    store.close().await;
    Ok(())
}
