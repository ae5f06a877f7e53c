//! Ingests in the lineage graph: a COMPLETE event whose input is the source
//! file (namespace `file`, with its SHA-256) and whose output is the table
//! at the ingest's commit, every column an identity of the file's column.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;
use weir_store::Lake;
use weir_tables::TableRef;

use crate::column::{ColumnLineage, Direct};
use crate::error::Result;
use crate::event::{Dataset, JobEvent, namespace, run_uuid};
use crate::store::EventRow;

/// What an ingest wrote.
pub struct Ingested<'a> {
    pub repo: &'a str,
    pub branch: &'a str,
    pub table: &'a str,
    /// How the source is named in lineage: an absolute path, or a name for
    /// shipped data.
    pub source: String,
    pub sha256: &'a str,
    pub rows: u64,
    pub version: u64,
    pub commit: &'a str,
}

/// `tenant` is the repository's: the event is in its lineage graph.
pub async fn record_ingest(
    lake: &Arc<Lake>,
    i: &Ingested<'_>,
    committer: &str,
    tenant: &str,
) -> Result<()> {
    let repo = lake.repo(i.repo)?;
    let t = TableRef::new(&repo, i.commit, i.table)?;
    let schema: Vec<(String, String)> = match t.load().await? {
        Some(table) => table
            .snapshot()?
            .snapshot()
            .arrow_schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect(),
        None => Vec::new(),
    };
    let file_key = format!("\u{0}file/{}", i.source);
    let lineage = ColumnLineage {
        fields: schema
            .iter()
            .map(|(c, _)| {
                (
                    c.clone(),
                    BTreeMap::from([((file_key.clone(), c.clone()), Direct::Identity)]),
                )
            })
            .collect(),
        indirect: BTreeMap::<_, BTreeSet<_>>::new(),
    };
    let out = Dataset {
        repo: i.repo.to_string(),
        table: i.table.to_string(),
        reference: i.branch.to_string(),
        commit: i.commit.to_string(),
        version: Some(i.version as i64),
        fingerprint: t.fingerprint().await?.unwrap_or_default(),
        schema,
    };
    let outputs = [(out, Some(lineage), Some(i.rows))];
    let mut event = JobEvent {
        event_type: "COMPLETE",
        event_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        run_id: run_uuid(&format!("weir-ingest:{}", i.commit)),
        job_namespace: namespace(i.repo),
        job_name: format!("ingest.{}", i.table),
        outputs: &outputs,
        weir: json!({"operation": "ingest", "commit": i.commit}),
        ..JobEvent::default()
    }
    .to_json();
    event["inputs"] = json!([{
        "namespace": "file",
        "name": i.source,
        "facets": {"weir_source": {
            "_producer": crate::event::PRODUCER,
            "_schemaURL": format!("{}/blob/main/docs/lineage.md#weir_source", crate::event::PRODUCER),
            "sha256": i.sha256,
        }},
    }]);
    let commit = i.commit.to_string();
    let ns = namespace(i.repo);
    let mut row = EventRow::from_event(&event, &|n, name| {
        (n == ns && name == i.table).then(|| commit.clone())
    })?;
    row.tenant = Some(tenant.to_string());
    crate::store::append(
        lake,
        &[row],
        committer,
        &format!("Lineage of the ingest into {}/{}", i.repo, i.table),
    )
    .await
}
