//! An atomic run: a run branch from the target's head, stages in
//! dependency order (independent ones at the same time), each output
//! committed with the run, stage and SQL hash in its metadata, gates
//! checked, and a merge into the target only when everything passed. The
//! target never shows half a run; a failed run keeps its branch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use weir_core::ErrorCode;
use weir_store::{DiffScope, Lake, MergeOptions, RefKind, Repo};

use crate::error::{JobsError, Result};
use crate::manifest::Manifest;
use crate::params::Params;
use crate::plan::{PlannedStage, plan};
use crate::records::{self, RunRecord, TablePin};
use crate::stage::{StageCtx, run_stage};
use weir_lineage::usage::UsageRow;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--param k=v` overrides, in order.
    pub params: Vec<(String, String)>,
    /// Run every stage even when nothing it depends on changed.
    pub force: bool,
    pub committer: String,
    /// The tenant the run's usage and lineage are recorded for (the
    /// target repository's; the lake's default tenant when empty).
    pub tenant: String,
    /// Why the run started, when something other than a person started it:
    /// the finding of the trigger that fired it (JSON). Kept on the run's
    /// record and its merge commit (`weir.run.cause`).
    pub cause: Option<String>,
    /// The repositories the run's SQL may read (a run a tenant's trigger
    /// started: that tenant's); `None` for every repository of the lake.
    pub scope: Option<std::collections::HashSet<String>>,
    /// The tracking stores of the process, when it serves them (`weir
    /// serve`): the run's MLflow run goes through them. `None`: the run
    /// records itself in the lake (see `tracking`).
    pub tracking: Option<Arc<weir_tracking::Stores>>,
}

