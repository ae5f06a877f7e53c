//! Writing Delta tables on a branch: append or overwrite from a stream of
//! record batches, with explicit schema rules, then (optionally) a lake
//! commit. A failed write withdraws every object it staged, so the branch
//! is left exactly as it was.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use deltalake::DeltaTable;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::execution::TaskContext;
use deltalake::datafusion::physical_plan::SendableRecordBatchStream;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use futures::StreamExt;
use weir_store::{CommitRecord, RefKind};

use crate::delta::TableRef;
use crate::error::{Result, TablesError};
use crate::recording::Recording;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Append,
    Overwrite,
}

impl WriteMode {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Append => "append",
            WriteMode::Overwrite => "overwrite",
        }
    }
}

impl std::str::FromStr for WriteMode {
    type Err = TablesError;
    fn from_str(s: &str) -> Result<WriteMode> {
        match s {
            "append" => Ok(WriteMode::Append),
            "overwrite" => Ok(WriteMode::Overwrite),
            o => Err(TablesError::InvalidArgument(format!(
                "unknown write mode {o:?}: use append or overwrite"
            ))),
        }
    }
}

/// A lake commit to make after the table write.
#[derive(Debug, Clone)]
pub struct CommitSpec {
    pub message: String,
    pub committer: String,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub mode: WriteMode,
    /// Allow input columns the table lacks (added as nullable).
    pub allow_new_columns: bool,
    /// With `Overwrite`: the input's schema replaces the table's (a
    /// pipeline stage's output is whatever its SQL now selects).
    pub replace_schema: bool,
    /// `None` stages the write without a lake commit.
    pub commit: Option<CommitSpec>,
    /// Delta table properties set when the write creates the table
    /// (`delta.checkpointInterval`, ...).
    pub properties: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub version: u64,
    pub rows: u64,
    pub created: bool,
    pub lake_commit: Option<CommitRecord>,
}

/// Hands one stream to DataFusion exactly once, so deltalake can plan the
/// write as a streaming scan instead of collecting the input in memory.
struct OneShot {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneShot")
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }
    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match self.stream.lock().unwrap().take() {
            Some(s) => s,
            None => Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async {
                    Err(deltalake::datafusion::error::DataFusionError::Execution(
                        "the input stream was already consumed".into(),
                    ))
                }),
            )),
        }
    }
}

/// The type as Delta stores it: Arrow's string, binary and list layouts
/// (`Utf8View`, `LargeUtf8`, ...) and nested field names and nullability
/// are all one Delta type, so they must not count as a type change.
fn storage_type(t: &DataType) -> DataType {
    let field = |f: &Field| Arc::new(Field::new(f.name(), storage_type(f.data_type()), true));
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => DataType::List(
            Arc::new(Field::new("item", storage_type(f.data_type()), true)),
        ),
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(|f| field(f)).collect()),
        DataType::Dictionary(_, v) => storage_type(v),
        // Delta has no unsigned integers: these are stored as the signed
        // type of the same width (delta-kernel's mapping).
        DataType::UInt64 => DataType::Int64,
        DataType::UInt32 => DataType::Int32,
        DataType::UInt16 => DataType::Int16,
        DataType::UInt8 => DataType::Int8,
        other => other.clone(),
    }
}

/// The explicit schema rules: same names must keep their type; new columns
/// only with `allow_new`; the input must carry every table column.
pub fn check_schema(table: &Schema, input: &Schema, allow_new: bool) -> Result<bool> {
    let mut adds = false;
    for f in input.fields() {
        match table.field_with_name(f.name()) {
            Ok(t) if storage_type(t.data_type()) != storage_type(f.data_type()) => {
                return Err(TablesError::TypeChange {
                    column: f.name().clone(),
                    table_type: t.data_type().to_string(),
                    input_type: f.data_type().to_string(),
                });
            }
            Ok(_) => {}
            Err(_) if allow_new => adds = true,
            Err(_) => {
                return Err(TablesError::NewColumn {
                    column: f.name().clone(),
                });
            }
        }
    }
    for t in table.fields() {
        if input.field_with_name(t.name()).is_err() {
            return Err(TablesError::InvalidArgument(format!(
                "the input lacks column {} of the table",
                t.name()
            )));
        }
    }
    Ok(adds)
}

