//! Table history (Delta versions with the lake commit that brought each into
//! the ref) and row-level diffs between two refs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deltalake::arrow::datatypes::SchemaRef;
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
/// addition. A side without the table counts as empty.
pub async fn table_diff(from: &TableRef, to: &TableRef) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let ctx = SessionContext::new();
    let a = from.load().await?;
    let b = to.load().await?;
    let (a, b) = match (a, b) {
        (None, None) => {
            return Err(TablesError::NotATable {
                table: from.name.clone(),
                reference: format!("{} or {}", from.reference, to.reference),
            });
        }
        (a, b) => (a, b),
    };
    let schema_of = |t: &deltalake::DeltaTable| -> Result<SchemaRef> {
        Ok(t.snapshot()?.snapshot().arrow_schema())
    };
    let schema = match (&a, &b) {
        (Some(x), _) | (None, Some(x)) => schema_of(x)?,
        _ => unreachable!(),
    };
    for (name, side) in [("a", a), ("b", b)] {
        match side {
            Some(t) => {
                if schema_of(&t)?.fields() != schema.fields() {
                    return Err(TablesError::InvalidArgument(format!(
                        "table {} has a different schema at {} and {}; table_diff compares tables with one schema",
                        from.name, from.reference, to.reference
                    )));
                }
                ctx.register_table(name, t.table_provider().await?)?;
            }
            None => {
                ctx.register_table(
                    name,
                    Arc::new(MemTable::try_new(schema.clone(), vec![vec![]])?),
                )?;
            }
        }
    }
    let sql = "SELECT *, 'removed' AS diff_type FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b) \
               UNION ALL \
               SELECT *, 'added' AS diff_type FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a)";
    let df = ctx.sql(sql).await?;
    let out_schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok((out_schema, batches))
}