impl RunOptions {
    pub fn tenant(&self) -> &str {
        if self.tenant.is_empty() {
            weir_core::names::DEFAULT_TENANT
        } else {
            &self.tenant
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    Succeeded,
    Skipped,
    Failed,
    NotRun,
}

impl StageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Succeeded => "succeeded",
            StageStatus::Skipped => "skipped",
            StageStatus::Failed => "failed",
            StageStatus::NotRun => "not_run",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StageReport {
    pub name: String,
    pub output: String,
    pub status: StageStatus,
    pub rows: Option<u64>,
    pub commit: Option<String>,
    pub started_at: String,
    pub duration: Duration,
    /// CPU seconds the process spent on the stage.
    pub cpu_seconds: f64,
    pub inputs: Vec<TablePin>,
    pub outputs: Vec<TablePin>,
    pub sql_hash: String,
    /// The parameters this stage uses (canonical JSON).
    pub params: String,
    /// The SQL it ran and how it wrote (recorded for `weir reproduce`).
    pub sql: Option<String>,
    pub mode: Option<String>,
    /// One line: what went wrong.
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
    /// A failed gate's first offending rows, as a table.
    pub gate_rows: Option<String>,
    /// Which input columns each output column comes from.
    pub lineage: Option<weir_lineage::ColumnLineage>,
    /// The output's columns and types.
    pub schema: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: String,
    pub pipeline: String,
    pub repo: String,
    pub target: String,
    pub run_branch: String,
    /// merged | unchanged | failed
    pub status: String,
    pub merge_commit: Option<String>,
    pub stages: Vec<StageReport>,
    pub duration: Duration,
    pub params: String,
    /// Set when the run failed: the code and a one-line explanation that
    /// says where to look.
    pub failure: Option<(ErrorCode, String)>,
    /// Set when the run itself finished but its records could not be saved.
    pub records_error: Option<String>,
    /// What started the run (a trigger's finding), when not a person.
    pub cause: Option<String>,
    /// The MLflow run the run is recorded as (`None`: `[mlflow] track =
    /// false`).
    pub mlflow_run: Option<String>,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn new_run_id() -> String {
    let t = Utc::now().format("%Y%m%d-%H%M%S");
    let r = &uuid::Uuid::new_v4().simple().to_string()[..6];
    format!("{t}-{r}")
}

async fn require_clean_branch(repo: &Repo, branch: &str) -> Result<()> {
    let r = repo.resolve(branch)?;
    if r.kind != RefKind::Branch || r.staging.is_none() {
        return Err(JobsError::InvalidArgument(format!(
            "{branch} is not a branch: a run merges its results into a branch"
        )));
    }
    let scope = DiffScope {
        limit: Some(1),
        ..DiffScope::all()
    };
    if !repo.diff_uncommitted(branch, &scope).await?.is_empty() {
        return Err(JobsError::RunFailed {
            code: ErrorCode::Conflict,
            message: format!(
                "branch {branch} has uncommitted changes; commit or reset them first (a run merges into it)"
            ),
        });
    }
    Ok(())
}

/// Runs `manifest` against `repo`/`target`.
pub async fn run(
    lake: Arc<Lake>,
    manifest: &Manifest,
    repo_name: &str,
    target: &str,
    opts: &RunOptions,
) -> Result<RunReport> {
    let started = Instant::now();
    let started_at = now();
    let repo = lake.repo(repo_name)?;
    require_clean_branch(&repo, target).await?;
    let params: Params = manifest.params.with_overrides(&opts.params)?;
    // Plan everything before touching the lake: a typo fails fast.
    let planning = weir_sql::session_within(
        lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some(repo_name.to_string()),
            reference: Some(target.to_string()),
        },
        opts.scope.as_ref(),
    )?;
    let stages = plan(manifest, &params, &planning.state())?;
    crate::tracking::check(manifest, &params, &planning.state())?;
    check_tables(&repo, target, &stages, &planning.state()).await?;
    let previous = if opts.force {
        Vec::new()
    } else {
        records::previous_stages(&lake, &manifest.name).await?
    };
    let run_id = new_run_id();
    let run_branch = format!("run-{run_id}");
    let base = repo.create_branch(&run_branch, target)?;
    tracing::info!(run = %run_id, branch = %run_branch, base = %base.id, "run started");
    let mut report = RunReport {
        run_id: run_id.clone(),
        pipeline: manifest.name.clone(),
        repo: repo_name.to_string(),
        target: target.to_string(),
        run_branch: run_branch.clone(),
        status: "running".into(),
        merge_commit: None,
        stages: Vec::new(),
        duration: Duration::ZERO,
        params: params.to_json(),
        failure: None,
        records_error: None,
        cause: opts.cause.clone(),
        mlflow_run: manifest.tracking.track.then(crate::tracking::new_run_id),
    };
    // Recorded before the run ends: a run killed midway shows as "running"
    // with its branch (and `weir runs` lists a branch whose start record
    // never landed).
    let started_row = run_records(&report, &[], &started_at);
    // Saved while the first stages run, not before them.
    let start_saved = {
        let (lake, committer) = (lake.clone(), opts.committer.clone());
        tokio::spawn(async move { records::append(&lake, &started_row, &committer).await })
    };
    let ctx = Arc::new(StageCtx {
        lake: lake.clone(),
        repo: repo.clone(),
        run_id: run_id.clone(),
        run_branch: run_branch.clone(),
        base: base.id.clone(),
        pipeline: manifest.name.clone(),
        committer: opts.committer.clone(),
        previous,
        force: opts.force,
        scope: opts.scope.clone(),
    });
    let planned_at = started.elapsed();
    let mut reports = execute(&ctx, &stages).await;
    match start_saved.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("run {run_id}: could not record its start: {e}"),
        Err(e) => tracing::warn!("run {run_id}: could not record its start: {e}"),
    }
    let executed_at = started.elapsed();

    let failed = reports.iter().find(|r| r.status == StageStatus::Failed);
    let ran = reports.iter().any(|r| r.status == StageStatus::Succeeded);
    let look = format!(
        "{target} is unchanged; the run's work is kept on branch {run_branch} \
         (weir log weir://{repo_name}/{run_branch}, weir sql --ref {run_branch} ...)"
    );
    if let Some(f) = failed {
        report.status = "failed".into();
        report.failure = Some((
            f.error_code.unwrap_or(ErrorCode::Internal),
            format!(
                "run {run_id} failed at stage {}: {}; {look}",
                f.name,
                f.error.clone().unwrap_or_default()
            ),
        ));
    } else if !ran {
        // Every stage was skipped: there is nothing to merge.
        repo.delete_branch(&run_branch)?;
        report.status = "unchanged".into();
    } else {
        let merge = MergeOptions {
            message: Some(format!("Run {} {run_id}", manifest.name)),
            metadata: BTreeMap::from_iter(
                [
                    ("weir.run.id".to_string(), Some(run_id.clone())),
                    ("weir.run.pipeline".to_string(), Some(manifest.name.clone())),
                    ("weir.run.cause".to_string(), opts.cause.clone()),
                ]
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?))),
            ),
            ..MergeOptions::default()
        };
        match repo
            .merge(&run_branch, target, &opts.committer, &merge)
            .await
        {
            Ok(c) => {
                repo.delete_branch(&run_branch)?;
                report.status = "merged".into();
                report.merge_commit = Some(c.id);
            }
            Err(e) => {
                report.status = "failed".into();
                report.failure = Some((
                    e.code(),
                    format!("run {run_id} could not be merged into {target}: {e}; {look}"),
                ));
            }
        }
    }
    report.duration = started.elapsed();
    let merged_at = report.duration;
    let rows = run_records(&report, &reports, &started_at);
    let events = crate::lineage::run_events(manifest, &report, &reports, &started_at);
    // Two tables, two writers: side by side, each committing its own table.
    let usage = usage_rows(&report, &reports, opts);
    let started_ms = Utc::now().timestamp_millis() - report.duration.as_millis() as i64;
    let (saved, traced, metered, tracked) = tokio::join!(
        records::append(&lake, &rows, &opts.committer),
        crate::lineage::save(&lake, &events, &report, &reports, opts),
        weir_lineage::usage::append(&lake, &usage, &opts.committer),
        crate::tracking::record(&lake, manifest, &report, &reports, opts, started_ms)
    );
    if let Err(e) = tracked {
        tracing::warn!("run {run_id}: could not record its MLflow run: {e}");
        report.records_error = Some(format!("MLflow run: {e}"));
    }
    if let Err(e) = metered {
        tracing::warn!("run {run_id}: could not save its usage: {e}");
        report.records_error = Some(format!("usage: {e}"));
    }
    if let Err(e) = saved {
        tracing::warn!("run {run_id}: could not save the run records: {e}");
        report.records_error = Some(e.to_string());
    }
    if let Err(e) = traced {
        tracing::warn!("run {run_id}: could not save the lineage events: {e}");
        report.records_error = Some(format!("lineage events: {e}"));
    }
    tracing::debug!(
        run = %run_id,
        plan_ms = planned_at.as_secs_f64() * 1e3,
        stages_ms = (executed_at - planned_at).as_secs_f64() * 1e3,
        merge_ms = (merged_at - executed_at).as_secs_f64() * 1e3,
        records_ms = (started.elapsed() - merged_at).as_secs_f64() * 1e3,
        "run phases"
    );
    report.stages = std::mem::take(&mut reports);
    Ok(report)
}

