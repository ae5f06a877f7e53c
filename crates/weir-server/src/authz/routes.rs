//! The one table of what each HTTP route asks permission for: an action
//! and the resource it acts on, taken from the route's path. A route
//! missing here is refused (405) and fails the authorization matrix test,
//! so no route goes out without a decision.

use super::model::Resource;

/// Where a rule's resource comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// Any authenticated key: server facts, the caller's own user.
    Nothing,
    Lake,
    Lineage,
    /// The caller's tenant's repositories as a whole (listing, creating).
    AnyRepo,
    /// `{repo}` of the path.
    Repo,
    /// `{repo}` and the named ref parameter of the path.
    Branch(&'static str),
    /// The caller's own tenant: its users, groups and policies.
    OwnTenant,
    /// The handler decides from the request's body (SQL, decisions).
    Handler,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub action: &'static str,
    pub on: On,
}

const fn r(action: &'static str, on: On) -> Option<Rule> {
    Some(Rule { action, on })
}

/// The rule of `method` on the route `path` (as routed: `/api/v1/...`,
/// parameters in braces).
pub fn rule(method: &str, path: &str) -> Option<Rule> {
    use On::*;
    let p = path.strip_prefix("/api/v1").unwrap_or(path);
    // axum answers HEAD with the GET handler.
    let method = if method == "HEAD" { "GET" } else { method };
    match (method, p) {
        (_, "/config" | "/config/version" | "/config/storage" | "/user" | "/healthcheck") => {
            r("", Nothing)
        }
        ("GET", "/metrics") => r("admin:ReadMetrics", Lake),
        ("GET", "/repositories") => r("repo:List", AnyRepo),
        ("POST", "/repositories") => r("repo:Create", AnyRepo),
        ("GET", "/repositories/{repo}" | "/repositories/{repo}/metadata") => r("repo:Read", Repo),
        ("DELETE", "/repositories/{repo}") => r("repo:Delete", Repo),
        ("GET", "/repositories/{repo}/branches") => r("branch:Read", Repo),
        ("GET", p) if p.starts_with("/repositories/{repo}/schedules") => r("schedule:Read", Repo),
        ("POST", "/repositories/{repo}/schedules/{name}/run") => r("run:Start", Repo),
        (_, p) if p.starts_with("/repositories/{repo}/schedules") => r("schedule:Write", Repo),
        ("POST", "/repositories/{repo}/branches") => r("branch:Create", Repo),
        ("GET", "/repositories/{repo}/branches/{branch}")
        | ("GET", "/repositories/{repo}/branches/{branch}/diff") => {
            r("branch:Read", Branch("branch"))
        }
        ("DELETE", "/repositories/{repo}/branches/{branch}") => {
            r("branch:Delete", Branch("branch"))
        }
        ("PUT", "/repositories/{repo}/branches/{branch}")
        | ("PUT", "/repositories/{repo}/branches/{branch}/hard_reset") => {
            r("branch:Reset", Branch("branch"))
        }
        ("POST", "/repositories/{repo}/branches/{branch}/revert") => {
            r("branch:Revert", Branch("branch"))
        }
        ("POST", "/repositories/{repo}/branches/{branch}/commits")
        | ("POST", "/repositories/{repo}/branches/{branch}/cherry-pick") => {
            r("commit:Create", Branch("branch"))
        }
        ("POST", "/repositories/{repo}/refs/{source}/merge/{dest}") => {
            r("commit:Create", Branch("dest"))
        }
        ("GET", "/repositories/{repo}/refs/{source}/merge/{dest}")
        | ("GET", "/repositories/{repo}/refs/{left}/diff/{right}")
        | ("GET", "/repositories/{repo}/commits/{id}") => r("commit:Read", Repo),
        ("GET", "/repositories/{repo}/refs/{reference}/commits") => {
            r("commit:Read", Branch("reference"))
        }
        ("GET", "/repositories/{repo}/tags" | "/repositories/{repo}/tags/{tag}") => {
            r("tag:Read", Repo)
        }
        ("POST", "/repositories/{repo}/tags") => r("tag:Create", Repo),
        ("DELETE", "/repositories/{repo}/tags/{tag}") => r("tag:Delete", Repo),
        ("POST", "/repositories/{repo}/branches/{branch}/objects")
        | ("POST", "/repositories/{repo}/branches/{branch}/objects/copy") => {
            r("fs:WriteObject", Branch("branch"))
        }
        ("DELETE", "/repositories/{repo}/branches/{branch}/objects")
        | ("POST", "/repositories/{repo}/branches/{branch}/objects/delete") => {
            r("fs:DeleteObject", Branch("branch"))
        }
        ("GET", "/repositories/{repo}/refs/{reference}/objects")
        | ("GET", "/repositories/{repo}/refs/{reference}/objects/stat") => {
            r("fs:ReadObject", Branch("reference"))
        }
        ("GET", "/repositories/{repo}/refs/{reference}/objects/ls") => {
            r("fs:ListObjects", Branch("reference"))
        }
        ("POST", "/sql") => r("sql:Query", Handler),
        ("POST", "/lineage" | "/lineage/batch") => r("lineage:Write", Lineage),
        (
            "GET",
            "/lineage"
            | "/namespaces"
            | "/namespaces/{ns}/datasets"
            | "/namespaces/{ns}/jobs"
            | "/namespaces/{ns}/jobs/{job}/runs"
            | "/events/lineage"
            | "/column-lineage"
            | "/search",
        ) => r("lineage:Read", Lineage),
        ("POST", "/recommend_qty" | "/voi") => r("decide:Invoke", Handler),
        // MLflow: the handler checks the tenant's tracking repository.
        (
            _,
            "/api/2.0/mlflow/{*rpc}"
            | "/api/2.0/mlflow-artifacts/artifacts"
            | "/api/2.0/mlflow-artifacts/artifacts/{*path}"
            | "/api/3.0/mlflow/server-info",
        ) => r("mlflow:Track", Handler),
        // A user's own keys need no permission (the handler checks whose).
        (_, p) if p.starts_with("/auth/users/{userId}/credentials") => r("auth:Manage", Handler),
        ("GET", p) if p.starts_with("/auth/") => r("auth:Read", OwnTenant),
        ("POST" | "PUT" | "DELETE", p) if p.starts_with("/auth/") => r("auth:Manage", OwnTenant),
        _ => None,
    }
}

