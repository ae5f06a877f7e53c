//! lakeFS's REST API for repositories, branches, tags, commits, diffs and
//! merges: its paths, JSON shapes, status codes and `after`/`amount`
//! pagination (amount 1..1000, default 100).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use weir_core::names::SYSTEM_REPO;
use weir_store::{DiffEntry, DiffMode, DiffScope, LogOptions, MergeOptions, Repo, RepoRecord};

use crate::authz::{Decision, Principal, Resource};
use crate::error::{OptionalJson, Result, ServerError};
use crate::shapes::{commit_json, diff_json, pagination, ref_json, repo_json};
use crate::{AppState, Caller};

type St = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/repositories", get(list_repos).post(create_repo))
        .route("/repositories/{repo}", get(get_repo).delete(delete_repo))
        .route(
            "/repositories/{repo}/branches",
            get(list_branches).post(create_branch),
        )
        .route(
            "/repositories/{repo}/branches/{branch}",
            get(get_branch).delete(delete_branch).put(reset_branch),
        )
        .route(
            "/repositories/{repo}/branches/{branch}/commits",
            post(commit),
        )
        .route(
            "/repositories/{repo}/branches/{branch}/revert",
            post(revert),
        )
        .route(
            "/repositories/{repo}/branches/{branch}/cherry-pick",
            post(cherry_pick),
        )
        .route(
            "/repositories/{repo}/branches/{branch}/diff",
            get(diff_branch),
        )
        .route("/repositories/{repo}/refs/{reference}/commits", get(log))
        .route("/repositories/{repo}/commits/{id}", get(get_commit))
        .route(
            "/repositories/{repo}/refs/{left}/diff/{right}",
            get(diff_refs),
        )
        .route(
            "/repositories/{repo}/refs/{source}/merge/{dest}",
            post(merge).get(merge_base),
        )
        .route("/repositories/{repo}/tags", get(list_tags).post(create_tag))
        .route(
            "/repositories/{repo}/tags/{tag}",
            get(get_tag).delete(delete_tag),
        )
        .route(
            "/repositories/{repo}/branches/{branch}/hard_reset",
            put(hard_reset),
        )
}

/// `prefix`, `after`, `amount` as every lakeFS listing takes them.
#[derive(Deserialize, Default)]
pub struct Page {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub delimiter: Option<String>,
}

impl Page {
    pub fn amount(&self) -> Result<usize> {
        match self.amount {
            None | Some(-1) => Ok(100),
            Some(n) if (0..=1000).contains(&n) => Ok(n.max(1) as usize),
            Some(n) => Err(ServerError::InvalidArgument(format!(
                "amount {n}: use 1 to 1000"
            ))),
        }
    }
}

/// A page of a sorted list of names: those after `after` with `prefix`.
pub(crate) fn page_of<T>(items: Vec<(String, T)>, p: &Page) -> Result<(Vec<(String, T)>, bool)> {
    let amount = p.amount()?;
    let prefix = p.prefix.as_deref().unwrap_or("");
    let after = p.after.as_deref().unwrap_or("");
    let mut items: Vec<(String, T)> = items
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix) && k.as_str() > after)
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let more = items.len() > amount;
    items.truncate(amount);
    Ok((items, more))
}

pub(crate) fn list_json(rows: Vec<Value>, more: bool, last: &str) -> Json<Value> {
    let n = rows.len();
    Json(json!({ "pagination": pagination(more, last, n), "results": rows }))
}

/// The system repository (run records, lineage) is weir's own: over HTTP
/// it does not exist, so no client can rewrite the records.
fn not_system(name: &str) -> Result<()> {
    if name == SYSTEM_REPO {
        return Err(ServerError::NotFound(format!(
            "repository {name} not found"
        )));
    }
    Ok(())
}

pub fn repo(state: &AppState, name: &str, caller: &Caller) -> Result<Repo> {
    not_system(name)?;
    Ok(state.lake.repo_as(name, &caller.0)?)
}

