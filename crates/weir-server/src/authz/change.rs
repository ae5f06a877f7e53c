//! The changes `weir auth` and lakeFS's `/auth` API make to the
//! [`Model`]: each checks names and membership so a stored model is always
//! one the decisions can trust (no user in a tenant that does not exist, no
//! group no one defined).

use std::collections::BTreeSet;

use super::model::{
    BUILTIN_GROUPS, DEFAULT_TENANT, Model, Policy, Tenant, User, builtin_group, builtin_policy,
};

/// Why the model refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
}

/// Who a policy is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    User(String),
    Group(String),
}

/// Names of tenants, users, groups and policies: what fits in a resource
/// string and a command line without quoting.
pub fn check_name(kind: &str, name: &str) -> Result<(), ModelError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(ModelError::Invalid(format!(
            "{kind} name '{name}': use 1-64 letters, digits, '-', '_', '.' or '@'"
        )))
    }
}

impl Model {
    pub fn add_tenant(&mut self, name: &str, now: i64) -> Result<(), ModelError> {
        check_name("tenant", name)?;
        if self.tenants.contains_key(name) {
            return Err(ModelError::Exists(format!(
                "tenant '{name}' already exists"
            )));
        }
        self.tenants.insert(
            name.into(),
            Tenant {
                created: now,
                ..Default::default()
            },
        );
        Ok(())
    }

    /// Makes sure `user` exists. A new user joins `tenant` (the default
    /// when None; a tenant that does not exist yet is created) in `group`,
    /// or, without one, Admins when the tenant has no user yet and
    /// Developers otherwise. An existing user must be of that tenant.
    pub fn ensure_user(
        &mut self,
        user: &str,
        tenant: Option<&str>,
        group: Option<&str>,
        now: i64,
    ) -> Result<&User, ModelError> {
        check_name("user", user)?;
        if user == "anonymous" {
            return Err(ModelError::Invalid(
                "the user name 'anonymous' is reserved".into(),
            ));
        }
        if let Some(u) = self.users.get(user) {
            if let Some(t) = tenant
                && t != u.tenant
            {
                return Err(ModelError::Invalid(format!(
                    "user '{user}' belongs to tenant '{}', not '{t}'",
                    u.tenant
                )));
            }
            if let Some(g) = group
                && !u.groups.contains(g)
            {
                return Err(ModelError::Invalid(format!(
                    "user '{user}' exists and is not in group '{g}'; add it with `weir auth user add-group {user} {g}`"
                )));
            }
            return Ok(&self.users[user]);
        }
        let tenant = tenant.unwrap_or(DEFAULT_TENANT);
        if !self.tenants.contains_key(tenant) {
            self.add_tenant(tenant, now)?;
        }
        let group = match group {
            Some(g) => {
                self.check_group(tenant, g)?;
                g
            }
            None if self.users.values().any(|u| u.tenant == tenant) => "Developers",
            None => "Admins",
        };
        self.users.insert(
            user.into(),
            User {
                tenant: tenant.into(),
                groups: [group.to_string()].into(),
                policies: BTreeSet::new(),
                created: now,
            },
        );
        Ok(&self.users[user])
    }

    fn check_group(&self, tenant: &str, group: &str) -> Result<(), ModelError> {
        let custom = self
            .tenants
            .get(tenant)
            .is_some_and(|t| t.groups.contains_key(group));
        if builtin_group(group).is_some() || custom {
            Ok(())
        } else {
            Err(ModelError::NotFound(format!(
                "no group '{group}' in tenant '{tenant}' (built in: {})",
                BUILTIN_GROUPS.join(", ")
            )))
        }
    }

    fn user_mut(&mut self, user: &str) -> Result<&mut User, ModelError> {
        self.users
            .get_mut(user)
            .ok_or_else(|| ModelError::NotFound(format!("no user '{user}'")))
    }

    pub fn add_to_group(&mut self, user: &str, group: &str) -> Result<(), ModelError> {
        let tenant = self.user_mut(user)?.tenant.clone();
        self.check_group(&tenant, group)?;
        self.user_mut(user)?.groups.insert(group.into());
        Ok(())
    }

    pub fn remove_from_group(&mut self, user: &str, group: &str) -> Result<(), ModelError> {
        if !self.user_mut(user)?.groups.remove(group) {
            return Err(ModelError::Invalid(format!(
                "user '{user}' is not in group '{group}'"
            )));
        }
        Ok(())
    }

