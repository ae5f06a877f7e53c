//! Triggers that start pipeline runs by themselves: on a timetable
//! (`cron`) or when a commit lands on a branch and changes paths that
//! match globs (`on-commit`, as lakeFS actions fire on post-commit).
//!
//! Triggers are one document in the lake's metadata, changed by
//! compare-and-swap, so every scheduler of a shared lake (each `weir
//! serve`, or `weir scheduler`) sees the same. Each firing is claimed
//! before it runs: the key of a firing is (trigger, due time) or
//! (trigger, commit), claimed by a compare-and-swap that only one process
//! wins, so a tick fires once however many schedulers watch it and
//! whenever they restart. Every firing is a row of the Delta table
//! `schedule_runs` in the system repository (`weir_schedule_runs()`).

mod alert;
mod paths;
mod record;
mod recover;
mod spec;
mod tick;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use weir_store::Lake;

use crate::error::{JobsError, Result};

pub use alert::{Notify, NotifyOn, hmac_sha256};
pub use paths::path_glob;
pub use record::{Firing, SCHEDULE_RUNS_TABLE, schedule_runs_schema};
pub use recover::prune_claims;
pub use spec::{Spec, apply};
pub use tick::{Scheduler, cron_after};

impl Trigger {
    /// When a timetable fires next (none for a paused trigger, or one
    /// that waits for commits or another trigger's runs).
    pub fn next_fire(&self) -> Option<String> {
        match &self.when {
            When::Cron { cron, timezone }
            | When::Condition {
                cron: Some(cron),
                timezone,
                ..
            } if !self.paused => cron_after(cron, timezone, Utc::now().max(self.created))
                .ok()
                .map(|n| n.to_rfc3339()),
            _ => None,
        }
    }

    /// The repository the trigger's runs merge into.
    pub fn target_repo(&self) -> Option<String> {
        weir_core::uri::WeirUri::parse(&self.target)
            .ok()
            .map(|u| u.repo)
    }
}

/// Where the triggers are kept: one lake-wide setting.
const SETTING: (&str, &str) = ("", "schedules");

/// A trigger: when it fires, and the run it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    pub when: When,
    /// The pipeline manifest, as an absolute path every scheduler reads.
    pub pipeline: String,
    /// `weir://REPO/BRANCH` the run merges into.
    pub target: String,
    #[serde(default)]
    pub params: Vec<(String, String)>,
    /// Run every stage, even those whose inputs did not change (a
    /// retraining run).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default)]
    pub catch_up: CatchUp,
    #[serde(default)]
    pub paused: bool,
    /// Its runs and its condition read only the repositories of the
    /// target's tenant (a trigger added over HTTP by a tenant's user).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scoped: bool,
    /// The webhook told of its firings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// When the trigger was added: a timetable's first tick is after it.
    pub created: DateTime<Utc>,
    /// Who added it: the runs it starts are committed as them.
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum When {
    /// A 5-field cron expression (or `@daily` ...) in an IANA time zone.
    Cron { cron: String, timezone: String },
    /// A new head of `branch` whose changes touch `paths` (globs; any
    /// change when empty).
    OnCommit {
        repo: String,
        branch: String,
        #[serde(default)]
        paths: Vec<String>,
    },
    /// A query over the target's branch that fires when it returns a row
    /// (its values become the run's parameters), asked after each
    /// successful run of the trigger `after`, or at each tick of `cron`.
    Condition {
        query: String,
        #[serde(default)]
        after: Option<String>,
        #[serde(default)]
        cron: Option<String>,
        #[serde(default = "utc")]
        timezone: String,
    },
}

fn utc() -> String {
    "UTC".into()
}

