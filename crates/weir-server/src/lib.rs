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
mod decide;
pub mod error;
mod lakefs;
mod lineage;
mod marquez;
mod metrics;
mod objects;
pub mod openapi;
mod s3;
mod s3_multipart;
pub mod shapes;
mod sql;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
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
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            allow_anonymous: false,
            max_body: 1 << 30,
            timeout: Duration::from_secs(300),
        }
    }
}

pub struct AppState {
    pub lake: Arc<Lake>,
    pub keys: Arc<KeyStore>,
    pub options: ServeOptions,
    metrics: metrics::Metrics,
    forecasts: decide::ForecastCache,
}

impl AppState {
    pub fn new(lake: Arc<Lake>, keys: Arc<KeyStore>, options: ServeOptions) -> Arc<AppState> {
        Arc::new(AppState {
            lake,
            keys,
            options,
            metrics: metrics::Metrics::default(),
            forecasts: Default::default(),
        })
    }
}

/// Who made the request: the user of the access key.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole service.
pub fn router(state: Arc<AppState>) -> Router {
    let api = lakefs::routes()
        .merge(objects::routes())
        .merge(sql::routes())
        .merge(lineage::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route("/healthcheck", get(|| async { StatusCode::NO_CONTENT }))
        .fallback(|| async { ServerError::NotFound("no such endpoint of the lakeFS API".into()) })
        .layer(middleware::map_response(json_errors));
    // Everything else is the S3 gateway, on the same port as lakeFS has it.
    let s3 = axum::error_handling::HandleError::new(s3::service(state.clone()), s3_failed);
    let decisions = decide::routes()
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::map_response(json_errors));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(decisions)
        .route("/metrics", get(metrics::render))
        .nest("/api/v1", api)
        .fallback_service(s3)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(DefaultBodyLimit::max(state.options.max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.options.timeout,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// s3s fails only when it cannot even form an S3 error response.
async fn s3_failed(e: s3s::HttpError) -> Response {
    tracing::error!(error = ?e, "S3 gateway failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "S3 gateway error").into_response()
}

/// axum's own rejections (a query string or body that does not parse, a
/// method the path does not take) are plain text; lakeFS clients expect
/// `{"message": ...}` for every error.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // A JSON body of the wrong shape is a bad request, as lakeFS answers it.
    if parts.status == StatusCode::UNPROCESSABLE_ENTITY {
        parts.status = StatusCode::BAD_REQUEST;
    }
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "message": message }).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// HTTP basic auth with an access key id and secret, as lakeFS clients
/// send it; the caller's user becomes the actor of what the request does.
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = match basic_credentials(&req) {
        Some((id, secret)) => {
            let checked = match state.keys.check_cached(&id, &secret) {
                Some(user) => Ok(Ok(user)),
                None => {
                    let keys = state.keys.clone();
                    tokio::task::spawn_blocking(move || keys.check(&id, &secret)).await
                }
            };
            match checked {
                Ok(Ok(Some(user))) => user,
                Ok(Ok(None)) => {
                    return ServerError::Unauthorized("wrong access key id or secret".into())
                        .into_response();
                }
                Ok(Err(e)) => return e.into_response(),
                Err(e) => return ServerError::Keys(e.to_string()).into_response(),
            }
        }
        None if state.options.allow_anonymous => "anonymous".to_string(),
        None => {
            return ServerError::Unauthorized(
                "credentials required: HTTP basic auth with an access key id and secret, or Bearer KEY_ID:SECRET (weir auth create-key)"
                    .into(),
            )
            .into_response();
        }
    };
    req.extensions_mut().insert(Caller(caller));
    next.run(req).await
}

/// HTTP basic auth, or a Bearer token `KEY_ID:SECRET`: OpenLineage's
/// HTTP transport can only send a Bearer API key.
fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    let text = if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        String::from_utf8(raw).ok()?
    } else if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().to_string()
    } else {
        return None;
    };
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
