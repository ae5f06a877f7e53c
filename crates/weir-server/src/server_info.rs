//! What lakeFS clients ask a server about itself before their first object
//! call: its configuration (version, storage: the `lakefs` Python package
//! reads it to choose between pre-signed and direct uploads), the signed-in
//! user, and a repository's metadata.
//!
//! weir has no pre-signed URLs and no imports: every byte goes through the
//! API or the S3 gateway, where it is hashed and staged, so both are
//! reported as unsupported and clients take their direct paths.

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::Result;
use crate::{AppState, Caller};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/config", get(config))
        .route("/config/version", get(|| async { Json(version()) }))
        .route("/config/storage", get(|| async { Json(storage()) }))
        .route("/user", get(user))
        .route("/repositories/{repo}/metadata", get(repo_metadata))
}

fn version() -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "version_context": "weir",
        "upgrade_recommended": false,
    })
}

fn storage() -> Value {
    json!({
        "blockstore_type": "local",
        "blockstore_namespace_example": "local://example-namespace",
        "blockstore_namespace_ValidityRegex": "^.+$",
        "default_namespace_prefix": "",
        "pre_sign_support": false,
        "pre_sign_support_ui": false,
        "import_support": false,
        "import_validity_regex": "^$",
        "pre_sign_multipart_upload": false,
    })
}

async fn config() -> Json<Value> {
    Json(json!({
        "version_config": version(),
        "storage_config": storage(),
        "capabilities_config": { "async_ops": false },
    }))
}

/// The user of the key the request was signed with.
async fn user(
    State(s): State<Arc<AppState>>,
    Extension(c): Extension<Caller>,
) -> Result<Json<Value>> {
    let created = s
        .keys
        .list()
        .map_err(|e| crate::ServerError::Keys(e.to_string()))?
        .into_iter()
        .filter(|k| k.user == c.0)
        .map(|k| k.creation_date)
        .min()
        .unwrap_or(0);
    Ok(Json(json!({
        "user": { "id": c.0, "creation_date": created, "friendly_name": c.0 }
    })))
}

/// lakeFS repositories carry free-form metadata; weir's have none yet.
async fn repo_metadata(
    State(s): State<Arc<AppState>>,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    crate::lakefs::repo(&s, &name, &c)?;
    Ok(Json(json!({})))
}
