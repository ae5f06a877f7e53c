//! weir's own records as tables: `weir_runs()` is the `runs` Delta table on
//! `main` of the system repository (one row per pipeline stage and one per
//! run), so run history is filtered and joined with plain SQL;
//! `weir_lineage(table, direction, depth [, column [, ref]])` walks the
//! lineage graph as of a ref, one row per edge; `weir_audit()` is the
//! hash-chained audit log of every change to refs and repositories;
//! `weir_schedule_runs()` is every firing of a trigger (`schedule_runs`);
//! `weir_usage()` is the `usage` table: requests, queries, pipeline stages
//! and stored bytes by tenant (what billing reads); `weir_costs()` prices
//! it by the lake's price sheet in the columns of FinOps FOCUS 1.0.

use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::json::ReaderBuilder;
use deltalake::datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::logical_expr::Expr;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::scalar::ScalarValue;
use weir_core::names::SYSTEM_REPO;
use weir_store::Lake;
use weir_tables::TableRef;

use crate::block_on;

#[derive(Debug)]
struct SystemTable {
    function: &'static str,
    table: &'static str,
    /// Why the table is not there yet.
    empty: &'static str,
    lake: Arc<Lake>,
}

pub fn register(ctx: &SessionContext, lake: Arc<Lake>) {
    ctx.register_udtf("weir_audit", Arc::new(AuditFn { lake: lake.clone() }));
    ctx.register_udtf(
        "weir_runs",
        Arc::new(SystemTable {
            function: "weir_runs",
            table: "runs",
            empty: "no pipeline has run in this lake yet (weir run PIPELINE.toml weir://REPO/BRANCH)",
            lake: lake.clone(),
        }),
    );
    ctx.register_udtf(
        "weir_schedule_runs",
        Arc::new(SystemTable {
            function: "weir_schedule_runs",
            table: "schedule_runs",
            empty: "no trigger has fired in this lake yet (weir schedule add, then weir serve or weir scheduler)",
            lake,
        }),
    );
}

/// `weir_lineage()` over `tenant`'s events (every tenant's with None).
pub(crate) fn register_lineage(
    ctx: &SessionContext,
    lake: Arc<Lake>,
    default: Option<(String, String)>,
    tenant: Option<String>,
    visible: crate::Visible,
) {
    ctx.register_udtf(
        "weir_lineage",
        Arc::new(LineageFn {
            lake,
            default,
            tenant,
            visible,
        }),
    );
}

/// Every tenant's usage and costs: for the lake's admins.
pub fn register_usage(ctx: &SessionContext, lake: Arc<Lake>) {
    ctx.register_udtf("weir_costs", Arc::new(CostsFn { lake: lake.clone() }));
    ctx.register_udtf(
        "weir_usage",
        Arc::new(SystemTable {
            function: "weir_usage",
            table: weir_lineage::usage::USAGE_TABLE,
            empty: "no usage recorded in this lake yet (weir serve meters requests and queries, weir run its stages)",
            lake,
        }),
    );
}

impl TableFunctionImpl for SystemTable {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return Err(DataFusionError::Plan(format!(
                "{}() takes no arguments; filter with WHERE",
                self.function
            )));
        }
        let none = || DataFusionError::Plan(format!("{}(): {}", self.function, self.empty));
        let repo = self.lake.repo(SYSTEM_REPO).map_err(|_| none())?;
        let t = TableRef::new(&repo, "main", self.table)
            .map_err(|e| DataFusionError::Execution(e.to_string()))?;
        let table = block_on(t.load())
            .map_err(|e| DataFusionError::Execution(e.to_string()))?
            .ok_or_else(none)?;
        let provider = block_on(async { table.table_provider().await })
            .map_err(|e| DataFusionError::Execution(e.to_string()))?;
        Ok(Arc::new(crate::readonly::ReadOnly {
            inner: provider,
            why: format!("{}() is read-only: weir writes it", self.function),
        }))
    }
}

#[derive(Debug)]
struct LineageFn {
    lake: Arc<Lake>,
    default: Option<(String, String)>,
    tenant: Option<String>,
    visible: crate::Visible,
}

const LINEAGE_USAGE: &str =
    "weir_lineage(table, 'upstream'|'downstream', depth [, column [, ref]])";

fn lineage_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        Field::new("depth", DataType::UInt64, false),
        s("from_namespace", false),
        s("from_name", false),
        s("from_column", true),
        s("to_namespace", false),
        s("to_name", false),
        s("to_column", true),
        s("job", false),
        s("run_id", false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        s("transformation", false),
    ]))
}

