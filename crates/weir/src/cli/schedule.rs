//! `weir schedule`: triggers that start pipeline runs by themselves, and
//! `weir scheduler`: the loop that fires them (also inside `weir serve`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::json;
use weir_jobs::JobsError;
use weir_jobs::schedule::{self, Firing, Spec, Trigger};
use weir_store::Lake;

use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Subcommand)]
pub enum ScheduleCmd {
    /// Add a trigger: a timetable (--cron), new commits on a branch
    /// (--on-commit), or a query that returns a row (--when)
    Add(Box<AddArgs>),
    /// Install the triggers a pipeline manifest declares ([[trigger]]):
    /// new ones added, changed ones replaced, the same left as they are
    Apply {
        /// The pipeline manifest
        #[arg(value_name = "PIPELINE.toml")]
        pipeline: std::path::PathBuf,
        /// The branch its runs merge into (weir://REPO/BRANCH), and the
        /// repository of branches the manifest names alone
        #[arg(long, value_name = "URI")]
        target: String,
    },
    /// List the triggers, with when each fires next
    List,
    /// Stop a trigger firing until it is resumed
    Pause { name: String },
    /// Let a paused trigger fire again (from now: the ticks it slept through do not fire)
    Resume { name: String },
    /// Delete a trigger (its firings stay in weir_schedule_runs())
    Rm { name: String },
    /// Fire a trigger now, by hand
    Run { name: String },
    /// A trigger's firings, newest first
    History {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// The trigger's name (letters, digits, '_' and '-')
    name: String,
    /// Fire on this timetable: 5 fields (minute hour day-of-month month
    /// day-of-week), or @hourly, @daily, @weekly, @monthly
    #[arg(
        long,
        value_name = "EXPR",
        conflicts_with = "on_commit",
        required_unless_present_any = ["on_commit", "when"]
    )]
    cron: Option<String>,
    /// The time zone the timetable is read in (IANA name)
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    timezone: String,
    /// Fire when a new commit lands on this branch (weir://REPO/BRANCH)
    #[arg(long, value_name = "URI", conflicts_with = "when")]
    on_commit: Option<String>,
    /// Fire when this query over the target branch returns a row (its
    /// columns set the run's parameters of the same names); asked --after
    /// a trigger's runs or at each --cron tick
    #[arg(long, value_name = "SQL")]
    when: Option<String>,
    /// Ask --when after each successful run of this trigger
    #[arg(
        long,
        value_name = "TRIGGER",
        requires = "when",
        conflicts_with = "cron"
    )]
    after: Option<String>,
    /// Only when the new commits change paths matching these globs
    /// ('raw/**', 'demand/*.csv'); any change when absent
    #[arg(long, num_args = 1.., value_name = "GLOB", requires = "on_commit")]
    paths: Vec<String>,
    /// The pipeline the trigger runs: a manifest file (every scheduler of
    /// the lake must read that path), or one in the lake,
    /// weir://REPO/REF/PATH/weir.toml (read at each firing)
    #[arg(long, value_name = "PIPELINE.toml")]
    pipeline: std::path::PathBuf,
    /// The branch its runs merge into (weir://REPO/BRANCH; for --on-commit,
    /// the watched branch when absent)
    #[arg(long, value_name = "URI")]
    target: Option<String>,
    /// A parameter of every run it starts (repeatable)
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
    /// Run every stage of each run, even those whose inputs did not change
    /// (a retraining trigger)
    #[arg(long)]
    force: bool,
    /// Ticks missed while no scheduler ran: fire once for the latest, or all
    #[arg(long, default_value = "latest", value_name = "latest|all")]
    catch_up: String,
    /// Post each firing's outcome to this webhook (JSON; signed with
    /// WEIR_WEBHOOK_SECRET when set)
    #[arg(long, value_name = "URL")]
    notify: Option<String>,
    /// Which firings the webhook hears of
    #[arg(
        long,
        default_value = "failure",
        value_name = "failure|always",
        requires = "notify"
    )]
    notify_on: String,
}

