//! `weir gc`: retention rules, and collecting the bytes nothing live names.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;
use weir_store::gc::{GcOptions, GcReport, parse_branch_days};

use super::{open_repo, parse_uri};
use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Subcommand)]
pub enum GcCmd {
    /// Show or set a repository's retention rules (lakeFS's): commits
    /// younger than their branch's days stay live, with the objects they
    /// name
    Rules {
        /// weir://REPO
        repo: String,
        /// Days a commit stays live on branches without a rule of their own
        #[arg(long, value_name = "DAYS")]
        default_days: Option<u32>,
        /// A branch's own retention, BRANCH=DAYS (repeatable)
        #[arg(long = "branch", value_name = "BRANCH=DAYS")]
        branches: Vec<String>,
    },
    /// What a collection would delete, with sizes; deletes nothing
    Plan(GcArgs),
    /// Delete the objects no live commit, staging area or upload names
    Run(GcArgs),
}

#[derive(clap::Args)]
pub struct GcArgs {
    /// weir://REPO
    repo: String,
    /// Objects written within this many hours are kept whatever names them
    /// (writes in flight stage their bytes after writing them)
    #[arg(long, default_value_t = 6.0, value_name = "HOURS")]
    grace_hours: f64,
}

pub async fn gc(ctx: &Ctx, cmd: GcCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GcCmd::Rules {
            repo,
            default_days,
            branches,
        } => {
            let uri = parse_uri(&repo)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            if default_days.is_some() || !branches.is_empty() {
                let current = repo.gc_rules()?.unwrap_or_default();
                let rules = parse_branch_days(
                    default_days.unwrap_or(current.default_retention_days),
                    &branches,
                )?;
                repo.set_gc_rules(&rules)?;
            }
            let (rules, set) = match repo.gc_rules()? {
                Some(r) => (r, true),
                None => (Default::default(), false),
            };
            match ctx.format {
                Format::Json => print_json(&json!({ "rules": rules, "set": set })),
                Format::Text => {
                    let note = if set {
                        ""
                    } else {
                        " (the default: no rules set)"
                    };
                    println!(
                        "default retention: {} days{note}",
                        rules.default_retention_days
                    );
                    for b in &rules.branches {
                        println!("  {}: {} days", b.branch_id, b.retention_days);
                    }
                }
            }
        }
        GcCmd::Plan(a) => return collect(ctx, a, true).await,
        GcCmd::Run(a) => return collect(ctx, a, false).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn collect(ctx: &Ctx, a: GcArgs, dry_run: bool) -> anyhow::Result<ExitCode> {
    if !(a.grace_hours.is_finite() && a.grace_hours >= 0.0) {
        return Err(weir_store::StoreError::InvalidArgument(
            "--grace-hours must be zero or more".into(),
        )
        .into());
    }
    let uri = parse_uri(&a.repo)?;
    let (_, repo) = open_repo(ctx, &uri)?;
    let opts = GcOptions {
        grace: Duration::from_secs_f64(a.grace_hours * 3600.0),
        dry_run,
    };
    let bar = crate::progress::Bar::new(true);
    let r: GcReport = repo.gc(&opts, &bar).await?;
    match ctx.format {
        Format::Json => print_json(&serde_json::to_value(&r)?),
        Format::Text => {
            println!(
                "weir://{}: {} commits, {} past retention; {} objects live",
                r.repository, r.commits, r.expired_commits, r.live_objects
            );
            println!(
                "stored: {} objects, {} bytes; {} written within the grace period",
                r.stored_objects, r.stored_bytes, r.recent_objects
            );
            if dry_run {
                println!(
                    "would delete {} objects, {} bytes (weir gc run deletes them)",
                    r.garbage_objects, r.garbage_bytes
                );
            } else {
                println!(
                    "deleted {} objects, {} bytes{}",
                    r.deleted_objects,
                    r.deleted_bytes,
                    if r.rescued_objects > 0 {
                        format!(
                            "; {} kept, named by writes made meanwhile",
                            r.rescued_objects
                        )
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
