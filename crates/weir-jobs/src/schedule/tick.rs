//! One pass of the scheduler: which triggers are due at a given time, the
//! claim that makes each firing happen once, the run, and its record.
//!
//! A trigger's cursor (the last tick or commit it handled) only saves
//! work: what makes a firing happen once is its claim, a setting that
//! only one compare-and-swap can create. A scheduler that dies after
//! claiming leaves the firing open; the next look finishes it
//! (`recover.rs`), so a restart neither loses nor repeats it.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use weir_core::config::Alerts;
use weir_store::{DiffMode, DiffScope, Lake};
use weir_tables::CommitSpec;

use super::record::{Firing, SCHEDULE_RUNS_TABLE, schedule_runs_schema};
use super::recover::{Open, claim_setting, edit_open};
use super::{CatchUp, Trigger, When, path_glob};
use crate::error::{JobsError, Result};
use crate::{Manifest, RunOptions};

/// The most ticks one pass fires for one trigger with `--catch-up all`.
const MAX_CATCH_UP: usize = 1000;

/// The ticks of `cron` in `timezone` after `after` and up to `until`,
/// oldest first (at most `limit`).
fn ticks(
    cron: &str,
    timezone: &str,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<DateTime<Utc>>> {
    let (c, tz) = parse_cron(cron, timezone)?;
    let mut out = Vec::new();
    let mut t = after.with_timezone(&tz);
    while out.len() < limit {
        let next = c
            .find_next_occurrence(&t, false)
            .map_err(|e| JobsError::InvalidArgument(format!("cron {cron:?}: {e}")))?;
        if next.with_timezone(&Utc) > until {
            break;
        }
        out.push(next.with_timezone(&Utc));
        t = next;
    }
    Ok(out)
}

fn parse_cron(cron: &str, timezone: &str) -> Result<(croner::Cron, chrono_tz::Tz)> {
    let c = croner::Cron::from_str(cron).map_err(|e| {
        JobsError::InvalidArgument(format!(
            "--cron {cron:?}: {e} (5 fields: minute hour day-of-month month day-of-week, or @daily ...)"
        ))
    })?;
    let tz = chrono_tz::Tz::from_str(timezone).map_err(|_| {
        JobsError::InvalidArgument(format!(
            "--timezone {timezone:?}: not an IANA time zone (Europe/Paris, UTC, ...)"
        ))
    })?;
    Ok((c, tz))
}

/// The first tick of `cron` after `after`.
pub fn cron_after(cron: &str, timezone: &str, after: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let (c, tz) = parse_cron(cron, timezone)?;
    c.find_next_occurrence(&after.with_timezone(&tz), false)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| JobsError::InvalidArgument(format!("--cron {cron:?}: {e}")))
}

pub(super) fn cursor_key(name: &str) -> String {
    format!("schedule.cursor/{name}")
}

pub(super) fn set_cursor(lake: &Lake, name: &str, value: &str) -> Result<()> {
    Ok(lake
        .meta_store()
        .put_setting("", &cursor_key(name), value)?)
}

/// Runs triggers: each pass looks at every trigger as of a time (the
/// clock, or a time given by a test replaying days in seconds).
pub struct Scheduler {
    pub lake: Arc<Lake>,
    /// The tenant a repository belongs to (its runs are metered to it).
    pub tenant_of: Arc<dyn Fn(&str) -> String + Send + Sync>,
    pub claimant: String,
    pub alerts: Alerts,
    /// When this process last pruned old claims (once an hour).
    pruned: std::sync::Mutex<Option<std::time::Instant>>,
    /// The tracking stores of the server this scheduler runs in: its runs'
    /// MLflow runs go through them (see `RunOptions::tracking`).
    pub tracking: Option<Arc<weir_tracking::Stores>>,
}

impl Scheduler {
    pub fn new(
        lake: Arc<Lake>,
        tenant_of: Arc<dyn Fn(&str) -> String + Send + Sync>,
        alerts: Alerts,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        Scheduler {
            lake,
            tenant_of,
            claimant: format!("{host}:{}", std::process::id()),
            alerts,
            pruned: Default::default(),
            tracking: None,
        }
    }

