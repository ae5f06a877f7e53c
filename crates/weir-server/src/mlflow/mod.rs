//! An MLflow tracking server and model registry, backed by the lake: the
//! `mlflow` client works against `weir serve` with only
//! `mlflow.set_tracking_uri("http://HOST:PORT")`. The REST API of MLflow
//! 3.17 under `/api/2.0/mlflow/` (JSON in, JSON out, MLflow's error
//! shape), the artifact proxy under `/api/2.0/mlflow-artifacts/`, and
//! `/api/3.0/mlflow/server-info`. Each tenant's experiments, runs and
//! models are Delta tables in its tracking repository (see `store`), and
//! artifacts are objects there, so every run is pinned by a commit.

mod artifacts;
mod registry;
mod registry_search;
mod search;
mod tracking;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use weir_core::ErrorCode;

use weir_tracking::{Store, TrackingError};

use crate::AppState;
use crate::authz::{Principal, Resource};
use crate::error::ServerError;

type St = State<Arc<AppState>>;

const MAX_RPC_BODY: usize = 16 << 20;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/2.0/mlflow/{*rpc}", any(dispatch))
        .route("/api/2.0/mlflow-artifacts/artifacts", get(artifacts::list))
        .route(
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            get(artifacts::get)
                .put(artifacts::put)
                .delete(artifacts::delete),
        )
        .route("/api/3.0/mlflow/server-info", get(server_info))
}

/// The gate's refusals (a missing or wrong key, a quota) in MLflow's
/// error shape, so the client raises them with MLflow's codes.
pub(crate) async fn mlflow_errors(resp: Response) -> Response {
    let status = resp.status();
    if status.is_success() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if v.get("error_code").is_some() {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    let code = match status.as_u16() {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "RESOURCE_DOES_NOT_EXIST",
        429 => "REQUEST_LIMIT_EXCEEDED",
        s if s < 500 => "INVALID_PARAMETER_VALUE",
        _ => "INTERNAL_ERROR",
    };
    let message = v["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    let mut out = (
        status,
        Json(json!({"error_code": code, "message": message})),
    )
        .into_response();
    for (k, val) in parts.headers.iter() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), val.clone());
        }
    }
    out
}

async fn server_info() -> Json<Value> {
    Json(json!({
        "store_type": "weir",
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
        "workspaces_enabled": false,
    }))
}

/// An error as MLflow's clients read it: `{"error_code", "message"}`. The
/// code and status are MLflow's protocol (its `ERROR_CODE_TO_HTTP_STATUS`),
/// which says 400, not 409, for a name that exists.
pub struct MlflowError(pub ServerError);

impl<E: Into<ServerError>> From<E> for MlflowError {
    fn from(e: E) -> Self {
        MlflowError(e.into())
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        let (code, status) = match (&self.0, self.0.code()) {
            (ServerError::Unauthorized(_), _) => ("UNAUTHENTICATED", 401),
            (_, ErrorCode::NotFound) => ("RESOURCE_DOES_NOT_EXIST", 404),
            (_, ErrorCode::AlreadyExists) => ("RESOURCE_ALREADY_EXISTS", 400),
            (_, ErrorCode::InvalidArgument) => ("INVALID_PARAMETER_VALUE", 400),
            (_, ErrorCode::NotAllowed) => ("PERMISSION_DENIED", 403),
            (_, ErrorCode::Conflict | ErrorCode::PreconditionFailed) => ("ABORTED", 409),
            (_, ErrorCode::OverQuota) => ("REQUEST_LIMIT_EXCEEDED", 429),
            (_, ErrorCode::Unavailable | ErrorCode::Storage) => ("TEMPORARILY_UNAVAILABLE", 503),
            _ => ("INTERNAL_ERROR", 500),
        };
        if status >= 500 {
            tracing::error!(error = %self.0, "MLflow request failed");
        }
        let body = json!({"error_code": code, "message": self.0.to_string()});
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body),
        )
            .into_response()
    }
}

pub type MResult<T> = std::result::Result<T, MlflowError>;

