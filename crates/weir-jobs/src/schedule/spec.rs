//! A trigger as written, by `weir schedule add`'s flags or a pipeline
//! manifest's `[[trigger]]` tables, and the trigger it makes:
//!
//! ```toml
//! [[trigger]]
//! name = "monitor"
//! on_commit = "main"            # a branch of the target's repository, or weir://REPO/BRANCH
//! paths = ["demand/**"]
//! params = { window = 56 }
//!
//! [[trigger]]
//! name = "nightly"
//! cron = "0 3 * * *"
//! timezone = "Europe/Paris"
//! notify = "https://hooks.example.com/weir"
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use weir_core::uri::WeirUri;
use weir_store::Lake;

use super::{CatchUp, Notify, Trigger, When};
use crate::error::{JobsError, Result};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub name: String,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub on_commit: Option<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub when: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub catch_up: Option<String>,
    #[serde(default)]
    pub notify: Option<String>,
    #[serde(default)]
    pub notify_on: Option<String>,
}

impl Spec {
    /// A parameter of every run, as `--param K=V` gives it.
    pub fn set_param(&mut self, key: String, value: String) {
        self.params.insert(key, toml::Value::String(value));
    }

    /// The trigger this spec makes, running `pipeline` (an absolute path).
    /// A branch named without a repository (`on_commit = "main"`) is of
    /// `default_target`'s repository; the target is `default_target` when
    /// the spec names none (or, for a commit trigger, the watched branch).
    pub fn build(
        &self,
        lake: &Arc<Lake>,
        pipeline: &str,
        default_target: Option<&str>,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Trigger> {
        let bad = |m: String| JobsError::InvalidArgument(format!("trigger {}: {m}", self.name));
        let resolve = |what: &str, s: &str| -> Result<WeirUri> {
            let text = if s.contains("://") {
                s.to_string()
            } else {
                let base = default_target
                    .ok_or_else(|| bad(format!("{what} {s:?}: give weir://REPO/BRANCH")))?;
                format!("weir://{}/{s}", WeirUri::parse(base)?.repo)
            };
            let uri = WeirUri::parse(&text)?;
            let branch = uri.require_ref()?.to_string();
            lake.repo(&uri.repo)?.resolve_id(&branch)?;
            Ok(uri)
        };
        let timezone = self.timezone.clone().unwrap_or_else(|| "UTC".into());
        let when = match (&self.when, &self.cron, &self.on_commit) {
            (Some(q), cron, None) => When::Condition {
                query: q.clone(),
                after: self.after.clone(),
                cron: cron.clone(),
                timezone,
            },
            (None, Some(c), None) => When::Cron {
                cron: c.clone(),
                timezone,
            },
            (None, None, Some(b)) => {
                let uri = resolve("on_commit", b)?;
                When::OnCommit {
                    branch: uri.require_ref()?.to_string(),
                    repo: uri.repo,
                    paths: self.paths.clone(),
                }
            }
            _ => {
                return Err(bad(
                    "give one of cron, on_commit, or when (with after or cron)".into(),
                ));
            }
        };
        let target = match (&self.target, &self.on_commit, default_target) {
            (Some(t), _, _) => t.clone(),
            (None, _, Some(t)) => t.to_string(),
            (None, Some(b), None) => b.clone(),
            (None, None, None) => {
                return Err(bad(
                    "--target weir://REPO/BRANCH: the branch the runs merge into".into(),
                ));
            }
        };
        let target = resolve("target", &target)?;
        let params = self
            .params
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect();
        Ok(Trigger {
            name: self.name.clone(),
            when,
            pipeline: pipeline.to_string(),
            target: format!("weir://{}/{}", target.repo, target.require_ref()?),
            params,
            force: self.force,
            catch_up: match &self.catch_up {
                Some(c) => c.parse::<CatchUp>()?,
                None => CatchUp::default(),
            },
            paused: false,
            scoped: false,
            notify: match &self.notify {
                Some(url) => Some(Notify {
                    url: url.clone(),
                    on: match &self.notify_on {
                        Some(o) => o.parse()?,
                        None => Default::default(),
                    },
                }),
                None => None,
            },
            created: now,
            created_by: created_by.to_string(),
        })
    }
}

/// Installs `triggers` (a manifest's): new ones are added, changed ones
/// replaced (starting afresh, as if added now), the same ones left as they
/// are; answers what happened to each.
pub fn apply(lake: &Arc<Lake>, triggers: Vec<Trigger>) -> Result<Vec<(String, &'static str)>> {
    let existing = super::list(lake)?;
    for t in &triggers {
        super::validate(t)?;
        if let When::Condition {
            after: Some(source),
            ..
        } = &t.when
            && !existing.contains_key(source)
            && !triggers.iter().any(|o| &o.name == source)
        {
            return Err(JobsError::NotFound(format!(
                "trigger {}: after {source}: no trigger {source} in the lake or the manifest",
                t.name
            )));
        }
    }
    let mut out = Vec::new();
    for t in triggers {
        let same = existing.get(&t.name).is_some_and(|old| {
            Trigger {
                created: t.created,
                created_by: t.created_by.clone(),
                paused: t.paused,
                ..old.clone()
            } == t
        });
        if same {
            out.push((t.name.clone(), "unchanged"));
            continue;
        }
        let what = if existing.contains_key(&t.name) {
            super::remove(lake, &t.name)?;
            "updated"
        } else {
            "added"
        };
        super::add(lake, t.clone())?;
        out.push((t.name, what));
    }
    Ok(out)
}
