//! Request counts and latencies per route and status, in Prometheus's
//! text format at `/metrics`. Routes are the matched templates, so the
//! number of series stays bounded whatever paths clients send.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::AppState;

/// (method, route, status).
type Key = (String, String, u16);
/// Count and total seconds by (method, status), for one route.
type ByRoute = HashMap<(Method, u16), (u64, f64)>;

#[derive(Default)]
pub struct Metrics {
    /// Count and total seconds by route, then (method, status). Nested so
    /// that counting a request on a route seen before allocates nothing.
    requests: Mutex<HashMap<String, ByRoute>>,
}

impl Metrics {
    /// Every counter, in a stable order.
    fn sorted(&self) -> BTreeMap<Key, (u64, f64)> {
        let m = self.requests.lock().unwrap();
        m.iter()
            .flat_map(|(route, by)| {
                by.iter().map(move |((method, status), v)| {
                    ((method.to_string(), route.clone(), *status), *v)
                })
            })
            .collect()
    }
}

/// Counts every request of the route it wraps. A tower layer rather than
/// `axum::middleware::from_fn`, which would clone the boxed route below it
/// and box a second future per request.
#[derive(Clone)]
pub(crate) struct MetricsLayer(pub Arc<AppState>);

impl Layer<Route> for MetricsLayer {
    type Service = Metered;

    fn layer(&self, inner: Route) -> Metered {
        Metered {
            inner,
            state: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Metered {
    inner: Route,
    state: Arc<AppState>,
}

impl Service<Request> for Metered {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let method = req.method().clone();
        let route = req.extensions().get::<MatchedPath>().cloned();
        let start = Instant::now();
        // Usage: the gate or the S3 access check says whose request it was.
        // A client may send a body after an early refusal (one that waited
        // for `100 Continue` and gave up waiting, as boto3 does after a
        // second): such a connection is closed, or those bytes would be
        // read as the start of its next request.
        let with_body = req
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING)
            || content_length(req.headers()) > 0;
        let slot = self.state.meter.slot();
        let bytes_in = slot.as_ref().map(|s| {
            req.extensions_mut().insert(s.clone());
            crate::usage::BytesIn::of(&mut req)
        });
        let fut = self.inner.call(req);
        let state = self.state.clone();
        Box::pin(async move {
            let mut resp = fut.await?;
            if with_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            let took = start.elapsed();
            let status = resp.status().as_u16();
            if let Some(who) = slot.as_ref().and_then(|s| s.who()) {
                // A streamed answer (a SQL result) is metered by its handler.
                let out = axum::body::HttpBody::size_hint(resp.body())
                    .exact()
                    .unwrap_or_else(|| content_length(resp.headers()));
                let bytes_in = bytes_in.map_or(0, |b| b.get());
                let route = route.as_ref().map(|p| p.as_str());
                // The tenant's stored bytes grow by what it uploads (until
                // they are measured again).
                if let Some(tenant) = crate::usage::Meter::stored(who, route, &method, status) {
                    state.quotas.add_stored(tenant, bytes_in);
                }
                state
                    .meter
                    .request(who, route, &method, status, bytes_in, out, took);
            }
            let route = route.as_ref().map_or("unmatched", |p| p.as_str());
            state.metrics.count(route, method, status, took);
            Ok(resp)
        })
    }
}

fn content_length(h: &axum::http::HeaderMap) -> u64 {
    h.get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Metrics {
    fn count(&self, route: &str, method: Method, status: u16, took: Duration) {
        let mut m = self.requests.lock().unwrap();
        if !m.contains_key(route) {
            m.insert(route.to_string(), ByRoute::new());
        }
        let by = m.get_mut(route).expect("inserted above");
        let e = by.entry((method, status)).or_default();
        e.0 += 1;
        e.1 += took.as_secs_f64();
    }
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

pub async fn render(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let m = state.metrics.sorted();
    let mut out = String::from(
        "# HELP weir_http_requests_total HTTP requests by method, route and status.\n\
         # TYPE weir_http_requests_total counter\n",
    );
    for ((method, route, status), (n, _)) in m.iter() {
        out.push_str(&format!(
            "weir_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}\n",
            label(method),
            label(route)
        ));
    }
    out.push_str(
        "# HELP weir_http_request_duration_seconds_sum Time spent answering, by method, route and status.\n\
         # TYPE weir_http_request_duration_seconds_sum counter\n",
    );
    for ((method, route, status), (_, secs)) in m.iter() {
        out.push_str(&format!(
            "weir_http_request_duration_seconds_sum{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {secs:.6}\n",
            label(method),
            label(route)
        ));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}
