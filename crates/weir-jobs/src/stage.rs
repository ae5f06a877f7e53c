//! One stage of a run: pin what it reads, skip it when nothing changed,
//! otherwise execute its query into its output table on the run branch,
//! commit, and check its gates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use deltalake::arrow::util::pretty::pretty_format_batches;
use deltalake::datafusion::common::{JoinType, TableReference};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::physical_plan::SendableRecordBatchStream;
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use weir_core::ErrorCode;
use weir_store::{Lake, Repo};
use weir_tables::{CommitSpec, TableRef, WriteMode, WriteOptions};

use crate::error::{JobsError, Result};
use crate::manifest::OutputMode;
use crate::plan::{PlannedStage, Query, TARGET_SCHEMA};
use crate::records::{RunRecord, TablePin};
use crate::runner::{StageReport, StageStatus};

/// What every stage of one run shares.
pub struct StageCtx {
    pub lake: Arc<Lake>,
    pub repo: Repo,
    pub run_id: String,
    pub run_branch: String,
    /// The commit the run branch was made from: what `target.T` reads.
    pub base: String,
    pub pipeline: String,
    pub committer: String,
    pub previous: Vec<RunRecord>,
    pub force: bool,
    /// The repositories the stages may read; `None`: all of them.
    pub scope: Option<std::collections::HashSet<String>>,
}

/// How many offending rows a failed gate shows.
const GATE_ROWS: usize = 5;

/// CPU seconds this process has used (user and system). Stages run one
/// at a time, so the difference across a stage is that stage's.
pub fn process_cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
    let r = unsafe { libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr()) };
    if r != 0 {
        return 0.0;
    }
    // SAFETY: initialised by the successful call above.
    let u = unsafe { u.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

pub async fn run_stage(ctx: &StageCtx, s: &PlannedStage) -> StageReport {
    let started = Instant::now();
    let cpu = process_cpu_seconds();
    let mut report = StageReport {
        name: s.stage.name.clone(),
        output: s.stage.output.clone(),
        status: StageStatus::Succeeded,
        rows: None,
        commit: None,
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        duration: Default::default(),
        cpu_seconds: 0.0,
        inputs: Vec::new(),
        outputs: Vec::new(),
        sql_hash: s.sql_hash.clone(),
        params: s.params.clone(),
        sql: Some(s.stage.sql.clone()),
        mode: Some(s.stage.mode.describe()),
        error: None,
        error_code: None,
        gate_rows: None,
        lineage: None,
        schema: Vec::new(),
    };
    if let Err(e) = execute(ctx, s, &mut report).await {
        report.status = StageStatus::Failed;
        report.error_code = Some(e.code());
        report.error = Some(e.to_string().replace('\n', " "));
    }
    report.duration = started.elapsed();
    report.cpu_seconds = (process_cpu_seconds() - cpu).max(0.0);
    tracing::info!(
        stage = %s.stage.name,
        status = report.status.as_str(),
        ms = report.duration.as_millis() as u64,
        "stage finished"
    );
    report
}

async fn execute(ctx: &StageCtx, s: &PlannedStage, report: &mut StageReport) -> Result<()> {
    let session = weir_sql::session_within(
        ctx.lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some(ctx.repo.name().to_string()),
            reference: Some(ctx.run_branch.clone()),
        },
        ctx.scope.as_ref(),
    )?;
    if let Some(table) = missing_at_target(ctx, &s.query).await? {
        report.status = StageStatus::Skipped;
        report.error = Some(format!(
            "the target has no table {table} yet (the run started from {}): nothing to compare with",
            short(&ctx.base)
        ));
        return Ok(());
    }
    report.inputs = pin_inputs(ctx, s).await?;
    let out = TableRef::new(&ctx.repo, &ctx.run_branch, &s.stage.output)?;
    let current = pin(&out).await?;
    if !ctx.force
        && let Some(cur) = &current
        && unchanged(ctx, s, &report.inputs, cur)
    {
        report.status = StageStatus::Skipped;
        report.outputs = vec![cur.clone()];
        return Ok(());
    }

    if let Some(reg) = &s.stage.features {
        let file = s.stage.sql_file.display().to_string();
        for table in reg.needs().keys() {
            let schema = session.table_provider(*table).await?.schema();
            reg.check(&file, table, &schema)?;
        }
    }
    let plan = session
        .state()
        .statement_to_plan(crate::plan::at_base(&s.query.statement, &ctx.base))
        .await?;
    report.lineage = Some(crate::lineage::of_plan(
        &session.state(),
        &plan,
        ctx,
        &report.inputs,
    ));
    report.schema = plan
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    let df = DataFrame::new(session.state(), plan);
    let mut metadata = BTreeMap::from([
        ("weir.run.id".to_string(), ctx.run_id.clone()),
        ("weir.run.pipeline".to_string(), ctx.pipeline.clone()),
        ("weir.run.stage".to_string(), s.stage.name.clone()),
        ("weir.sql.sha256".to_string(), s.sql_hash.clone()),
        ("weir.params".to_string(), s.params.clone()),
    ]);
    let inputs = serde_json::to_string(&report.inputs).unwrap_or_default();
    metadata.insert("weir.run.inputs".to_string(), inputs);
    let commit = Some(CommitSpec {
        message: format!(
            "Run {} {}: stage {}",
            ctx.pipeline, ctx.run_id, s.stage.name
        ),
        committer: ctx.committer.clone(),
        metadata,
    });
    let (stream, mode) = match &s.stage.mode {
        OutputMode::Overwrite => (df.execute_stream().await?, WriteMode::Overwrite),
        OutputMode::Append => (df.execute_stream().await?, WriteMode::Append),
        OutputMode::Merge { keys } => (
            merged(&session, df, &out, current.is_some(), keys).await?,
            WriteMode::Overwrite,
        ),
    };
    let written = weir_tables::write_stream(
        &out,
        stream,
        &WriteOptions {
            mode,
            allow_new_columns: false,
            // The SQL decides an overwritten output's columns.
            replace_schema: s.stage.mode == OutputMode::Overwrite,
            commit,
            properties: Vec::new(),
        },
    )
    .await?;
    report.rows = Some(written.rows);
    report.commit = written.lake_commit.as_ref().map(|c| c.id.clone());
    report.outputs = pin(&out).await?.into_iter().collect();
    // The stage's own commit, not whatever the branch head is by now (a
    // stage beside this one may have committed since).
    if let (Some(c), Some(o)) = (&report.commit, report.outputs.first_mut()) {
        o.commit = c.clone();
    }

    for (name, gate) in &s.gates {
        // A gate comparing with the target has nothing to compare with on
        // the pipeline's first run.
        if let Some(table) = missing_at_target(ctx, gate).await? {
            tracing::info!(gate = %name, "gate not checked: the target has no {table} yet");
            continue;
        }
        check_gate(&session, ctx, &s.stage.name, name, gate, report).await?;
    }
    Ok(())
}