impl From<TrackingError> for ServerError {
    fn from(e: TrackingError) -> Self {
        match e {
            TrackingError::Store(e) => ServerError::Store(e),
            e => ServerError::Other(e.code(), e.to_string()),
        }
    }
}

/// [`Store::write`] with the server's errors.
pub fn write<T>(
    store: &Store,
    f: impl FnOnce(
        &weir_tracking::model::State,
    ) -> Result<(Vec<weir_tracking::model::Change>, T), ServerError>,
) -> Result<T, ServerError> {
    store.write(f)
}

pub fn missing(msg: impl Into<String>) -> ServerError {
    ServerError::NotFound(msg.into())
}

pub fn invalid(msg: impl Into<String>) -> ServerError {
    ServerError::InvalidArgument(msg.into())
}

pub fn exists(msg: impl Into<String>) -> ServerError {
    ServerError::Other(ErrorCode::AlreadyExists, msg.into())
}

/// A request's fields: a GET's query string (a repeated key is a list) or
/// another method's JSON body.
pub struct Fields(pub Value);

impl Fields {
    fn from_query(q: &str) -> Fields {
        let mut m = Map::new();
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            let v = Value::String(v.into_owned());
            match m.get_mut(k.as_ref()) {
                Some(Value::Array(a)) => a.push(v),
                Some(old) => *old = Value::Array(vec![old.take(), v]),
                None => {
                    m.insert(k.into_owned(), v);
                }
            }
        }
        Fields(Value::Object(m))
    }

    fn from_body(b: &[u8]) -> Result<Fields, ServerError> {
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields(json!({})));
        }
        match serde_json::from_slice::<Value>(b) {
            Ok(v @ Value::Object(_)) => Ok(Fields(v)),
            Ok(_) => Err(invalid("the request body must be a JSON object")),
            Err(e) => Err(invalid(format!("the request body is not JSON: {e}"))),
        }
    }

    /// A text field (a number is taken as its text).
    pub fn str(&self, k: &str) -> Option<String> {
        match &self.0[k] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn need(&self, k: &str) -> Result<String, ServerError> {
        self.str(k)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(format!("Missing value for required parameter '{k}'")))
    }

    pub fn int(&self, k: &str) -> Result<Option<i64>, ServerError> {
        match &self.0[k] {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| invalid(format!("'{k}' must be an integer, not {n}"))),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => s
                .parse()
                .map(Some)
                .map_err(|_| invalid(format!("'{k}' must be an integer, not '{s}'"))),
            v => Err(invalid(format!("'{k}' must be an integer, not {v}"))),
        }
    }

    pub fn bool(&self, k: &str) -> bool {
        match &self.0[k] {
            Value::Bool(b) => *b,
            Value::String(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    /// A list field; a single value (one query parameter) is a list of one.
    pub fn list(&self, k: &str) -> Vec<Value> {
        match &self.0[k] {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            v => vec![v.clone()],
        }
    }

    pub fn strings(&self, k: &str) -> Vec<String> {
        self.list(k)
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    }

    /// `run_id`, or the `run_uuid` older clients send.
    pub fn run_id(&self) -> Result<String, ServerError> {
        self.str("run_id")
            .filter(|s| !s.is_empty())
            .or_else(|| self.str("run_uuid").filter(|s| !s.is_empty()))
            .ok_or_else(|| invalid("Missing value for required parameter 'run_id'"))
    }

    pub fn max_results(&self, default: i64, most: i64) -> Result<usize, ServerError> {
        let n = self.int("max_results")?.unwrap_or(default);
        if n < 1 || n > most {
            return Err(invalid(format!(
                "Invalid value {n} for parameter 'max_results' supplied. It must be at most {most} and positive"
            )));
        }
        Ok(n as usize)
    }
}

/// Who asks, and the tenant store the request reads or writes.
pub struct Ctx {
    pub user: String,
    pub store: Arc<Store>,
}

/// The tracking stores of a server: a tenant's new tracking repository
/// is recorded as the tenant's before it is made, so no other sees it.
pub fn stores(
    lake: Arc<weir_store::Lake>,
    authz: Arc<crate::authz::Authz>,
) -> weir_tracking::Stores {
    let register = move |repo: &str, tenant: &str| {
        authz
            .update(|m| {
                if m.repo_tenant(repo) != tenant && m.repos.contains_key(repo) {
                    return Err(ServerError::Conflict(format!(
                        "the tracking repository {repo} belongs to another tenant"
                    )));
                }
                m.repos.insert(repo.to_string(), tenant.to_string());
                Ok(())
            })
            .map_err(|e| TrackingError::Conflict(e.to_string()))
    };
    weir_tracking::Stores::with_registrar(lake, Arc::new(register))
}

/// RPCs that change nothing, though some are POSTs.
fn reads(method: &Method, rpc: &str) -> bool {
    method == Method::GET
        || rpc.ends_with("/search")
        || rpc == "registered-models/get-latest-versions"
}

/// The caller's tenant store, with the caller allowed to read it (or, for
/// `write`, to write it: the store's repository is made on the first write).
pub(crate) async fn authorize(
    s: &Arc<AppState>,
    p: &Principal,
    write: bool,
) -> Result<Ctx, ServerError> {
    let tenant = p.tenant().to_string();
    let store = s.mlflow.store(&tenant).await?;
    let exists = s.lake.repo(&store.repo).is_ok();
    if !exists && !write {
        // Nothing stored yet: the empty store is the tenant's own.
        return Ok(Ctx {
            user: p.user.clone(),
            store,
        });
    }
    if write {
        store.create_repo().await?;
    }
    // A repository this request made is not in the model the gate read.
    let model = if p.model.repos.contains_key(&store.repo) || p.anonymous_admin {
        p.model.clone()
    } else {
        s.authz.model()?
    };
    let fresh = Principal {
        user: p.user.clone(),
        model,
        anonymous_admin: p.anonymous_admin,
    };
    let action = if write {
        "fs:WriteObject"
    } else {
        "fs:ReadObject"
    };
    fresh.require(action, &Resource::branch(&store.repo, "main"))?;
    Ok(Ctx {
        user: p.user.clone(),
        store,
    })
}

async fn dispatch(
    State(s): St,
    Extension(p): Extension<Principal>,
    Path(rpc): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if !tracking::known(&method, &rpc) && !registry::known(&method, &rpc) {
        let msg = format!(
            "{method} /api/2.0/mlflow/{rpc} is not an endpoint weir serves (docs/mlflow.md lists them)"
        );
        let body = json!({"error_code": "ENDPOINT_NOT_FOUND", "message": msg});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    match call(&s, &p, &rpc, &method, query.as_deref(), &body).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn call(
    s: &Arc<AppState>,
    p: &Principal,
    rpc: &str,
    method: &Method,
    query: Option<&str>,
    body: &[u8],
) -> MResult<Value> {
    // Each write is one journal row: MLflow's calls are small (a batch is
    // at most 1 MB); artifacts, which may be large, have their own route.
    if body.len() > MAX_RPC_BODY {
        return Err(MlflowError(invalid(format!(
            "a request body of {} bytes; MLflow calls take at most {MAX_RPC_BODY}",
            body.len()
        ))));
    }
    let f = if method == Method::GET {
        Fields::from_query(query.unwrap_or_default())
    } else {
        Fields::from_body(body)?
    };
    let c = authorize(s, p, !reads(method, rpc)).await?;
    if let Some(v) = tracking::call(&c, method, rpc, &f)? {
        return Ok(v);
    }
    Ok(registry::call(&c, method, rpc, &f)?.unwrap_or_else(|| json!({})))
}

/// MLflow's limits on names: at most 250 characters of letters, digits,
/// `_ - . / :` and spaces.
pub fn check_key(what: &str, k: &str) -> Result<(), ServerError> {
    let ok = !k.is_empty()
        && k.len() <= 250
        && k.chars()
            .all(|c| c.is_alphanumeric() || "_-./: ".contains(c))
        && !k.split('/').any(|p| p == "..")
        && !k.starts_with('/');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid {what} name: '{k}'. Names may be up to 250 characters of alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
        )))
    }
}
