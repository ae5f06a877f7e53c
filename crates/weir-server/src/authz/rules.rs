//! Every user's statements, gathered once per model. A decision walked the
//! user's policies and groups through four maps (the user, its tenant, the
//! tenant's groups, each policy by id) on every request; a server's model
//! is read-only once loaded, so the walk is done once, when the first
//! decision is asked of it, and a decision is one lookup and a loop over
//! statements. (A `BTreeMap`: for the users of a lake, a few comparisons
//! of short names cost less than hashing one.)

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::model::{Effect, Model, builtin_group, builtin_policy, glob_bytes};

/// A user's tenant and every statement that applies to them.
#[derive(Debug)]
pub(crate) struct UserRules {
    pub tenant: String,
    pub statements: Vec<Rule>,
}

/// A statement with its patterns sorted by shape once, so matching a
/// resource or an action is a comparison, not a search for `*`.
#[derive(Debug)]
pub(crate) struct Rule {
    pub effect: Effect,
    pub resource: Pattern,
    pub actions: Vec<Pattern>,
}

#[derive(Debug)]
pub(crate) enum Pattern {
    Any,
    Exact(Box<[u8]>),
    Prefix(Box<[u8]>),
    Glob(Box<[u8]>),
}

impl Pattern {
    fn new(p: &str) -> Pattern {
        let b: Box<[u8]> = p.as_bytes().into();
        match p.find('*') {
            _ if p == "*" => Pattern::Any,
            None => Pattern::Exact(b),
            Some(i) if i + 1 == p.len() => Pattern::Prefix(b[..i].into()),
            Some(_) => Pattern::Glob(b),
        }
    }

    pub fn matches(&self, text: &[u8]) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(p) => **p == *text,
            Pattern::Prefix(p) => text.starts_with(p),
            Pattern::Glob(p) => glob_bytes(p, text),
        }
    }
}

/// The gathered statements of a model, made when first asked for.
///
/// A clone starts empty, so changing a copy of a model (as every change
/// through [`super::Authz::update`] does) never keeps its old rules. The
/// rules are not part of the model's value: they compare equal, print as
/// nothing and are not stored.
#[derive(Default)]
pub struct Rules(OnceLock<BTreeMap<String, UserRules>>);

impl Rules {
    pub(crate) fn of<'a>(&'a self, m: &Model, user: &str) -> Option<&'a UserRules> {
        self.0.get_or_init(|| gather(m)).get(user)
    }
}

fn gather(m: &Model) -> BTreeMap<String, UserRules> {
    m.users
        .iter()
        .map(|(name, u)| {
            let t = m.tenants.get(&u.tenant);
            let policy = |id: &str| {
                t.and_then(|t| t.policies.get(id))
                    .or_else(|| builtin_policy(id))
            };
            let mut ids: Vec<&str> = u.policies.iter().map(String::as_str).collect();
            for g in &u.groups {
                ids.extend(builtin_group(g));
                if let Some(ps) = t.and_then(|t| t.groups.get(g)) {
                    ids.extend(ps.iter().map(String::as_str));
                }
            }
            ids.sort_unstable();
            ids.dedup();
            let statements = ids
                .into_iter()
                .filter_map(policy)
                .flat_map(|p| &p.statement)
                .map(|s| Rule {
                    effect: s.effect,
                    resource: Pattern::new(&s.resource),
                    actions: s.action.iter().map(|a| Pattern::new(a)).collect(),
                })
                .collect();
            let rules = UserRules {
                tenant: u.tenant.clone(),
                statements,
            };
            (name.clone(), rules)
        })
        .collect()
}

impl Clone for Rules {
    fn clone(&self) -> Rules {
        Rules::default()
    }
}

impl PartialEq for Rules {
    fn eq(&self, _: &Rules) -> bool {
        true
    }
}

impl Eq for Rules {}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rules")
    }
}
