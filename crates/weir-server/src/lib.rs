//! `weir serve`: a weir lake over HTTP, on one port as lakeFS has it:
//! - the lakeFS REST API under `/api/v1` (repositories, branches, commits,
//!   refs, tags, objects), so lakeFS clients work unchanged;
//! - the S3 gateway on every other path (bucket = repository, key =
//!   `REF/PATH`), for boto3, polars, duckdb and Delta writers;
//! - `POST /api/v1/sql`, OpenLineage ingest and Marquez-style lineage reads
//!   under `/api/v1`, and the decisions `POST /recommend_qty`, `POST /voi`;
//! - `/healthz` and Prometheus `/metrics`.
//!
//! [`router`] builds the whole service from an [`AppState`]; tests call it
//! in-process, `weir serve` binds it to a socket with [`serve`].

pub mod auth;
pub mod authz;
pub mod billing;
mod deadline;
mod decide;
pub mod error;
mod gate;
mod iam;
mod lakefs;
mod lineage;
mod marquez;
mod metrics;
pub mod mlflow;
mod objects;
pub mod openapi;
mod quota;
mod s3;
mod s3_checks;
mod s3_list;
mod s3_multipart;
pub mod schedules;
mod server_info;
pub mod shapes;
mod sql;
pub mod usage;
pub mod usage_task;

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use weir_store::Lake;

pub use auth::{KeyInfo, KeyStore, NewKey};
pub use error::{Result, ServerError};

/// Limits and switches of one server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Accept requests without credentials (as the `anonymous` user).
    pub allow_anonymous: bool,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Longest a request may take.
    pub timeout: Duration,
    /// Meter usage (requests, queries, stored bytes) into the system
    /// repository's `usage` table.
    pub usage: bool,
    /// How often counted usage is appended to the table: what a crash can
    /// lose at most.
    pub usage_flush: Duration,
    /// How often stored bytes are sampled (by one server of the lake).
    pub storage_sample: Duration,
    /// How triggers fired over HTTP tell their webhooks.
    pub alerts: weir_core::config::Alerts,
    /// How often MLflow tracking writes reach their Delta tables (they are
    /// journaled at once, so a crash loses none).
    pub mlflow_flush: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            allow_anonymous: false,
            max_body: 1 << 30,
            timeout: Duration::from_secs(300),
            usage: true,
            usage_flush: Duration::from_secs(10),
            storage_sample: Duration::from_secs(3600),
            alerts: Default::default(),
            mlflow_flush: Duration::from_secs(1),
        }
    }
}

pub struct AppState {
    pub lake: Arc<Lake>,
    pub keys: Arc<KeyStore>,
    pub authz: Arc<authz::Authz>,
    pub options: ServeOptions,
    metrics: metrics::Metrics,
    quotas: quota::Quotas,
    forecasts: decide::ForecastCache,
    deadlines: Arc<deadline::Deadlines>,
    pub meter: usage::Meter,
    /// The MLflow tracking stores of the tenants.
    pub mlflow: Arc<weir_tracking::Stores>,
}

impl AppState {
    /// The state of a server of `lake`; a lake without an authorization
    /// model gets one (see [`authz::Authz::open`]).
    pub fn new(
        lake: Arc<Lake>,
        keys: Arc<KeyStore>,
        options: ServeOptions,
    ) -> Result<Arc<AppState>> {
        let users: Vec<String> = keys.list()?.into_iter().map(|k| k.user).collect();
        let authz = Arc::new(authz::Authz::open(lake.meta_store(), &users)?);
        Ok(Arc::new(AppState {
            mlflow: Arc::new(mlflow::stores(lake.clone(), authz.clone())),
            lake,
            keys,
            authz,
            metrics: metrics::Metrics::default(),
            quotas: Default::default(),
            forecasts: Default::default(),
            deadlines: deadline::Deadlines::new(options.timeout),
            meter: usage::Meter::new(options.usage),
            options,
        }))
    }
}

/// Who made the request: the user of the access key.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids unique across the server's restarts: a random prefix
/// chosen at start and a count, `5f0c2a9e1b3d4c77-42`: half the
/// instructions of a random UUID per request (callgrind), for an id whose
/// only job is to tie log lines to an answer.
#[derive(Clone)]
struct RequestIds(Arc<(String, std::sync::atomic::AtomicU64)>);

