//! The tracking store as Delta tables on `main` of the tenant's tracking
//! repository, so SQL, `weir log`, time travel and `weir verify` see
//! experiment history: `experiments`, `runs`, `params`, `tags`, `metrics`,
//! `registered_models`, `model_versions`, `logged_models`. Metrics and
//! params only grow, so they are appended; the other tables are small and
//! are rewritten whole when a flush changed them.

use std::collections::BTreeSet;
use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use deltalake::datafusion::physical_plan::memory::MemoryStream;
use deltalake::datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_store::Repo;
use weir_tables::{TableRef, WriteMode, WriteOptions};

use crate::error::{Result, TrackingError};
use crate::model::{
    Change, Experiment, LoggedModel, Metric, ModelVersion, RegisteredModel, RunInfo, State, Tag,
};

#[derive(Serialize, Deserialize)]
struct RunRow {
    #[serde(flatten)]
    info: RunInfo,
    /// `DatasetInput`s, `ModelInput`s and `ModelOutput`s as JSON text.
    #[serde(default)]
    inputs: Option<String>,
    #[serde(default)]
    model_inputs: Option<String>,
    #[serde(default)]
    outputs: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct KeyRow {
    run_id: String,
    key: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
struct MetricRow {
    run_id: String,
    key: String,
    /// Null for NaN and the infinities, which `special` spells.
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    special: Option<String>,
    timestamp: i64,
    step: i64,
    #[serde(default)]
    dataset_name: Option<String>,
    #[serde(default)]
    dataset_digest: Option<String>,
    #[serde(default)]
    model_id: Option<String>,
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn int(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}

/// A list of `{key, value}` (tags, aliases, a logged model's params).
fn pairs(name: &str) -> Field {
    let item = DataType::Struct(Fields::from(vec![utf8("key", false), utf8("value", true)]));
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", item, true))),
        true,
    )
}

pub fn schema(table: &str) -> SchemaRef {
    let f = match table {
        "experiments" => vec![
            utf8("experiment_id", false),
            utf8("name", false),
            utf8("artifact_location", false),
            utf8("lifecycle_stage", false),
            int("creation_time", false),
            int("last_update_time", false),
            pairs("tags"),
        ],
        "runs" => vec![
            utf8("run_id", false),
            utf8("experiment_id", false),
            utf8("run_name", false),
            utf8("user_id", false),
            utf8("status", false),
            int("start_time", true),
            int("end_time", true),
            utf8("artifact_uri", false),
            utf8("lifecycle_stage", false),
            utf8("inputs", true),
            utf8("model_inputs", true),
            utf8("outputs", true),
        ],
        "params" | "tags" => vec![
            utf8("run_id", false),
            utf8("key", false),
            utf8("value", false),
        ],
        "metrics" => vec![
            utf8("run_id", false),
            utf8("key", false),
            Field::new("value", DataType::Float64, true),
            utf8("special", true),
            int("timestamp", false),
            int("step", false),
            utf8("dataset_name", true),
            utf8("dataset_digest", true),
            utf8("model_id", true),
        ],
        "registered_models" => vec![
            utf8("name", false),
            int("creation_timestamp", false),
            int("last_updated_timestamp", false),
            utf8("user_id", true),
            utf8("description", true),
            pairs("tags"),
            pairs("aliases"),
        ],
        "model_versions" => vec![
            utf8("name", false),
            int("version", false),
            int("creation_timestamp", false),
            int("last_updated_timestamp", false),
            utf8("user_id", true),
            utf8("current_stage", false),
            utf8("description", true),
            utf8("source", false),
            utf8("run_id", true),
            utf8("status", false),
            utf8("run_link", true),
            utf8("model_id", true),
            pairs("tags"),
        ],
        _ => vec![
            utf8("model_id", false),
            utf8("experiment_id", false),
            utf8("name", false),
            utf8("model_type", true),
            utf8("source_run_id", true),
            utf8("status", false),
            utf8("status_message", true),
            int("creation_timestamp_ms", false),
            int("last_updated_timestamp_ms", false),
            utf8("artifact_uri", false),
            utf8("creator_id", true),
            pairs("tags"),
            pairs("params"),
        ],
    };
    Arc::new(Schema::new(f))
}

pub const TABLES: [&str; 8] = [
    "experiments",
    "runs",
    "params",
    "tags",
    "metrics",
    "registered_models",
    "model_versions",
    "logged_models",
];

/// Tables written by appending only what the flushed changes add.
pub fn appended(table: &str) -> bool {
    matches!(table, "metrics" | "params")
}

fn text(v: &[Value]) -> Option<String> {
    (!v.is_empty()).then(|| Value::Array(v.to_vec()).to_string())
}

fn metric_row(run_id: &str, m: &Metric) -> MetricRow {
    let special = (!m.value.is_finite()).then(|| crate::model::metric_value(m.value));
    MetricRow {
        run_id: run_id.into(),
        key: m.key.clone(),
        value: m.value.is_finite().then_some(m.value),
        special: special.and_then(|s| s.as_str().map(str::to_string)),
        timestamp: m.timestamp,
        step: m.step,
        dataset_name: m.dataset_name.clone(),
        dataset_digest: m.dataset_digest.clone(),
        model_id: m.model_id.clone(),
    }
}

/// What a flush appends: the params and metric values logged since the
/// tables were last written.
#[derive(Default)]
pub struct Appended {
    pub params: Vec<(String, Tag)>,
    pub metrics: Vec<(String, Metric)>,
}

/// The rows of `table` a flush writes: for an appended table, those of
/// `new`; for the others, the whole table as `state` has it.
pub fn rows(table: &str, state: &State, new: &Appended) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    match table {
        "metrics" => out.extend(new.metrics.iter().map(|(r, m)| to(&metric_row(r, m)))),
        "params" => out.extend(new.params.iter().map(|(r, p)| {
            to(&KeyRow {
                run_id: r.clone(),
                key: p.key.clone(),
                value: p.value.clone(),
            })
        })),
        "tags" => {
            for (id, r) in &state.runs {
                out.extend(r.tags.iter().map(|(k, v)| {
                    to(&KeyRow {
                        run_id: id.clone(),
                        key: k.clone(),
                        value: v.clone(),
                    })
                }));
            }
        }
        "experiments" => out.extend(state.experiments.values().map(to)),
        "runs" => {
            for r in state.runs.values() {
                if let Some(info) = &r.info {
                    out.push(to(&RunRow {
                        info: info.clone(),
                        inputs: text(&r.inputs),
                        model_inputs: text(&r.model_inputs),
                        outputs: text(&r.outputs),
                    }));
                }
            }
        }
        "registered_models" => out.extend(state.models.values().map(to)),
        "model_versions" => out.extend(state.versions.values().map(to)),
        _ => out.extend(state.logged.values().map(to)),
    }
    out
}

fn to<T: Serialize>(row: &T) -> Value {
    serde_json::to_value(row).unwrap_or_default()
}

/// Writes `rows` to `table` on `main` without committing: the flush
/// commits every table and artifact of a batch at once.
pub async fn write(repo: &Repo, table: &str, rows: &[Value]) -> Result<()> {
    let t = TableRef::new(repo, "main", table)?;
    let exists = t.load().await?.is_some();
    if appended(table) && rows.is_empty() {
        return Ok(());
    }
    if !exists && rows.is_empty() {
        return Ok(());
    }
    let schema = schema(table);
    let mut decoder = deltalake::arrow::json::ReaderBuilder::new(schema.clone())
        .build_decoder()
        .map_err(internal)?;
    decoder.serialize(rows).map_err(internal)?;
    let batch = decoder
        .flush()
        .map_err(internal)?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
    let stream = MemoryStream::try_new(vec![batch], schema, None).map_err(internal)?;
    weir_tables::write_stream(
        &t,
        Box::pin(stream),
        &WriteOptions {
            mode: if appended(table) {
                WriteMode::Append
            } else {
                WriteMode::Overwrite
            },
            allow_new_columns: true,
            replace_schema: false,
            commit: None,
            properties: vec![("delta.checkpointInterval".into(), "10".into())],
        },
    )
    .await?;
    Ok(())
}

/// The state the tables on `reference` hold, as changes to replay.
pub async fn load(repo: &Repo, reference: &str) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for table in TABLES {
        let t = TableRef::new(repo, reference, table)?;
        let Some(delta) = t.load().await? else {
            continue;
        };
        let ctx = SessionContext::new();
        let provider = delta.table_provider().await.map_err(internal)?;
        let batches = ctx
            .read_table(provider)
            .map_err(internal)?
            .collect()
            .await
            .map_err(internal)?;
        let lists: &[&str] = &["tags", "aliases", "params"];
        match table {
            "experiments" => {
                let rows: Vec<Experiment> = read(&batches, lists)?;
                out.extend(rows.into_iter().map(Change::Experiment));
            }
            "runs" => {
                let rows: Vec<RunRow> = read(&batches, lists)?;
                for r in rows {
                    let parse = |t: &Option<String>| -> Vec<Value> {
                        t.as_deref()
                            .and_then(|t| serde_json::from_str(t).ok())
                            .unwrap_or_default()
                    };
                    let id = r.info.run_id.clone();
                    out.push(Change::Run(r.info));
                    out.push(Change::Inputs {
                        run_id: id.clone(),
                        datasets: parse(&r.inputs),
                        models: parse(&r.model_inputs),
                    });
                    out.push(Change::Outputs {
                        run_id: id,
                        models: parse(&r.outputs),
                    });
                }
            }
            "params" | "tags" => {
                let rows: Vec<KeyRow> = read(&batches, lists)?;
                for r in rows {
                    let kv = vec![Tag {
                        key: r.key,
                        value: r.value,
                    }];
                    out.push(if table == "params" {
                        Change::Params {
                            run_id: r.run_id,
                            params: kv,
                        }
                    } else {
                        Change::Tags {
                            run_id: r.run_id,
                            tags: kv,
                        }
                    });
                }
            }
            "metrics" => {
                let mut rows: Vec<MetricRow> = read(&batches, lists)?;
                rows.sort_by_key(|r| r.timestamp);
                for r in rows {
                    let value = match (r.value, r.special.as_deref()) {
                        (Some(v), _) => v,
                        (None, Some("Infinity")) => f64::INFINITY,
                        (None, Some("-Infinity")) => f64::NEG_INFINITY,
                        _ => f64::NAN,
                    };
                    out.push(Change::Metrics {
                        run_id: r.run_id,
                        metrics: vec![Metric {
                            key: r.key,
                            value,
                            timestamp: r.timestamp,
                            step: r.step,
                            dataset_name: r.dataset_name,
                            dataset_digest: r.dataset_digest,
                            model_id: r.model_id,
                        }],
                    });
                }
            }
            "registered_models" => {
                let rows: Vec<RegisteredModel> = read(&batches, lists)?;
                out.extend(rows.into_iter().map(Change::RegisteredModel));
            }
            "model_versions" => {
                let rows: Vec<ModelVersion> = read(&batches, lists)?;
                out.extend(rows.into_iter().map(Change::Version));
            }
            _ => {
                let rows: Vec<LoggedModel> = read(&batches, lists)?;
                out.extend(rows.into_iter().map(Change::LoggedModel));
            }
        }
    }
    Ok(out)
}

fn read<T: serde::de::DeserializeOwned>(b: &[RecordBatch], lists: &[&str]) -> Result<Vec<T>> {
    Ok(weir_tables::read_rows(b, lists)?)
}

/// The tables a flush of `changes` and `new` writes.
pub fn touched<'a>(
    changes: impl Iterator<Item = &'a Change>,
    new: &Appended,
) -> BTreeSet<&'static str> {
    let mut t: BTreeSet<&'static str> = changes.flat_map(|c| c.tables().iter().copied()).collect();
    t.retain(|t| !appended(t));
    if !new.params.is_empty() {
        t.insert("params");
    }
    if !new.metrics.is_empty() {
        t.insert("metrics");
    }
    t
}

fn internal(e: impl std::fmt::Display) -> TrackingError {
    TrackingError::Internal(e.to_string())
}
