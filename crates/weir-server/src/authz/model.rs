//! Who may do what: tenants, users, groups and policies, as lakeFS's RBAC
//! has them, and the one function that decides a request.
//!
//! A lake holds tenants. A user belongs to one tenant; every access key
//! belongs to a user; every repository to a tenant. A tenant never reaches
//! another tenant's repositories, whatever its policies say: across
//! tenants a repository answers as if it did not exist. Inside a tenant,
//! policies decide: statements of an effect, actions and resources with
//! `*` wildcards, where a matching deny beats any allow and nothing is
//! allowed unless a statement allows it. Every tenant has the built-in
//! groups Admins, Developers and Viewers.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use super::change::{Holder, ModelError, check_name};

/// The default tenant's Admins also hold the lake-wide actions (`admin:*`
/// on `weir:lake`: metrics, tenants).
pub use weir_core::names::DEFAULT_TENANT;

pub const BUILTIN_GROUPS: [&str; 3] = ["Admins", "Developers", "Viewers"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    #[serde(rename = "allow")]
    Allow,
    #[serde(rename = "deny")]
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub effect: Effect,
    pub action: Vec<String>,
    pub resource: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub statement: Vec<Statement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub tenant: String,
    #[serde(default)]
    pub groups: BTreeSet<String>,
    #[serde(default)]
    pub policies: BTreeSet<String>,
    pub created: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub created: i64,
    /// Custom groups: name -> the policies attached.
    #[serde(default)]
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// Custom policies by id.
    #[serde(default)]
    pub policies: BTreeMap<String, Policy>,
    #[serde(default, skip_serializing_if = "Quota::is_unlimited")]
    pub quota: Quota,
    /// The Stripe customer (`cus_...`) the tenant's usage is billed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer: Option<String>,
}

/// A tenant's limits; None is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// Requests per second, over every surface, with a burst of one
    /// second's worth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// SQL queries running at once (a query runs until its answer is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_queries: Option<u32>,
    /// Bytes stored under the tenant's repositories; a write that would
    /// pass it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<u64>,
}

impl Quota {
    pub fn is_unlimited(&self) -> bool {
        *self == Quota::default()
    }
}

/// The whole authorization state of a lake, stored as one document in
/// its metadata (changed by compare-and-swap, so two admins never undo
/// each other's change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    pub tenants: BTreeMap<String, Tenant>,
    pub users: BTreeMap<String, User>,
    /// Repository -> tenant. A repository missing here (made by a weir
    /// without tenants) is the default tenant's.
    #[serde(default)]
    pub repos: BTreeMap<String, String>,
    /// Every user's statements, gathered at the first decision. Change a
    /// model only before deciding with it, or change a clone (which
    /// gathers anew): debug builds check every decision against the walk.
    #[serde(skip)]
    pub rules: super::rules::Rules,
}

/// What a request touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The lake itself: metrics, tenants.
    Lake,
    /// The caller's tenant's lineage graph (each tenant has its own).
    Lineage,
    /// A tenant's users, groups and policies.
    Tenant(String),
    /// Every repository of the caller's tenant (listing, creating).
    AnyRepo,
    /// A repository, optionally one branch or ref of it.
    Repo {
        name: String,
        branch: Option<String>,
    },
}

impl Resource {
    pub fn repo(name: &str) -> Resource {
        Resource::Repo {
            name: name.to_string(),
            branch: None,
        }
    }

    pub fn branch(name: &str, branch: &str) -> Resource {
        Resource::Repo {
            name: name.to_string(),
            branch: Some(branch.to_string()),
        }
    }

    /// The resource string policies match, lakeFS-style.
    pub fn arn(&self) -> String {
        let mut out = String::new();
        for part in self.arn_parts() {
            out.push_str(part);
        }
        out
    }

    fn arn_parts(&self) -> [&str; 4] {
        match self {
            Resource::Lake => ["weir:lake", "", "", ""],
            Resource::Lineage => ["weir:lineage", "", "", ""],
            Resource::Tenant(t) => ["weir:tenant/", t, "", ""],
            Resource::AnyRepo => ["weir:repository/*", "", "", ""],
            Resource::Repo { name, branch: None } => ["weir:repository/", name, "", ""],
            Resource::Repo {
                name,
                branch: Some(b),
            } => ["weir:repository/", name, "/branch/", b],
        }
    }

    /// [`Resource::arn`] written into `buf` when it fits: deciding on a
    /// request's path allocates nothing (every request decides once or
    /// twice, and an allocation was a fifth of a decision).
    fn arn_in<'b>(&self, buf: &'b mut [u8; 256]) -> Option<&'b [u8]> {
        let mut n = 0;
        for part in self.arn_parts() {
            buf.get_mut(n..n + part.len())?
                .copy_from_slice(part.as_bytes());
            n += part.len();
        }
        Some(&buf[..n])
    }
}

