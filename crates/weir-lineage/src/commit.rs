//! Manual commits in the lineage graph. A table changed by hand (an
//! `INSERT INTO` then `weir commit`, files uploaded and committed) is no
//! longer what the pipeline run before made it: a COMPLETE event of the job
//! `commit` naming the tables the commit changed, at that commit, makes
//! "as of" queries say so instead of crediting the earlier run.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use weir_store::{CommitRecord, DiffMode, DiffScope, Lake};

use crate::error::Result;
use crate::event::{Dataset, JobEvent, namespace, run_uuid};
use crate::store::EventRow;

/// Records `commit` of `repo` (a commit with one parent) if it changed any
/// table, in the lineage graph of `tenant` (the repository's); returns how
/// many tables it names.
pub async fn record_commit(
    lake: &Arc<Lake>,
    repo: &str,
    branch: &str,
    commit: &CommitRecord,
    tenant: &str,
) -> Result<usize> {
    let Some(parent) = commit.parents.first() else {
        return Ok(0);
    };
    let r = lake.repo(repo)?;
    let changes = r
        .diff(parent, &commit.id, DiffMode::TwoDot, &DiffScope::all())
        .await?;
    let tables: BTreeSet<String> = changes
        .iter()
        .filter_map(|d| {
            let (table, rest) = d.path.split_once('/')?;
            rest.starts_with("_delta_log/").then(|| table.to_string())
        })
        .collect();
    if tables.is_empty() {
        return Ok(0);
    }
    let outputs: Vec<_> = tables
        .iter()
        .map(|t| {
            (
                Dataset {
                    repo: repo.to_string(),
                    table: t.clone(),
                    reference: branch.to_string(),
                    commit: commit.id.clone(),
                    ..Dataset::default()
                },
                None,
                None,
            )
        })
        .collect();
    let event = JobEvent {
        event_type: "COMPLETE",
        event_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        run_id: run_uuid(&format!("weir-commit:{}", commit.id)),
        job_namespace: namespace(repo),
        job_name: "commit".into(),
        description: Some(&commit.message),
        outputs: &outputs,
        weir: json!({"operation": "commit", "commit": commit.id, "committer": commit.committer}),
        ..JobEvent::default()
    }
    .to_json();
    let ns = namespace(repo);
    let id = commit.id.clone();
    let mut row = EventRow::from_event(&event, &|n, _| (n == ns).then(|| id.clone()))?;
    row.tenant = Some(tenant.to_string());
    crate::store::append(
        lake,
        &[row],
        &commit.committer,
        &format!("Lineage of commit {}", &commit.id[..12]),
    )
    .await?;
    Ok(tables.len())
}