/// Merge on keys: the rows of the table whose keys the result does not
/// have, plus the result. The result is computed once (it feeds both
/// sides); the table is rewritten as one new version.
async fn merged(
    session: &SessionContext,
    result: DataFrame,
    out: &TableRef,
    exists: bool,
    keys: &[String],
) -> Result<SendableRecordBatchStream> {
    let schema = Arc::new(result.schema().as_arrow().clone());
    for k in keys {
        if schema.field_with_name(k).is_err() {
            return Err(JobsError::InvalidArgument(format!(
                "merge key {k} is not a column of the stage's result"
            )));
        }
    }
    let batches = result.collect().await?;
    let fresh = Arc::new(MemTable::try_new(schema.clone(), vec![batches])?);
    let new_rows = session.read_table(fresh.clone())?;
    if !exists {
        return Ok(new_rows.execute_stream().await?);
    }
    let table = session
        .table(TableReference::bare(out.name.as_str()))
        .await?;
    let cols: Vec<&str> = keys.iter().map(String::as_str).collect();
    let kept = table.join(
        session.read_table(fresh)?.select_columns(&cols)?,
        JoinType::LeftAnti,
        &cols,
        &cols,
        None,
    )?;
    // Same column order as the result, so the union lines up by position.
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let kept = kept.select_columns(&names)?;
    Ok(kept.union(new_rows)?.execute_stream().await?)
}