/// A decision. `Hidden` is a denial that must look like absence: the
/// resource is another tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    Hidden,
}

/// The decision of the statements that match: a deny beats any allow,
/// and nothing allowed is denied.
fn verdict(effects: impl Iterator<Item = Effect>) -> Decision {
    let mut allowed = false;
    for e in effects {
        match e {
            Effect::Deny => return Decision::Deny,
            Effect::Allow => allowed = true,
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

/// `*` matches any run of characters, including none and `/`.
pub fn glob(pattern: &str, text: &str) -> bool {
    glob_bytes(pattern.as_bytes(), text.as_bytes())
}

pub(crate) fn glob_bytes(p: &[u8], t: &[u8]) -> bool {
    // Policies are nearly all `*`, `prefix*` or exact: those need no walk
    // over the text (an admin's `*` walked every byte of every resource).
    if p == b"*" {
        return true;
    }
    match p.iter().position(|&c| c == b'*') {
        None => return p == t,
        Some(i) if i + 1 == p.len() => return t.starts_with(&p[..i]),
        Some(_) => {}
    }
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn allow(actions: &[&str], resource: &str) -> Statement {
    Statement {
        effect: Effect::Allow,
        action: actions.iter().map(|a| a.to_string()).collect(),
        resource: resource.into(),
    }
}

/// The built-in policies, built once: every request's decision reads them.
static BUILTIN: std::sync::LazyLock<[Policy; 3]> = std::sync::LazyLock::new(|| {
    ["AdminAccess", "DeveloperAccess", "ViewerAccess"].map(|id| Policy {
        id: id.into(),
        statement: builtin_statements(id),
    })
});

/// The built-in policies: AdminAccess, DeveloperAccess, ViewerAccess.
pub fn builtin_policies() -> &'static [Policy] {
    &*BUILTIN
}

/// A built-in policy by id.
pub fn builtin_policy(id: &str) -> Option<&'static Policy> {
    BUILTIN.iter().find(|p| p.id == id)
}

fn builtin_statements(id: &str) -> Vec<Statement> {
    match id {
        "AdminAccess" => vec![allow(&["*"], "*")],
        "DeveloperAccess" => vec![
            allow(
                &[
                    "repo:Read",
                    "repo:List",
                    "fs:*",
                    "branch:*",
                    "commit:*",
                    "tag:*",
                    "sql:Query",
                    "run:Start",
                    "schedule:*",
                    "decide:Invoke",
                ],
                "weir:repository/*",
            ),
            allow(&["lineage:*"], "weir:lineage"),
        ],
        "ViewerAccess" => vec![
            allow(
                &[
                    "repo:Read",
                    "repo:List",
                    "fs:ReadObject",
                    "fs:ListObjects",
                    "branch:Read",
                    "commit:Read",
                    "tag:Read",
                    "sql:Query",
                    "schedule:Read",
                    "decide:Invoke",
                ],
                "weir:repository/*",
            ),
            allow(&["lineage:Read"], "weir:lineage"),
        ],
        _ => Vec::new(),
    }
}

/// The built-in group's policy.
pub(crate) fn builtin_group(name: &str) -> Option<&'static str> {
    match name {
        "Admins" => Some("AdminAccess"),
        "Developers" => Some("DeveloperAccess"),
        "Viewers" => Some("ViewerAccess"),
        _ => None,
    }
}

impl Model {
    /// The model of a lake that had none: its one tenant, every user that
    /// already has a key an admin of it (they could do everything before).
    pub fn bootstrap<'a>(users: impl IntoIterator<Item = &'a str>, now: i64) -> Model {
        let mut m = Model::default();
        m.tenants.insert(
            DEFAULT_TENANT.into(),
            Tenant {
                created: now,
                ..Default::default()
            },
        );
        for u in users {
            m.users.insert(
                u.to_string(),
                User {
                    tenant: DEFAULT_TENANT.into(),
                    groups: ["Admins".to_string()].into(),
                    policies: BTreeSet::new(),
                    created: now,
                },
            );
        }
        m
    }

    pub fn repo_tenant(&self, repo: &str) -> &str {
        self.repos
            .get(repo)
            .map(String::as_str)
            .unwrap_or(DEFAULT_TENANT)
    }

    pub fn stripe_customer(&self, tenant: &str) -> Option<&str> {
        self.tenants.get(tenant)?.stripe_customer.as_deref()
    }

    pub fn quota(&self, tenant: &str) -> Quota {
        self.tenants
            .get(tenant)
            .map(|t| t.quota)
            .unwrap_or_default()
    }

    pub fn user_tenant(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(|u| u.tenant.as_str())
    }

    /// A tenant's policy by id: its own, else a built-in one.
    pub fn policy(&self, tenant: &str, id: &str) -> Option<&Policy> {
        self.tenants
            .get(tenant)
            .and_then(|t| t.policies.get(id))
            .or_else(|| builtin_policy(id))
    }

    /// Every policy a tenant can attach: the built-in ones, then its own.
    pub fn tenant_policies(&self, tenant: &str) -> Vec<&Policy> {
        let own = self.tenants.get(tenant).map(|t| t.policies.values());
        builtin_policies()
            .iter()
            .chain(own.into_iter().flatten())
            .collect()
    }

    /// The policies that apply to `user`: attached to it and to its groups.
    pub fn policies_of(&self, user: &str) -> Vec<&Policy> {
        let Some(u) = self.users.get(user) else {
            return Vec::new();
        };
        let tenant = self.tenants.get(&u.tenant);
        let mut ids: BTreeSet<&str> = u.policies.iter().map(String::as_str).collect();
        for g in &u.groups {
            if let Some(p) = builtin_group(g) {
                ids.insert(p);
            }
            if let Some(ps) = tenant.and_then(|t| t.groups.get(g)) {
                ids.extend(ps.iter().map(String::as_str));
            }
        }
        ids.into_iter()
            .filter_map(|id| self.policy(&u.tenant, id))
            .collect()
    }

    /// Whether `user` may do `action` on `resource`.
    pub fn decide(&self, user: &str, action: &str, resource: &Resource) -> Decision {
        let d = self.decide_gathered(user, action, resource);
        debug_assert_eq!(
            d,
            self.decide_walking(user, action, resource),
            "{user} {action} {resource:?}: the gathered rules disagree with the policies \
             (a model changed after a decision?)"
        );
        d
    }

    fn decide_gathered(&self, user: &str, action: &str, resource: &Resource) -> Decision {
        let Some(r) = self.rules.of(self, user) else {
            return Decision::Deny;
        };
        if let Some(d) = self.across_tenants(&r.tenant, resource) {
            return d;
        }
        let mut buf = [0u8; 256];
        let long;
        let arn = match resource.arn_in(&mut buf) {
            Some(a) => a,
            None => {
                long = resource.arn();
                long.as_bytes()
            }
        };
        let action = action.as_bytes();
        verdict(
            r.statements
                .iter()
                .filter(|s| s.resource.matches(arn) && s.actions.iter().any(|a| a.matches(action)))
                .map(|s| s.effect),
        )
    }

    /// The decision from the policies themselves: what the gathered rules
    /// must agree with.
    fn decide_walking(&self, user: &str, action: &str, resource: &Resource) -> Decision {
        let Some(u) = self.users.get(user) else {
            return Decision::Deny;
        };
        if let Some(d) = self.across_tenants(&u.tenant, resource) {
            return d;
        }
        let arn = resource.arn();
        // The user's policies and their groups', read in place: a policy
        // reached twice decides the same twice, so no set is built.
        let t = self.tenants.get(&u.tenant);
        let policy = |id: &str| {
            t.and_then(|t| t.policies.get(id))
                .or_else(|| builtin_policy(id))
        };
        let ids = u
            .policies
            .iter()
            .map(String::as_str)
            .chain(u.groups.iter().flat_map(|g| {
                builtin_group(g).into_iter().chain(
                    t.and_then(|t| t.groups.get(g))
                        .into_iter()
                        .flatten()
                        .map(String::as_str),
                )
            }));
        verdict(
            ids.filter_map(policy)
                .flat_map(|p| &p.statement)
                .filter(|s| glob(&s.resource, &arn) && s.action.iter().any(|a| glob(a, action)))
                .map(|s| s.effect),
        )
    }

    /// What an admin of `tenant` may do: anything within it.
    pub fn decide_as_admin(&self, tenant: &str, resource: &Resource) -> Decision {
        self.across_tenants(tenant, resource)
            .unwrap_or(Decision::Allow)
    }

    /// The answer for a caller of `tenant` whom policies cannot help: a
    /// resource of another tenant, or the lake's own ones to a tenant
    /// other than the default.
    fn across_tenants(&self, tenant: &str, resource: &Resource) -> Option<Decision> {
        match resource {
            Resource::Repo { name, .. } if self.repo_tenant(name) != tenant => {
                return Some(Decision::Hidden);
            }
            Resource::Tenant(t) if t != tenant => return Some(Decision::Hidden),
            Resource::Lake if tenant != DEFAULT_TENANT => {
                return Some(Decision::Deny);
            }
            _ => {}
        }
        None
    }

    /// Whether `user` may read `repo` (what a SQL session or a listing
    /// shows them).
    pub fn can_read(&self, user: &str, repo: &str) -> bool {
        self.decide(user, "repo:Read", &Resource::repo(repo)) == Decision::Allow
    }
}