impl When {
    pub fn kind(&self) -> &'static str {
        match self {
            When::Cron { .. } => "cron",
            When::OnCommit { .. } => "on-commit",
            When::Condition { .. } => "condition",
        }
    }

    /// What the trigger waits for, in words for listings.
    pub fn describe(&self) -> String {
        match self {
            When::Cron { cron, timezone } => format!("cron \"{cron}\" ({timezone})"),
            When::OnCommit {
                repo,
                branch,
                paths,
            } if paths.is_empty() => format!("commit on weir://{repo}/{branch}"),
            When::OnCommit {
                repo,
                branch,
                paths,
            } => format!(
                "commit on weir://{repo}/{branch} touching {}",
                paths.join(" ")
            ),
            When::Condition {
                query,
                after: Some(a),
                ..
            } => format!("after {a}: when {query}"),
            When::Condition {
                query,
                cron,
                timezone,
                ..
            } => format!(
                "cron \"{}\" ({timezone}): when {query}",
                cron.as_deref().unwrap_or("")
            ),
        }
    }
}

/// What a timetable does about ticks that passed while no scheduler ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatchUp {
    /// Fire once, for the latest missed tick (no storm of old runs).
    #[default]
    Latest,
    /// Fire every missed tick, oldest first.
    All,
}

impl FromStr for CatchUp {
    type Err = JobsError;
    fn from_str(s: &str) -> Result<CatchUp> {
        match s {
            "latest" => Ok(CatchUp::Latest),
            "all" => Ok(CatchUp::All),
            other => Err(JobsError::InvalidArgument(format!(
                "--catch-up {other:?}: use latest (one run for the ticks missed) or all (one per tick)"
            ))),
        }
    }
}

/// Whether the trigger's pipeline loads, wherever it is (a manifest in
/// the lake included): what adding a trigger checks beside [`validate`].
pub async fn check_pipeline(lake: &Arc<Lake>, t: &Trigger) -> Result<()> {
    crate::Manifest::locate(lake, &t.pipeline).await?;
    Ok(())
}

/// Checks a trigger before it is stored: the expression parses, the time
/// zone exists, the globs are globs, the manifest loads.
pub fn validate(t: &Trigger) -> Result<()> {
    weir_core::names::validate_branch(&t.name).map_err(|_| {
        JobsError::InvalidArgument(format!(
            "trigger name {:?}: use letters, digits, '_' and '-'",
            t.name
        ))
    })?;
    match &t.when {
        When::Cron { cron, timezone } => {
            cron_after(cron, timezone, t.created)?;
        }
        When::Condition {
            query,
            after,
            cron,
            timezone,
        } => {
            match (after, cron) {
                (Some(_), None) => {}
                (None, Some(c)) => {
                    cron_after(c, timezone, t.created)?;
                }
                _ => {
                    return Err(JobsError::InvalidArgument(
                        "--when: ask it --after a trigger or on a --cron timetable (one of them)"
                            .into(),
                    ));
                }
            }
            // One read-only query, as a stage's: a write, an EXPLAIN or a
            // second statement is refused here, not at every look.
            let state = deltalake::datafusion::prelude::SessionContext::new().state();
            crate::plan::parse_query(&state, query, &Default::default(), "--when")?;
        }
        When::OnCommit {
            repo,
            branch,
            paths,
        } => {
            if paths.is_empty() && t.target == format!("weir://{repo}/{branch}") {
                return Err(JobsError::InvalidArgument(format!(
                    "{}: its runs merge into the branch it watches, so every run would fire it again; give --paths for the data it should react to",
                    t.name
                )));
            }
            for p in paths {
                if p.is_empty() || p.starts_with('/') {
                    return Err(JobsError::InvalidArgument(format!(
                        "--paths {p:?}: a glob of paths inside the repository, like 'raw/**'"
                    )));
                }
            }
        }
    }
    // A manifest in the lake is read when the trigger is added
    // ([`check_pipeline`]); a file here.
    if !crate::locate::in_lake(&t.pipeline) {
        crate::Manifest::load(std::path::Path::new(&t.pipeline))?;
    }
    if let Some(n) = &t.notify
        && !(n.url.starts_with("http://") || n.url.starts_with("https://"))
    {
        return Err(JobsError::InvalidArgument(format!(
            "--notify {:?}: an http:// or https:// URL",
            n.url
        )));
    }
    Ok(())
}

/// Every trigger of the lake, by name.
pub fn list(lake: &Lake) -> Result<BTreeMap<String, Trigger>> {
    Ok(read(lake)?.1)
}