async fn list_repos(
    State(s): St,
    Extension(who): Extension<Principal>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let repos: Vec<(String, RepoRecord)> = s
        .lake
        .list_repos()?
        .into_iter()
        .filter(|r| r.name != SYSTEM_REPO)
        .filter(|r| who.decide("repo:Read", &Resource::repo(&r.name)) == Decision::Allow)
        .map(|r| (r.name.clone(), r))
        .collect();
    let (page, more) = page_of(repos, &p)?;
    let last = page.last().map(|r| r.0.clone()).unwrap_or_default();
    Ok(list_json(
        page.iter().map(|(_, r)| repo_json(r)).collect(),
        more,
        &last,
    ))
}

#[derive(Deserialize)]
struct RepoCreation {
    name: String,
    storage_namespace: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    sample_data: Option<bool>,
    #[serde(default)]
    read_only: Option<bool>,
}

/// Creates repository `name` for the caller's tenant. The name is
/// recorded as the tenant's before the repository is made, so a crash in
/// between leaves a reserved name, never a repository of the wrong
/// tenant; names are one namespace for the lake (as S3's buckets are), so
/// a name another tenant holds is refused as taken.
pub(crate) async fn create_repo_for(
    s: &AppState,
    who: &Principal,
    name: &str,
    branch: &str,
    namespace: Option<&str>,
) -> Result<Repo> {
    let tenant = who.tenant().to_string();
    let exists = s.lake.list_repos()?.iter().any(|r| r.name == name);
    let reserved = s.authz.update(|m| {
        if m.repo_tenant(name) != tenant && (exists || m.repos.contains_key(name)) {
            return Err(ServerError::Conflict(format!(
                "repository name {name} is taken"
            )));
        }
        Ok(m.repos.insert(name.to_string(), tenant.clone()).is_none())
    })?;
    match s.lake.create_repo(name, branch, namespace, &who.user).await {
        Ok(r) => Ok(r),
        Err(e) => {
            if reserved && !exists {
                let _ = s.authz.update(|m| {
                    m.repos.remove(name);
                    Ok(())
                });
            }
            Err(e.into())
        }
    }
}

async fn create_repo(
    State(s): St,
    Extension(who): Extension<Principal>,
    Json(b): Json<RepoCreation>,
) -> Result<Response> {
    if b.read_only == Some(true) {
        return Err(ServerError::InvalidArgument(
            "read-only repositories are not supported".into(),
        ));
    }
    if b.name == SYSTEM_REPO {
        return Err(ServerError::InvalidArgument(format!(
            "repository name {SYSTEM_REPO} is reserved for weir's run records and lineage"
        )));
    }
    let branch = b.default_branch.as_deref().unwrap_or("main");
    let r = create_repo_for(&s, &who, &b.name, branch, Some(&b.storage_namespace)).await?;
    Ok((StatusCode::CREATED, Json(repo_json(r.record()))).into_response())
}

async fn get_repo(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    Ok(Json(repo_json(repo(&s, &name, &c)?.record())))
}

async fn delete_repo(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    not_system(&name)?;
    s.lake.delete_repo(&name, &c.0).await?;
    s.authz.update(|m| {
        m.repos.remove(&name);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_branches(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let (page, more) = page_of(repo(&s, &name, &c)?.list_branches()?, &p)?;
    let last = page.last().map(|r| r.0.clone()).unwrap_or_default();
    Ok(list_json(
        page.iter().map(|(b, id)| ref_json(b, id)).collect(),
        more,
        &last,
    ))
}

#[derive(Deserialize)]
struct BranchCreation {
    name: String,
    source: String,
    #[serde(default)]
    force: Option<bool>,
}

async fn create_branch(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    Json(b): Json<BranchCreation>,
) -> Result<Response> {
    let r = repo(&s, &name, &c)?;
    if b.force == Some(true) && r.branch_head(&b.name).is_ok() {
        r.delete_branch(&b.name)?;
    }
    let commit = r.create_branch(&b.name, &b.source)?;
    // lakeFS answers with the new branch's commit id as text.
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CONTENT_TYPE, "text/html")],
        commit.id,
    )
        .into_response())
}

