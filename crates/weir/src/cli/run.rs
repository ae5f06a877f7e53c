//! `weir run` and `weir runs`: pipeline runs and their records.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use deltalake::datafusion::prelude::{col, lit};
use serde_json::json;
use weir_jobs::{JobsError, Manifest, RunOptions, RunRecord, RunReport, StageStatus};

use super::parse_uri;
use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Args)]
pub struct RunArgs {
    /// Pipeline manifest (TOML: stages, their SQL files, outputs and gates):
    /// a file, or one in the lake, weir://REPO/REF/PATH/weir.toml
    manifest: PathBuf,
    /// weir://REPO/BRANCH the results are merged into
    target: String,
    /// Set a parameter declared in the manifest (repeatable): --param horizon=14
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Run every stage, even those whose SQL, parameters and inputs are unchanged
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct RunsArgs {
    /// Show the stages of this run
    run_id: Option<String>,
    /// Only runs of this pipeline
    #[arg(long)]
    pipeline: Option<String>,
    /// At most this many runs (newest first)
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

fn ms(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1e3)
    } else {
        format!("{ms:.0} ms")
    }
}

fn report_json(r: &RunReport) -> serde_json::Value {
    json!({
        "run_id": r.run_id,
        "pipeline": r.pipeline,
        "repo": r.repo,
        "target": r.target,
        "run_branch": r.run_branch,
        "status": r.status,
        "merge_commit": r.merge_commit,
        "params": serde_json::from_str::<serde_json::Value>(&r.params).unwrap_or_default(),
        "duration_ms": r.duration.as_millis() as u64,
        "error": r.failure.as_ref().map(|(_, m)| m),
        "stages": r.stages.iter().map(|s| json!({
            "stage": s.name,
            "output": s.output,
            "status": s.status.as_str(),
            "rows": s.rows,
            "commit": s.commit,
            "duration_ms": s.duration.as_millis() as u64,
            "inputs": s.inputs,
            "outputs": s.outputs,
            "sql_hash": s.sql_hash,
            "error": s.error,
            "gate_rows": s.gate_rows,
        })).collect::<Vec<_>>(),
    })
}

pub(crate) fn print_report(r: &RunReport) {
    println!(
        "Run {} of pipeline {} on weir://{}/{} (run branch {})",
        r.run_id, r.pipeline, r.repo, r.target, r.run_branch
    );
    let w = r
        .stages
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "  {:<w$}  {:<9}  {:>9}  {:>8}  output",
        "stage", "status", "rows", "time"
    );
    for s in &r.stages {
        let rows = s.rows.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let time = if s.status == StageStatus::NotRun {
            "-".into()
        } else {
            ms(s.duration)
        };
        println!(
            "  {:<w$}  {:<9}  {:>9}  {:>8}  {}",
            s.name,
            s.status.as_str(),
            rows,
            time,
            s.output
        );
    }
    // A stage skipped for a reason other than "nothing changed" says why.
    for s in r.stages.iter().filter(|s| s.status == StageStatus::Skipped) {
        if let Some(why) = &s.error {
            println!("\nstage {} skipped: {why}", s.name);
        }
    }
    for s in r.stages.iter().filter(|s| s.status == StageStatus::Failed) {
        if let Some(e) = &s.error {
            println!("\nstage {} failed: {e}", s.name);
        }
        if let Some(rows) = &s.gate_rows {
            println!("first offending rows:\n{rows}");
        }
    }
    let ran = r
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Succeeded)
        .count();
    let skipped = r
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Skipped)
        .count();
    match r.status.as_str() {
        "merged" => println!(
            "Merged into {} as commit {} ({ran} {} ran, {skipped} skipped) in {}",
            r.target,
            r.merge_commit.as_deref().unwrap_or(""),
            if ran == 1 { "stage" } else { "stages" },
            ms(r.duration)
        ),
        "unchanged" => println!(
            "Nothing changed: {} (same SQL, parameters and inputs as an earlier run); {} is as it was. Use --force to run anyway.",
            if skipped == 1 {
                "its one stage skipped".to_string()
            } else {
                format!("all {skipped} stages skipped")
            },
            r.target
        ),
        _ => {}
    }
    if let Some(e) = &r.records_error {
        eprintln!("warning: the run records could not be saved: {e}");
    }
}

/// The tenant whose usage a run on `repo` is.
pub(crate) fn repo_tenant(lake: &weir_store::Lake, repo: &str) -> anyhow::Result<String> {
    Ok(weir_server::authz::tenant_of_repo(
        lake.meta_store().as_ref(),
        repo,
    )?)
}

pub async fn run(ctx: &Ctx, a: RunArgs) -> anyhow::Result<ExitCode> {
    let uri = parse_uri(&a.target)?;
    let branch = uri.require_ref()?.to_string();
    if !uri.path.is_empty() {
        return Err(JobsError::InvalidArgument(format!(
            "{}: name a branch, weir://REPO/BRANCH, without a path",
            a.target
        ))
        .into());
    }
    let lake = ctx.open_lake()?;
    let manifest = Manifest::locate(&lake, &a.manifest.display().to_string()).await?;
    let params = a
        .params
        .iter()
        .map(|p| weir_jobs::parse_assignment(p))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = RunOptions {
        params,
        force: a.force,
        committer: ctx.config.committer.clone(),
        tenant: repo_tenant(&lake, &uri.repo)?,
        cause: None,
        scope: None,
        tracking: None,
    };
    let report = weir_jobs::run(lake, &manifest, &uri.repo, &branch, &opts).await?;
    match ctx.format {
        Format::Json => print_json(&report_json(&report)),
        Format::Text => print_report(&report),
    }
    match report.failure {
        None => Ok(ExitCode::SUCCESS),
        Some((code, message)) => Err(JobsError::RunFailed { code, message }.into()),
    }
}

