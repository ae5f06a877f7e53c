//! Scanning a Delta table at a ref straight from its content-addressed
//! bytes.
//!
//! deltalake's own provider reads every data file through the repository's
//! object-store view, so each read of a footer or a row group resolves the
//! ref, looks for a staged entry and walks the committed tree, and its scan
//! adds a file-id column to every row and strips it again. For plain
//! snapshots (no deletion vectors, no column mapping, no partition columns:
//! every table weir writes) the files are known when the table is opened,
//! and so are their physical addresses; [`pinned`] resolves each data file
//! to its blob once and hands DataFusion's own Parquet reader the blobs
//! with the Delta log's statistics. Blobs never change, so the addresses
//! stay right for as long as the snapshot does, and DataFusion's footer
//! cache, keyed by location, is shared by every ref that holds the same
//! file. Anything else keeps deltalake's provider, which also performs
//! every write (`INSERT INTO`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use deltalake::DeltaTable;
use deltalake::arrow::datatypes::{DataType, SchemaRef};
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::common::stats::Precision;
use deltalake::datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use deltalake::datafusion::datasource::TableType;
use deltalake::datafusion::datasource::file_format::FileFormat;
use deltalake::datafusion::datasource::file_format::parquet::ParquetFormat;
use deltalake::datafusion::datasource::listing::PartitionedFile;
use deltalake::datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use deltalake::datafusion::datasource::table_schema::TableSchema;
use deltalake::datafusion::error::Result;
use deltalake::datafusion::execution::object_store::ObjectStoreUrl;
use deltalake::datafusion::logical_expr::dml::InsertOp;
use deltalake::datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use deltalake::datafusion::physical_plan::ExecutionPlan;
use deltalake::datafusion::physical_plan::empty::EmptyExec;
use object_store::ObjectMeta;
use object_store::path::Path;
use weir_store::{Entry, ListItem};
use weir_tables::TableRef;

/// Where the lake's data store is registered in a session.
pub(crate) const DATA_URL: &str = "weir-data://lake";

/// Reader features that change nothing about how a Parquet file is read.
const PLAIN_READER_FEATURES: &[&str] = &["timestampNtz", "v2Checkpoint", "vacuumProtocolCheck"];

#[derive(Debug)]
pub(crate) struct Pinned {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    files: Vec<PartitionedFile>,
    statistics: Statistics,
    data: Arc<dyn object_store::ObjectStore>,
}

/// deltalake's provider `inner` for `table` (opened at `t`), or a
/// [`Pinned`] scan over it when the snapshot is plain. Errors are
/// deltalake's to report: any doubt falls back to `inner`.
pub(crate) async fn pinned(
    t: &TableRef,
    table: &DeltaTable,
    inner: Arc<dyn TableProvider>,
) -> Arc<dyn TableProvider> {
    match plain_files(t, table, &inner.schema()).await {
        Ok(Some((files, statistics))) => Arc::new(Pinned {
            schema: inner.schema(),
            inner,
            files,
            statistics,
            data: t.repo.data_store(),
        }),
        Ok(None) => inner,
        Err(e) => {
            tracing::debug!(table = %t.uri(), error = %e, "scanning through deltalake");
            inner
        }
    }
}

type Found = Option<(Vec<PartitionedFile>, Statistics)>;

