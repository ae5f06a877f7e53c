//! Triggers over HTTP, each in the repository its runs merge into:
//! `GET /api/v1/repositories/{repo}/schedules` lists them, `PUT .../{name}`
//! adds or replaces one, `DELETE` removes it, `POST .../run`, `/pause` and
//! `/resume` act on it, `GET .../firings` is its history. What `weir
//! schedule` does on a lake directly, for a tenant's user: the pipeline
//! is a manifest in the lake (`weir://REPO/REF/PATH/weir.toml`, nothing on
//! the server's disk), the trigger watches and merges into `{repo}` only,
//! and its condition and its runs read only the tenant's repositories.

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};
use weir_jobs::schedule::{self, Scheduler, Spec, Trigger, When};

use crate::AppState;
use crate::authz::{Decision, Principal, Resource};
use crate::error::{Result, ServerError};

type St = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/repositories/{repo}/schedules", get(list))
        .route(
            "/repositories/{repo}/schedules/{name}",
            get(one).put(put).delete(remove),
        )
        .route("/repositories/{repo}/schedules/{name}/run", post(run))
        .route("/repositories/{repo}/schedules/{name}/pause", post(pause))
        .route("/repositories/{repo}/schedules/{name}/resume", post(resume))
        .route(
            "/repositories/{repo}/schedules/{name}/firings",
            get(firings),
        )
}

impl From<weir_jobs::JobsError> for ServerError {
    fn from(e: weir_jobs::JobsError) -> Self {
        use weir_core::ErrorCode;
        match e.code() {
            ErrorCode::NotFound => ServerError::NotFound(e.to_string()),
            ErrorCode::InvalidArgument => ServerError::InvalidArgument(e.to_string()),
            ErrorCode::Conflict => ServerError::Conflict(e.to_string()),
            c => ServerError::Other(c, e.to_string()),
        }
    }
}

fn shown(t: &Trigger) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    v["next"] = json!(t.next_fire());
    v
}

/// The trigger `name` of `repo`; another repository's is not there.
fn of_repo(s: &AppState, repo: &str, name: &str) -> Result<Trigger> {
    match schedule::get(&s.lake, name) {
        Ok(t) if t.target_repo().as_deref() == Some(repo) => Ok(t),
        _ => Err(ServerError::NotFound(format!(
            "no trigger {name} in repository {repo}"
        ))),
    }
}

/// A scheduler of `lake`: its runs are metered and traced to the tenant
/// of the repository they merge into. The server's own loop, `weir
/// scheduler` and a firing by hand all use this one.
pub fn scheduler(lake: &Arc<weir_store::Lake>, alerts: &weir_core::config::Alerts) -> Scheduler {
    let meta = lake.meta_store();
    Scheduler::new(
        lake.clone(),
        Arc::new(move |r: &str| {
            crate::authz::tenant_of_repo(meta.as_ref(), r)
                .unwrap_or_else(|_| crate::authz::DEFAULT_TENANT.to_string())
        }),
        alerts.clone(),
    )
}

async fn list(State(s): St, Path(repo): Path<String>) -> Result<Json<Value>> {
    let triggers: Vec<Value> = schedule::list(&s.lake)?
        .values()
        .filter(|t| t.target_repo().as_deref() == Some(repo.as_str()))
        .map(shown)
        .collect();
    Ok(Json(json!({ "results": triggers })))
}

async fn one(State(s): St, Path((repo, name)): Path<(String, String)>) -> Result<Json<Value>> {
    Ok(Json(shown(&of_repo(&s, &repo, &name)?)))
}