/// Every table a stage reads by its bare name must exist at the target or
/// be written by an earlier stage: a typo fails before the run starts.
async fn check_tables(
    repo: &Repo,
    target: &str,
    stages: &[PlannedStage],
    state: &deltalake::datafusion::execution::SessionState,
) -> Result<()> {
    use deltalake::datafusion::common::TableReference;
    let outputs: std::collections::HashSet<&str> =
        stages.iter().map(|s| s.stage.output.as_str()).collect();
    for s in stages {
        let queries =
            std::iter::once(("", &s.query)).chain(s.gates.iter().map(|(g, q)| (g.as_str(), q)));
        for (gate, q) in queries {
            for r in &q.reads {
                let TableReference::Bare { table } = r else {
                    continue;
                };
                let name = table.as_ref();
                if outputs.contains(name) || state.table_functions().contains_key(name) {
                    continue;
                }
                let exists = match weir_tables::TableRef::new(repo, target, name) {
                    Ok(t) => t.fingerprint().await?.is_some(),
                    Err(_) => false,
                };
                if !exists {
                    let at = if gate.is_empty() {
                        format!("stage {} ({})", s.stage.name, s.stage.sql_file.display())
                    } else {
                        format!("stage {} gate {gate}", s.stage.name)
                    };
                    return Err(JobsError::InvalidArgument(format!(
                        "{at}: reads table {name}, which does not exist at weir://{}/{target} and no stage writes",
                        repo.name()
                    )));
                }
            }
        }
        // Columns of tables that exist before the run are checked now;
        // those a stage writes, when the feature stage runs.
        if let Some(reg) = &s.stage.features {
            let file = s.stage.sql_file.display().to_string();
            for table in reg.needs().keys() {
                if outputs.contains(table) {
                    continue;
                }
                let provider = state
                    .schema_for_ref(TableReference::bare(table.to_string()))?
                    .table(table)
                    .await?;
                if let Some(p) = provider {
                    reg.check(&file, table, &p.schema())?;
                }
            }
        }
    }
    Ok(())
}