async fn plain_files(t: &TableRef, table: &DeltaTable, schema: &SchemaRef) -> Result<Found> {
    let state = table.snapshot()?;
    let snapshot = state.snapshot();
    let protocol = snapshot.protocol();
    let metadata = snapshot.metadata();
    let features_plain = protocol.reader_features().is_none_or(|fs| {
        fs.iter()
            .all(|f| PLAIN_READER_FEATURES.contains(&f.to_string().as_str()))
    });
    let mapping = metadata
        .configuration()
        .get("delta.columnMapping.mode")
        .is_some_and(|m| m != "none");
    if protocol.min_reader_version() > 3
        || !features_plain
        || mapping
        || !metadata.partition_columns().is_empty()
    {
        return Ok(None);
    }
    let mut wanted: HashMap<String, Option<String>> = HashMap::new();
    for f in state.log_data().iter() {
        if f.deletion_vector_descriptor().is_some() {
            return Ok(None);
        }
        wanted.insert(f.path().into_owned(), f.stats());
    }
    let entries = entries_of(t).await?;
    let mut files = Vec::with_capacity(wanted.len());
    for (path, stats) in wanted {
        let Some(entry) = entries.get(&path) else {
            return Ok(None);
        };
        let meta = ObjectMeta {
            location: Path::from(entry.address.as_str()),
            last_modified: entry.mtime(),
            size: entry.size,
            e_tag: Some(entry.checksum_hex()),
            version: None,
        };
        let file_stats = file_statistics(stats.as_deref(), schema, entry.size);
        files.push(PartitionedFile::new_from_meta(meta).with_statistics(Arc::new(file_stats)));
    }
    // Largest first, as DataFusion's listing does, so groups balance.
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let statistics = if files.is_empty() {
        let mut s = Statistics::new_unknown(schema);
        s.num_rows = Precision::Exact(0);
        s
    } else {
        Statistics::try_merge_iter(files.iter().filter_map(|f| f.statistics.as_deref()), schema)?
    };
    Ok(Some((files, statistics)))
}

/// The table's objects at the ref, by path relative to the table.
async fn entries_of(t: &TableRef) -> Result<HashMap<String, Entry>> {
    let df = |e: weir_store::StoreError| {
        deltalake::datafusion::error::DataFusionError::External(e.into())
    };
    let prefix = format!("{}/", t.name);
    let mut out = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let (items, more) = t
            .repo
            .list_objects(&t.reference, &prefix, false, after.as_deref(), 10_000)
            .await
            .map_err(df)?;
        after = items.last().map(|i| i.path().to_string());
        for item in items {
            if let ListItem::Object { path, entry } = item
                && !path[prefix.len()..].starts_with("_delta_log/")
            {
                out.insert(path[prefix.len()..].to_string(), entry);
            }
        }
        if !more {
            return Ok(out);
        }
    }
}

/// A file's statistics from its `add` action's JSON: exact row count;
/// bounds for integer, float, date and string columns (strings may be
/// truncated by the writer, so every bound is inexact); none for
/// timestamps, whose maximum Delta writers truncate to milliseconds (not
/// an upper bound).
fn file_statistics(stats: Option<&str>, schema: &SchemaRef, size: u64) -> Statistics {
    let mut s = Statistics::new_unknown(schema);
    s.total_byte_size = Precision::Inexact(size as usize);
    let Some(v) = stats.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()) else {
        return s;
    };
    if let Some(n) = v.get("numRecords").and_then(|n| n.as_u64()) {
        s.num_rows = Precision::Exact(n as usize);
    }
    let bound = |kind: &str, name: &str, dt: &DataType| -> Precision<ScalarValue> {
        v.get(kind)
            .and_then(|m| m.get(name))
            .and_then(|x| scalar(x, dt))
            .map_or(Precision::Absent, Precision::Inexact)
    };
    s.column_statistics = schema
        .fields()
        .iter()
        .map(|f| {
            let mut c = ColumnStatistics::new_unknown();
            c.min_value = bound("minValues", f.name(), f.data_type());
            c.max_value = bound("maxValues", f.name(), f.data_type());
            if let Some(n) = v
                .get("nullCount")
                .and_then(|m| m.get(f.name()))
                .and_then(|n| n.as_u64())
            {
                c.null_count = Precision::Inexact(n as usize);
            }
            c
        })
        .collect();
    s
}

fn scalar(v: &serde_json::Value, dt: &DataType) -> Option<ScalarValue> {
    use DataType::*;
    let raw = match dt {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => {
            ScalarValue::Int64(Some(v.as_i64()?))
        }
        Float32 | Float64 => ScalarValue::Float64(Some(v.as_f64()?)),
        Utf8 | LargeUtf8 | Utf8View | Date32 => ScalarValue::Utf8(Some(v.as_str()?.to_string())),
        _ => return None,
    };
    raw.cast_to(dt).ok()
}

