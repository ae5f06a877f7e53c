//! `weir-bench files DIR ADDR`: the baseline for the S3 gateway's reads,
//! a plain axum handler that serves files from a directory (no auth, no
//! versioning). bench/serve.sh reads the same 4 KiB object through both.
//! `POST /ceiling` answers a fixed small JSON without reading the body:
//! the most requests per second any axum handler can answer on the
//! machine with wrk beside it, which bounds every ratio measured there.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

async fn file(State(root): State<Arc<PathBuf>>, Path(p): Path<String>) -> impl IntoResponse {
    if p.split('/').any(|s| s == "..") {
        return Err(StatusCode::BAD_REQUEST);
    }
    tokio::fs::read(root.join(&p))
        .await
        .map_err(|_| StatusCode::NOT_FOUND)
}

pub fn run(args: &[String]) {
    let (Some(dir), Some(addr)) = (args.first(), args.get(1)) else {
        eprintln!("usage: weir-bench files DIR ADDR");
        std::process::exit(2);
    };
    let app = Router::new()
        .route(
            "/ceiling",
            axum::routing::post(|| async {
                ([("content-type", "application/json")], "{\"ok\":true}")
            }),
        )
        .route("/{*path}", get(file))
        .with_state(Arc::new(PathBuf::from(dir)));
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
}
