//! lakeFS's `/auth` API: users, their access keys, groups and policies,
//! each call within the caller's tenant (another tenant's user, group or
//! policy is not found). The gate requires `auth:Read` or `auth:Manage` on
//! the tenant; users manage their own access keys without either, as
//! lakeFS's AuthManageOwnCredentials allows.

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::authz::model::{Holder, Model, ModelError, Policy, User};
use crate::authz::{Principal, Resource, now};
use crate::error::{Result, ServerError};
use crate::lakefs::{Page, list_json, page_of};

type St = State<Arc<AppState>>;
type Who = Extension<Principal>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/auth/users", get(list_users).post(create_user))
        .route("/auth/users/{userId}", get(get_user).delete(delete_user))
        .route(
            "/auth/users/{userId}/credentials",
            get(list_credentials).post(create_credentials),
        )
        .route(
            "/auth/users/{userId}/credentials/{accessKeyId}",
            get(get_credentials).delete(delete_credentials),
        )
        .route("/auth/users/{userId}/groups", get(user_groups))
        .route("/auth/users/{userId}/policies", get(user_policies))
        .route(
            "/auth/users/{userId}/policies/{policyId}",
            put(attach_to_user).delete(detach_from_user),
        )
        .route("/auth/groups", get(list_groups).post(create_group))
        .route(
            "/auth/groups/{groupId}",
            get(get_group).delete(delete_group),
        )
        .route("/auth/groups/{groupId}/members", get(group_members))
        .route(
            "/auth/groups/{groupId}/members/{userId}",
            put(add_member).delete(remove_member),
        )
        .route("/auth/groups/{groupId}/policies", get(group_policies))
        .route(
            "/auth/groups/{groupId}/policies/{policyId}",
            put(attach_to_group).delete(detach_from_group),
        )
        .route("/auth/policies", get(list_policies).post(create_policy))
        .route(
            "/auth/policies/{policyId}",
            get(get_policy).put(update_policy).delete(delete_policy),
        )
}

fn user_json(id: &str, u: &User) -> Value {
    json!({ "id": id, "creation_date": u.created })
}

fn group_json(id: &str, created: i64) -> Value {
    json!({ "id": id, "name": id, "creation_date": created })
}

fn policy_json(p: &Policy, created: i64) -> Value {
    json!({ "id": p.id, "creation_date": created, "statement": p.statement })
}

/// `user` if it is of the caller's tenant.
fn own_user<'m>(m: &'m Model, who: &Principal, user: &str) -> Result<&'m User> {
    m.users
        .get(user)
        .filter(|u| u.tenant == who.tenant())
        .ok_or_else(|| ServerError::NotFound(format!("no user '{user}'")))
}

fn created(m: &Model, who: &Principal) -> i64 {
    m.tenants.get(who.tenant()).map_or(0, |t| t.created)
}

fn listing(items: Vec<(String, Value)>, p: &Page) -> Result<Json<Value>> {
    let (rows, more) = page_of(items, p)?;
    let last = rows.last().map(|r| r.0.clone()).unwrap_or_default();
    Ok(list_json(
        rows.into_iter().map(|r| r.1).collect(),
        more,
        &last,
    ))
}

fn change<T>(
    s: &AppState,
    f: impl FnMut(&mut Model) -> std::result::Result<T, ModelError>,
) -> Result<T> {
    let mut f = f;
    s.authz.update(|m| f(m).map_err(ServerError::from))
}

async fn list_users(
    State(s): St,
    Extension(who): Who,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    let rows = m
        .users
        .iter()
        .filter(|(_, u)| u.tenant == who.tenant())
        .map(|(id, u)| (id.clone(), user_json(id, u)))
        .collect();
    listing(rows, &p)
}

#[derive(Deserialize)]
struct Creation {
    id: String,
}

async fn create_user(
    State(s): St,
    Extension(who): Who,
    Json(b): Json<Creation>,
) -> Result<Response> {
    let tenant = who.tenant().to_string();
    let u = change(&s, |m| m.create_user(&b.id, &tenant, now()).cloned())?;
    Ok((StatusCode::CREATED, Json(user_json(&b.id, &u))).into_response())
}

async fn get_user(
    State(s): St,
    Extension(who): Who,
    Path(user): Path<String>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    Ok(Json(user_json(&user, own_user(&m, &who, &user)?)))
}

