//! `weir commit`, `log`, `diff`, `merge`, `verify`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use weir_store::{DiffMode, DiffScope, LogOptions, MergeOptions, Strategy};

use super::{open_repo, parse_uri};
use crate::Ctx;
use crate::output::{
    Format, commit_json, diff_json, parse_meta, print_commit, print_diff, print_json,
};

#[derive(Args)]
pub struct CommitArgs {
    /// weir://REPO/BRANCH
    branch: String,
    /// Commit message
    #[arg(long, short = 'm')]
    message: String,
    /// Commit metadata, KEY=VALUE (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Commit even when nothing changed
    #[arg(long)]
    allow_empty: bool,
}

pub async fn commit(ctx: &Ctx, a: CommitArgs) -> anyhow::Result<ExitCode> {
    let uri = parse_uri(&a.branch)?;
    let (lake, repo) = open_repo(ctx, &uri)?;
    let branch = uri.require_ref()?;
    let meta = parse_meta(&a.meta)?;
    let c = repo
        .commit(
            branch,
            &a.message,
            &ctx.config.committer,
            meta,
            a.allow_empty,
        )
        .await?;
    // Tables changed by hand: their lineage now starts at this commit.
    let recorded = match super::run::repo_tenant(&lake, repo.name()) {
        Ok(tenant) => weir_lineage::record_commit(&lake, repo.name(), branch, &c, &tenant)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        eprintln!("warning: the commit is done but its lineage event was not saved: {e}");
    }
    match ctx.format {
        Format::Json => print_json(&commit_json(&c)),
        Format::Text => {
            println!("Branch: weir://{}/{branch}", repo.name());
            println!("Commit for branch \"{branch}\" completed.\n");
            print_commit(&c);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct LogArgs {
    /// weir://REPO/REF
    reference: String,
    /// How many commits to show
    #[arg(long, default_value_t = 100)]
    amount: usize,
    /// Continue after this commit id (the last one of the previous page)
    #[arg(long)]
    after: Option<String>,
    /// Follow only first parents (the branch's own line)
    #[arg(long)]
    first_parent: bool,
}

pub async fn log(ctx: &Ctx, a: LogArgs) -> anyhow::Result<ExitCode> {
    let uri = parse_uri(&a.reference)?;
    let (_, repo) = open_repo(ctx, &uri)?;
    let (commits, more) = repo.log(
        uri.require_ref()?,
        &LogOptions {
            first_parent: a.first_parent,
            after: a.after,
            amount: a.amount,
        },
    )?;
    match ctx.format {
        Format::Json => print_json(&json!({
            "results": commits.iter().map(commit_json).collect::<Vec<_>>(),
            "pagination": {
                "has_more": more,
                "next_offset": if more { commits.last().map(|c| c.id.clone()).unwrap_or_default() } else { String::new() },
                "results": commits.len(),
                "max_per_page": a.amount,
            }
        })),
        Format::Text => {
            for c in &commits {
                print_commit(c);
            }
            if more && let Some(last) = commits.last() {
                println!("(more: --after {})", last.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct DiffArgs {
    /// weir://REPO/REF (alone: that branch's uncommitted changes)
    left: String,
    /// weir://REPO/REF or REF to compare with
    right: Option<String>,
    /// Compare the two refs directly instead of from their merge base
    #[arg(long)]
    two_way: bool,
    /// Show at most this many changes
    #[arg(long)]
    amount: Option<usize>,
}

pub async fn diff(ctx: &Ctx, a: DiffArgs) -> anyhow::Result<ExitCode> {
    let left = parse_uri(&a.left)?;
    let (_, repo) = open_repo(ctx, &left)?;
    let l = left.require_ref()?;
    let scope = DiffScope {
        prefix: left.path.clone(),
        after: None,
        limit: a.amount,
    };
    let changes = match &a.right {
        None => repo.diff_uncommitted(l, &scope).await?,
        Some(r) => {
            let right = match parse_uri(r) {
                Ok(u) if u.reference.is_some() => {
                    if u.repo != left.repo {
                        return Err(weir_store::StoreError::InvalidArgument(format!(
                            "{r} is in another repository than {}",
                            a.left
                        ))
                        .into());
                    }
                    u.reference.unwrap()
                }
                _ => r.clone(),
            };
            let mode = if a.two_way {
                DiffMode::TwoDot
            } else {
                DiffMode::ThreeDot
            };
            repo.diff(l, &right, mode, &scope).await?
        }
    };
    match ctx.format {
        Format::Json => print_json(&json!({
            "results": changes.iter().map(diff_json).collect::<Vec<_>>(),
            "pagination": { "has_more": false, "next_offset": "", "results": changes.len(), "max_per_page": 1000 }
        })),
        Format::Text => {
            if changes.is_empty() {
                println!("No changes.");
            }
            for d in &changes {
                print_diff(d);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct MergeArgs {
    /// weir://REPO/REF to merge from
    source: String,
    /// weir://REPO/BRANCH to merge into
    destination: String,
    /// How to resolve conflicts: fail (default), source-wins or dest-wins
    #[arg(long, default_value = "fail")]
    strategy: String,
    /// Merge commit message
    #[arg(long, short = 'm')]
    message: Option<String>,
    /// Merge commit metadata, KEY=VALUE (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// One commit on the destination, without the source's history as a
    /// second parent
    #[arg(long)]
    squash: bool,
}

pub async fn merge(ctx: &Ctx, a: MergeArgs) -> anyhow::Result<ExitCode> {
    let src = parse_uri(&a.source)?;
    let dst = parse_uri(&a.destination)?;
    if src.repo != dst.repo {
        return Err(weir_store::StoreError::InvalidArgument(
            "source and destination must be in the same repository".into(),
        )
        .into());
    }
    let (_, repo) = open_repo(ctx, &dst)?;
    let opts = MergeOptions {
        strategy: a.strategy.parse::<Strategy>()?,
        message: a.message,
        metadata: parse_meta(&a.meta)?,
        allow_empty: false,
        squash: a.squash,
    };
    let s = src.require_ref()?;
    let d = dst.require_ref()?;
    let c = repo.merge(s, d, &ctx.config.committer, &opts).await?;
    match ctx.format {
        Format::Json => print_json(&json!({ "reference": c.id })),
        Format::Text => println!("Merged {s} into {d}: commit {}", c.id),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct VerifyArgs {
    /// weir://REPO (default: every repository)
    repo: Option<String>,
    /// Check commits and trees only, not the bytes of every object
    #[arg(long)]
    no_objects: bool,
}

pub async fn verify(ctx: &Ctx, a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    let names: Vec<String> = match &a.repo {
        Some(r) => vec![parse_uri(r)?.repo],
        None => lake.list_repos()?.into_iter().map(|r| r.name).collect(),
    };
    let mut reports = Vec::new();
    for name in names {
        let repo = lake.repo(&name)?;
        let bar = crate::progress::Bar::new(true);
        reports.push(repo.verify(!a.no_objects, &bar).await?);
    }
    let ok = reports.iter().all(|r| r.ok());
    match ctx.format {
        Format::Json => print_json(&json!({ "ok": ok, "repositories": reports })),
        Format::Text => {
            for r in &reports {
                for p in &r.problems {
                    println!("BAD  weir://{}: {p}", r.repository);
                }
                let collected = if r.collected > 0 {
                    format!(
                        ", {} objects of expired commits collected by weir gc",
                        r.collected
                    )
                } else {
                    String::new()
                };
                println!(
                    "{}  weir://{}: {} commits, {} refs, {} trees, {} ranges, {} objects ({} bytes hashed){collected}, audit log of {} records",
                    if r.ok() { "OK " } else { "BAD" },
                    r.repository,
                    r.commits,
                    r.refs,
                    r.metaranges,
                    r.ranges,
                    r.objects,
                    r.bytes,
                    r.audit_records
                );
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(Args)]
pub struct AuditArgs {
    /// Only changes to this repository
    #[arg(long)]
    repo: Option<String>,
    /// The newest N records
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

/// `weir audit`: the hash-chained log of every change to refs and
/// repositories, newest last (`weir verify` checks it).
pub async fn audit(ctx: &Ctx, a: AuditArgs) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    let mut log = lake.audit_log(0, usize::MAX >> 1)?;
    if let Some(r) = &a.repo {
        let name = parse_uri(r)?.repo;
        log.retain(|x| x.repo == name);
    }
    let skip = log.len().saturating_sub(a.limit);
    let log = &log[skip..];
    match ctx.format {
        Format::Json => print_json(&serde_json::to_value(log)?),
        Format::Text => {
            for x in log {
                let when = chrono::DateTime::from_timestamp_micros(x.time)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                let short = |c: &Option<String>| {
                    c.as_deref()
                        .map(|s| s[..s.len().min(12)].to_string())
                        .unwrap_or_else(|| "-".into())
                };
                println!(
                    "{:>5}  {when}  {:<10}  {:<14}  {}/{}  {} -> {}  {}",
                    x.seq,
                    x.actor,
                    x.operation,
                    x.repo,
                    x.reference,
                    short(&x.before),
                    short(&x.after),
                    &x.hash[..12]
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
