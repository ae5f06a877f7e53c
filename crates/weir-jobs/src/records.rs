//! Run records: one row per stage and one per run, appended to the Delta
//! table `runs` on `main` of the system repository, so runs are queried
//! with the same SQL as the data (`SELECT * FROM "weir-system".main.runs`,
//! or `weir_runs()`).

use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use deltalake::datafusion::prelude::{Expr, col, lit};
use serde::{Deserialize, Serialize};
use weir_core::names::SYSTEM_REPO;
use weir_store::Lake;
use weir_tables::CommitSpec;

use crate::error::Result;

pub const RUNS_TABLE: &str = "runs";

/// A table as a stage read or wrote it, pinned to a lake commit and a
/// Delta version. The fingerprint hashes the table's Delta log, so equal
/// fingerprints mean the same table content on any branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TablePin {
    pub repo: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub table: String,
    pub commit: String,
    pub version: i64,
    pub fingerprint: String,
}

/// What a stage's inputs contain, whatever commit each was pinned at: the
/// set of (repository, table, fingerprint). Two runs that read the same
/// contents have the same set, however often a table was pinned.
pub fn input_contents(pins: &[TablePin]) -> std::collections::BTreeSet<(&str, &str, &str)> {
    pins.iter()
        .map(|p| (p.repo.as_str(), p.table.as_str(), p.fingerprint.as_str()))
        .collect()
}

/// One row of the `runs` table. `stage` is null on the row that sums up
/// the whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub pipeline: String,
    pub repo: String,
    pub target_branch: String,
    pub run_branch: String,
    pub stage: Option<String>,
    /// succeeded | skipped | failed | not_run (stages);
    /// running (written at the start), then merged | unchanged | failed
    /// (runs): a run whose last row says running was interrupted or is on.
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: i64,
    pub sql_hash: Option<String>,
    /// The stage's SQL as it ran (parameters as `$name`).
    #[serde(default)]
    pub sql: Option<String>,
    /// overwrite | append | merge:KEY,KEY
    #[serde(default)]
    pub mode: Option<String>,
    /// The parameters in force: those a stage uses on stage rows, all of
    /// them on the run row (canonical JSON).
    pub params: String,
    pub weir_version: String,
    pub inputs: Vec<TablePin>,
    pub outputs: Vec<TablePin>,
    pub rows: Option<i64>,
    pub error: Option<String>,
    /// The lake commit the run produced: the stage's output commit, or the
    /// merge commit on the target for the run row.
    pub commit: Option<String>,
    /// CPU seconds spent (the stage's; the run row sums its stages).
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// On the run row: what started the run when no person did (the
    /// finding of the trigger that fired it, as JSON).
    #[serde(default)]
    pub cause: Option<String>,
    /// On the run row: the MLflow run it is recorded as.
    #[serde(default)]
    pub mlflow_run_id: Option<String>,
}

fn pin_fields() -> Fields {
    Fields::from(vec![
        Field::new("repo", DataType::Utf8, false),
        Field::new("ref", DataType::Utf8, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("commit", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("fingerprint", DataType::Utf8, false),
    ])
}

pub fn schema() -> SchemaRef {
    let pins = DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(pin_fields()),
        true,
    )));
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("repo", DataType::Utf8, false),
        Field::new("target_branch", DataType::Utf8, false),
        Field::new("run_branch", DataType::Utf8, false),
        Field::new("stage", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("started_at", ts.clone(), false),
        Field::new("finished_at", ts, false),
        Field::new("duration_ms", DataType::Int64, false),
        Field::new("sql_hash", DataType::Utf8, true),
        Field::new("sql", DataType::Utf8, true),
        Field::new("mode", DataType::Utf8, true),
        Field::new("params", DataType::Utf8, false),
        Field::new("weir_version", DataType::Utf8, false),
        Field::new("inputs", pins.clone(), true),
        Field::new("outputs", pins, true),
        Field::new("rows", DataType::Int64, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("commit", DataType::Utf8, true),
        Field::new("cpu_seconds", DataType::Float64, true),
        Field::new("cause", DataType::Utf8, true),
        Field::new("mlflow_run_id", DataType::Utf8, true),
    ]))
}

/// Appends the records as one Delta version and one lake commit.
pub async fn append(lake: &Arc<Lake>, records: &[RunRecord], committer: &str) -> Result<()> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let commit = CommitSpec {
        message: format!("Records of run {} ({})", first.run_id, first.pipeline),
        committer: committer.to_string(),
        metadata: [("weir.run.id".to_string(), first.run_id.clone())].into(),
    };
    weir_tables::append_rows(lake, RUNS_TABLE, schema(), records, commit).await?;
    Ok(())
}