/// Deletes the user and every key of it.
async fn delete_user(
    State(s): St,
    Extension(who): Who,
    Path(user): Path<String>,
) -> Result<StatusCode> {
    own_user(&*s.authz.model()?, &who, &user)?;
    for k in s.keys.list()?.into_iter().filter(|k| k.user == user) {
        s.keys.delete(&k.access_key_id)?;
    }
    change(&s, |m| m.delete_user(&user))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Keys are the caller's own, or need the tenant's `auth:` permission.
fn may_manage_keys(s: &AppState, who: &Principal, user: &str, action: &str) -> Result<()> {
    own_user(&*s.authz.model()?, who, user)?;
    if user == who.user {
        return Ok(());
    }
    who.require(action, &Resource::Tenant(who.tenant().to_string()))
}

async fn list_credentials(
    State(s): St,
    Extension(who): Who,
    Path(user): Path<String>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    may_manage_keys(&s, &who, &user, "auth:Read")?;
    let rows = s
        .keys
        .list()?
        .into_iter()
        .filter(|k| k.user == user)
        .map(|k| {
            let v = json!({"access_key_id": k.access_key_id, "creation_date": k.creation_date});
            (k.access_key_id, v)
        })
        .collect();
    listing(rows, &p)
}

async fn create_credentials(
    State(s): St,
    Extension(who): Who,
    Path(user): Path<String>,
) -> Result<Response> {
    may_manage_keys(&s, &who, &user, "auth:Manage")?;
    let k = s.keys.create(&user)?;
    let v = json!({
        "access_key_id": k.access_key_id,
        "secret_access_key": k.secret_access_key,
        "creation_date": k.creation_date,
    });
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn get_credentials(
    State(s): St,
    Extension(who): Who,
    Path((user, key)): Path<(String, String)>,
) -> Result<Json<Value>> {
    may_manage_keys(&s, &who, &user, "auth:Read")?;
    let k = s
        .keys
        .list()?
        .into_iter()
        .find(|k| k.user == user && k.access_key_id == key)
        .ok_or_else(|| ServerError::NotFound(format!("no access key {key}")))?;
    Ok(Json(
        json!({"access_key_id": k.access_key_id, "creation_date": k.creation_date}),
    ))
}

async fn delete_credentials(
    State(s): St,
    Extension(who): Who,
    Path((user, key)): Path<(String, String)>,
) -> Result<StatusCode> {
    may_manage_keys(&s, &who, &user, "auth:Manage")?;
    if !s
        .keys
        .list()?
        .iter()
        .any(|k| k.user == user && k.access_key_id == key)
    {
        return Err(ServerError::NotFound(format!("no access key {key}")));
    }
    s.keys.delete(&key)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_groups(
    State(s): St,
    Extension(who): Who,
    Path(user): Path<String>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    let u = own_user(&m, &who, &user)?;
    let at = created(&m, &who);
    listing(
        u.groups
            .iter()
            .map(|g| (g.clone(), group_json(g, at)))
            .collect(),
        &p,
    )
}

async fn user_policies(
    State(s): St,
    Extension(who): Who,
    Path(user): Path<String>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    let u = own_user(&m, &who, &user)?;
    let at = created(&m, &who);
    let rows = u
        .policies
        .iter()
        .filter_map(|id| m.policy(who.tenant(), id))
        .map(|p| (p.id.clone(), policy_json(p, at)))
        .collect();
    listing(rows, &p)
}

/// Attaches (or detaches) a policy to a user of the caller's tenant or to
/// one of its groups.
fn attachment(
    s: &AppState,
    who: &Principal,
    to: Holder,
    policy: &str,
    attach: bool,
) -> Result<StatusCode> {
    if let Holder::User(u) = &to {
        own_user(&*s.authz.model()?, who, u)?;
    }
    let t = who.tenant().to_string();
    if attach {
        change(s, |m| m.attach(&t, policy, &to))?;
        Ok(StatusCode::CREATED)
    } else {
        change(s, |m| m.detach(&t, policy, &to))?;
        Ok(StatusCode::NO_CONTENT)
    }
}

async fn attach_to_user(
    State(s): St,
    Extension(w): Who,
    Path((u, p)): Path<(String, String)>,
) -> Result<StatusCode> {
    attachment(&s, &w, Holder::User(u), &p, true)
}

async fn detach_from_user(
    State(s): St,
    Extension(w): Who,
    Path((u, p)): Path<(String, String)>,
) -> Result<StatusCode> {
    attachment(&s, &w, Holder::User(u), &p, false)
}

async fn attach_to_group(
    State(s): St,
    Extension(w): Who,
    Path((g, p)): Path<(String, String)>,
) -> Result<StatusCode> {
    attachment(&s, &w, Holder::Group(g), &p, true)
}

async fn detach_from_group(
    State(s): St,
    Extension(w): Who,
    Path((g, p)): Path<(String, String)>,
) -> Result<StatusCode> {
    attachment(&s, &w, Holder::Group(g), &p, false)
}

async fn list_groups(
    State(s): St,
    Extension(who): Who,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    let at = created(&m, &who);
    let rows = m
        .groups(who.tenant())
        .into_iter()
        .map(|g| (g.clone(), group_json(&g, at)))
        .collect();
    listing(rows, &p)
}

async fn create_group(
    State(s): St,
    Extension(who): Who,
    Json(b): Json<Creation>,
) -> Result<Response> {
    let t = who.tenant().to_string();
    change(&s, |m| m.create_group(&t, &b.id))?;
    Ok((StatusCode::CREATED, Json(group_json(&b.id, now()))).into_response())
}

async fn get_group(
    State(s): St,
    Extension(who): Who,
    Path(group): Path<String>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    m.group_policies(who.tenant(), &group)?;
    Ok(Json(group_json(&group, created(&m, &who))))
}

async fn delete_group(
    State(s): St,
    Extension(who): Who,
    Path(group): Path<String>,
) -> Result<StatusCode> {
    let t = who.tenant().to_string();
    change(&s, |m| m.delete_group(&t, &group))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn group_members(
    State(s): St,
    Extension(who): Who,
    Path(group): Path<String>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    m.group_policies(who.tenant(), &group)?;
    let rows = m
        .users
        .iter()
        .filter(|(_, u)| u.tenant == who.tenant() && u.groups.contains(&group))
        .map(|(id, u)| (id.clone(), user_json(id, u)))
        .collect();
    listing(rows, &p)
}

async fn add_member(
    State(s): St,
    Extension(who): Who,
    Path((group, user)): Path<(String, String)>,
) -> Result<StatusCode> {
    own_user(&*s.authz.model()?, &who, &user)?;
    change(&s, |m| m.add_to_group(&user, &group))?;
    Ok(StatusCode::CREATED)
}

async fn remove_member(
    State(s): St,
    Extension(who): Who,
    Path((group, user)): Path<(String, String)>,
) -> Result<StatusCode> {
    own_user(&*s.authz.model()?, &who, &user)?;
    change(&s, |m| m.remove_from_group(&user, &group))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn group_policies(
    State(s): St,
    Extension(who): Who,
    Path(group): Path<String>,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    let at = created(&m, &who);
    let rows = m
        .group_policies(who.tenant(), &group)?
        .into_iter()
        .filter_map(|id| m.policy(who.tenant(), &id))
        .map(|p| (p.id.clone(), policy_json(p, at)))
        .collect();
    listing(rows, &p)
}

async fn list_policies(
    State(s): St,
    Extension(who): Who,
    Query(p): Query<Page>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    let at = created(&m, &who);
    let rows = m
        .tenant_policies(who.tenant())
        .into_iter()
        .map(|p| (p.id.clone(), policy_json(p, at)))
        .collect();
    listing(rows, &p)
}

async fn put_policy(s: &AppState, who: &Principal, id: &str, body: Value) -> Result<Json<Value>> {
    let mut body = body;
    if let Some(given) = body.get("id").and_then(Value::as_str)
        && given != id
    {
        return Err(ServerError::InvalidArgument(format!(
            "the body's id {given} is not the path's {id}"
        )));
    }
    body["id"] = id.into();
    let p: Policy = serde_json::from_value(body).map_err(|e| {
        ServerError::InvalidArgument(format!(
            "not a policy (id, statement: effect, action, resource): {e}"
        ))
    })?;
    let t = who.tenant().to_string();
    change(s, |m| m.put_policy(&t, p.clone()))?;
    Ok(Json(policy_json(&p, now())))
}

async fn create_policy(
    State(s): St,
    Extension(who): Who,
    Json(b): Json<Value>,
) -> Result<Response> {
    let id = b
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ServerError::InvalidArgument("a policy needs an id".into()))?
        .to_string();
    let m = s.authz.model()?;
    if m.policy(who.tenant(), &id).is_some() {
        return Err(ServerError::Conflict(format!(
            "policy '{id}' already exists"
        )));
    }
    let v = put_policy(&s, &who, &id, b).await?;
    Ok((StatusCode::CREATED, v).into_response())
}

async fn get_policy(
    State(s): St,
    Extension(who): Who,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let m = s.authz.model()?;
    let p = m
        .policy(who.tenant(), &id)
        .ok_or_else(|| ServerError::NotFound(format!("no policy '{id}'")))?;
    Ok(Json(policy_json(p, created(&m, &who))))
}

async fn update_policy(
    State(s): St,
    Extension(who): Who,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Result<Json<Value>> {
    if s.authz.model()?.policy(who.tenant(), &id).is_none() {
        return Err(ServerError::NotFound(format!("no policy '{id}'")));
    }
    put_policy(&s, &who, &id, b).await
}

async fn delete_policy(
    State(s): St,
    Extension(who): Who,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let t = who.tenant().to_string();
    change(&s, |m| m.delete_policy(&t, &id))?;
    Ok(StatusCode::NO_CONTENT)
}
