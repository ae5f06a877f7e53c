//! lakeFS's object endpoints: upload (raw body or multipart `content`,
//! with `If-None-Match: *` / `If-Match`), get and head with ranges and
//! ETags, stat, list with a delimiter, delete, delete many, copy. Writes
//! only to branches; reads from any ref expression.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use weir_store::{Cond, Entry, ListItem, PutOptions, StoreError};

use crate::error::{Result, ServerError};
use crate::lakefs::{Page, repo};
use crate::shapes::{pagination, stats_json};
use crate::{AppState, Caller};

type St = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/repositories/{repo}/branches/{branch}/objects",
            post(upload).delete(delete),
        )
        .route(
            "/repositories/{repo}/branches/{branch}/objects/delete",
            post(delete_many),
        )
        .route(
            "/repositories/{repo}/branches/{branch}/objects/copy",
            post(copy),
        )
        .route(
            "/repositories/{repo}/refs/{reference}/objects",
            get(get_object).head(head_object),
        )
        .route(
            "/repositories/{repo}/refs/{reference}/objects/stat",
            get(stat),
        )
        .route(
            "/repositories/{repo}/refs/{reference}/objects/ls",
            get(list),
        )
}

#[derive(Deserialize)]
struct PathQuery {
    path: Option<String>,
}

fn need_path(q: PathQuery) -> Result<String> {
    q.path
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ServerError::InvalidArgument("the query parameter path is required".into()))
}

fn etag(e: &Entry) -> String {
    format!("\"{}\"", e.checksum_hex())
}

fn condition(h: &HeaderMap) -> Result<Option<Cond>> {
    if let Some(v) = h.get(header::IF_NONE_MATCH) {
        return match v.to_str() {
            Ok("*") => Ok(Some(Cond::Absent)),
            _ => Err(ServerError::InvalidArgument(
                "If-None-Match on upload: only * (create if absent) is supported".into(),
            )),
        };
    }
    if let Some(v) = h.get(header::IF_MATCH) {
        let tag = v
            .to_str()
            .map_err(|_| ServerError::InvalidArgument("If-Match: not text".into()))?;
        return Ok(Some(Cond::Matches(tag.trim_matches('"').to_string())));
    }
    Ok(None)
}

/// User metadata sent as lakeFS clients send it: `X-Lakefs-Meta-KEY`
/// headers (the `lakefs` Python package's uploads).
fn user_metadata(h: &HeaderMap) -> BTreeMap<String, String> {
    h.iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix("x-lakefs-meta-")?;
            Some((key.to_string(), v.to_str().ok()?.to_string()))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

async fn upload(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    Query(q): Query<PathQuery>,
    req: Request,
) -> Result<Response> {
    let path = need_path(q)?;
    let cond = condition(req.headers())?;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = s.options.max_body as u64;
    if declared.is_some_and(|n| n > limit) {
        return Err(ServerError::TooLarge(format!(
            "the body exceeds the server's limit of {limit} bytes (weir serve --max-body-mib)"
        )));
    }
    let r = repo(&s, &name, &c)?;
    let absent = matches!(cond, Some(Cond::Absent));
    let refused = |e: StoreError| match e {
        // HTTP's answer to a failed If-None-Match is 412, as lakeFS's.
        StoreError::AlreadyExists { .. } if absent => {
            ServerError::PreconditionFailed(format!("{path} already exists on {branch}"))
        }
        e => e.into(),
    };
    let metadata = user_metadata(req.headers());
    let options = |content_type: Option<String>| PutOptions {
        content_type: content_type.filter(|t| !t.starts_with("application/x-www-form-urlencoded")),
        metadata: metadata.clone(),
        cond: cond.clone(),
    };
    // Bodies are streamed to the data store: an upload never sits whole in
    // memory, whatever its size.
    let e = if is_multipart {
        let mut form = Multipart::from_request(req, &s)
            .await
            .map_err(|e| ServerError::InvalidArgument(e.body_text()))?;
        loop {
            let Some(field) = form
                .next_field()
                .await
                .map_err(|e| ServerError::InvalidArgument(e.body_text()))?
            else {
                return Err(ServerError::InvalidArgument(
                    "multipart upload without a part named content".into(),
                ));
            };
            if field.name() == Some("content") {
                let opts = options(field.content_type().map(str::to_string));
                break r
                    .put_stream(&branch, &path, field, &opts, limit)
                    .await
                    .map_err(refused)?;
            }
        }
    } else {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let opts = options(ct);
        r.put_stream(
            &branch,
            &path,
            req.into_body().into_data_stream(),
            &opts,
            limit,
        )
        .await
        .map_err(refused)?
    };
    Ok((StatusCode::CREATED, Json(stats_json(&path, &e))).into_response())
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against an object of `size` bytes.
fn parse_range(v: &str, size: u64) -> Result<Range<u64>> {
    let bad = || ServerError::RangeNotSatisfiable(format!("{v} of a {size}-byte object"));
    let spec = v.strip_prefix("bytes=").ok_or_else(bad)?;
    if spec.contains(',') {
        return Err(ServerError::InvalidArgument(
            "multiple ranges are not supported".into(),
        ));
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let r = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| bad())?;
            size.saturating_sub(n)..size
        }
        (a, "") => a.parse().map_err(|_| bad())?..size,
        (a, b) => {
            let a: u64 = a.parse().map_err(|_| bad())?;
            let b: u64 = b.parse().map_err(|_| bad())?;
            if b < a {
                return Err(bad());
            }
            a..(b + 1).min(size)
        }
    };
    if r.start >= size || r.is_empty() {
        return Err(bad());
    }
    Ok(r)
}

