//! Lineage events as rows of the Delta table `lineage` on `main` of the
//! system repository: the whole event as JSON, plus the columns graph
//! queries need (type, time, job, input and output datasets with the
//! commit each output was written at).

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_core::names::{DEFAULT_TENANT, SYSTEM_REPO};
use weir_store::Lake;
use weir_tables::{CommitSpec, TableRef};

use crate::error::{LineageError, Result};

pub const LINEAGE_TABLE: &str = "lineage";

/// A dataset an event read or wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDataset {
    pub namespace: String,
    pub name: String,
    /// The lake commit a weir output was written at (none for inputs and
    /// for events sent by other tools).
    #[serde(default)]
    pub commit: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventRow {
    pub event_time: String,
    pub event_type: String,
    pub run_id: String,
    pub job_namespace: String,
    pub job_name: String,
    #[serde(default)]
    pub inputs: Vec<EventDataset>,
    #[serde(default)]
    pub outputs: Vec<EventDataset>,
    /// The event as received or produced (OpenLineage JSON).
    pub event: String,
    /// Whose event it is: the tenant of the repository a run wrote, or of
    /// the key that posted it. Events stored before tenants have none and
    /// are the default tenant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl EventRow {
    /// Indexes an OpenLineage event. `commits` gives the lake commit of
    /// each output by `(namespace, name)` for weir's own events.
    pub fn from_event(
        event: &Value,
        commits: &dyn Fn(&str, &str) -> Option<String>,
    ) -> Result<EventRow> {
        let s = |v: &Value| v.as_str().map(str::to_string);
        let bad = |m: &str| LineageError::InvalidEvent(m.to_string());
        let datasets = |key: &str, with_commit: bool| -> Vec<EventDataset> {
            event[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|d| {
                            let namespace = s(&d["namespace"])?;
                            let name = s(&d["name"])?;
                            let commit = if with_commit {
                                commits(&namespace, &name)
                            } else {
                                None
                            };
                            Some(EventDataset {
                                namespace,
                                name,
                                commit,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(EventRow {
            event_time: s(&event["eventTime"]).ok_or_else(|| bad("eventTime is required"))?,
            // Marquez reads a missing type as RUNNING.
            event_type: s(&event["eventType"]).unwrap_or_else(|| "RUNNING".into()),
            run_id: s(&event["run"]["runId"]).unwrap_or_default(),
            job_namespace: s(&event["job"]["namespace"]).unwrap_or_default(),
            job_name: s(&event["job"]["name"]).unwrap_or_default(),
            inputs: datasets("inputs", false),
            outputs: datasets("outputs", true),
            event: event.to_string(),
            tenant: None,
        })
    }
}

fn dataset_list() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(Fields::from(vec![
            Field::new("namespace", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("commit", DataType::Utf8, true),
        ])),
        true,
    )))
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("job_namespace", DataType::Utf8, false),
        Field::new("job_name", DataType::Utf8, false),
        Field::new("inputs", dataset_list(), true),
        Field::new("outputs", dataset_list(), true),
        Field::new("event", DataType::Utf8, false),
        Field::new("tenant", DataType::Utf8, true),
    ]))
}

/// Appends events as one Delta version and one lake commit.
pub async fn append(
    lake: &Arc<Lake>,
    rows: &[EventRow],
    committer: &str,
    message: &str,
) -> Result<()> {
    let commit = CommitSpec {
        message: message.to_string(),
        committer: committer.to_string(),
        metadata: Default::default(),
    };
    weir_tables::append_rows(lake, LINEAGE_TABLE, schema(), rows, commit).await?;
    Ok(())
}

/// The stored events of `tenant` (of every tenant with None), oldest
/// first. A tenant's graph is made only of its own events, so another
/// tenant cannot post events that claim to have written its datasets.
pub async fn load(lake: &Arc<Lake>, tenant: Option<&str>) -> Result<Vec<EventRow>> {
    let Ok(repo) = lake.repo(SYSTEM_REPO) else {
        return Ok(Vec::new());
    };
    let t = TableRef::new(&repo, "main", LINEAGE_TABLE)?;
    let Some(table) = t.load().await? else {
        return Ok(Vec::new());
    };
    let ctx = SessionContext::new();
    let provider = table.table_provider().await?;
    let mut df = ctx.read_table(provider)?;
    if let Some(t) = tenant {
        // Tables written before tenants have no such column: all theirs
        // is the default tenant's.
        let has_column = df.schema().has_column_with_unqualified_name("tenant");
        let mine = if has_column {
            let own = col("tenant").eq(lit(t));
            if t == DEFAULT_TENANT {
                own.or(col("tenant").is_null())
            } else {
                own
            }
        } else {
            lit(t == DEFAULT_TENANT)
        };
        df = df.filter(mine)?;
    }
    let batches = df
        .sort(vec![col("event_time").sort(true, true)])?
        .collect()
        .await?;
    Ok(weir_tables::read_rows(&batches, &["inputs", "outputs"])?)
}