pub(crate) fn require_branch(t: &TableRef) -> Result<String> {
    let r = t.repo.resolve(&t.reference)?;
    match (r.kind, r.staging) {
        (RefKind::Branch, Some(b)) => Ok(b),
        _ => Err(TablesError::NotAllowed(format!(
            "{} is not a branch: tables are written on branches (tags and commits are read-only)",
            t.reference
        ))),
    }
}

async fn load_recorded(t: &TableRef, rec: &Arc<Recording>) -> Result<(DeltaTable, bool)> {
    if t.load().await?.is_none() {
        return Ok((t.builder_with(rec.clone())?, false));
    }
    let mut table = t.builder_with(rec.clone())?;
    match table.load().await {
        Ok(()) => Ok((table, true)),
        Err(deltalake::DeltaTableError::NotATable(_)) => Ok((t.builder_with(rec.clone())?, false)),
        Err(e) => Err(e.into()),
    }
}

fn withdraw(t: &TableRef, branch: &str, rec: &Recording) {
    let paths: Vec<String> = rec
        .written
        .lock()
        .unwrap()
        .iter()
        .filter_map(|k| k.split_once('/').map(|(_, p)| p.to_string()))
        .collect();
    if let Err(e) = t.repo.unstage(branch, &paths) {
        tracing::warn!("could not withdraw staged objects of a failed write: {e}");
    }
}

async fn lake_commit(
    t: &TableRef,
    branch: &str,
    version: u64,
    op: &str,
    spec: &Option<CommitSpec>,
) -> Result<Option<CommitRecord>> {
    let Some(spec) = spec else { return Ok(None) };
    let mut md = spec.metadata.clone();
    md.insert("weir.table".into(), t.name.clone());
    md.insert("weir.table.version".into(), version.to_string());
    md.insert("weir.table.operation".into(), op.to_string());
    // Only this table's files: other writers may be staging on the branch.
    let prefix = format!("{}/", t.name);
    Ok(Some(
        t.repo
            .commit_prefix(branch, &prefix, &spec.message, &spec.committer, md, false)
            .await?,
    ))
}

/// Delta stores timestamps in microseconds: cast nanosecond columns here,
/// explicitly, rather than have deltalake warn about it on every write.
fn micros(input: SendableRecordBatchStream) -> Result<SendableRecordBatchStream> {
    use deltalake::arrow::datatypes::TimeUnit;
    let schema = input.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(TimeUnit::Nanosecond, _)))
    {
        return Ok(input);
    }
    let target: SchemaRef = Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(TimeUnit::Nanosecond, tz) => f
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ));
    Ok(cast_to(input, target, Default::default()))
}