fn read(lake: &Lake) -> Result<(Option<String>, BTreeMap<String, Trigger>)> {
    let text = lake.meta_store().get_setting(SETTING.0, SETTING.1)?;
    let map = match &text {
        Some(t) => serde_json::from_str(t).map_err(|e| {
            JobsError::InvalidArgument(format!("the lake's schedules do not parse: {e}"))
        })?,
        None => BTreeMap::new(),
    };
    Ok((text, map))
}

/// Changes the triggers with `f`, retrying when another process changed
/// them meanwhile; `f`'s answer is returned once it is stored.
pub fn update<T>(
    lake: &Lake,
    mut f: impl FnMut(&mut BTreeMap<String, Trigger>) -> Result<T>,
) -> Result<T> {
    let meta = lake.meta_store();
    loop {
        let (old, mut map) = read(lake)?;
        let out = f(&mut map)?;
        let text =
            serde_json::to_string(&map).map_err(|e| JobsError::InvalidArgument(e.to_string()))?;
        if meta.swap_setting(SETTING.0, SETTING.1, old.as_deref(), &text)? {
            return Ok(out);
        }
    }
}

/// Adds a trigger; an on-commit trigger starts from the branch's head
/// now, so history already there does not fire it.
pub fn add(lake: &Arc<Lake>, t: Trigger) -> Result<()> {
    validate(&t)?;
    if let When::OnCommit { repo, branch, .. } = &t.when {
        let head = lake.repo(repo)?.resolve_id(branch)?;
        tick::set_cursor(lake, &t.name, &head)?;
    } else {
        tick::set_cursor(lake, &t.name, &t.created.to_rfc3339())?;
    }
    update(lake, |m| {
        if m.contains_key(&t.name) {
            return Err(JobsError::AlreadyExists(format!(
                "trigger {} already exists (weir schedule rm {} first)",
                t.name, t.name
            )));
        }
        m.insert(t.name.clone(), t.clone());
        Ok(())
    })
}

/// Pauses or resumes a trigger. A resumed timetable does not fire the
/// ticks it slept through, nor a condition the runs it slept through: they
/// start again from now.
pub fn set_paused(lake: &Lake, name: &str, paused: bool, now: DateTime<Utc>) -> Result<()> {
    let t = update(lake, |m| {
        let t = m.get_mut(name).ok_or_else(|| not_found(name))?;
        t.paused = paused;
        Ok(t.clone())
    })?;
    if !paused && !matches!(t.when, When::OnCommit { .. }) {
        tick::set_cursor(lake, name, &now.to_rfc3339())?;
    }
    Ok(())
}

pub fn remove(lake: &Lake, name: &str) -> Result<()> {
    update(lake, |m| {
        m.remove(name).map(|_| ()).ok_or_else(|| not_found(name))
    })?;
    recover::forget(lake, name)
}

pub fn get(lake: &Lake, name: &str) -> Result<Trigger> {
    list(lake)?.remove(name).ok_or_else(|| not_found(name))
}

/// Every recorded firing of `trigger`, newest first.
pub async fn firings(lake: &Arc<Lake>, trigger: &str) -> Result<Vec<Firing>> {
    if !has_fired(lake).await? {
        return Ok(Vec::new());
    }
    let session = weir_sql::read_only_session(lake.clone(), &Default::default())?;
    let q = format!(
        "SELECT * FROM weir_schedule_runs() WHERE trigger = '{}' ORDER BY fired_at DESC",
        trigger.replace('\'', "''")
    );
    let batches = session.query(&q).await?.collect().await?;
    Ok(weir_tables::read_rows(&batches, &[])?)
}

/// Whether any trigger of the lake has fired (its records table exists).
async fn has_fired(lake: &Arc<Lake>) -> Result<bool> {
    let Ok(repo) = lake.repo(weir_core::names::SYSTEM_REPO) else {
        return Ok(false);
    };
    let t = weir_tables::TableRef::new(&repo, "main", SCHEDULE_RUNS_TABLE)?;
    Ok(t.load().await?.is_some())
}

fn not_found(name: &str) -> JobsError {
    JobsError::NotFound(format!("no trigger {name} (weir schedule list shows them)"))
}
