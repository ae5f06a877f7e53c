//! Firings a scheduler began and never recorded: it was killed with
//! `kill -9`, or its machine went away, between claiming a firing and
//! writing its record. Each firing is listed as open (per trigger, in one
//! compare-and-swapped setting) before it is claimed and taken off the
//! list once recorded, so the next scheduler to look finds the ones whose
//! claimant is gone and finishes them: when the run the firing started has
//! a record that names the claim, that run is recorded as the firing (it
//! is not run again); otherwise the firing runs now. A tick is neither
//! lost nor repeated across a crash.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::datafusion::prelude::col;
use serde::{Deserialize, Serialize};
use weir_store::Lake;

use super::record::Firing;
use super::tick::Scheduler;
use super::{Trigger, When};
use crate::error::Result;

/// How long a claim by a process on another machine stands before it is
/// taken over: its liveness cannot be checked from here.
const FOREIGN_LEASE_HOURS: i64 = 6;

/// How long a claim is kept after it was made: far longer than any look
/// that could still try its key (a look takes seconds), short enough that
/// claims do not pile up (a minutely timetable makes 1,440 a day).
const CLAIM_KEEP_DAYS: i64 = 7;

/// Deletes the trigger's claims made more than [`CLAIM_KEEP_DAYS`] before
/// `now`, except those of open firings; how many it deleted.
pub fn prune_claims(lake: &Lake, trigger: &str, now: DateTime<Utc>) -> Result<usize> {
    let meta = lake.meta_store();
    let open: Vec<String> = open_of(lake, trigger)?.into_iter().map(|o| o.key).collect();
    let prefix = claim_setting(trigger, "");
    let mut deleted = 0;
    for (key, value) in meta.list_settings("", &prefix)? {
        if open.iter().any(|o| key[prefix.len()..] == *o) {
            continue;
        }
        let at = serde_json::from_str::<serde_json::Value>(&value)
            .ok()
            .and_then(|v| DateTime::parse_from_rfc3339(v["at"].as_str()?).ok());
        let old = at
            .is_some_and(|a| now - a.with_timezone(&Utc) > chrono::Duration::days(CLAIM_KEEP_DAYS));
        // Compared with the value read: a claim taken over since stays.
        if old && meta.delete_setting("", &key, &value)? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Deletes what schedulers kept for a trigger that is gone: its claims,
/// cursor and open firings.
pub(super) fn forget(lake: &Lake, trigger: &str) -> Result<()> {
    let meta = lake.meta_store();
    let mut keys = meta.list_settings("", &claim_setting(trigger, ""))?;
    for key in [super::tick::cursor_key(trigger), open_setting(trigger)] {
        if let Some(v) = meta.get_setting("", &key)? {
            keys.push((key, v));
        }
    }
    for (key, value) in keys {
        meta.delete_setting("", &key, &value)?;
    }
    Ok(())
}

/// A firing begun and not yet recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Open {
    /// The claim's key: the tick, the commit, or a condition's moment.
    pub key: String,
    pub kind: String,
    pub due: Option<String>,
    pub commit: Option<String>,
    pub claimant: String,
    pub at: String,
}

fn open_setting(trigger: &str) -> String {
    format!("schedule.open/{trigger}")
}

pub(super) fn claim_setting(trigger: &str, key: &str) -> String {
    format!("schedule.claim/{trigger}/{key}")
}

/// The trigger's open firings.
/// Every trigger with open firings, and those firings.
pub(super) fn all_open(lake: &Lake) -> Result<std::collections::HashMap<String, Vec<Open>>> {
    let prefix = open_setting("");
    Ok(lake
        .meta_store()
        .list_settings("", &prefix)?
        .into_iter()
        .filter_map(|(k, v)| {
            let list: Vec<Open> = serde_json::from_str(&v).ok()?;
            Some((k[prefix.len()..].to_string(), list))
        })
        .collect())
}

pub(super) fn open_of(lake: &Lake, trigger: &str) -> Result<Vec<Open>> {
    let v = lake.meta_store().get_setting("", &open_setting(trigger))?;
    Ok(v.and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

/// Changes the trigger's open firings with compare-and-swap, retried when
/// another scheduler changed them in between.
pub(super) fn edit_open(lake: &Lake, trigger: &str, edit: impl Fn(&mut Vec<Open>)) -> Result<()> {
    let meta = lake.meta_store();
    loop {
        let before = meta.get_setting("", &open_setting(trigger))?;
        let mut list: Vec<Open> = before
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default();
        edit(&mut list);
        // An empty list is no setting, so a look lists only the triggers
        // with open firings (one query, however many triggers).
        let done = match (&before, list.is_empty()) {
            (None, true) => true,
            (Some(b), true) => meta.delete_setting("", &open_setting(trigger), b)?,
            (_, false) => {
                let after = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
                before.as_deref() == Some(after.as_str())
                    || meta.swap_setting("", &open_setting(trigger), before.as_deref(), &after)?
            }
        };
        if done {
            return Ok(());
        }
    }
}

/// Whether the process that wrote `claimant` (`host:pid`) may still be
/// firing: on this machine, while that process exists; on another, for
/// [`FOREIGN_LEASE_HOURS`] after `at`. This process counts as alive (one
/// of its own firings may be under way).
pub(super) fn alive(claimant: &str, at: &str, me: &str) -> bool {
    if claimant == me {
        return true;
    }
    let host = |c: &str| c.rsplit_once(':').map(|(h, _)| h.to_string());
    let (Some((theirs, pid)), Some(ours)) = (claimant.rsplit_once(':'), host(me)) else {
        return false;
    };
    if theirs == ours {
        return pid
            .parse::<u32>()
            .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
    }
    DateTime::parse_from_rfc3339(at).is_ok_and(|t| {
        Utc::now() - t.with_timezone(&Utc) < chrono::Duration::hours(FOREIGN_LEASE_HOURS)
    })
}

/// The run a claimed firing started, by the claim its record names, and
/// how that run ended; None when it never recorded its start.
async fn started_run(
    lake: &Arc<Lake>,
    trigger: &str,
    key: &str,
) -> Option<(String, String, String)> {
    let filter = col("stage").is_null().and(col("cause").is_not_null());
    // A runs table from before causes were recorded has no such run.
    let mut rows = crate::records::select(lake, filter, "finished_at", true)
        .await
        .ok()?;
    rows.retain(|r| {
        r.cause
            .as_deref()
            .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
            .is_some_and(|c| c["trigger"] == trigger && c["claim"] == key)
    });
    crate::records::settle_running(lake, &mut rows);
    let last = rows.pop()?;
    Some((last.run_id, last.status, last.started_at))
}

impl Scheduler {
    /// The record of a firing whose run has already ended.
    pub(super) fn firing(
        &self,
        t: &Trigger,
        open: &Open,
        due: Option<DateTime<Utc>>,
        run_id: Option<String>,
        outcome: &str,
        fired_at: String,
    ) -> Firing {
        Firing {
            trigger: t.name.clone(),
            kind: open.kind.clone(),
            due_at: due.map(|d| d.to_rfc3339()),
            commit: open.commit.clone(),
            run_id,
            outcome: outcome.into(),
            error: None,
            cause: None,
            fired_at,
            finished_at: Utc::now().to_rfc3339(),
            claimant: self.claimant.clone(),
            alert: None,
            alert_attempts: None,
            alert_error: None,
        }
    }

    /// Finishes the trigger's firings (`open`) whose claimant is gone.
    pub(super) async fn recover(&self, t: &Trigger, open: &[Open]) -> Result<Vec<Firing>> {
        let mut fired = Vec::new();
        let meta = self.lake.meta_store();
        for o in open.iter().cloned() {
            if alive(&o.claimant, &o.at, &self.claimant) {
                continue;
            }
            let setting = claim_setting(&t.name, &o.key);
            let claim = meta.get_setting("", &setting)?;
            let holder: Option<(String, String)> = claim
                .as_deref()
                .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                    (s("claimant"), s("at"))
                });
            let dead = o.clone();
            let forget = move |l: &mut Vec<Open>| l.retain(|x| *x != dead);
            // Claimed by a live scheduler after all: that one fires it.
            if let Some((c, at)) = &holder
                && c != &o.claimant
                && alive(c, at, &self.claimant)
            {
                edit_open(&self.lake, &t.name, forget)?;
                continue;
            }
            if !meta.swap_setting("", &setting, claim.as_deref(), &self.claim_value())? {
                continue; // another scheduler took it over first
            }
            let mine = Open {
                claimant: self.claimant.clone(),
                at: Utc::now().to_rfc3339(),
                ..o.clone()
            };
            edit_open(&self.lake, &t.name, |l| {
                l.retain(|x| *x != o);
                l.push(mine.clone());
            })?;
            tracing::warn!(
                trigger = t.name,
                claim = o.key,
                dead = o.claimant,
                "schedule: finishing a firing its scheduler did not"
            );
            let due = o
                .due
                .as_deref()
                .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
                .map(|d| d.with_timezone(&Utc));
            match started_run(&self.lake, &t.name, &o.key).await {
                // Its claimant is gone, so a run still "running" is dead too.
                Some((run, status, started)) if status != "interrupted" && status != "running" => {
                    let outcome = match status.as_str() {
                        "merged" | "unchanged" => "succeeded",
                        _ => "failed",
                    };
                    let mut f = self.firing(t, &mine, due, Some(run), outcome, started);
                    f.error = (outcome == "failed").then(|| format!("the run ended {status}"));
                    self.record(t, Some(&mine.key), &f).await?;
                    fired.push(f);
                }
                _ => {
                    let row = match &t.when {
                        When::Condition { query, .. } => match self.ask(t, query).await? {
                            Some(row) => Some(row),
                            None => {
                                // The condition no longer holds: nothing to fire.
                                edit_open(&self.lake, &t.name, |l| l.retain(|x| *x != mine))?;
                                continue;
                            }
                        },
                        _ => None,
                    };
                    let (kind, commit) = (mine.kind.clone(), mine.commit.clone());
                    fired.push(
                        self.fire(t, &kind, due, commit, row, Some(&mine.key))
                            .await?,
                    );
                }
            }
        }
        Ok(fired)
    }
}