/// Records matching `filter`, sorted by the column `sort`; none before the
/// first run has made the table.
pub async fn select(
    lake: &Arc<Lake>,
    filter: Expr,
    sort: &str,
    ascending: bool,
) -> Result<Vec<RunRecord>> {
    if lake.repo(SYSTEM_REPO).is_err() {
        return Ok(Vec::new());
    }
    let ctx = weir_sql::session(
        lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some(SYSTEM_REPO.into()),
            reference: Some("main".into()),
        },
    )?;
    let Ok(df) = ctx.table(RUNS_TABLE).await else {
        return Ok(Vec::new());
    };
    let batches = df
        .filter(filter)?
        .sort(vec![col(sort).sort(ascending, true)])?
        .collect()
        .await?;
    from_batches(&batches)
}

/// Stage rows of earlier runs of `pipeline` that succeeded or were skipped,
/// oldest first: the candidates for skipping an unchanged stage.
pub async fn previous_stages(lake: &Arc<Lake>, pipeline: &str) -> Result<Vec<RunRecord>> {
    let f = col("pipeline")
        .eq(lit(pipeline))
        .and(col("stage").is_not_null())
        .and(col("status").in_list(vec![lit("succeeded"), lit("skipped")], false));
    select(lake, f, "finished_at", true).await
}

/// Every row of one run (its stages and its summary).
pub async fn run_rows(lake: &Arc<Lake>, run_id: &str) -> Result<Vec<RunRecord>> {
    select(lake, col("run_id").eq(lit(run_id)), "started_at", true).await
}

/// Decodes rows written by [`append`].
pub fn from_batches(batches: &[RecordBatch]) -> Result<Vec<RunRecord>> {
    Ok(weir_tables::read_rows(batches, &["inputs", "outputs"])?)
}

/// Runs whose last row still says `running` were killed, or are on. One
/// whose branch is gone but whose merge is in the target's history was
/// killed after merging, while saving its records: say `merged`. One with
/// neither is `interrupted`.
pub fn settle_running(lake: &Arc<Lake>, rows: &mut [RunRecord]) {
    for r in rows
        .iter_mut()
        .filter(|r| r.stage.is_none() && r.status == "running")
    {
        let Ok(repo) = lake.repo(&r.repo) else {
            continue;
        };
        if repo.resolve(&r.run_branch).is_ok() {
            continue;
        }
        let opts = weir_store::LogOptions {
            amount: 1000,
            ..Default::default()
        };
        let merged = repo.log(&r.target_branch, &opts).ok().and_then(|(log, _)| {
            log.into_iter()
                .find(|c| c.metadata.get("weir.run.id") == Some(&r.run_id))
        });
        match merged {
            Some(c) => {
                r.status = "merged".into();
                r.commit = Some(c.id);
                r.error = Some("the run merged, then stopped before saving its records".into());
            }
            None => r.status = "interrupted".into(),
        }
    }
}

/// Run branches with no record at all (a run killed between creating its
/// branch and saving its start): listed as `running`, like a recorded one.
pub fn add_orphans(lake: &Arc<Lake>, rows: &mut Vec<RunRecord>) {
    let known: std::collections::HashSet<String> =
        rows.iter().map(|r| r.run_branch.clone()).collect();
    let Ok(repos) = lake.list_repos() else {
        return;
    };
    for repo in repos.iter().filter(|r| r.name != SYSTEM_REPO) {
        let Ok(r) = lake.repo(&repo.name) else {
            continue;
        };
        for (branch, head) in r.list_branches().unwrap_or_default() {
            let Some(id) = branch.strip_prefix("run-") else {
                continue;
            };
            if known.contains(&branch) {
                continue;
            }
            let when = r
                .commit_record(&head)
                .ok()
                .and_then(|c| chrono::DateTime::from_timestamp(c.created, 0))
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            rows.push(RunRecord {
                run_id: id.to_string(),
                pipeline: String::new(),
                repo: repo.name.clone(),
                target_branch: String::new(),
                run_branch: branch.clone(),
                stage: None,
                status: "running".into(),
                started_at: when.clone(),
                finished_at: when,
                duration_ms: 0,
                sql_hash: None,
                sql: None,
                mode: None,
                params: "{}".into(),
                weir_version: String::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                rows: None,
                error: Some("no record: the run stopped before saving its start".into()),
                commit: None,
                cpu_seconds: None,
                cause: None,
                mlflow_run_id: None,
            });
        }
    }
}