#[derive(Args)]
pub struct SchedulerArgs {
    /// Seconds between looks at the triggers
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval_secs: u64,
    /// Look once and exit
    #[arg(long)]
    once: bool,
    /// Look as if the clock read this time (RFC 3339): replays and tests
    #[arg(long, value_name = "TIME", requires = "once")]
    at: Option<String>,
}

pub(crate) use weir_server::schedules::scheduler;

pub async fn schedule(ctx: &Ctx, cmd: ScheduleCmd) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    let json = ctx.format == Format::Json;
    match cmd {
        ScheduleCmd::Add(a) => {
            let t = trigger(ctx, &lake, *a)?;
            schedule::check_pipeline(&lake, &t).await?;
            schedule::add(&lake, t.clone())?;
            if json {
                print_json(&trigger_json(&t)?);
            } else {
                println!("Added trigger {}: {}", t.name, t.when.describe());
                if let Some(next) = t.next_fire() {
                    println!("It fires next at {next} (when weir serve or weir scheduler runs).");
                }
            }
        }
        ScheduleCmd::Apply { pipeline, target } => {
            let path = canonical(&pipeline)?;
            let manifest = weir_jobs::Manifest::locate(&lake, &path).await?;
            if manifest.triggers.is_empty() {
                return Err(
                    JobsError::InvalidArgument(format!("{path} declares no [[trigger]]")).into(),
                );
            }
            let now = Utc::now();
            let triggers = manifest
                .triggers
                .iter()
                .map(|s| s.build(&lake, &path, Some(&target), &ctx.config.committer, now))
                .collect::<Result<Vec<_>, _>>()?;
            let done = schedule::apply(&lake, triggers)?;
            if json {
                let v: Vec<_> = done
                    .iter()
                    .map(|(n, w)| json!({"trigger": n, "state": w}))
                    .collect();
                print_json(&json!(v));
            } else {
                for (n, w) in &done {
                    println!("Trigger {n} {w}");
                }
            }
        }
        ScheduleCmd::List => {
            let all = schedule::list(&lake)?;
            if json {
                let v = all
                    .values()
                    .map(trigger_json)
                    .collect::<anyhow::Result<Vec<_>>>()?;
                print_json(&json!(v));
            } else if all.is_empty() {
                println!(
                    "No triggers. Add one with: weir schedule add NAME --cron \"0 6 * * *\" --pipeline P.toml --target weir://REPO/BRANCH"
                );
            } else {
                for t in all.values() {
                    let next = t
                        .next_fire()
                        .map_or(String::new(), |n| format!("  next {n}"));
                    let state = if t.paused { "  (paused)" } else { "" };
                    println!(
                        "{:<20} {:<50} {} -> {}{next}{state}",
                        t.name,
                        t.when.describe(),
                        t.pipeline,
                        t.target
                    );
                }
            }
        }
        ScheduleCmd::Pause { name } => {
            schedule::set_paused(&lake, &name, true, Utc::now())?;
            say(json, &name, "paused");
        }
        ScheduleCmd::Resume { name } => {
            schedule::set_paused(&lake, &name, false, Utc::now())?;
            say(json, &name, "resumed");
        }
        ScheduleCmd::Rm { name } => {
            schedule::remove(&lake, &name)?;
            say(json, &name, "removed");
        }
        ScheduleCmd::Run { name } => {
            let t = schedule::get(&lake, &name)?;
            let f = scheduler(&lake, &ctx.config.alerts).fire_now(&t).await?;
            print_firings(json, std::slice::from_ref(&f));
            if f.outcome != "succeeded" {
                eprintln!(
                    "error: trigger {name} fired, and its run {}: {}",
                    if f.outcome == "failed" {
                        "failed"
                    } else {
                        "did not start"
                    },
                    f.error.as_deref().unwrap_or("no reason recorded")
                );
                return Ok(ExitCode::from(1));
            }
        }
        ScheduleCmd::History { name, limit } => {
            schedule::get(&lake, &name)?;
            let mut rows = schedule::firings(&lake, &name).await?;
            rows.truncate(limit);
            if json {
                print_json(&json!(rows));
            } else if rows.is_empty() {
                println!("{name} has not fired yet");
            } else {
                print_firings(false, &rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `weir scheduler`: fires due triggers until stopped (or once).
pub async fn run_scheduler(ctx: &Ctx, a: SchedulerArgs) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    let s = scheduler(&lake, &ctx.config.alerts);
    if a.once {
        let now = match &a.at {
            Some(t) => DateTime::parse_from_rfc3339(t)
                .map_err(|e| JobsError::InvalidArgument(format!("--at {t:?}: {e} (RFC 3339)")))?
                .with_timezone(&Utc),
            None => Utc::now(),
        };
        let fired = s.tick(now).await?;
        print_firings(ctx.format == Format::Json, &fired);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "weir scheduler: looking at the triggers every {} s (Ctrl-C stops)",
        a.interval_secs
    );
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        if let Err(e) = s.tick(Utc::now()).await {
            tracing::warn!("scheduler: {e}");
        }
        tokio::select! {
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
            _ = tokio::time::sleep(Duration::from_secs(a.interval_secs)) => {}
        }
    }
}

/// The scheduler inside `weir serve`: every `every`, until the process ends.
/// Looks every `every` inside `weir serve`; runs record their MLflow runs
/// through the server's `tracking` stores.
pub fn spawn_in_server(
    lake: Arc<Lake>,
    every: Duration,
    alerts: &weir_core::config::Alerts,
    tracking: Arc<weir_tracking::Stores>,
) {
    let mut s = scheduler(&lake, alerts);
    s.tracking = Some(tracking);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = s.tick(Utc::now()).await {
                tracing::warn!("scheduler: {e}");
            }
        }
    });
}

