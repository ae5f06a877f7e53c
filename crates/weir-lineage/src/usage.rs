//! Usage records: what each tenant's callers asked of the lake, as rows of
//! the Delta table `usage` on `main` of the system repository. Requests
//! are counted per window (a server sums them in memory and appends one
//! row per tenant, user and operation when it flushes); SQL queries,
//! pipeline stages and stored bytes are one row each. Billing and costs
//! read this table and nothing else.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::datafusion::prelude::{Expr, SessionContext, col};
use serde::{Deserialize, Serialize};
use weir_core::names::SYSTEM_REPO;
use weir_store::Lake;
use weir_tables::{CommitSpec, TableRef};

use crate::error::Result;

pub const USAGE_TABLE: &str = "usage";

/// Where a usage row comes from.
pub mod surface {
    /// lakeFS REST, lineage, /metrics: one row per route and window.
    pub const REST: &str = "rest";
    /// The S3 gateway: one row per S3 operation and window.
    pub const S3: &str = "s3";
    /// /recommend_qty, /voi.
    pub const DECIDE: &str = "decide";
    /// One SQL query over HTTP: rows, bytes and the engine's CPU time.
    pub const SQL: &str = "sql";
    /// One pipeline stage.
    pub const STAGE: &str = "stage";
    /// A repository's stored bytes, sampled.
    pub const STORAGE: &str = "storage";
}

/// One row of the `usage` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    /// The window the row covers (a query's or stage's start and end).
    pub start: String,
    pub end: String,
    pub tenant: String,
    pub user: String,
    pub surface: String,
    /// Route template, S3 operation, `query`, stage name or `stored`.
    pub operation: String,
    /// The query, run or repository the row is about (none for requests
    /// summed over a window).
    pub resource_id: Option<String>,
    pub repository: Option<String>,
    pub requests: i64,
    /// Answers with a 4xx or 5xx status, among `requests`.
    pub errors: i64,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub rows: i64,
    pub cpu_seconds: f64,
    pub wall_seconds: f64,
    /// Bytes stored when sampled, and those bytes times the hours since
    /// the previous sample (what storage is priced by).
    pub stored_bytes: i64,
    pub byte_hours: f64,
    /// The process that recorded the row (`host:pid`).
    pub recorder: String,
}

pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let text = |n: &str| Field::new(n, DataType::Utf8, false);
    let int = |n: &str| Field::new(n, DataType::Int64, false);
    let real = |n: &str| Field::new(n, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        Field::new("start", ts.clone(), false),
        Field::new("end", ts, false),
        text("tenant"),
        text("user"),
        text("surface"),
        text("operation"),
        Field::new("resource_id", DataType::Utf8, true),
        Field::new("repository", DataType::Utf8, true),
        int("requests"),
        int("errors"),
        int("bytes_in"),
        int("bytes_out"),
        int("rows"),
        real("cpu_seconds"),
        real("wall_seconds"),
        int("stored_bytes"),
        real("byte_hours"),
        text("recorder"),
    ]))
}

/// This process, as rows name their recorder.
pub fn recorder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// A time as the table stores it.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A time as a literal to compare the table's `start` and `end` with.
pub fn time_lit(t: chrono::DateTime<chrono::Utc>) -> Expr {
    deltalake::datafusion::prelude::lit(
        deltalake::datafusion::scalar::ScalarValue::TimestampMicrosecond(
            Some(t.timestamp_micros()),
            Some("UTC".into()),
        ),
    )
}

/// Appends rows as one Delta version and one lake commit.
pub async fn append(lake: &Arc<Lake>, rows: &[UsageRow], committer: &str) -> Result<()> {
    let commit = CommitSpec {
        message: format!("Usage: {} rows", rows.len()),
        committer: committer.to_string(),
        metadata: Default::default(),
    };
    weir_tables::append_rows(lake, USAGE_TABLE, schema(), rows, commit).await?;
    Ok(())
}

/// Rows matching `filter`, oldest first; none before anything was recorded.
pub async fn select(lake: &Arc<Lake>, filter: Option<Expr>) -> Result<Vec<UsageRow>> {
    let Ok(repo) = lake.repo(SYSTEM_REPO) else {
        return Ok(Vec::new());
    };
    let t = TableRef::new(&repo, "main", USAGE_TABLE)?;
    let Some(table) = t.load().await? else {
        return Ok(Vec::new());
    };
    let ctx = SessionContext::new();
    let mut df = ctx.read_table(table.table_provider().await?)?;
    if let Some(f) = filter {
        df = df.filter(f)?;
    }
    let batches = df
        .sort(vec![
            col("start").sort(true, true),
            col("end").sort(true, true),
        ])?
        .collect()
        .await?;
    Ok(weir_tables::read_rows(&batches, &[])?)
}
