//! Table history (Delta versions with the lake commit that brought each into
//! the ref) and row-level diffs between two refs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;
use weir_store::{DiffKind, DiffMode, DiffScope, LogOptions};

use crate::delta::TableRef;
use crate::error::{Result, TablesError};

#[derive(Debug, Clone, Serialize)]
pub struct TableVersion {
    pub version: u64,
    /// Milliseconds since the Unix epoch (Delta's commit timestamp).
    pub timestamp: Option<i64>,
    pub operation: Option<String>,
    pub parameters: Option<String>,
    /// The lake commit whose tree first holds this version on the ref's
    /// first-parent line; `None` when it is still uncommitted on a branch.
    pub lake_commit: Option<String>,
}

fn log_version(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?;
    name.strip_suffix(".json")?.parse().ok()
}

/// Delta versions of a table at a ref, newest first.
pub async fn table_history(t: &TableRef) -> Result<Vec<TableVersion>> {
    let table = t.require().await?;
    let mut infos = Vec::new();
    let mut hist = table.history(None);
    while let Some(ci) = hist.next().await {
        infos.push(ci?);
    }
    let latest = table.version().unwrap_or(0);
    // Map versions to lake commits by walking the ref's first-parent line
    // and diffing each commit's `_delta_log/` against its parent; diffs
    // skip shared ranges, so each step is cheap.
    let prefix = format!("{}/_delta_log/", t.name);
    let mut owner: HashMap<u64, String> = HashMap::new();
    let (log, _) = t.repo.log(
        &t.reference,
        &LogOptions {
            first_parent: true,
            after: None,
            amount: 10_000,
        },
    )?;
    for c in &log {
        let Some(parent) = c.parents.first() else {
            continue;
        };
        let changes = t
            .repo
            .diff(
                parent,
                &c.id,
                DiffMode::TwoDot,
                &DiffScope {
                    prefix: prefix.clone(),
                    ..Default::default()
                },
            )
            .await?;
        for d in changes {
            if d.kind != DiffKind::Removed
                && let Some(v) = log_version(&d.path)
            {
                owner.insert(v, c.id.clone());
            }
        }
        if (0..=latest).all(|v| owner.contains_key(&v)) {
            break;
        }
    }
    let mut out: Vec<TableVersion> = infos
        .into_iter()
        .zip((0..=latest).rev())
        .map(|(ci, version)| TableVersion {
            version,
            timestamp: ci.timestamp,
            operation: ci.operation,
            parameters: ci.operation_parameters.map(|p| {
                serde_json::to_string(&p.into_iter().collect::<BTreeMap<_, _>>())
                    .unwrap_or_default()
            }),
            lake_commit: owner.get(&version).cloned(),
        })
        .collect();
    out.sort_by_key(|v| std::cmp::Reverse(v.version));
    Ok(out)
}

/// Rows only in `from` (`diff_type = 'removed'`) or only in `to`
/// (`'added'`), as multisets: a changed row shows as one removal and one
/// addition, and a row held twice on one side and once on the other shows
/// once. A side without the table counts as empty.
///
/// Only the data files that differ between the two snapshots are read: a
/// file active on both sides (same path, same deletion vector) holds the
/// same rows on both and cancels out of a multiset difference. After an
/// append of 1,000 rows to a 10M-row table that is one small file against
/// nothing, not two full scans.
pub async fn table_diff(from: &TableRef, to: &TableRef) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let a = from.load().await?;
    let b = to.load().await?;
    if a.is_none() && b.is_none() {
        return Err(TablesError::NotATable {
            table: from.name.clone(),
            reference: format!("{} or {}", from.reference, to.reference),
        });
    }
    let schema_of = |t: &deltalake::DeltaTable| -> Result<SchemaRef> {
        Ok(t.snapshot()?.snapshot().arrow_schema())
    };
    let schema = match (&a, &b) {
        (Some(x), _) | (None, Some(x)) => schema_of(x)?,
        _ => unreachable!(),
    };
    for t in [&a, &b].into_iter().flatten() {
        if schema_of(t)?.fields() != schema.fields() {
            return Err(TablesError::InvalidArgument(format!(
                "table {} has a different schema at {} and {}; table_diff compares tables with one schema",
                from.name, from.reference, to.reference
            )));
        }
    }
    let files_a = match &a {
        Some(t) => active_files(t)?,
        None => HashMap::new(),
    };
    let files_b = match &b {
        Some(t) => active_files(t)?,
        None => HashMap::new(),
    };
    let only = |x: &HashMap<String, String>, y: &HashMap<String, String>| -> Vec<String> {
        x.iter()
            .filter(|(path, dv)| y.get(*path) != Some(*dv))
            .map(|(path, _)| path.clone())
            .collect()
    };
    let (only_a, only_b) = (only(&files_a, &files_b), only(&files_b, &files_a));
    let ctx = SessionContext::new();
    for (name, side, files) in [("a", a, only_a), ("b", b, only_b)] {
        match side {
            Some(t) if !files.is_empty() => {
                let provider = t.table_provider().with_file_paths(files).await?;
                ctx.register_table(name, provider)?;
            }
            _ => {
                ctx.register_table(
                    name,
                    Arc::new(MemTable::try_new(schema.clone(), vec![vec![]])?),
                )?;
            }
        }
    }
    let df = ctx.sql(&multiset_diff_sql(&schema)).await?;
    // The scans may differ from the table's schema in field metadata,
    // nullability and string layout (views); the answer has the table's
    // types, nullable.
    let out_schema: SchemaRef = Arc::new(Schema::new(
        df.schema()
            .as_arrow()
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batches = df
        .collect()
        .await?
        .into_iter()
        .map(|b| {
            let cols = b
                .columns()
                .iter()
                .zip(out_schema.fields())
                .map(|(c, f)| cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            RecordBatch::try_new(out_schema.clone(), cols)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((out_schema, batches))
}

/// Active data files of a snapshot: path → its deletion vector (empty when
/// none), so a file whose deletion vector changed counts as changed.
fn active_files(t: &deltalake::DeltaTable) -> Result<HashMap<String, String>> {
    Ok(t.snapshot()?
        .log_data()
        .iter()
        .map(|f| {
            let dv = f
                .deletion_vector_descriptor()
                .map(|d| format!("{d:?}"))
                .unwrap_or_default();
            (f.path().into_owned(), dv)
        })
        .collect())
}

/// `EXCEPT ALL` in DataFusion 55 is an anti join (a row held twice on one
/// side and once on the other would not show), so each copy of a row is
/// numbered first and the numbered rows are compared.
fn multiset_diff_sql(schema: &SchemaRef) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name().replace('"', "\"\"")))
        .collect();
    let cols = cols.join(", ");
    let numbered = |t: &str| {
        format!("SELECT {cols}, row_number() OVER (PARTITION BY {cols}) AS __weir_copy FROM {t}")
    };
    let (na, nb) = (numbered("a"), numbered("b"));
    format!(
        "SELECT {cols}, 'removed' AS diff_type FROM ({na} EXCEPT ALL {nb}) \
         UNION ALL \
         SELECT {cols}, 'added' AS diff_type FROM ({nb} EXCEPT ALL {na})"
    )
}