fn object_headers(e: &Entry) -> HeaderMap {
    let mut h = HeaderMap::new();
    let set = |h: &mut HeaderMap, k, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set(&mut h, header::ETAG, etag(e));
    set(&mut h, header::CONTENT_TYPE, e.content_type.clone());
    set(
        &mut h,
        header::LAST_MODIFIED,
        e.mtime().format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h
}

async fn read(
    s: &AppState,
    c: &Caller,
    name: &str,
    reference: &str,
    q: PathQuery,
    headers: &HeaderMap,
    body: bool,
) -> Result<Response> {
    let path = need_path(q)?;
    let r = repo(s, name, c)?;
    let e = r.stat(reference, &path).await?;
    let mut h = object_headers(&e);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag(&e) || v == "*")
    {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => Some(parse_range(v, e.size)?),
        None => None,
    };
    let (status, len) = match &range {
        Some(rg) => {
            let cr = format!("bytes {}-{}/{}", rg.start, rg.end - 1, e.size);
            if let Ok(v) = HeaderValue::from_str(&cr) {
                h.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, rg.end - rg.start)
        }
        None => (StatusCode::OK, e.size),
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if !body {
        return Ok((status, h).into_response());
    }
    let stream = r.read_entry_stream(&e, range).await?;
    Ok((status, h, Body::from_stream(stream)).into_response())
}

async fn get_object(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, reference)): Path<(String, String)>,
    Query(q): Query<PathQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    read(&s, &c, &name, &reference, q, &headers, true).await
}

async fn head_object(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, reference)): Path<(String, String)>,
    Query(q): Query<PathQuery>,
    headers: HeaderMap,
) -> Response {
    // A HEAD answer has no body, so an error is its status alone.
    match read(&s, &c, &name, &reference, q, &headers, false).await {
        Ok(r) => r,
        Err(e) => e.into_response().status().into_response(),
    }
}

async fn stat(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, reference)): Path<(String, String)>,
    Query(q): Query<PathQuery>,
) -> Result<Json<Value>> {
    let path = need_path(q)?;
    let e = repo(&s, &name, &c)?.stat(&reference, &path).await?;
    Ok(Json(stats_json(&path, &e)))
}

async fn list(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, reference)): Path<(String, String)>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let delimiter = match p.delimiter.as_deref() {
        None | Some("") => false,
        Some("/") => true,
        Some(d) => {
            return Err(ServerError::InvalidArgument(format!(
                "delimiter {d:?}: only / is supported"
            )));
        }
    };
    let amount = p.amount()?;
    let (items, more) = repo(&s, &name, &c)?
        .list_objects(
            &reference,
            p.prefix.as_deref().unwrap_or(""),
            delimiter,
            p.after.as_deref().filter(|a| !a.is_empty()),
            amount,
        )
        .await?;
    let last = items
        .last()
        .map(|i| i.path().to_string())
        .unwrap_or_default();
    let rows: Vec<Value> = items
        .iter()
        .map(|i| match i {
            ListItem::Object { path, entry } => stats_json(path, entry),
            ListItem::CommonPrefix { path } => json!({
                "path": path, "path_type": "common_prefix",
                "physical_address": "", "checksum": "", "mtime": 0,
            }),
        })
        .collect();
    let n = rows.len();
    Ok(Json(
        json!({ "pagination": pagination(more, &last, n), "results": rows }),
    ))
}

async fn delete(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    Query(q): Query<PathQuery>,
) -> Result<StatusCode> {
    let path = need_path(q)?;
    if !repo(&s, &name, &c)?.delete_object(&branch, &path).await? {
        return Err(ServerError::NotFound(format!(
            "{path} not found on {branch}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PathList {
    paths: Vec<String>,
}

async fn delete_many(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    Json(b): Json<PathList>,
) -> Result<Json<Value>> {
    if b.paths.len() > 1000 {
        return Err(ServerError::InvalidArgument(
            "at most 1000 paths per request".into(),
        ));
    }
    let r = repo(&s, &name, &c)?;
    r.branch_head(&branch)?;
    let mut errors = Vec::new();
    for p in &b.paths {
        match r.delete_object(&branch, p).await {
            Ok(_) => {}
            Err(e) => {
                let code = e.code().http_status();
                errors.push(json!({ "status_code": code, "message": e.to_string(), "path": p }));
            }
        }
    }
    Ok(Json(json!({ "errors": errors })))
}

#[derive(Deserialize)]
struct CopyQuery {
    dest_path: Option<String>,
}

#[derive(Deserialize)]
struct CopyBody {
    src_path: String,
    #[serde(default)]
    src_ref: Option<String>,
}

async fn copy(
    State(s): St,
    Extension(c): Extension<Caller>,
    Extension(who): Extension<crate::authz::Principal>,
    Path((name, branch)): Path<(String, String)>,
    Query(q): Query<CopyQuery>,
    Json(b): Json<CopyBody>,
) -> Result<Response> {
    let dest = q.dest_path.filter(|p| !p.is_empty()).ok_or_else(|| {
        ServerError::InvalidArgument("the query parameter dest_path is required".into())
    })?;
    let src_ref = b.src_ref.unwrap_or_else(|| branch.clone());
    // The gate checked the write; the read of the source is its own.
    who.require(
        "fs:ReadObject",
        &crate::authz::Resource::branch(&name, &src_ref),
    )?;
    let e = repo(&s, &name, &c)?
        .copy_object(&src_ref, &b.src_path, &branch, &dest, None)
        .await
        .map_err(|e| match e {
            StoreError::NotFound { .. } => {
                ServerError::NotFound(format!("{} not found at {src_ref}", b.src_path))
            }
            e => e.into(),
        })?;
    Ok((StatusCode::CREATED, Json(stats_json(&dest, &e))).into_response())
}