pub async fn runs(ctx: &Ctx, a: RunsArgs) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    let mut f = match &a.run_id {
        Some(id) => col("run_id").eq(lit(id.as_str())),
        None => col("stage").is_null(),
    };
    if let Some(p) = &a.pipeline {
        f = f.and(col("pipeline").eq(lit(p.as_str())));
    }
    let mut records = weir_jobs::records::select(&lake, f, "finished_at", false).await?;
    // A run's start row says "running"; once it has finished, show the end.
    let mut seen = std::collections::HashSet::new();
    records.retain(|r| r.stage.is_some() || seen.insert(r.run_id.clone()));
    weir_jobs::records::settle_running(&lake, &mut records);
    if a.run_id.is_none() && a.pipeline.is_none() {
        weir_jobs::records::add_orphans(&lake, &mut records);
    }
    if let Some(id) = &a.run_id
        && records.is_empty()
    {
        return Err(JobsError::NotFound(format!("no run {id} (weir runs lists them)")).into());
    }
    let records: Vec<RunRecord> = if a.run_id.is_some() {
        // The run's stages in the order they started, then its summary.
        let mut r = records;
        r.sort_by(|x, y| {
            (x.stage.is_none(), &x.started_at).cmp(&(y.stage.is_none(), &y.started_at))
        });
        r
    } else {
        records.sort_by(|x, y| y.started_at.cmp(&x.started_at));
        records.into_iter().take(a.limit).collect()
    };
    let prices = weir_lineage::costs::prices(&lake)?;
    match ctx.format {
        Format::Json => {
            // Each record with what its CPU time costs at the lake's prices.
            let mut v = serde_json::to_value(&records)?;
            for (r, j) in records.iter().zip(v.as_array_mut().into_iter().flatten()) {
                j["cost"] = json!(r.cpu_seconds.map(|c| c * prices.cpu_second));
                j["currency"] = json!(prices.currency);
            }
            print_json(&v)
        }
        Format::Text if records.is_empty() => {
            println!("No runs yet. Start one with: weir run PIPELINE.toml weir://REPO/BRANCH")
        }
        Format::Text => {
            for r in &records {
                let what = r.stage.as_deref().unwrap_or("(run)");
                let when = r.started_at.get(..19).unwrap_or(&r.started_at);
                let cost = r.cpu_seconds.map_or(String::new(), |c| {
                    format!("  {:.6} {}", c * prices.cpu_second, prices.currency)
                });
                println!(
                    "{}  {:<12}  {:<16}  {:<9}  {:>7} ms  {}{cost}{}",
                    r.run_id,
                    r.pipeline,
                    if a.run_id.is_some() {
                        what.to_string()
                    } else {
                        format!("{}/{}", r.repo, r.target_branch)
                    },
                    r.status,
                    r.duration_ms,
                    when.replace('T', " "),
                    r.error
                        .as_deref()
                        .map(|e| format!("  {e}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct ReproduceArgs {
    /// The run to reproduce (weir runs lists them)
    run_id: String,
}

/// `weir reproduce`: each stage again at its pinned inputs; exit 1 when an
/// output differs.
pub async fn reproduce(ctx: &Ctx, a: ReproduceArgs) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    let r = weir_jobs::reproduce(lake, &a.run_id, &ctx.config.committer).await?;
    match ctx.format {
        Format::Json => print_json(&serde_json::to_value(&r)?),
        Format::Text => {
            println!(
                "Reproducing run {} of pipeline {} in weir://{}, each stage at the commit it read:",
                r.run_id, r.pipeline, r.repo
            );
            for s in &r.stages {
                let verdict = if s.identical {
                    format!("identical ({} rows)", s.rows)
                } else if let Some(e) = &s.error {
                    format!("FAILED: {e}")
                } else if !s.schema_matches {
                    "DIFFERENT: the columns differ".to_string()
                } else {
                    format!(
                        "DIFFERENT: {} rows only in the run's output, {} only in the reproduction",
                        s.only_original, s.only_reproduced
                    )
                };
                println!(
                    "  {:<16} {:<24} inputs @ {}  {verdict}  ({})",
                    s.stage,
                    s.output,
                    &s.input_commit[..12],
                    ms(s.duration)
                );
                if let Some(b) = &s.branch {
                    println!(
                        "      kept on branch {b}; the differing rows: weir sql \"SELECT * FROM table_diff('{}', '{}', '{b}')\"",
                        s.output, s.original_commit
                    );
                }
            }
            println!(
                "{}",
                if r.identical {
                    "Every output is identical to the run's."
                } else {
                    "Some outputs differ from the run's."
                }
            );
        }
    }
    Ok(if r.identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