async fn check_gate(
    session: &SessionContext,
    ctx: &StageCtx,
    stage: &str,
    name: &str,
    gate: &Query,
    report: &mut StageReport,
) -> Result<()> {
    let plan = session
        .state()
        .statement_to_plan(crate::plan::at_base(&gate.statement, &ctx.base))
        .await?;
    let batches = DataFrame::new(session.state(), plan)
        .limit(0, Some(GATE_ROWS + 1))?
        .collect()
        .await?;
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    if n == 0 {
        return Ok(());
    }
    let mut left = GATE_ROWS;
    let shown: Vec<_> = batches
        .iter()
        .filter_map(|b| {
            let take = b.num_rows().min(left);
            left -= take;
            (take > 0).then(|| b.slice(0, take))
        })
        .collect();
    report.gate_rows = pretty_format_batches(&shown).ok().map(|t| t.to_string());
    let count = if n > GATE_ROWS {
        format!("more than {GATE_ROWS} rows")
    } else if n == 1 {
        "1 row".to_string()
    } else {
        format!("{n} rows")
    };
    Err(JobsError::RunFailed {
        code: ErrorCode::CheckFailed,
        message: format!("gate {name} of stage {stage} failed: its query returned {count}"),
    })
}

async fn pin(t: &TableRef) -> Result<Option<TablePin>> {
    let Some((fingerprint, version)) = t.log_state().await? else {
        return Ok(None);
    };
    Ok(Some(TablePin {
        repo: t.repo.name().to_string(),
        reference: t.reference.clone(),
        table: t.name.clone(),
        commit: t.repo.resolve(&t.reference)?.commit.id,
        version: version as i64,
        fingerprint,
    }))
}

/// Every table the query names, at the commit it will read. Names that are
/// not tables are left to the planner to report.
async fn pin_inputs(ctx: &StageCtx, s: &PlannedStage) -> Result<Vec<TablePin>> {
    let mut pins = Vec::new();
    let deps = s
        .dep_outputs
        .iter()
        .map(|t| TableReference::bare(t.as_str()));
    // A table both read and waited for is pinned once: pinned twice, the
    // branch head may move between the two (a stage beside this one
    // commits), and the two pins would differ only in their commit.
    let mut seen = std::collections::HashSet::new();
    for r in s.query.reads.iter().cloned().chain(deps) {
        if !seen.insert(r.clone()) {
            continue;
        }
        let (repo, reference, table) = match &r {
            TableReference::Bare { table } => (ctx.repo.clone(), ctx.run_branch.clone(), table),
            TableReference::Partial { schema, table } if schema.as_ref() == TARGET_SCHEMA => {
                (ctx.repo.clone(), ctx.base.clone(), table)
            }
            TableReference::Partial { schema, table } => {
                (ctx.repo.clone(), schema.to_string(), table)
            }
            TableReference::Full {
                catalog,
                schema,
                table,
            } => match ctx.lake.repo(catalog) {
                // Outside the run's scope it is not there: the planner says so.
                Ok(_)
                    if ctx
                        .scope
                        .as_ref()
                        .is_some_and(|s| !s.contains(catalog.as_ref())) =>
                {
                    continue;
                }
                Ok(repo) => (repo, schema.to_string(), table),
                Err(_) => continue,
            },
        };
        let Ok(t) = TableRef::new(&repo, &reference, table) else {
            continue;
        };
        if repo.resolve(&reference).is_err() {
            continue;
        }
        if let Some(p) = pin(&t).await?
            && !pins.contains(&p)
        {
            pins.push(p);
        }
    }
    Ok(pins)
}

/// The first `target.T` the query reads that the target did not have when
/// the run started (the pipeline's first run).
async fn missing_at_target(ctx: &StageCtx, q: &Query) -> Result<Option<String>> {
    for r in &q.reads {
        if let TableReference::Partial { schema, table } = r
            && schema.as_ref() == TARGET_SCHEMA
            && TableRef::new(&ctx.repo, &ctx.base, table)?
                .log_state()
                .await?
                .is_none()
        {
            return Ok(Some(format!("{TARGET_SCHEMA}.{table}")));
        }
    }
    Ok(None)
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// True when an earlier successful run of this stage had the same SQL,
/// parameters and input contents, and the output still is what it wrote.
fn unchanged(ctx: &StageCtx, s: &PlannedStage, inputs: &[TablePin], output: &TablePin) -> bool {
    let want = crate::records::input_contents(inputs);
    ctx.previous.iter().rev().any(|r| {
        r.stage.as_deref() == Some(s.stage.name.as_str())
            && r.sql_hash.as_deref() == Some(s.sql_hash.as_str())
            && r.params == s.params
            && crate::records::input_contents(&r.inputs) == want
            && r.outputs
                .iter()
                .any(|o| o.table == output.table && o.fingerprint == output.fingerprint)
    })
}