async fn get_branch(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let head = repo(&s, &name, &c)?.branch_head(&branch)?;
    Ok(Json(ref_json(&branch, &head)))
}

async fn delete_branch(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
) -> Result<StatusCode> {
    repo(&s, &name, &c)?.delete_branch(&branch)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ResetCreation {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: Option<String>,
}

/// Discards uncommitted changes: all, under a prefix, or one object. It
/// does not move the branch (lakeFS's `hard_reset` does).
async fn reset_branch(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    Json(b): Json<ResetCreation>,
) -> Result<StatusCode> {
    let r = repo(&s, &name, &c)?;
    let path = b.path.unwrap_or_default();
    match b.kind.as_str() {
        "reset" => {
            r.reset_branch(&branch, "")?;
        }
        "common_prefix" => {
            r.reset_branch(&branch, &path)?;
        }
        "object" => {
            r.branch_head(&branch)?;
            r.unstage(&branch, &[path])?;
        }
        other => {
            return Err(ServerError::InvalidArgument(format!(
                "type {other:?}: use reset, common_prefix or object"
            )));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn hard_reset() -> ServerError {
    ServerError::InvalidArgument(
        "hard_reset is not supported: weir branches move only by commit, merge and revert, so history stays auditable".into(),
    )
}

#[derive(Deserialize)]
struct CommitCreation {
    message: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    allow_empty: Option<bool>,
}

async fn commit(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    Json(b): Json<CommitCreation>,
) -> Result<Response> {
    let r = repo(&s, &name, &c)?;
    let rec = r
        .commit(
            &branch,
            &b.message,
            &c.0,
            b.metadata,
            b.allow_empty == Some(true),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(commit_json(&rec))).into_response())
}

#[derive(Deserialize)]
struct RevertCreation {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    parent_number: Option<u32>,
}

#[derive(Deserialize)]
struct CherryPickCreation {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    parent_number: Option<u32>,
}

async fn cherry_pick(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    Json(b): Json<CherryPickCreation>,
) -> Result<Response> {
    let rec = repo(&s, &name, &c)?
        .cherry_pick(&branch, &b.reference, b.parent_number.unwrap_or(0), &c.0)
        .await?;
    Ok((StatusCode::CREATED, Json(commit_json(&rec))).into_response())
}

async fn revert(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    Json(b): Json<RevertCreation>,
) -> Result<StatusCode> {
    repo(&s, &name, &c)?
        .revert(&branch, &b.reference, b.parent_number.unwrap_or(0), &c.0)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn scope(p: &Page) -> Result<DiffScope> {
    Ok(DiffScope {
        prefix: p.prefix.clone().unwrap_or_default(),
        after: p.after.clone().filter(|a| !a.is_empty()),
        limit: Some(p.amount()? + 1),
    })
}

fn diff_page(mut d: Vec<DiffEntry>, p: &Page) -> Result<Json<Value>> {
    let amount = p.amount()?;
    let more = d.len() > amount;
    d.truncate(amount);
    let last = d.last().map(|e| e.path.clone()).unwrap_or_default();
    Ok(list_json(d.iter().map(diff_json).collect(), more, &last))
}

async fn diff_branch(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, branch)): Path<(String, String)>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let d = repo(&s, &name, &c)?
        .diff_uncommitted(&branch, &scope(&p)?)
        .await?;
    diff_page(d, &p)
}

// Page's fields again: serde's flatten does not parse numbers from a query string.
#[derive(Deserialize)]
struct DiffQuery {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

async fn diff_refs(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, left, right)): Path<(String, String, String)>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<Value>> {
    let mode = match q.kind.as_deref().unwrap_or("three_dot") {
        "three_dot" => DiffMode::ThreeDot,
        "two_dot" => DiffMode::TwoDot,
        other => {
            return Err(ServerError::InvalidArgument(format!(
                "type {other:?}: use two_dot or three_dot"
            )));
        }
    };
    let page = Page {
        prefix: q.prefix,
        after: q.after,
        amount: q.amount,
        delimiter: None,
    };
    let d = repo(&s, &name, &c)?
        .diff(&left, &right, mode, &scope(&page)?)
        .await?;
    diff_page(d, &page)
}

#[derive(Deserialize)]
struct LogQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    first_parent: Option<bool>,
}

async fn log(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, reference)): Path<(String, String)>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>> {
    let amount = Page {
        amount: q.amount,
        ..Default::default()
    }
    .amount()?;
    let (commits, more) = repo(&s, &name, &c)?.log(
        &reference,
        &LogOptions {
            first_parent: q.first_parent == Some(true),
            after: q.after.filter(|a| !a.is_empty()),
            amount,
        },
    )?;
    let last = commits.last().map(|c| c.id.clone()).unwrap_or_default();
    Ok(list_json(
        commits.iter().map(commit_json).collect(),
        more,
        &last,
    ))
}