#[async_trait]
impl TableProvider for Pinned {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if self.files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let url = ObjectStoreUrl::parse(DATA_URL)?;
        let runtime = state.runtime_env();
        if runtime.object_store(&url).is_err() {
            runtime.register_object_store(url.as_ref(), self.data.clone());
        }
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = format.file_source(TableSchema::from(self.schema.clone()));
        let groups = FileGroup::new(self.files.clone())
            .split_files(state.config().target_partitions().max(1));
        let config = FileScanConfigBuilder::new(url, source)
            .with_file_groups(groups)
            .with_statistics(self.statistics.clone())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }

    /// Filters stay above the scan and DataFusion pushes them into the
    /// Parquet reader (row groups, pages, rows) and the file pruner (the
    /// Delta statistics above), as for its own listing tables.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(self.statistics.clone())
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.insert_into(state, input, op).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::datatypes::{Field, Schema, TimeUnit};
    use deltalake::arrow::util::pretty::pretty_format_batches;

    #[test]
    fn delta_stats_become_bounds_never_exact_values() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("item", DataType::Utf8, true),
            Field::new("ds", DataType::Date32, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]));
        let json = r#"{"numRecords":3,
            "minValues":{"id":1,"item":"apple","ds":"2024-01-01","at":"2024-01-01T00:00:00.000Z"},
            "maxValues":{"id":9,"item":"plum","ds":"2024-03-01","at":"2024-01-02T00:00:00.000Z"},
            "nullCount":{"id":0,"item":1}}"#;
        let s = file_statistics(Some(json), &schema, 100);
        assert_eq!(s.num_rows, Precision::Exact(3));
        let c = &s.column_statistics;
        assert_eq!(
            c[0].min_value,
            Precision::Inexact(ScalarValue::Int32(Some(1)))
        );
        assert_eq!(
            c[0].max_value,
            Precision::Inexact(ScalarValue::Int32(Some(9)))
        );
        assert_eq!(
            c[1].max_value,
            Precision::Inexact(ScalarValue::Utf8(Some("plum".into())))
        );
        assert_eq!(c[1].null_count, Precision::Inexact(1));
        assert!(matches!(
            c[2].min_value,
            Precision::Inexact(ScalarValue::Date32(Some(_)))
        ));
        // Writers truncate timestamp maxima to milliseconds: not a bound.
        assert_eq!(c[3].max_value, Precision::Absent);
        // No stats, or stats that do not parse: nothing claimed.
        assert_eq!(
            file_statistics(None, &schema, 1).num_rows,
            Precision::Absent
        );
        assert_eq!(
            file_statistics(Some("{"), &schema, 1).num_rows,
            Precision::Absent
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn plain_tables_are_read_from_their_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Arc::new(weir_store::Lake::init(&dir.path().join("lake")).unwrap());
        let repo = lake.create_repo("demand", "main", None, "t").await.unwrap();
        let csv = dir.path().join("s.csv");
        std::fs::write(&csv, "id,item\n1,apple\n2,pear\n").unwrap();
        let opts = weir_tables::IngestOptions {
            format: None,
            mode: weir_tables::WriteMode::Append,
            allow_new_columns: false,
            commit: true,
            message: None,
            committer: "t".into(),
            progress: None,
        };
        let t = TableRef::new(&repo, "main", "sales").unwrap();
        weir_tables::ingest_file(&t, &csv, &opts).await.unwrap();
        let ctx = crate::session(lake, &crate::SqlOptions::default()).unwrap();
        let text = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let b = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                pretty_format_batches(&b).unwrap().to_string()
            }
        };
        let plan = text("EXPLAIN SELECT item FROM sales WHERE id = 2").await;
        assert!(plan.contains("DataSourceExec"), "{plan}");
        assert!(!plan.contains("DeltaScan"), "{plan}");
        assert!(
            plan.contains("/data/"),
            "the scan reads blob addresses: {plan}"
        );
        assert!(
            text("SELECT item FROM sales WHERE id = 2")
                .await
                .contains("pear")
        );
        // A write on the branch goes through deltalake and the next query
        // sees the new snapshot, statistics included.
        text("INSERT INTO sales VALUES (3, 'plum')").await;
        assert!(
            text("SELECT count(*) AS n FROM sales")
                .await
                .contains("| 3 |")
        );
        assert!(
            text("SELECT count(*) AS n FROM demand.\"main@\".sales")
                .await
                .contains("| 2 |")
        );
    }
}