/// Launches every stage whose inputs are ready, as soon as they are; after
/// a failure, lets running stages finish and starts no new ones.
async fn execute(ctx: &Arc<StageCtx>, stages: &[PlannedStage]) -> Vec<StageReport> {
    let mut done: Vec<Option<StageReport>> = vec![None; stages.len()];
    let mut launched = vec![false; stages.len()];
    let mut running = tokio::task::JoinSet::new();
    // Task id → stage, so a panicking stage is the one marked failed.
    let mut task_of = std::collections::HashMap::new();
    let mut failed = false;
    loop {
        if !failed {
            for (i, s) in stages.iter().enumerate() {
                let ready = !launched[i]
                    && s.deps.iter().all(|&d| {
                        done[d].as_ref().is_some_and(|r| {
                            matches!(r.status, StageStatus::Succeeded | StageStatus::Skipped)
                        })
                    });
                if ready {
                    launched[i] = true;
                    let (ctx, stage) = (ctx.clone(), s.clone());
                    let task = running.spawn(async move { (i, run_stage(&ctx, &stage).await) });
                    task_of.insert(task.id(), i);
                }
            }
        }
        match running.join_next().await {
            Some(Ok((i, r))) => {
                failed |= r.status == StageStatus::Failed;
                done[i] = Some(r);
            }
            Some(Err(e)) => {
                // A panic in a stage is a bug; fail the run, keep the rest.
                tracing::error!("a stage task died: {e}");
                failed = true;
                if let Some(&i) = task_of.get(&e.id()) {
                    let mut r = not_run(&stages[i], Some(format!("internal error: {e}")));
                    r.status = StageStatus::Failed;
                    r.error_code = Some(ErrorCode::Internal);
                    done[i] = Some(r);
                }
            }
            None => break,
        }
    }
    stages
        .iter()
        .zip(done)
        .map(|(s, d)| d.unwrap_or_else(|| not_run(s, None)))
        .collect()
}

