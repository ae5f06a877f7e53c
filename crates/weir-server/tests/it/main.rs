//! weir serve's router, in-process, against a real lake in a temporary
//! directory; `clients` drives it over a socket with the lakeFS Python SDK.

mod api;
mod clients;
mod endpoints;
mod hostile_sql;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use tower::ServiceExt;
use weir_server::{AppState, KeyStore, NewKey, ServeOptions};
use weir_store::Lake;

pub struct Server {
    pub dir: tempfile::TempDir,
    pub state: Arc<AppState>,
    pub key: NewKey,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(ServeOptions::default())
    }

    pub fn start_with(options: ServeOptions) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let lake = Arc::new(Lake::init(dir.path()).unwrap());
        let keys = Arc::new(KeyStore::open(dir.path()).unwrap());
        let key = keys.create("alice").unwrap();
        let state = AppState::new(lake, keys, options);
        Server { dir, state, key }
    }

    pub fn auth(&self) -> String {
        let raw = format!("{}:{}", self.key.access_key_id, self.key.secret_access_key);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// Sends a request with this server's key; returns status, headers and body.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", self.auth());
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let resp = weir_server::router(self.state.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, bytes.to_vec())
    }

    pub async fn json(
        &self,
        method: &str,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let (s, _, b) = self.call(method, uri, body).await;
        let v = serde_json::from_slice(&b).unwrap_or(serde_json::Value::String(
            String::from_utf8_lossy(&b).into_owned(),
        ));
        (s, v)
    }
}

/// This crate's directory, read when the tests run: a shared target
/// directory may hold a test binary built from another checkout of the
/// same sources, whose compile-time path is not this one.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
