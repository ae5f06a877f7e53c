//! Authorization: the lake's [`Model`] of tenants, users, groups and
//! policies, kept as one document in the lake's metadata (so every server
//! of a shared lake reads the same), changed by compare-and-swap, and read
//! on every request from memory.

mod change;
pub mod model;
pub mod routes;
mod rules;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_store::meta::MetaStore;

pub use model::{DEFAULT_TENANT, Decision, Model, Resource};

use crate::error::{Result, ServerError};

/// Where the model is kept: a lake-wide setting.
const SETTING: (&str, &str) = ("", "auth");

/// How long a server trusts the model it read without reading it again: a
/// change made by another process (`weir auth ...`, another server) takes
/// effect within this time; one made through this process at once.
const MODEL_TTL: Duration = Duration::from_secs(5);

pub struct Authz {
    meta: Arc<dyn MetaStore>,
    cached: Mutex<Option<(Instant, String, Arc<Model>)>>,
}

/// Who is asking, as the gate found out.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: String,
    pub model: Arc<Model>,
    /// An unsigned request to a server started with --allow-anonymous:
    /// the default tenant's admin, as such a server always was.
    pub anonymous_admin: bool,
}

impl Principal {
    pub fn tenant(&self) -> &str {
        self.model.user_tenant(&self.user).unwrap_or(DEFAULT_TENANT)
    }

    pub fn decide(&self, action: &str, resource: &Resource) -> Decision {
        if self.anonymous_admin {
            return self.model.decide_as_admin(DEFAULT_TENANT, resource);
        }
        self.model.decide(&self.user, action, resource)
    }

    /// `Ok` when allowed; else the error to answer: a resource of another
    /// tenant is reported missing, so its name is not confirmed.
    pub fn require(&self, action: &str, resource: &Resource) -> Result<()> {
        match self.decide(action, resource) {
            Decision::Allow => Ok(()),
            Decision::Hidden => Err(hidden(resource)),
            Decision::Deny => Err(ServerError::Forbidden(format!(
                "{} may not {action} on {}",
                self.user,
                resource.arn()
            ))),
        }
    }

    /// The repositories of the lake this caller may read, from `names`.
    pub fn readable<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        names
            .into_iter()
            .filter(|n| self.decide("repo:Read", &Resource::repo(n)) == Decision::Allow)
            .map(str::to_string)
            .collect()
    }
}

pub fn hidden(resource: &Resource) -> ServerError {
    match resource {
        Resource::Repo { name, .. } => {
            ServerError::NotFound(format!("repository not found: {name}"))
        }
        Resource::Tenant(t) => ServerError::NotFound(format!("tenant not found: {t}")),
        _ => ServerError::NotFound("not found".into()),
    }
}

fn parse(text: &str) -> Result<Model> {
    serde_json::from_str(text)
        .map_err(|e| ServerError::Keys(format!("the lake's authorization model: {e}")))
}

/// The tenant `repo` belongs to, from the lake's model as it is stored
/// (the default tenant when the lake has no model or the repository is
/// not in it), without creating a model.
pub fn tenant_of_repo(meta: &dyn MetaStore, repo: &str) -> Result<String> {
    let Some(text) = meta.get_setting(SETTING.0, SETTING.1)? else {
        return Ok(DEFAULT_TENANT.to_string());
    };
    Ok(parse(&text)?.repo_tenant(repo).to_string())
}

impl Authz {
    /// The authorization of a lake whose access keys belong to `key_users`;
    /// a lake without a model gets one in which those users are the
    /// default tenant's admins, as they were in effect before.
    pub fn open(meta: Arc<dyn MetaStore>, key_users: &[String]) -> Result<Authz> {
        let a = Authz {
            meta,
            cached: Mutex::new(None),
        };
        if a.meta.get_setting(SETTING.0, SETTING.1)?.is_none() {
            let m = Model::bootstrap(key_users.iter().map(String::as_str), now());
            let text = serde_json::to_string(&m).map_err(|e| ServerError::Keys(e.to_string()))?;
            // Lost to another process that bootstrapped first: theirs holds.
            a.meta.swap_setting(SETTING.0, SETTING.1, None, &text)?;
        }
        Ok(a)
    }

    /// The model, from memory when read within [`MODEL_TTL`].
    pub fn model(&self) -> Result<Arc<Model>> {
        if let Some((at, _, m)) = &*self.cached.lock().unwrap()
            && at.elapsed() < MODEL_TTL
        {
            return Ok(m.clone());
        }
        Ok(self.read()?.1)
    }

    /// The model if memory has a fresh one (for async callers that must
    /// not block).
    pub fn model_cached(&self) -> Option<Arc<Model>> {
        let c = self.cached.lock().unwrap();
        let (at, _, m) = c.as_ref()?;
        (at.elapsed() < MODEL_TTL).then(|| m.clone())
    }

    fn read(&self) -> Result<(String, Arc<Model>)> {
        let text = self
            .meta
            .get_setting(SETTING.0, SETTING.1)?
            .unwrap_or_else(|| "{}".into());
        let m = Arc::new(parse(&text)?);
        *self.cached.lock().unwrap() = Some((Instant::now(), text.clone(), m.clone()));
        Ok((text, m))
    }

    /// Applies `change` to the current model and stores the result,
    /// retrying when another process changed it in between.
    pub fn update<T>(&self, mut change: impl FnMut(&mut Model) -> Result<T>) -> Result<T> {
        for _ in 0..20 {
            let (text, m) = self.read()?;
            let mut next = (*m).clone();
            let out = change(&mut next)?;
            let new = serde_json::to_string(&next).map_err(|e| ServerError::Keys(e.to_string()))?;
            if new == text {
                return Ok(out);
            }
            if self
                .meta
                .swap_setting(SETTING.0, SETTING.1, Some(&text), &new)?
            {
                *self.cached.lock().unwrap() = Some((Instant::now(), new, Arc::new(next)));
                return Ok(out);
            }
        }
        Err(ServerError::Conflict(
            "the authorization model kept changing; try again".into(),
        ))
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