fn not_run(s: &PlannedStage, error: Option<String>) -> StageReport {
    StageReport {
        name: s.stage.name.clone(),
        output: s.stage.output.clone(),
        status: StageStatus::NotRun,
        rows: None,
        commit: None,
        started_at: now(),
        duration: Duration::ZERO,
        cpu_seconds: 0.0,
        inputs: Vec::new(),
        outputs: Vec::new(),
        sql_hash: s.sql_hash.clone(),
        params: s.params.clone(),
        sql: Some(s.stage.sql.clone()),
        mode: Some(s.stage.mode.describe()),
        error,
        error_code: None,
        gate_rows: None,
        lineage: None,
        schema: Vec::new(),
    }
}

/// One usage row per stage that ran, with its CPU and wall time.
fn usage_rows(run: &RunReport, stages: &[StageReport], opts: &RunOptions) -> Vec<UsageRow> {
    let tenant = opts.tenant();
    let recorder = weir_lineage::usage::recorder();
    stages
        .iter()
        .filter(|s| matches!(s.status, StageStatus::Succeeded | StageStatus::Failed))
        .map(|s| {
            let start = chrono::DateTime::parse_from_rfc3339(&s.started_at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|_| Utc::now());
            let end = start + chrono::Duration::from_std(s.duration).unwrap_or_default();
            UsageRow {
                start: s.started_at.clone(),
                end: weir_lineage::usage::timestamp(end),
                tenant: tenant.to_string(),
                user: opts.committer.clone(),
                surface: weir_lineage::usage::surface::STAGE.into(),
                operation: format!("{}/{}", run.pipeline, s.name),
                resource_id: Some(run.run_id.clone()),
                repository: Some(run.repo.clone()),
                requests: 1,
                errors: i64::from(s.status == StageStatus::Failed),
                rows: s.rows.unwrap_or(0) as i64,
                cpu_seconds: s.cpu_seconds,
                wall_seconds: s.duration.as_secs_f64(),
                recorder: recorder.clone(),
                ..UsageRow::default()
            }
        })
        .collect()
}

fn run_records(run: &RunReport, stages: &[StageReport], started_at: &str) -> Vec<RunRecord> {
    let version = env!("CARGO_PKG_VERSION").to_string();
    let base = |stage: Option<String>| RunRecord {
        run_id: run.run_id.clone(),
        pipeline: run.pipeline.clone(),
        repo: run.repo.clone(),
        target_branch: run.target.clone(),
        run_branch: run.run_branch.clone(),
        stage,
        status: String::new(),
        started_at: started_at.to_string(),
        finished_at: now(),
        duration_ms: 0,
        sql_hash: None,
        sql: None,
        mode: None,
        params: run.params.clone(),
        weir_version: version.clone(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        rows: None,
        error: None,
        commit: None,
        cpu_seconds: None,
        cause: None,
        mlflow_run_id: None,
    };
    let mut out: Vec<RunRecord> = stages
        .iter()
        .map(|s| {
            let mut r = base(Some(s.name.clone()));
            r.status = s.status.as_str().into();
            r.started_at = s.started_at.clone();
            r.duration_ms = s.duration.as_millis() as i64;
            r.cpu_seconds = Some(s.cpu_seconds);
            r.sql_hash = Some(s.sql_hash.clone());
            r.params = s.params.clone();
            r.sql = s.sql.clone();
            r.mode = s.mode.clone();
            r.inputs = s.inputs.clone();
            r.outputs = s.outputs.clone();
            r.rows = s.rows.map(|n| n as i64);
            r.error = s.error.clone();
            r.commit = s.commit.clone();
            r
        })
        .collect();
    let mut total = base(None);
    total.status = run.status.clone();
    total.duration_ms = run.duration.as_millis() as i64;
    total.cpu_seconds = Some(stages.iter().map(|s| s.cpu_seconds).sum());
    total.error = run.failure.as_ref().map(|(_, m)| m.clone());
    total.commit = run.merge_commit.clone();
    total.cause = run.cause.clone();
    total.mlflow_run_id = run.mlflow_run.clone();
    total.outputs = stages.iter().flat_map(|s| s.outputs.clone()).collect();
    out.push(total);
    out
}