/// Each batch of `input` cast column by column to `target`'s types.
fn cast_to(
    input: SendableRecordBatchStream,
    target: SchemaRef,
    options: deltalake::arrow::compute::CastOptions<'static>,
) -> SendableRecordBatchStream {
    let out = target.clone();
    let cast = input.map(move |b| {
        let b = b?;
        let cols = b
            .columns()
            .iter()
            .zip(out.fields())
            .map(|(c, f)| deltalake::arrow::compute::cast_with_options(c, f.data_type(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(deltalake::arrow::array::RecordBatch::try_new(
            out.clone(),
            cols,
        )?)
    });
    Box::pin(RecordBatchStreamAdapter::new(target, cast))
}

/// Unsigned integer columns as the table stores them (signed, same
/// width; `row_number()` and `count` give UInt64), so a stage's result
/// appends to the table its first run made. A value that does not fit is
/// an error, not a null.
fn as_table_types(input: SendableRecordBatchStream, table: &Schema) -> SendableRecordBatchStream {
    let schema = input.schema();
    let unsigned = |t: &DataType| {
        matches!(
            t,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64
        )
    };
    let target: SchemaRef = Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| match table.field_with_name(f.name()) {
                Ok(t) if unsigned(f.data_type()) && !unsigned(t.data_type()) => {
                    f.as_ref().clone().with_data_type(t.data_type().clone())
                }
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ));
    if target == schema {
        return input;
    }
    let strict = deltalake::arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_to(input, target, strict)
}

/// Writes `input` to the table on a branch.
pub async fn write_stream(
    t: &TableRef,
    input: SendableRecordBatchStream,
    opts: &WriteOptions,
) -> Result<WriteOutcome> {
    let branch = require_branch(t)?;
    let rec = Arc::new(Recording::new(Arc::new(t.repo.object_store())));
    let (table, exists) = load_recorded(t, &rec).await?;
    let mut input = micros(input)?;
    let mut merge_schema = false;
    let replace = opts.replace_schema && opts.mode == WriteMode::Overwrite;
    if exists && !replace {
        let current: Schema = table.snapshot()?.snapshot().arrow_schema().as_ref().clone();
        merge_schema = check_schema(&current, &input.schema(), opts.allow_new_columns)?;
        input = as_table_types(input, &current);
    }
    let schema = input.schema();
    let rows = Arc::new(AtomicU64::new(0));
    let counter = rows.clone();
    let counted = input.inspect(move |b| {
        if let Ok(b) = b {
            counter.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        }
    });
    let stream: SendableRecordBatchStream =
        Box::pin(RecordBatchStreamAdapter::new(schema.clone(), counted));
    // deltalake's planner handles its own plan nodes (write metrics).
    let ctx: SessionContext = deltalake::delta_datafusion::create_session().into_inner();
    let source = StreamingTable::try_new(
        schema.clone(),
        vec![Arc::new(OneShot {
            schema: schema.clone(),
            stream: Mutex::new(Some(stream)),
        })],
    )?;
    let plan = ctx.read_table(Arc::new(source))?.into_unoptimized_plan();
    let mut props = CommitProperties::default();
    if let Some(spec) = &opts.commit {
        props = props.with_metadata([(
            "weir.committer".to_string(),
            serde_json::Value::String(spec.committer.clone()),
        )]);
    }
    let mut builder = table
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(ctx.state()))
        .with_save_mode(match opts.mode {
            WriteMode::Append => SaveMode::Append,
            WriteMode::Overwrite => SaveMode::Overwrite,
        })
        .with_table_name(&t.name)
        .with_commit_properties(props);
    if !exists && !opts.properties.is_empty() {
        builder = builder.with_configuration(
            opts.properties
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone()))),
        );
    }
    if replace {
        builder = builder.with_schema_mode(SchemaMode::Overwrite);
    } else if merge_schema {
        builder = builder.with_schema_mode(SchemaMode::Merge);
    }
    let written = match builder.await {
        Ok(w) => w,
        Err(e) => {
            withdraw(t, &branch, &rec);
            return Err(e.into());
        }
    };
    let version = written.version().unwrap_or(0);
    let lake_commit = lake_commit(t, &branch, version, opts.mode.as_str(), &opts.commit).await?;
    Ok(WriteOutcome {
        version,
        rows: rows.load(Ordering::Relaxed),
        created: !exists,
        lake_commit,
    })
}

/// Deletes the rows matching a SQL predicate; returns the new version and
/// the number of rows deleted.
pub async fn delete_where(
    t: &TableRef,
    predicate: &str,
    commit: &Option<CommitSpec>,
) -> Result<(WriteOutcome, u64)> {
    let branch = require_branch(t)?;
    let rec = Arc::new(Recording::new(Arc::new(t.repo.object_store())));
    let (table, exists) = load_recorded(t, &rec).await?;
    if !exists {
        return Err(TablesError::NotATable {
            table: t.name.clone(),
            reference: t.reference.clone(),
        });
    }
    let (table, metrics) = match table.delete().with_predicate(predicate.to_string()).await {
        Ok(r) => r,
        Err(e) => {
            withdraw(t, &branch, &rec);
            return Err(e.into());
        }
    };
    let version = table.version().unwrap_or(0);
    let lake_commit = lake_commit(t, &branch, version, "delete", commit).await?;
    Ok((
        WriteOutcome {
            version,
            rows: 0,
            created: false,
            lake_commit,
        },
        metrics.num_deleted_rows.unwrap_or(0) as u64,
    ))
}
