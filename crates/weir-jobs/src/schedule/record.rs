//! A firing's record: a row of the Delta table `schedule_runs` in the
//! system repository, read as `weir_schedule_runs()`.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

pub const SCHEDULE_RUNS_TABLE: &str = "schedule_runs";

/// A firing, as recorded in `schedule_runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Firing {
    pub trigger: String,
    /// cron, on-commit or manual (`weir schedule run`).
    pub kind: String,
    /// The tick it fired for (timetables).
    pub due_at: Option<String>,
    /// The commit that fired it (on-commit), or the target's head when
    /// the run started.
    pub commit: Option<String>,
    pub run_id: Option<String>,
    /// succeeded, failed (a stage or gate failed; nothing merged) or error
    /// (the run could not start).
    pub outcome: String,
    pub error: Option<String>,
    /// The row a condition returned (JSON): the finding that fired it.
    #[serde(default)]
    pub cause: Option<String>,
    pub fired_at: String,
    pub finished_at: String,
    /// The process that claimed it (`host:pid`).
    pub claimant: String,
    /// The trigger's webhook: `delivered`, or `dead-letter` after its
    /// last try (none when it has no webhook or was not to be told).
    #[serde(default)]
    pub alert: Option<String>,
    #[serde(default)]
    pub alert_attempts: Option<u32>,
    #[serde(default)]
    pub alert_error: Option<String>,
}

pub fn schedule_runs_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("trigger", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("due_at", ts(), true),
        Field::new("commit", DataType::Utf8, true),
        Field::new("run_id", DataType::Utf8, true),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("cause", DataType::Utf8, true),
        Field::new("fired_at", ts(), false),
        Field::new("finished_at", ts(), false),
        Field::new("claimant", DataType::Utf8, false),
        Field::new("alert", DataType::Utf8, true),
        Field::new("alert_attempts", DataType::Int64, true),
        Field::new("alert_error", DataType::Utf8, true),
    ]))
}