fn trigger(ctx: &Ctx, lake: &Arc<Lake>, a: AddArgs) -> anyhow::Result<Trigger> {
    if let Some(source) = &a.after {
        schedule::get(lake, source)?;
    }
    let mut spec = Spec {
        name: a.name,
        cron: a.cron,
        timezone: Some(a.timezone),
        on_commit: a.on_commit,
        paths: a.paths,
        when: a.when,
        after: a.after,
        target: a.target,
        params: Default::default(),
        force: a.force,
        catch_up: Some(a.catch_up),
        notify: a.notify,
        notify_on: Some(a.notify_on),
    };
    for p in &a.params {
        let (k, v) = weir_jobs::parse_assignment(p)?;
        spec.set_param(k, v);
    }
    let pipeline = canonical(&a.pipeline)?;
    Ok(spec.build(lake, &pipeline, None, &ctx.config.committer, Utc::now())?)
}

/// The manifest's path as every later look reads it, from any directory
/// (a manifest in the lake, `weir://REPO/REF/PATH`, as written).
fn canonical(p: &std::path::Path) -> anyhow::Result<String> {
    if let Some(uri) = p.to_str().filter(|s| weir_jobs::locate::in_lake(s)) {
        return Ok(uri.to_string());
    }
    let full = std::fs::canonicalize(p)
        .map_err(|e| JobsError::InvalidArgument(format!("--pipeline {}: {e}", p.display())))?;
    Ok(full.display().to_string())
}

fn trigger_json(t: &Trigger) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(t)?;
    v["next"] = json!(t.next_fire());
    Ok(v)
}

fn say(json: bool, name: &str, what: &str) {
    if json {
        print_json(&json!({"trigger": name, "state": what}));
    } else {
        println!("Trigger {name} {what}");
    }
}

fn print_firings(json: bool, fired: &[Firing]) {
    if json {
        print_json(&json!(fired));
        return;
    }
    if fired.is_empty() {
        println!("Nothing was due.");
    }
    for f in fired {
        let when = f.due_at.as_deref().unwrap_or(&f.fired_at);
        println!(
            "{}  {:<9}  {:<10}  run {}  {}{}",
            when.get(..19).unwrap_or(when).replace('T', " "),
            f.kind,
            f.outcome,
            f.run_id.as_deref().unwrap_or("-"),
            f.commit.as_deref().map_or("", |c| c.get(..12).unwrap_or(c)),
            f.error
                .as_deref()
                .map_or(String::new(), |e| format!("  ({e})")),
        );
    }
}