async fn get_commit(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let r = repo(&s, &name, &c)?;
    let rec = r.resolve(&id)?.commit;
    Ok(Json(commit_json(&rec)))
}

#[derive(Deserialize, Default)]
struct MergeBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    allow_empty: Option<bool>,
    #[serde(default)]
    squash_merge: Option<bool>,
}

async fn merge(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, source, dest)): Path<(String, String, String)>,
    OptionalJson(b): OptionalJson<MergeBody>,
) -> Result<Json<Value>> {
    let opts = MergeOptions {
        strategy: b.strategy.as_deref().unwrap_or("").parse()?,
        message: b.message.filter(|m| !m.is_empty()),
        metadata: b.metadata,
        allow_empty: b.allow_empty == Some(true),
        squash: b.squash_merge == Some(true),
    };
    let rec = repo(&s, &name, &c)?
        .merge(&source, &dest, &c.0, &opts)
        .await?;
    Ok(Json(json!({ "reference": rec.id })))
}

async fn merge_base(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, source, dest)): Path<(String, String, String)>,
) -> Result<Json<Value>> {
    let r = repo(&s, &name, &c)?;
    let (src, dst) = (r.resolve(&source)?.commit.id, r.resolve(&dest)?.commit.id);
    let base = r.merge_base(&src, &dst)?;
    Ok(Json(json!({
        "source_commit_id": src,
        "destination_commit_id": dst,
        "base_commit_id": base.id,
    })))
}

async fn list_tags(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let (page, more) = page_of(repo(&s, &name, &c)?.list_tags()?, &p)?;
    let last = page.last().map(|r| r.0.clone()).unwrap_or_default();
    Ok(list_json(
        page.iter().map(|(t, id)| ref_json(t, id)).collect(),
        more,
        &last,
    ))
}

#[derive(Deserialize)]
struct TagCreation {
    id: String,
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    force: Option<bool>,
}

async fn create_tag(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path(name): Path<String>,
    Json(b): Json<TagCreation>,
) -> Result<Response> {
    let r = repo(&s, &name, &c)?;
    if b.force == Some(true) && r.list_tags()?.iter().any(|(t, _)| *t == b.id) {
        r.delete_tag(&b.id)?;
    }
    let commit = r.create_tag(&b.id, &b.reference)?;
    Ok((StatusCode::CREATED, Json(ref_json(&b.id, &commit.id))).into_response())
}

async fn get_tag(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, tag)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let r = repo(&s, &name, &c)?;
    let id = r
        .list_tags()?
        .into_iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, id)| id)
        .ok_or_else(|| ServerError::NotFound(format!("tag {tag} not found in {name}")))?;
    Ok(Json(ref_json(&tag, &id)))
}

async fn delete_tag(
    State(s): St,
    Extension(c): Extension<Caller>,
    Path((name, tag)): Path<(String, String)>,
) -> Result<StatusCode> {
    repo(&s, &name, &c)?.delete_tag(&tag)?;
    Ok(StatusCode::NO_CONTENT)
}
