//! OpenLineage RunEvents (spec 2-0-2) for what weir does: one START and one
//! COMPLETE or FAIL per pipeline stage, and a COMPLETE per ingest. Datasets
//! are named as OpenLineage recommends for tables in a store: namespace
//! `weir://REPO`, name = the table; the Delta version goes in the `version`
//! facet, and weir's own pin (ref, lake commit, log fingerprint) in a
//! `weir_version` facet, so any event leads back to exact bytes.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::column::ColumnLineage;

pub const PRODUCER: &str = "https://github.com/weir-lake/weir";
const SPEC: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const FACETS: &str = "https://openlineage.io/spec/facets";

pub fn namespace(repo: &str) -> String {
    format!("weir://{repo}")
}

/// A deterministic UUID (version 8) for a weir identifier, so a stage's
/// OpenLineage runId can be recomputed from the run record.
pub fn run_uuid(key: &str) -> String {
    let h = Sha256::digest(key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid().to_string()
}

fn facet(schema: &str) -> Value {
    json!({"_producer": PRODUCER, "_schemaURL": format!("{FACETS}/{schema}")})
}

fn with(mut base: Value, fields: Value) -> Value {
    if let (Some(b), Some(f)) = (base.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// A table as an event names it.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub repo: String,
    pub table: String,
    pub reference: String,
    pub commit: String,
    pub version: Option<i64>,
    pub fingerprint: String,
    /// (column, type) when known.
    pub schema: Vec<(String, String)>,
}

impl Dataset {
    fn to_json(&self, lineage: Option<&ColumnLineage>, rows: Option<u64>) -> Value {
        let mut facets = serde_json::Map::new();
        if !self.schema.is_empty() {
            facets.insert(
                "schema".into(),
                with(
                    facet("1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"),
                    json!({"fields": self.schema.iter().enumerate().map(|(i, (n, t))| json!({"name": n, "type": t, "ordinal_position": i + 1})).collect::<Vec<_>>()}),
                ),
            );
        }
        if let Some(v) = self.version {
            facets.insert(
                "version".into(),
                with(
                    facet(
                        "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
                    ),
                    json!({"datasetVersion": v.to_string()}),
                ),
            );
        }
        facets.insert(
            "storage".into(),
            with(
                facet("1-0-1/StorageDatasetFacet.json#/$defs/StorageDatasetFacet"),
                json!({"storageLayer": "delta", "fileFormat": "parquet"}),
            ),
        );
        facets.insert(
            "weir_version".into(),
            json!({
                "_producer": PRODUCER,
                "_schemaURL": format!("{PRODUCER}/blob/main/docs/lineage.md#weir_version"),
                "ref": self.reference,
                "commit": self.commit,
                "fingerprint": self.fingerprint,
            }),
        );
        if let Some(l) = lineage {
            facets.insert("columnLineage".into(), column_facet(l));
        }
        let mut d = json!({
            "namespace": namespace(&self.repo),
            "name": self.table,
            "facets": facets,
        });
        if let Some(n) = rows {
            d["outputFacets"] = json!({"outputStatistics": with(
                facet("1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"),
                json!({"rowCount": n}),
            )});
        }
        d
    }
}

/// Dataset keys are `repo/table`, or `\0namespace/name` for datasets
/// outside the lake (a source file).
fn split(dataset: &str) -> (String, String) {
    if let Some(rest) = dataset.strip_prefix('\u{0}') {
        let (ns, name) = rest.split_once('/').unwrap_or((rest, ""));
        return (ns.to_string(), name.to_string());
    }
    match dataset.split_once('/') {
        Some((repo, table)) => (namespace(repo), table.to_string()),
        None => (String::new(), dataset.to_string()),
    }
}

/// The `columnLineage` facet (1-2-0). Dataset keys in `l` are `repo/table`.
pub fn column_facet(l: &ColumnLineage) -> Value {
    let mut fields = serde_json::Map::new();
    for (out, sources) in &l.fields {
        let inputs: Vec<Value> = sources
            .iter()
            .map(|((ds, col), d)| {
                let (ns, name) = split(ds);
                json!({"namespace": ns, "name": name, "field": col,
                       "transformations": [{"type": "DIRECT", "subtype": d.as_str()}]})
            })
            .collect();
        fields.insert(out.clone(), json!({"inputFields": inputs}));
    }
    let dataset: Vec<Value> = l
        .indirect
        .iter()
        .map(|((ds, col), kinds)| {
            let (ns, name) = split(ds);
            json!({"namespace": ns, "name": name, "field": col,
                   "transformations": kinds.iter().map(|k| json!({"type": "INDIRECT", "subtype": k.as_str()})).collect::<Vec<_>>()})
        })
        .collect();
    with(
        facet("1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"),
        json!({"fields": fields, "dataset": dataset}),
    )
}

/// One event of a weir job.
#[derive(Debug, Clone, Default)]
pub struct JobEvent<'a> {
    /// START, COMPLETE or FAIL.
    pub event_type: &'a str,
    pub event_time: String,
    pub run_id: String,
    pub job_namespace: String,
    pub job_name: String,
    /// (runId, job name) of the pipeline run this stage belongs to.
    pub parent: Option<(String, String)>,
    pub sql: Option<&'a str>,
    pub description: Option<&'a str>,
    pub inputs: &'a [Dataset],
    pub outputs: &'a [(Dataset, Option<ColumnLineage>, Option<u64>)],
    pub error: Option<&'a str>,
    /// weir's identifiers, kept in a custom run facet.
    pub weir: Value,
}

impl JobEvent<'_> {
    pub fn to_json(&self) -> Value {
        let mut run_facets = serde_json::Map::new();
        if let Some((id, job)) = &self.parent {
            run_facets.insert(
                "parent".into(),
                with(
                    facet("1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"),
                    json!({"run": {"runId": id}, "job": {"namespace": self.job_namespace, "name": job}}),
                ),
            );
        }
        if let Some(e) = self.error {
            run_facets.insert(
                "errorMessage".into(),
                with(
                    facet("1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"),
                    json!({"message": e, "programmingLanguage": "SQL"}),
                ),
            );
        }
        run_facets.insert(
            "processing_engine".into(),
            with(
                facet("1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet"),
                json!({"name": "weir", "version": env!("CARGO_PKG_VERSION")}),
            ),
        );
        if !self.weir.is_null() {
            run_facets.insert(
                "weir_run".into(),
                with(
                    json!({"_producer": PRODUCER, "_schemaURL": format!("{PRODUCER}/blob/main/docs/lineage.md#weir_run")}),
                    self.weir.clone(),
                ),
            );
        }
        let mut job_facets = serde_json::Map::new();
        if let Some(q) = self.sql {
            job_facets.insert(
                "sql".into(),
                with(
                    facet("1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet"),
                    json!({"query": q, "dialect": "datafusion"}),
                ),
            );
        }
        if let Some(d) = self.description {
            job_facets.insert(
                "documentation".into(),
                with(
                    facet("1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet"),
                    json!({"description": d}),
                ),
            );
        }
        job_facets.insert(
            "jobType".into(),
            with(
                facet("2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"),
                json!({"processingType": "BATCH", "integration": "WEIR", "jobType": "QUERY"}),
            ),
        );
        let complete = self.event_type != "START";
        json!({
            "eventType": self.event_type,
            "eventTime": self.event_time,
            "producer": PRODUCER,
            "schemaURL": SPEC,
            "run": {"runId": self.run_id, "facets": run_facets},
            "job": {"namespace": self.job_namespace, "name": self.job_name, "facets": job_facets},
            "inputs": self.inputs.iter().map(|d| d.to_json(None, None)).collect::<Vec<_>>(),
            "outputs": self.outputs.iter().map(|(d, l, rows)| {
                if complete { d.to_json(l.as_ref(), *rows) } else { d.to_json(None, None) }
            }).collect::<Vec<_>>(),
        })
    }
}
