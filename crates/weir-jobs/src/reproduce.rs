//! `weir reproduce RUN`: run every stage of a recorded run again, each on a
//! scratch branch made from the exact commit its inputs were read at, with
//! the SQL and parameter values the run record kept, and compare what it
//! writes with what the run wrote.
//!
//! "Identical" means the two tables hold the same rows, value for value
//! (a multiset comparison both ways), and the same schema. Parquet bytes
//! are not the measure: file names are random and parallel plans may emit
//! rows in another order, neither of which changes the data.

use std::sync::Arc;
use std::time::Duration;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use serde::Serialize;
use weir_store::Lake;
use weir_tables::TableRef;

use crate::error::{JobsError, Result};
use crate::manifest::{OutputMode, Stage};
use crate::params::Params;
use crate::plan::{PlannedStage, parse_query, sha256_hex};
use crate::records::{self, RunRecord};
use crate::runner::StageStatus;
use crate::stage::{StageCtx, run_stage};

#[derive(Debug, Clone, Serialize)]
pub struct StageCheck {
    pub stage: String,
    pub output: String,
    /// The commit the inputs were pinned to.
    pub input_commit: String,
    /// The commit the run wrote the output at.
    pub original_commit: String,
    pub identical: bool,
    pub rows: u64,
    /// Rows only in the run's output / only in the reproduction.
    pub only_original: u64,
    pub only_reproduced: u64,
    pub schema_matches: bool,
    /// Where the reproduction is kept when it differs.
    pub branch: Option<String>,
    pub error: Option<String>,
    #[serde(skip)]
    pub duration: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReproduceReport {
    pub run_id: String,
    pub pipeline: String,
    pub repo: String,
    pub identical: bool,
    pub stages: Vec<StageCheck>,
}

async fn stage_rows(lake: &Arc<Lake>, run_id: &str) -> Result<Vec<RunRecord>> {
    let all = records::run_rows(lake, run_id).await?;
    if all.is_empty() {
        return Err(JobsError::NotFound(format!(
            "no run {run_id} (weir runs lists them)"
        )));
    }
    let mut stages: Vec<RunRecord> = all
        .into_iter()
        .filter(|r| r.stage.is_some() && r.status == "succeeded")
        .collect();
    stages.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    Ok(stages)
}

/// Rows only in `original` and only in `again`, as multisets (a row held
/// twice on one side and once on the other counts once): the same
/// comparison as `table_diff`, which reads only the files that differ.
async fn multiset_difference(original: &TableRef, again: &TableRef) -> Result<(u64, u64)> {
    let (_, batches) = weir_tables::table_diff(original, again).await?;
    let (mut removed, mut added) = (0, 0);
    for b in &batches {
        let Some(kind) = b.column_by_name("diff_type") else {
            continue;
        };
        let kind = cast(kind, &DataType::Utf8)?;
        for v in kind.as_string::<i32>().iter().flatten() {
            match v {
                "removed" => removed += 1,
                _ => added += 1,
            }
        }
    }
    Ok((removed, added))
}

pub async fn reproduce(lake: Arc<Lake>, run_id: &str, committer: &str) -> Result<ReproduceReport> {
    let stages = stage_rows(&lake, run_id).await?;
    let first = stages.first().ok_or_else(|| {
        JobsError::InvalidArgument(format!(
            "run {run_id} has no stage that ran (all were skipped or none succeeded): nothing to reproduce"
        ))
    })?;
    let repo = lake.repo(&first.repo)?;
    let mut report = ReproduceReport {
        run_id: run_id.to_string(),
        pipeline: first.pipeline.clone(),
        repo: first.repo.clone(),
        identical: true,
        stages: Vec::new(),
    };
    for rec in &stages {
        let check = reproduce_stage(&lake, &repo, rec, committer).await?;
        report.identical &= check.identical;
        report.stages.push(check);
    }
    Ok(report)
}

async fn reproduce_stage(
    lake: &Arc<Lake>,
    repo: &weir_store::Repo,
    rec: &RunRecord,
    committer: &str,
) -> Result<StageCheck> {
    let name = rec.stage.clone().unwrap_or_default();
    let missing = |what: &str| {
        JobsError::InvalidArgument(format!(
            "run {} stage {name}: the record has no {what} (runs recorded before weir kept it cannot be reproduced)",
            rec.run_id
        ))
    };
    let sql = rec.sql.clone().ok_or_else(|| missing("SQL"))?;
    let mode = rec
        .mode
        .as_deref()
        .and_then(OutputMode::parse)
        .ok_or_else(|| missing("write mode"))?;
    if rec.sql_hash.as_deref() != Some(sha256_hex(&sql).as_str()) {
        return Err(JobsError::InvalidArgument(format!(
            "run {} stage {name}: the recorded SQL does not match its recorded hash",
            rec.run_id
        )));
    }
    let out = rec.outputs.first().ok_or_else(|| missing("output"))?;
    // Inputs on the run branch were read at its head when the stage began;
    // with none (a stage reading only other refs), the output's parent.
    let input_commit = match rec.inputs.iter().find(|p| p.reference == rec.run_branch) {
        Some(p) => p.commit.clone(),
        None => repo
            .commit_record(&out.commit)?
            .parents
            .first()
            .cloned()
            .ok_or_else(|| missing("input commit"))?,
    };
    let branch = format!(
        "reproduce-{}-{}",
        rec.run_id,
        name.to_ascii_lowercase().replace('_', "-")
    );
    let _ = repo.delete_branch(&branch);
    repo.create_branch(&branch, &input_commit)?;
    let params = Params::from_json(&rec.params)?;
    let session = weir_sql::session(
        lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some(repo.name().to_string()),
            reference: Some(branch.clone()),
        },
    )?;
    let what = format!("stage {name} (recorded SQL)");
    let planned = PlannedStage {
        stage: Stage {
            name: name.clone(),
            description: None,
            sql_file: "(recorded)".into(),
            sql: sql.clone(),
            features: None,
            output: out.table.clone(),
            mode,
            after: Vec::new(),
            gates: Vec::new(),
        },
        query: parse_query(&session.state(), &sql, &params, &what)?,
        sql_hash: sha256_hex(&sql),
        params: rec.params.clone(),
        gates: Vec::new(),
        deps: Vec::new(),
        dep_outputs: Vec::new(),
    };
    let ctx = StageCtx {
        lake: lake.clone(),
        repo: repo.clone(),
        run_id: format!("reproduce-{}", rec.run_id),
        run_branch: branch.clone(),
        base: run_base(repo, &out.commit, &rec.run_id)?,
        pipeline: rec.pipeline.clone(),
        committer: committer.to_string(),
        previous: Vec::new(),
        force: true,
        scope: None,
    };
    let done = run_stage(&ctx, &planned).await;
    let mut check = StageCheck {
        stage: name,
        output: out.table.clone(),
        input_commit,
        original_commit: out.commit.clone(),
        identical: false,
        rows: done.rows.unwrap_or(0),
        only_original: 0,
        only_reproduced: 0,
        schema_matches: false,
        branch: Some(branch.clone()),
        error: done.error.clone(),
        duration: done.duration,
    };
    if done.status == StageStatus::Succeeded {
        let cmp = weir_sql::session(
            lake.clone(),
            &weir_sql::SqlOptions {
                repo: Some(repo.name().to_string()),
                reference: Some(branch.clone()),
            },
        )?;
        let t = &out.table;
        let original = format!("\"{}\".\"{t}\"", out.commit);
        let again = format!("\"{branch}\".\"{t}\"");
        let a = cmp.table(original.as_str()).await?;
        let b = cmp.table(again.as_str()).await?;
        check.schema_matches = a.schema().as_arrow().fields() == b.schema().as_arrow().fields();
        if check.schema_matches {
            let original = TableRef::new(repo, &out.commit, t)?;
            let again = TableRef::new(repo, &branch, t)?;
            (check.only_original, check.only_reproduced) =
                multiset_difference(&original, &again).await?;
        }
        check.identical =
            check.schema_matches && check.only_original == 0 && check.only_reproduced == 0;
    }
    if check.identical {
        repo.delete_branch(&branch)?;
        check.branch = None;
    }
    Ok(check)
}

/// The commit a run's branch was made from (what its stages read as
/// `target.T`): the first ancestor of a stage's commit that the run did
/// not make.
fn run_base(repo: &weir_store::Repo, commit: &str, run_id: &str) -> Result<String> {
    let mut at = commit.to_string();
    loop {
        let c = repo.commit_record(&at)?;
        if c.metadata.get("weir.run.id").map(String::as_str) != Some(run_id) {
            return Ok(at);
        }
        match c.parents.first() {
            Some(p) => at = p.clone(),
            None => return Ok(at),
        }
    }
}
