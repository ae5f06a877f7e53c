//! Request counts and latencies per route and status, in Prometheus's
//! text format at `/metrics`. Routes are the matched templates, so the
//! number of series stays bounded whatever paths clients send.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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

pub async fn record(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let route = route.as_ref().map_or("unmatched", |p| p.as_str());
    let mut m = state.metrics.requests.lock().unwrap();
    if !m.contains_key(route) {
        m.insert(route.to_string(), ByRoute::new());
    }
    let by = m.get_mut(route).expect("inserted above");
    let e = by.entry((method, resp.status().as_u16())).or_default();
    e.0 += 1;
    e.1 += secs;
    resp
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