    /// Fires every trigger due at `now` that no one has claimed yet.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<Firing>> {
        let mut fired = Vec::new();
        let mut triggers: Vec<Trigger> = super::list(&self.lake)?
            .into_values()
            .filter(|t| !t.paused)
            .collect();
        // Conditions last: one asked after another trigger's run sees the
        // run that trigger started in this same look.
        triggers.sort_by_key(|t| matches!(t.when, When::Condition { .. }));
        let prune = {
            let mut last = self.pruned.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|l| l.elapsed() > std::time::Duration::from_secs(3600));
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        let open = super::recover::all_open(&self.lake)?;
        for t in triggers {
            if prune && let Err(e) = super::prune_claims(&self.lake, &t.name, Utc::now()) {
                tracing::warn!(trigger = t.name, "schedule: pruning claims: {e}");
            }
            if let Some(open) = open.get(&t.name) {
                match self.recover(&t, open).await {
                    Ok(f) => fired.extend(f),
                    Err(e) => tracing::warn!(trigger = t.name, "schedule: {e}"),
                }
            }
            let result = match &t.when {
                When::Cron { cron, timezone } => self.due_ticks(&t, cron, timezone, now).await,
                When::OnCommit {
                    repo,
                    branch,
                    paths,
                } => self.new_commit(&t, repo, branch, paths, now).await,
                When::Condition {
                    query,
                    after,
                    cron,
                    timezone,
                } => {
                    self.condition(&t, query, after.as_deref(), cron.as_deref(), timezone, now)
                        .await
                }
            };
            match result {
                Ok(f) => fired.extend(f),
                // One broken trigger (its branch deleted, say) must not
                // stop the others.
                Err(e) => tracing::warn!(trigger = t.name, "schedule: {e}"),
            }
        }
        Ok(fired)
    }

    async fn due_ticks(
        &self,
        t: &Trigger,
        cron: &str,
        timezone: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Firing>> {
        let meta = self.lake.meta_store();
        let cursor = meta.get_setting("", &cursor_key(&t.name))?;
        let after = cursor
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map_or(t.created, |c| c.with_timezone(&Utc));
        let limit = match t.catch_up {
            CatchUp::All => MAX_CATCH_UP,
            CatchUp::Latest => usize::MAX,
        };
        let mut due = ticks(cron, timezone, after, now, limit)?;
        let Some(last) = due.last().copied() else {
            return Ok(Vec::new());
        };
        if t.catch_up == CatchUp::Latest {
            due = vec![last];
        }
        let mut fired = Vec::new();
        for tick in due {
            let key = tick.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if self.claim(t, &key, "cron", Some(tick), None)? {
                fired.push(
                    self.fire(t, "cron", Some(tick), None, None, Some(&key))
                        .await?,
                );
            }
        }
        // Lost to another scheduler that moved it first: theirs holds.
        meta.swap_setting(
            "",
            &cursor_key(&t.name),
            cursor.as_deref(),
            &last.to_rfc3339(),
        )?;
        Ok(fired)
    }

    async fn new_commit(
        &self,
        t: &Trigger,
        repo: &str,
        branch: &str,
        paths: &[String],
        _now: DateTime<Utc>,
    ) -> Result<Vec<Firing>> {
        let meta = self.lake.meta_store();
        let r = self.lake.repo(repo)?;
        let head = r.resolve_id(branch)?;
        let cursor = meta.get_setting("", &cursor_key(&t.name))?;
        if cursor.as_deref() == Some(head.as_str()) {
            return Ok(Vec::new());
        }
        let touched = match &cursor {
            None => true,
            Some(_) if paths.is_empty() => true,
            Some(old) => r
                .diff(old, &head, DiffMode::TwoDot, &DiffScope::all())
                .await?
                .iter()
                .any(|d| paths.iter().any(|g| path_glob(g, &d.path))),
        };
        // Whoever moves the cursor owns the commits in between. Moved
        // after the run instead, a second scheduler that read the old
        // cursor would see the run's own merge as the new head, with the
        // watched change still in its range, and fire again.
        if !meta.swap_setting("", &cursor_key(&t.name), cursor.as_deref(), &head)? {
            return Ok(Vec::new());
        }
        let mut fired = Vec::new();
        if touched && self.claim(t, &head, "on-commit", None, Some(&head))? {
            fired.push(
                self.fire(t, "on-commit", None, Some(head.clone()), None, Some(&head))
                    .await?,
            );
        }
        Ok(fired)
    }

    pub(super) fn claim_value(&self) -> String {
        serde_json::json!({
            "claimant": self.claimant,
            "at": Utc::now().to_rfc3339(),
        })
        .to_string()
    }

    /// Whether this process won the firing `key` of `t`. It is listed as
    /// open first, so a crash at any point after leaves a trace to finish.
    fn claim(
        &self,
        t: &Trigger,
        key: &str,
        kind: &str,
        due: Option<DateTime<Utc>>,
        commit: Option<&str>,
    ) -> Result<bool> {
        let open = Open {
            key: key.to_string(),
            kind: kind.to_string(),
            due: due.map(|d| d.to_rfc3339()),
            commit: commit.map(str::to_string),
            claimant: self.claimant.clone(),
            at: Utc::now().to_rfc3339(),
        };
        edit_open(&self.lake, &t.name, |l| l.push(open.clone()))?;
        let won = self.lake.meta_store().swap_setting(
            "",
            &claim_setting(&t.name, key),
            None,
            &self.claim_value(),
        )?;
        if !won {
            edit_open(&self.lake, &t.name, |l| l.retain(|x| *x != open))?;
        }
        Ok(won)
    }

    /// Fires `t` now, by hand: no claim, a record of kind `manual`. A
    /// condition's row, if it returns one now, still gives the parameters.
    pub async fn fire_now(&self, t: &Trigger) -> Result<Firing> {
        let row = match &t.when {
            When::Condition { query, .. } => self.ask(t, query).await?,
            _ => None,
        };
        self.fire(t, "manual", None, None, row, None).await
    }

    async fn condition(
        &self,
        t: &Trigger,
        query: &str,
        after: Option<&str>,
        cron: Option<&str>,
        timezone: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Firing>> {
        let meta = self.lake.meta_store();
        let cursor = meta.get_setting("", &cursor_key(&t.name))?;
        let since = cursor
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map_or(t.created, |c| c.with_timezone(&Utc));
        // The moment to ask, once however many passed since the last look
        // (asked now, they would all get the same answer): the latest
        // successful run of `after`, or the latest tick.
        let (key, moment, due) = match (after, cron) {
            (Some(source), _) => match self.last_run_of(source, since).await? {
                Some((run, at)) => (format!("after/{run}"), at, None),
                None => return Ok(Vec::new()),
            },
            (None, Some(c)) => match ticks(c, timezone, since, now, usize::MAX)?.last() {
                Some(tick) => (
                    tick.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    *tick,
                    Some(*tick),
                ),
                None => return Ok(Vec::new()),
            },
            (None, None) => return Ok(Vec::new()),
        };
        let mut fired = Vec::new();
        if let Some(row) = self.ask(t, query).await?
            && self.claim(t, &key, "condition", due, None)?
        {
            fired.push(
                self.fire(t, "condition", due, None, Some(row), Some(&key))
                    .await?,
            );
        }
        meta.swap_setting(
            "",
            &cursor_key(&t.name),
            cursor.as_deref(),
            &moment.to_rfc3339(),
        )?;
        Ok(fired)
    }

    /// The latest successful run `source` started after `since`.
    async fn last_run_of(
        &self,
        source: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, DateTime<Utc>)>> {
        Ok(super::firings(&self.lake, source)
            .await?
            .into_iter()
            .filter(|f| f.outcome == "succeeded")
            .filter_map(|f| {
                let at = DateTime::parse_from_rfc3339(&f.fired_at).ok()?;
                Some((f.run_id?, at.with_timezone(&Utc)))
            })
            .filter(|(_, at)| *at > since)
            .max_by_key(|(_, at)| *at))
    }

    /// The first row `query` returns on the trigger's target branch, as
    /// (column, value) pairs; None when it returns none.
    pub(super) async fn ask(
        &self,
        t: &Trigger,
        query: &str,
    ) -> Result<Option<Vec<(String, String)>>> {
        let uri = weir_core::uri::WeirUri::parse(&t.target)?;
        let opts = weir_sql::SqlOptions {
            repo: Some(uri.repo.clone()),
            reference: Some(uri.require_ref()?.to_string()),
        };
        let session = match self.scope_of(t)? {
            Some(repos) => {
                weir_sql::scoped_session(self.lake.clone(), &opts, repos, Default::default())?
            }
            None => weir_sql::read_only_session(self.lake.clone(), &opts)?,
        };
        let batches = session
            .query(query)
            .await?
            .limit(0, Some(1))?
            .collect()
            .await?;
        let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(None);
        };
        let mut row = Vec::new();
        for (field, col) in b.schema().fields().iter().zip(b.columns()) {
            if col.is_valid(0) {
                let v = deltalake::arrow::util::display::array_value_to_string(col, 0)?;
                row.push((field.name().clone(), v));
            }
        }
        Ok(Some(row))
    }

    /// Starts the trigger's run and records the firing, whatever the
    /// run's outcome: only failing to record is an error here.
    pub(super) async fn fire(
        &self,
        t: &Trigger,
        kind: &str,
        due: Option<DateTime<Utc>>,
        commit: Option<String>,
        row: Option<Vec<(String, String)>>,
        claim: Option<&str>,
    ) -> Result<Firing> {
        let fired_at = Utc::now();
        let finding = row.as_ref().map(|r| {
            serde_json::Value::Object(
                r.iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            )
        });
        // The run's own record says which trigger started it, on what, and
        // with which finding.
        let why = serde_json::json!({
            "trigger": t.name,
            "kind": kind,
            "due_at": due.map(|d| d.to_rfc3339()),
            "commit": commit,
            "claim": claim,
            "finding": finding,
        });
        let outcome = self
            .start(t, row.as_deref().unwrap_or_default(), why.to_string())
            .await;
        let mut f = Firing {
            trigger: t.name.clone(),
            kind: kind.into(),
            due_at: due.map(|d| d.to_rfc3339()),
            commit,
            run_id: None,
            outcome: "error".into(),
            error: None,
            cause: finding.map(|v| v.to_string()),
            fired_at: fired_at.to_rfc3339(),
            finished_at: Utc::now().to_rfc3339(),
            claimant: self.claimant.clone(),
            alert: None,
            alert_attempts: None,
            alert_error: None,
        };
        match outcome {
            Ok((report, head)) => {
                f.run_id = Some(report.run_id.clone());
                f.commit = f.commit.or(head);
                match report.failure {
                    None => f.outcome = "succeeded".into(),
                    Some((_, m)) => {
                        f.outcome = "failed".into();
                        f.error = Some(m);
                    }
                }
            }
            Err(e) => f.error = Some(e.to_string()),
        }
        if let Some(n) = &t.notify
            && (n.on == super::NotifyOn::Always || f.outcome != "succeeded")
        {
            let mut body = serde_json::to_value(&f).unwrap_or_default();
            body["event"] = "weir.schedule.fired".into();
            body["target"] = t.target.clone().into();
            body["pipeline"] = t.pipeline.clone().into();
            let d = super::alert::deliver(&self.alerts, &n.url, body.to_string()).await;
            f.alert = Some(d.status.into());
            f.alert_attempts = Some(d.attempts);
            f.alert_error = d.error;
        }
        tracing::info!(
            trigger = f.trigger,
            kind = f.kind,
            outcome = f.outcome,
            run = f.run_id.as_deref().unwrap_or(""),
            "schedule fired"
        );
        self.record(t, claim, &f).await?;
        Ok(f)
    }

    /// What a scoped trigger's SQL may read: the repositories of its
    /// target's tenant (as they are now).
    fn scope_of(&self, t: &Trigger) -> Result<Option<std::collections::HashSet<String>>> {
        if !t.scoped {
            return Ok(None);
        }
        let tenant = (self.tenant_of)(&t.target_repo().unwrap_or_default());
        Ok(Some(
            self.lake
                .list_repos()?
                .into_iter()
                .map(|r| r.name)
                .filter(|r| (self.tenant_of)(r) == tenant)
                .collect(),
        ))
    }

    /// Writes the firing's record and takes it off the open list.
    pub(super) async fn record(&self, t: &Trigger, claim: Option<&str>, f: &Firing) -> Result<()> {
        weir_tables::append_rows(
            &self.lake,
            SCHEDULE_RUNS_TABLE,
            schedule_runs_schema(),
            std::slice::from_ref(f),
            CommitSpec {
                message: format!("Firing of trigger {} ({})", t.name, f.kind),
                committer: "weir-scheduler".into(),
                metadata: Default::default(),
            },
        )
        .await?;
        if let Some(key) = claim {
            edit_open(&self.lake, &t.name, |l| {
                l.retain(|x| !(x.key == key && x.claimant == self.claimant))
            })?;
        }
        Ok(())
    }

    /// Starts the run; a condition's row sets the parameters the pipeline
    /// declares under the same names (after the trigger's own).
    async fn start(
        &self,
        t: &Trigger,
        row: &[(String, String)],
        cause: String,
    ) -> Result<(crate::RunReport, Option<String>)> {
        let uri = weir_core::uri::WeirUri::parse(&t.target)?;
        let branch = uri.require_ref()?.to_string();
        let manifest = Manifest::locate(&self.lake, &t.pipeline).await?;
        let head = self.lake.repo(&uri.repo)?.resolve_id(&branch).ok();
        let mut params = t.params.clone();
        params.extend(
            row.iter()
                .filter(|(k, _)| manifest.params.0.contains_key(k))
                .cloned(),
        );
        let opts = RunOptions {
            params,
            force: t.force,
            committer: t.created_by.clone(),
            tenant: (self.tenant_of)(&uri.repo),
            cause: Some(cause),
            scope: self.scope_of(t)?,
            tracking: self.tracking.clone(),
        };
        let report = crate::run(self.lake.clone(), &manifest, &uri.repo, &branch, &opts).await?;
        Ok((report, head))
    }
}