impl TableFunctionImpl for LineageFn {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let plan =
            |m: String| DataFusionError::Plan(format!("weir_lineage: {m}; usage: {LINEAGE_USAGE}"));
        let exprs = args.exprs();
        if !(3..=5).contains(&exprs.len()) {
            return Err(plan(format!("{} arguments", exprs.len())));
        }
        let text = |i: usize| -> Result<Option<String>> {
            match exprs.get(i) {
                None => Ok(None),
                Some(Expr::Literal(
                    ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s),
                    _,
                )) => Ok(s.clone()),
                // NULL for "no column" when a ref follows.
                Some(Expr::Literal(ScalarValue::Null, _)) => Ok(None),
                Some(other) => Err(plan(format!(
                    "argument {} must be a string, got {other}",
                    i + 1
                ))),
            }
        };
        let table = text(0)?.ok_or_else(|| plan("the table is NULL".into()))?;
        let direction = text(1)?
            .unwrap_or_default()
            .parse::<weir_lineage::Direction>()
            .map_err(plan)?;
        let depth = match &exprs[2] {
            Expr::Literal(v, _) => v
                .cast_to(&DataType::UInt64)
                .ok()
                .and_then(|v| match v {
                    ScalarValue::UInt64(Some(d)) if d > 0 => Some(d as usize),
                    _ => None,
                })
                .ok_or_else(|| plan(format!("depth must be a positive integer, got {v}")))?,
            other => return Err(plan(format!("depth must be a literal, got {other}"))),
        };
        let column = text(3)?;
        let (repo, reference) = match (text(4)?, &self.default) {
            (Some(r), _) if r.contains('/') => {
                let (a, b) = r.split_once('/').unwrap_or_default();
                (a.to_string(), Some(b.to_string()))
            }
            (r, Some((repo, default_ref))) => {
                (repo.clone(), Some(r.unwrap_or(default_ref.clone())))
            }
            (_, None) => {
                return Err(plan(
                    "no default repository; pass the ref as 'repo/ref'".into(),
                ));
            }
        };
        // A repository the session does not see is as absent as one the
        // lake does not hold.
        self.visible
            .repo(&self.lake, &repo)
            .map_err(|e| DataFusionError::Plan(format!("weir_lineage: {e}")))?;
        let q = weir_lineage::Query {
            repo,
            reference,
            table,
            column,
            direction,
            depth,
            tenant: self.tenant.clone(),
        };
        let edges = block_on(weir_lineage::query(&self.lake, &q))
            .map_err(|e| DataFusionError::Plan(format!("weir_lineage: {e}")))?;
        let schema = lineage_schema();
        let mut decoder = ReaderBuilder::new(schema.clone()).build_decoder()?;
        decoder.serialize(&edges)?;
        let batch = decoder
            .flush()?
            .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[derive(Debug)]
struct AuditFn {
    lake: Arc<Lake>,
}

impl TableFunctionImpl for AuditFn {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return Err(DataFusionError::Plan(
                "weir_audit() takes no arguments; filter with WHERE".into(),
            ));
        }
        let log = self
            .lake
            .audit_log(0, usize::MAX >> 1)
            .map_err(|e| DataFusionError::Execution(e.to_string()))?;
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        let schema = Arc::new(Schema::new(vec![
            Field::new("seq", DataType::Int64, false),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            s("actor", false),
            s("operation", false),
            s("repo", false),
            s("ref", false),
            s("before", true),
            s("after", true),
            s("detail", false),
            s("prev_hash", false),
            s("hash", false),
        ]));
        let mut decoder = ReaderBuilder::new(schema.clone()).build_decoder()?;
        decoder.serialize(&log)?;
        let batch = decoder
            .flush()?
            .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

#[derive(Debug)]
struct CostsFn {
    lake: Arc<Lake>,
}

impl TableFunctionImpl for CostsFn {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        if !args.exprs().is_empty() {
            return Err(DataFusionError::Plan(
                "weir_costs() takes no arguments; filter with WHERE".into(),
            ));
        }
        let err = |e: weir_lineage::LineageError| DataFusionError::Execution(e.to_string());
        let rows = block_on(weir_lineage::usage::select(&self.lake, None)).map_err(err)?;
        let prices = weir_lineage::costs::prices(&self.lake).map_err(err)?;
        let account = weir_lineage::costs::account(&self.lake);
        let charges = weir_lineage::costs::charges(&rows, &prices, &account);
        let batch = weir_lineage::costs::batch(&charges).map_err(err)?;
        Ok(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?))
    }
}