    /// Creates or replaces a tenant's own policy.
    pub fn put_policy(&mut self, tenant: &str, policy: Policy) -> Result<(), ModelError> {
        check_name("policy", &policy.id)?;
        if builtin_policy(&policy.id).is_some() {
            return Err(ModelError::Invalid(format!(
                "policy '{}' is built in",
                policy.id
            )));
        }
        if policy.statement.is_empty() {
            return Err(ModelError::Invalid(format!(
                "policy '{}' has no statement",
                policy.id
            )));
        }
        if let Some(s) = policy
            .statement
            .iter()
            .find(|s| s.resource.is_empty() || s.action.iter().all(|a| a.is_empty()))
        {
            return Err(ModelError::Invalid(format!(
                "policy '{}': a statement needs a resource and at least one action (got {s:?})",
                policy.id
            )));
        }
        let t = self
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| ModelError::NotFound(format!("no tenant '{tenant}'")))?;
        t.policies.insert(policy.id.clone(), policy);
        Ok(())
    }

    /// Attaches policy `id` of `tenant` to a user or a group of it; a
    /// custom group is created by its first policy.
    pub fn attach(&mut self, tenant: &str, id: &str, to: &Holder) -> Result<(), ModelError> {
        if self.policy(tenant, id).is_none() {
            return Err(ModelError::NotFound(format!(
                "no policy '{id}' in tenant '{tenant}'"
            )));
        }
        match to {
            Holder::User(u) => {
                let user = self.user_mut(u)?;
                if user.tenant != tenant {
                    return Err(ModelError::NotFound(format!(
                        "no user '{u}' in tenant '{tenant}'"
                    )));
                }
                user.policies.insert(id.into());
            }
            Holder::Group(g) => {
                check_name("group", g)?;
                if builtin_group(g).is_some() {
                    return Err(ModelError::Invalid(format!(
                        "group '{g}' is built in; its policy is fixed"
                    )));
                }
                let t = self
                    .tenants
                    .get_mut(tenant)
                    .ok_or_else(|| ModelError::NotFound(format!("no tenant '{tenant}'")))?;
                t.groups.entry(g.clone()).or_default().insert(id.into());
            }
        }
        Ok(())
    }

    pub fn detach(&mut self, tenant: &str, id: &str, from: &Holder) -> Result<(), ModelError> {
        if self.policy(tenant, id).is_none() {
            return Err(ModelError::NotFound(format!(
                "no policy '{id}' in tenant '{tenant}'"
            )));
        }
        let removed = match from {
            Holder::User(u) => self.user_mut(u)?.policies.remove(id),
            Holder::Group(g) => {
                let ps = self
                    .tenants
                    .get_mut(tenant)
                    .and_then(|t| t.groups.get_mut(g))
                    .ok_or_else(|| {
                        ModelError::NotFound(format!("no group '{g}' in tenant '{tenant}'"))
                    })?;
                ps.remove(id)
            }
        };
        if removed {
            Ok(())
        } else {
            Err(ModelError::NotFound(format!(
                "policy '{id}' is not attached there"
            )))
        }
    }
}

/// The changes lakeFS's `/auth` API makes, within one tenant.
impl Model {
    /// A user with no group and no policy (lakeFS's createUser).
    pub fn create_user(&mut self, user: &str, tenant: &str, now: i64) -> Result<&User, ModelError> {
        check_name("user", user)?;
        if user == "anonymous" || self.users.contains_key(user) {
            return Err(ModelError::Exists(format!("user '{user}' already exists")));
        }
        if !self.tenants.contains_key(tenant) {
            return Err(ModelError::NotFound(format!("no tenant '{tenant}'")));
        }
        self.users.insert(
            user.into(),
            User {
                tenant: tenant.into(),
                created: now,
                ..Default::default()
            },
        );
        Ok(&self.users[user])
    }

    pub fn delete_user(&mut self, user: &str) -> Result<(), ModelError> {
        self.users
            .remove(user)
            .map(|_| ())
            .ok_or_else(|| ModelError::NotFound(format!("no user '{user}'")))
    }

    /// The groups of a tenant: the built-in ones, then its own.
    pub fn groups(&self, tenant: &str) -> Vec<String> {
        let mut out: Vec<String> = BUILTIN_GROUPS.iter().map(|g| g.to_string()).collect();
        if let Some(t) = self.tenants.get(tenant) {
            out.extend(t.groups.keys().cloned());
        }
        out
    }

    /// The policies attached to a group (a built-in one has its own).
    pub fn group_policies(&self, tenant: &str, group: &str) -> Result<Vec<String>, ModelError> {
        self.check_group(tenant, group)?;
        if let Some(p) = builtin_group(group) {
            return Ok(vec![p.to_string()]);
        }
        Ok(self.tenants[tenant].groups[group].iter().cloned().collect())
    }

    pub fn create_group(&mut self, tenant: &str, group: &str) -> Result<(), ModelError> {
        check_name("group", group)?;
        if self.check_group(tenant, group).is_ok() {
            return Err(ModelError::Exists(format!(
                "group '{group}' already exists"
            )));
        }
        let t = self
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| ModelError::NotFound(format!("no tenant '{tenant}'")))?;
        t.groups.insert(group.into(), BTreeSet::new());
        Ok(())
    }

    /// Deletes a custom group; its members leave it.
    pub fn delete_group(&mut self, tenant: &str, group: &str) -> Result<(), ModelError> {
        if builtin_group(group).is_some() {
            return Err(ModelError::Invalid(format!("group '{group}' is built in")));
        }
        let gone = self
            .tenants
            .get_mut(tenant)
            .and_then(|t| t.groups.remove(group));
        if gone.is_none() {
            return Err(ModelError::NotFound(format!(
                "no group '{group}' in tenant '{tenant}'"
            )));
        }
        for u in self.users.values_mut().filter(|u| u.tenant == tenant) {
            u.groups.remove(group);
        }
        Ok(())
    }

    /// Deletes a tenant's own policy and detaches it everywhere.
    pub fn delete_policy(&mut self, tenant: &str, id: &str) -> Result<(), ModelError> {
        if builtin_policy(id).is_some() {
            return Err(ModelError::Invalid(format!("policy '{id}' is built in")));
        }
        let t = self
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| ModelError::NotFound(format!("no tenant '{tenant}'")))?;
        if t.policies.remove(id).is_none() {
            return Err(ModelError::NotFound(format!(
                "no policy '{id}' in tenant '{tenant}'"
            )));
        }
        for ps in t.groups.values_mut() {
            ps.remove(id);
        }
        for u in self.users.values_mut().filter(|u| u.tenant == tenant) {
            u.policies.remove(id);
        }
        Ok(())
    }
}
