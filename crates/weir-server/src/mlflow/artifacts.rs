//! MLflow's artifact proxy: a run's files (`EXP/RUN/artifacts/...`) and a
//! logged model's (`EXP/models/ID/artifacts/...`) are objects under
//! `artifacts/` on `main` of the tenant's tracking repository, staged on
//! upload and committed by the next flush with the run's records. Bodies
//! stream both ways; nothing is held whole in memory.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use weir_store::{ListItem, PutOptions, StoreError};

use super::{MResult, St, authorize, invalid, missing};
use crate::authz::Principal;

const ROOT: &str = "artifacts/";

/// The object path of an artifact path as the client sends it.
fn object(path: &str) -> Result<String, crate::error::ServerError> {
    let p = path.trim_matches('/');
    let bad = p.is_empty()
        || p.split('/').any(|s| s.is_empty() || s == "." || s == "..")
        || p.contains('\\');
    if bad {
        return Err(invalid(format!("Invalid artifact path: '{path}'")));
    }
    Ok(format!("{ROOT}{p}"))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    path: Option<String>,
}

pub(super) async fn list(
    State(s): St,
    Extension(p): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> MResult<Json<Value>> {
    let c = authorize(&s, &p, false).await?;
    let prefix = match q.path.as_deref().map(|p| p.trim_matches('/')) {
        None | Some("") => ROOT.to_string(),
        Some(p) => format!("{}/", object(p)?),
    };
    let repo = match s.lake.repo(&c.store.repo) {
        Ok(r) => r,
        Err(StoreError::NotFound { .. }) => return Ok(Json(json!({ "files": [] }))),
        Err(e) => return Err(e.into()),
    };
    let mut files = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, more) = repo
            .list_objects("main", &prefix, true, after.as_deref(), 1000)
            .await?;
        after = page.last().map(|i| i.path().to_string());
        for item in page {
            let name = item.path()[prefix.len()..]
                .trim_end_matches('/')
                .to_string();
            files.push(match item {
                ListItem::Object { entry, .. } => {
                    json!({"path": name, "is_dir": false, "file_size": entry.size})
                }
                ListItem::CommonPrefix { .. } => json!({"path": name, "is_dir": true}),
            });
        }
        if !more {
            break;
        }
    }
    Ok(Json(json!({ "files": files })))
}

pub(super) async fn get(
    State(s): St,
    Extension(p): Extension<Principal>,
    Path(path): Path<String>,
) -> MResult<Response> {
    let c = authorize(&s, &p, false).await?;
    let at = object(&path)?;
    let gone = || missing(format!("Artifact {path} not found"));
    let repo = s.lake.repo(&c.store.repo).map_err(|_| gone())?;
    let entry = match repo.stat("main", &at).await {
        Ok(e) => e,
        Err(StoreError::NotFound { .. }) => return Err(gone().into()),
        Err(e) => return Err(e.into()),
    };
    let stream = repo.read_entry_stream(&entry, None).await?;
    let ct = if entry.content_type.is_empty() {
        "application/octet-stream".to_string()
    } else {
        entry.content_type.clone()
    };
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CONTENT_LENGTH, entry.size.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

pub(super) async fn put(
    State(s): St,
    Extension(p): Extension<Principal>,
    Path(path): Path<String>,
    req: Request,
) -> MResult<Json<Value>> {
    let at = object(&path)?;
    let c = authorize(&s, &p, true).await?;
    let repo = s.lake.repo_as(&c.store.repo, &c.user)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let opts = PutOptions {
        content_type,
        ..Default::default()
    };
    let limit = s.options.max_body as u64;
    repo.put_stream(
        "main",
        &at,
        req.into_body().into_data_stream(),
        &opts,
        limit,
    )
    .await?;
    c.store.objects_changed();
    Ok(Json(json!({})))
}

pub(super) async fn delete(
    State(s): St,
    Extension(p): Extension<Principal>,
    Path(path): Path<String>,
) -> MResult<Json<Value>> {
    let at = object(&path)?;
    let c = authorize(&s, &p, true).await?;
    let repo = s.lake.repo_as(&c.store.repo, &c.user)?;
    // A directory's files go with it, as MLflow deletes a path.
    let mut gone = Vec::new();
    if repo.delete_object("main", &at).await? {
        gone.push(at.clone());
    }
    let mut after: Option<String> = None;
    let dir = format!("{at}/");
    loop {
        let (page, more) = repo
            .list_objects("main", &dir, false, after.as_deref(), 1000)
            .await?;
        after = page.last().map(|i| i.path().to_string());
        for item in page {
            if repo.delete_object("main", item.path()).await? {
                gone.push(item.path().to_string());
            }
        }
        if !more {
            break;
        }
    }
    if gone.is_empty() {
        return Err(missing(format!("Artifact {path} not found")).into());
    }
    c.store.objects_changed();
    Ok(Json(json!({})))
}