/// The value of `{name}` in `uri_path`, matched against the route
/// `template` from the right (a nested router sees its path without the
/// prefix it is nested under), percent-decoded.
pub fn param(template: &str, uri_path: &str, name: &str) -> Option<String> {
    let want = format!("{{{name}}}");
    let t: Vec<&str> = template.split('/').collect();
    let u: Vec<&str> = uri_path.split('/').collect();
    if u.len() > t.len() {
        return None;
    }
    let t = &t[t.len() - u.len()..];
    let i = t.iter().position(|s| *s == want)?;
    percent_encoding::percent_decode_str(u[i])
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The resource `rule` names for a request on `template` at `uri_path` by
/// a caller of `tenant`, or None when the handler decides.
pub fn resource(rule: &Rule, template: &str, uri_path: &str, tenant: &str) -> Option<Resource> {
    let repo = || param(template, uri_path, "repo").unwrap_or_default();
    Some(match rule.on {
        On::Nothing | On::Handler => return None,
        On::Lake => Resource::Lake,
        On::Lineage => Resource::Lineage,
        On::AnyRepo => Resource::AnyRepo,
        On::OwnTenant => Resource::Tenant(tenant.to_string()),
        On::Repo => Resource::repo(&repo()),
        On::Branch(name) => Resource::branch(
            &repo(),
            &param(template, uri_path, name).unwrap_or_default(),
        ),
    })
}
