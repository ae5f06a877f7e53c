//! weir's own records as tables: `weir_runs()` is the `runs` Delta table on
//! `main` of the system repository (one row per pipeline stage and one per
//! run), so run history is filtered and joined with plain SQL.

use std::sync::Arc;

use deltalake::datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use deltalake::datafusion::error::{DataFusionError, Result};
use deltalake::datafusion::prelude::SessionContext;
use weir_core::names::SYSTEM_REPO;
use weir_store::Lake;
use weir_tables::TableRef;

use crate::block_on;

#[derive(Debug)]
struct SystemTable {
    function: &'static str,
    table: &'static str,
    lake: Arc<Lake>,
}

pub fn register(ctx: &SessionContext, lake: Arc<Lake>) {
    ctx.register_udtf(
        "weir_runs",
        Arc::new(SystemTable {
            function: "weir_runs",
            table: "runs",
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
        let none = || {
            DataFusionError::Plan(format!(
                "{}(): no pipeline has run in this lake yet (weir run PIPELINE.toml weir://REPO/BRANCH)",
                self.function
            ))
        };
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
            reference: format!("{}()", self.function),
        }))
    }
}
