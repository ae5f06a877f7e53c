//! Request counts and latencies per route and status, in Prometheus's
//! text format at `/metrics`. Routes are the matched templates, so the
//! number of series stays bounded whatever paths clients send.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// (method, route, status).
type Key = (String, String, u16);

#[derive(Default)]
pub struct Metrics {
    /// Count and total seconds per key.
    requests: Mutex<BTreeMap<Key, (u64, f64)>>,
}

pub async fn record(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let mut m = state.metrics.requests.lock().unwrap();
    let e = m
        .entry((method, route, resp.status().as_u16()))
        .or_default();
    e.0 += 1;
    e.1 += secs;
    resp
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

pub async fn render(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let m = state.metrics.requests.lock().unwrap();
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
