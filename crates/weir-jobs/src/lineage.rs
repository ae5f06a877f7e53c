//! The OpenLineage side of a run: column lineage from each stage's plan,
//! and the events (a START and a COMPLETE or FAIL for the run and for every
//! stage that ran) saved beside the run records.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use deltalake::datafusion::common::TableReference;
use deltalake::datafusion::execution::SessionState;
use deltalake::datafusion::logical_expr::LogicalPlan;
use serde_json::{Value, json};
use weir_lineage::{ColumnLineage, Dataset, EventRow, JobEvent, namespace, run_uuid};
use weir_store::Lake;

use crate::error::Result;
use crate::manifest::Manifest;
use crate::records::TablePin;
use crate::runner::{RunReport, StageReport, StageStatus};
use crate::stage::StageCtx;

/// Column lineage of a stage's query, over the tables it pinned. The plan
/// is optimized first so subqueries appear as joins of their tables.
pub fn of_plan(
    state: &SessionState,
    plan: &LogicalPlan,
    ctx: &StageCtx,
    pins: &[TablePin],
) -> ColumnLineage {
    let optimized = state.optimize(plan).unwrap_or_else(|_| plan.clone());
    let resolve = |r: &TableReference| -> Option<String> {
        let repo = match r {
            TableReference::Full { catalog, .. } => catalog.to_string(),
            _ => ctx.repo.name().to_string(),
        };
        let table = r.table();
        pins.iter()
            .any(|p| p.repo == repo && p.table == table)
            .then(|| format!("{repo}/{table}"))
    };
    weir_lineage::column_lineage(&optimized, &resolve)
}

fn dataset(p: &TablePin, schema: &[(String, String)]) -> Dataset {
    Dataset {
        repo: p.repo.clone(),
        table: p.table.clone(),
        reference: p.reference.clone(),
        commit: p.commit.clone(),
        version: Some(p.version),
        fingerprint: p.fingerprint.clone(),
        schema: schema.to_vec(),
    }
}

fn later(start: &str, d: std::time::Duration) -> String {
    DateTime::parse_from_rfc3339(start)
        .map(|t| t.with_timezone(&Utc) + d)
        .unwrap_or_else(|_| Utc::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Events of a finished run, in time order.
pub fn run_events(
    manifest: &Manifest,
    run: &RunReport,
    stages: &[StageReport],
    started_at: &str,
) -> Vec<Value> {
    let ns = namespace(&run.repo);
    let parent_id = run_uuid(&format!("weir-run:{}", run.run_id));
    let weir = |stage: Option<&str>| {
        json!({"run_id": run.run_id, "pipeline": run.pipeline, "stage": stage,
               "target": run.target, "run_branch": run.run_branch})
    };
    let base = |event_type, time: String| JobEvent {
        event_type,
        event_time: time,
        run_id: parent_id.clone(),
        job_namespace: ns.clone(),
        job_name: run.pipeline.clone(),
        description: manifest.description.as_deref(),
        weir: weir(None),
        ..JobEvent::default()
    };
    let mut out = vec![base("START", started_at.to_string()).to_json()];
    for s in stages {
        if !matches!(s.status, StageStatus::Succeeded | StageStatus::Failed) {
            continue;
        }
        let stage = manifest.stages.iter().find(|m| m.name == s.name);
        let inputs: Vec<Dataset> = s.inputs.iter().map(|p| dataset(p, &[])).collect();
        let outputs: Vec<(Dataset, Option<ColumnLineage>, Option<u64>)> = s
            .outputs
            .iter()
            .map(|p| (dataset(p, &s.schema), s.lineage.clone(), s.rows))
            .collect();
        let ev = |event_type, time: String, error: Option<&str>| {
            JobEvent {
                event_type,
                event_time: time,
                run_id: run_uuid(&format!("weir-run:{}:{}", run.run_id, s.name)),
                job_namespace: ns.clone(),
                job_name: format!("{}.{}", run.pipeline, s.name),
                parent: Some((parent_id.clone(), run.pipeline.clone())),
                sql: stage.map(|m| m.sql.as_str()),
                description: stage.and_then(|m| m.description.as_deref()),
                inputs: &inputs,
                outputs: &outputs,
                error,
                weir: weir(Some(&s.name)),
            }
            .to_json()
        };
        out.push(ev("START", s.started_at.clone(), None));
        let end = later(&s.started_at, s.duration);
        out.push(match s.status {
            StageStatus::Succeeded => ev("COMPLETE", end, None),
            _ => ev("FAIL", end, s.error.as_deref()),
        });
    }
    let end = later(started_at, run.duration);
    let mut last = base(
        if run.status == "failed" {
            "FAIL"
        } else {
            "COMPLETE"
        },
        end,
    );
    let err = run.failure.as_ref().map(|(_, m)| m.as_str());
    last.error = err;
    out.push(last.to_json());
    out
}

/// Stores the events; each stage output carries the commit it was
/// written at, which is what "lineage as of a ref" is decided by.
pub async fn save(
    lake: &Arc<Lake>,
    events: &[Value],
    run: &RunReport,
    stages: &[StageReport],
    opts: &crate::runner::RunOptions,
) -> Result<()> {
    let commit_of = |ns: &str, name: &str| -> Option<String> {
        stages
            .iter()
            .flat_map(|s| &s.outputs)
            .find(|p| namespace(&p.repo) == ns && p.table == name)
            .map(|p| p.commit.clone())
    };
    let rows = events
        .iter()
        .map(|e| {
            let mut row = EventRow::from_event(e, &commit_of)?;
            row.tenant = Some(opts.tenant().to_string());
            Ok(row)
        })
        .collect::<std::result::Result<Vec<_>, weir_lineage::LineageError>>()?;
    weir_lineage::append(
        lake,
        &rows,
        &opts.committer,
        &format!("Lineage of run {} ({})", run.run_id, run.pipeline),
    )
    .await?;
    Ok(())
}
