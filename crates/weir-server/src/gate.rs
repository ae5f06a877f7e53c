//! The gate in front of the REST API, the decisions and the metrics:
//! authentication (HTTP basic, or a Bearer `KEY_ID:SECRET`),
//! authorization by the route's rule ([`crate::authz::routes`]) and
//! lakeFS-style JSON for every client error, as one tower layer.
//!
//! It is a plain `Service` rather than two `axum::middleware::from_fn`
//! layers: each such layer costs a clone of the whole boxed route below it
//! and a boxed future per request (nested, so the cost grew with every
//! layer), which was a large share of a small request's time under load.
//! A request whose key is already in memory goes through without waiting.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use base64::Engine;
use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use crate::authz::routes::{self, Rule};
use crate::authz::{self, Principal};
use crate::error::ServerError;
use crate::{AppState, Caller};

/// The user of an unsigned request on a server that accepts them.
pub(crate) const ANONYMOUS: &str = "anonymous";

#[derive(Clone)]
pub(crate) struct GateLayer(pub Arc<AppState>);

impl Layer<Route> for GateLayer {
    type Service = Gate;

    fn layer(&self, inner: Route) -> Gate {
        Gate {
            inner,
            state: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Gate {
    inner: Route,
    state: Arc<AppState>,
}

/// What the credentials of a request say, as far as memory knows.
enum Verdict {
    Caller(Caller),
    Refused(Response),
    /// The key is not in memory: ask the key store off the async threads.
    Lookup(String, String),
}

impl Service<Request> for Gate {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // No route matched: the answer is a JSON 404 that needs no key.
        // A shared handle to the route's template (no copy per request).
        let Some(template) = req.extensions().get::<MatchedPath>().cloned() else {
            let fut = self.inner.call(req);
            return Box::pin(async move { Ok(json_errors(fut.await?).await) });
        };
        // A method the route does not take (what axum answers 405 for), or
        // a route added without a rule: the authorization matrix test sends
        // every documented route and fails on a 405.
        let Some(rule) = routes::rule(req.method().as_str(), template.as_str()) else {
            tracing::debug!(method = %req.method(), route = template.as_str(), "no authorization rule");
            let e = (
                StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(serde_json::json!({
                    "message": format!("{} is not a method of {}", req.method(), template.as_str())
                })),
            );
            return Box::pin(async move { Ok(e.into_response()) });
        };
        let user = match verdict(&self.state, &req) {
            Verdict::Caller(c) => c.0,
            Verdict::Refused(resp) => return Box::pin(async move { Ok(resp) }),
            Verdict::Lookup(id, secret) => {
                let state = self.state.clone();
                let inner = self.inner.clone();
                return Box::pin(async move {
                    let keys = state.keys.clone();
                    let checked =
                        tokio::task::spawn_blocking(move || keys.check(&id, &secret)).await;
                    let user = match checked {
                        Ok(Ok(Some(user))) => user,
                        Ok(Ok(None)) => return Ok(wrong_key()),
                        Ok(Err(e)) => return Ok(e.into_response()),
                        Err(e) => return Ok(ServerError::Keys(e.to_string()).into_response()),
                    };
                    authorize_then(state, inner, req, rule, template, user).await
                });
            }
        };
        // The fast path: key and model both in memory, nothing awaited
        // before the handler.
        if let Some(model) = self.state.authz.model_cached() {
            let principal = self.principal(user, model);
            if let Err(e) = check(&self.state, &principal, &rule, template.as_str(), &req) {
                return Box::pin(async move { Ok(e.into_response()) });
            }
            crate::usage::Slot::claim(req.extensions(), &principal, None);
            req.extensions_mut().insert(Caller(principal.user.clone()));
            req.extensions_mut().insert(principal);
            let fut = self.inner.call(req);
            return Box::pin(async move { Ok(json_errors(fut.await?).await) });
        }
        let (state, inner) = (self.state.clone(), self.inner.clone());
        Box::pin(authorize_then(state, inner, req, rule, template, user))
    }
}

impl Gate {
    fn principal(&self, user: String, model: std::sync::Arc<authz::Model>) -> Principal {
        principal(&self.state, user, model)
    }
}

pub(crate) fn principal(
    state: &AppState,
    user: String,
    model: std::sync::Arc<authz::Model>,
) -> Principal {
    // --allow-anonymous makes an unsigned request the default tenant's admin.
    let anonymous_admin = state.options.allow_anonymous && user == ANONYMOUS;
    Principal {
        user,
        model,
        anonymous_admin,
    }
}

/// The rule's check for a request at `uri_path` routed by `template`,
/// then the tenant's rate and, for an upload, its stored bytes.
fn check(
    state: &AppState,
    p: &Principal,
    rule: &Rule,
    template: &str,
    req: &Request,
) -> Result<(), ServerError> {
    if let Some(r) = routes::resource(rule, template, req.uri().path(), p.tenant()) {
        p.require(rule.action, &r)?;
    }
    admit(state, p)?;
    if crate::quota::stores_body(req.method(), Some(template), None) {
        let declared = body_length(req.headers());
        let known = axum::body::HttpBody::size_hint(req.body()).exact();
        admit_bytes(state, p, declared.max(known.unwrap_or(0)))?;
    }
    Ok(())
}

/// A request body's length as declared (the decoded length of an
/// aws-chunked S3 upload).
pub(crate) fn body_length(h: &axum::http::HeaderMap) -> u64 {
    ["x-amz-decoded-content-length", "content-length"]
        .iter()
        .find_map(|k| h.get(*k)?.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

/// Refuses a write of `bytes` that would take the tenant past the bytes
/// it may store.
pub(crate) fn admit_bytes(state: &AppState, p: &Principal, bytes: u64) -> Result<(), ServerError> {
    let Some(limit) = p.model.quota(p.tenant()).stored_bytes else {
        return Ok(());
    };
    state
        .quotas
        .fits(p.tenant(), bytes, limit)
        .map_err(|now| {
            ServerError::OverQuota(
                format!(
                    "tenant {} stores {now} bytes of the {limit} it may; {bytes} more would pass it (delete, then weir gc run, or raise the quota)",
                    p.tenant()
                ),
                60,
            )
        })
}

/// Takes one request from the tenant's rate, if it has one.
pub(crate) fn admit(state: &AppState, p: &Principal) -> Result<(), ServerError> {
    let Some(rps) = p.model.quota(p.tenant()).requests_per_second else {
        return Ok(());
    };
    state.quotas.admit(p.tenant(), rps).map_err(|secs| {
        ServerError::OverQuota(
            format!(
                "tenant {} is over its {rps} requests per second",
                p.tenant()
            ),
            secs,
        )
    })
}

/// The slow path: the model read off the async threads, then the check.
async fn authorize_then(
    state: std::sync::Arc<AppState>,
    inner: Route,
    mut req: Request,
    rule: Rule,
    template: MatchedPath,
    user: String,
) -> Result<Response, Infallible> {
    let authz = state.authz.clone();
    let model = match tokio::task::spawn_blocking(move || authz.model()).await {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return Ok(e.into_response()),
        Err(e) => return Ok(ServerError::Keys(e.to_string()).into_response()),
    };
    let principal = principal(&state, user, model);
    if let Err(e) = check(&state, &principal, &rule, template.as_str(), &req) {
        return Ok(e.into_response());
    }
    crate::usage::Slot::claim(req.extensions(), &principal, None);
    req.extensions_mut().insert(Caller(principal.user.clone()));
    req.extensions_mut().insert(principal);
    Ok(json_errors(inner.oneshot(req).await?).await)
}

fn wrong_key() -> Response {
    ServerError::Unauthorized("wrong access key id or secret".into()).into_response()
}

fn verdict(state: &AppState, req: &Request) -> Verdict {
    let Some(creds) = credentials(req) else {
        if state.options.allow_anonymous {
            return Verdict::Caller(Caller(ANONYMOUS.into()));
        }
        return Verdict::Refused(
            ServerError::Unauthorized(
                "credentials required: HTTP basic auth with an access key id and secret, or Bearer KEY_ID:SECRET (weir auth create-key)"
                    .into(),
            )
            .into_response(),
        );
    };
    let (id, secret) = creds.parts();
    match state.keys.check_cached(id, secret) {
        Some(Some(user)) => Verdict::Caller(Caller(user)),
        Some(None) => Verdict::Refused(wrong_key()),
        None => Verdict::Lookup(id.to_string(), secret.to_string()),
    }
}

/// An access key id and secret as a request carries them.
enum Credentials<'a> {
    /// `Bearer KEY_ID:SECRET`: OpenLineage's HTTP transport can only send
    /// a Bearer API key.
    Bearer(&'a str, &'a str),
    /// HTTP basic auth, decoded: the text and where its colon is.
    Basic(String, usize),
}

impl Credentials<'_> {
    fn parts(&self) -> (&str, &str) {
        match self {
            Credentials::Bearer(id, secret) => (id, secret),
            Credentials::Basic(text, colon) => (&text[..*colon], &text[colon + 1..]),
        }
    }
}

fn credentials(req: &Request) -> Option<Credentials<'_>> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let (id, secret) = rest.trim().split_once(':')?;
        return Some(Credentials::Bearer(id, secret));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let colon = text.find(':')?;
    Some(Credentials::Basic(text, colon))
}

/// axum's own rejections (a query string or body that does not parse, a
/// method the path does not take) are plain text; lakeFS clients expect
/// `{"message": ...}` for every error.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // A JSON body of the wrong shape is a bad request, as lakeFS answers it.
    if parts.status == StatusCode::UNPROCESSABLE_ENTITY {
        parts.status = StatusCode::BAD_REQUEST;
    }
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "message": message }).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}