/// The body is `weir schedule add`'s flags as JSON (`cron`, `timezone`,
/// `on_commit`, `paths`, `when`, `after`, `target`, `params`, `force`,
/// `catch_up`, `notify`, `notify_on`) plus `pipeline`.
async fn put(
    State(s): St,
    Extension(who): Extension<Principal>,
    Path((repo, name)): Path<(String, String)>,
    Json(mut body): Json<Value>,
) -> Result<(StatusCode, Json<Value>)> {
    let bad = |m: String| ServerError::InvalidArgument(format!("trigger {name}: {m}"));
    let obj = body
        .as_object_mut()
        .ok_or_else(|| bad("the body is a JSON object of the trigger's settings".into()))?;
    let pipeline = match obj.remove("pipeline") {
        Some(Value::String(p)) if weir_jobs::locate::in_lake(&p) => p,
        _ => {
            return Err(bad(
                "pipeline: the manifest in the lake, \"weir://REPO/REF/PATH/weir.toml\"".into(),
            ));
        }
    };
    obj.insert("name".into(), Value::String(name.clone()));
    let spec: Spec = serde_json::from_value(body).map_err(|e| bad(e.to_string()))?;
    let source = weir_core::uri::WeirUri::parse(&pipeline).map_err(|e| bad(e.to_string()))?;
    if who.decide("fs:ReadObject", &Resource::repo(&source.repo)) != Decision::Allow {
        return Err(ServerError::NotFound(format!(
            "pipeline {pipeline}: no repository {}",
            source.repo
        )));
    }
    let branch = s.lake.repo(&repo)?.record().default_branch.clone();
    let mut t = spec.build(
        &s.lake,
        &pipeline,
        Some(&format!("weir://{repo}/{branch}")),
        &who.user,
        Utc::now(),
    )?;
    t.scoped = true;
    if t.target_repo().as_deref() != Some(repo.as_str()) {
        return Err(bad(format!("target: a branch of {repo}")));
    }
    match &t.when {
        When::OnCommit { repo: watched, .. } if *watched != repo => {
            return Err(bad(format!("on_commit: a branch of {repo}")));
        }
        When::Condition {
            after: Some(source),
            ..
        } => {
            of_repo(&s, &repo, source)?;
        }
        _ => {}
    }
    if let Ok(old) = schedule::get(&s.lake, &name)
        && old.target_repo().as_deref() != Some(repo.as_str())
    {
        return Err(ServerError::Conflict(format!(
            "a trigger named {name} exists in another repository; choose another name"
        )));
    }
    if let Some(n) = &t.notify {
        check_webhook(&n.url).map_err(bad)?;
    }
    schedule::check_pipeline(&s.lake, &t).await?;
    let done = schedule::apply(&s.lake, vec![t.clone()])?;
    let state = done.first().map_or("added", |(_, w)| *w);
    let status = if state == "added" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut v = shown(&schedule::get(&s.lake, &name)?);
    v["state"] = json!(state);
    Ok((status, Json(v)))
}

async fn remove(State(s): St, Path((repo, name)): Path<(String, String)>) -> Result<StatusCode> {
    of_repo(&s, &repo, &name)?;
    schedule::remove(&s.lake, &name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause(State(s): St, Path((repo, name)): Path<(String, String)>) -> Result<Json<Value>> {
    paused(&s, &repo, &name, true)
}

async fn resume(State(s): St, Path((repo, name)): Path<(String, String)>) -> Result<Json<Value>> {
    paused(&s, &repo, &name, false)
}

fn paused(s: &AppState, repo: &str, name: &str, paused: bool) -> Result<Json<Value>> {
    of_repo(s, repo, name)?;
    schedule::set_paused(&s.lake, name, paused, Utc::now())?;
    Ok(Json(shown(&schedule::get(&s.lake, name)?)))
}

/// Fires the trigger now and answers when its run ended: the firing's
/// record, whatever the run's outcome (a failed run is a 200 whose
/// `outcome` says so, as `weir_schedule_runs()` has it).
async fn run(State(s): St, Path((repo, name)): Path<(String, String)>) -> Result<Json<Value>> {
    let t = of_repo(&s, &repo, &name)?;
    let mut sched = scheduler(&s.lake, &s.options.alerts);
    sched.tracking = Some(s.mlflow.clone());
    let f = sched.fire_now(&t).await?;
    Ok(Json(serde_json::to_value(f).unwrap_or_default()))
}

async fn firings(State(s): St, Path((repo, name)): Path<(String, String)>) -> Result<Json<Value>> {
    of_repo(&s, &repo, &name)?;
    let rows = schedule::firings(&s.lake, &name).await?;
    Ok(Json(json!({ "results": rows })))
}

/// A webhook a tenant names must be somewhere else than the server's own
/// machine or network: this server would post to it, so a URL of
/// localhost, a private, link-local or cloud-metadata address is refused
/// (`weir schedule add` on the lake directly may name any).
fn check_webhook(url: &str) -> std::result::Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("notify {url:?}: an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let local = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.octets()[0] == 0
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some()
        }
        Err(_) => {
            let h = host.to_ascii_lowercase();
            h.is_empty()
                || h == "localhost"
                || h.ends_with(".localhost")
                || h.ends_with(".internal")
        }
    };
    if local {
        return Err(format!(
            "notify {url:?}: a webhook on this server's machine or network is not allowed; name a public address"
        ));
    }
    Ok(())
}