impl RequestIds {
    fn new() -> RequestIds {
        let prefix = format!("{:016x}", rand::random::<u64>());
        RequestIds(Arc::new((prefix, Default::default())))
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let (prefix, count) = &*self.0;
        let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut id = String::with_capacity(prefix.len() + 21);
        let _ = write!(id, "{prefix}-{n}");
        axum::http::HeaderValue::try_from(id)
            .ok()
            .map(RequestId::new)
    }
}

/// A request's log lines carry its id, as its response does. The span is
/// at debug level (`WEIR_LOG=weir_server=debug,tower_http=debug` logs
/// every request and its answer), so by default it costs a level check.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    // The id is looked up inside the macro, which evaluates fields only
    // for a span that is enabled.
    tracing::debug_span!(
        "request",
        id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        method = %req.method(),
        uri = %req.uri(),
    )
}

/// The whole service.
pub fn router(state: Arc<AppState>) -> Router {
    let api = lakefs::routes()
        .merge(objects::routes())
        .merge(sql::routes())
        .merge(lineage::routes())
        .merge(schedules::routes())
        .merge(server_info::routes())
        .merge(iam::routes())
        .fallback(|| async { ServerError::NotFound("no such endpoint of the lakeFS API".into()) })
        .layer(gate::GateLayer(state.clone()))
        .route("/healthcheck", get(|| async { StatusCode::NO_CONTENT }));
    // Everything else is the S3 gateway, on the same port as lakeFS has it.
    let s3 = axum::error_handling::HandleError::new(s3::service(state.clone()), s3_failed);
    let decisions = decide::routes().layer(gate::GateLayer(state.clone()));
    // One layer for what every request gets: axum boxes each layer's
    // service per route and clones it per request, so a stack of separate
    // layers cost as many clones and boxes as it had layers.
    let common = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds::new()))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(deadline::DeadlineLayer(state.deadlines.clone()))
        .layer(DefaultBodyLimit::max(state.options.max_body))
        .layer(metrics::MetricsLayer(state.clone()));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(decisions)
        .merge(
            Router::new()
                .route("/metrics", get(metrics::render))
                .layer(gate::GateLayer(state.clone())),
        )
        .nest("/api/v1", api)
        .merge(
            mlflow::routes()
                .layer(gate::GateLayer(state.clone()))
                .layer(axum::middleware::map_response(mlflow::mlflow_errors)),
        )
        .fallback_service(s3)
        .layer(common)
        .with_state(state)
}

/// Whether a request declares a JSON body (`application/json` or any
/// `+json` type, parameters and case aside).
pub(crate) fn declares_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(v) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return false;
    };
    let m = v
        .as_bytes()
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    let m = m.trim_ascii();
    m.eq_ignore_ascii_case(b"application/json")
        || (m.len() > 5 && m[m.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// s3s fails only when it cannot even form an S3 error response.
async fn s3_failed(e: s3s::HttpError) -> Response {
    tracing::error!(error = ?e, "S3 gateway failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "S3 gateway error").into_response()
}

/// Writes the MLflow journal to the tracking tables every
/// [`ServeOptions::mlflow_flush`], until `stop` says so. Not aborted: a
/// flush cut short would leave its batch to the journal only, and out of
/// the tables until the next start.
async fn mlflow_flushes(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.options.mlflow_flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // A failure is logged and retried at the next tick.
                let _ = state.mlflow.flush_all().await;
            }
            _ = stop.changed() => return,
        }
    }
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metering = tokio::spawn(usage_task::run(state.clone()));
    let (stop_flushes, stopped) = tokio::sync::watch::channel(false);
    let tracking = tokio::spawn(mlflow_flushes(state.clone(), stopped));
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    metering.abort();
    let _ = stop_flushes.send(true);
    let _ = tracking.await;
    if let Err(e) = state.mlflow.close().await {
        tracing::error!(error = %e, "MLflow tracking not flushed to its tables; the journal keeps it for the next start");
    }
    // What was counted since the last flush.
    if let Err(e) = state.meter.flush(&state.lake).await {
        tracing::error!(error = %e, "usage counted since the last flush is lost");
    }
    served
}
