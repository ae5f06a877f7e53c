//! weir serve's router, in-process, against a real lake in a temporary
//! directory; `clients` drives it over a socket with the lakeFS Python SDK.

mod api;
mod authz;
mod clients;
mod endpoints;
mod hostile_sql;
mod matrix;
mod mlflow;
mod schedules;
mod usage;

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
        let state = AppState::new(lake, keys, options).unwrap();
        Server { dir, state, key }
    }

    pub fn auth(&self) -> String {
        basic(&self.key.access_key_id, &self.key.secret_access_key)
    }

    /// The authorization header of a new key of `user`, who joins
    /// `tenant` in `group` (as `weir auth create-key` does it).
    pub fn user_auth(&self, user: &str, tenant: &str, group: &str) -> String {
        let k = self.add_user(user, tenant, group);
        basic(&k.access_key_id, &k.secret_access_key)
    }

    pub fn add_user(&self, user: &str, tenant: &str, group: &str) -> NewKey {
        self.state
            .authz
            .update(|m| {
                m.ensure_user(user, Some(tenant), Some(group), 0)
                    .map(|_| ())
                    .map_err(weir_server::ServerError::from)
            })
            .unwrap();
        self.state.keys.create(user).unwrap()
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

pub fn basic(id: &str, secret: &str) -> String {
    let raw = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// This crate's directory, read when the tests run: a shared target
/// directory may hold a test binary built from another checkout of the
/// same sources, whose compile-time path is not this one.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
