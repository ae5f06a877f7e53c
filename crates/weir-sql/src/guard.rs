//! Sessions for callers who may only read (the HTTP SQL endpoint, the
//! decision endpoints, anything serving a remote caller).
//!
//! Reading is the only thing such a session can do, by construction rather
//! than by looking at the statement's text:
//! - every statement is planned, and its logical plan (including the
//!   statement inside an `EXPLAIN` or `EXPLAIN ANALYZE`, and every
//!   subquery) is checked with DataFusion's [`SQLOptions`] with DDL, DML
//!   and statements off, before anything runs;
//! - its object-store registry knows only the lake's stores: `file://`
//!   and every other URL is refused, so no path outside the lake can be
//!   read or written even by a plan that slipped past the check;
//! - it has no table factories (no `CREATE EXTERNAL TABLE` format), no URL
//!   tables, and every table in its catalog refuses `INSERT` whatever ref
//!   it is on.
//!
//! Table functions that take a query as text (`drift_report`, `reconcile`)
//! check that query the same way in every session ([`query_only`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::error::{DataFusionError, Result as DfResult};
use deltalake::datafusion::execution::object_store::ObjectStoreRegistry;
use deltalake::datafusion::prelude::{SQLOptions, SessionContext};
use deltalake::datafusion::sql::parser::DFParser;
use deltalake::datafusion::sql::sqlparser::dialect::dialect_from_str;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Result, SqlError};

/// Queries only: no DDL, no DML (`INSERT`, `COPY`, ...), no statements
/// (`SET`, transactions).
pub fn query_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// A session that can only read the lake. Built by
/// [`crate::read_only_session`].
pub struct ReadOnlySession {
    pub(crate) ctx: SessionContext,
}

impl ReadOnlySession {
    /// Plans one statement, refusing anything but a query (an `EXPLAIN`
    /// of a query included) with [`SqlError::NotAllowed`].
    pub async fn query(&self, text: &str) -> Result<DataFrame> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect.to_string();
        let mut statements = DFParser::parse_sql_with_dialect(
            text,
            dialect_from_str(&dialect)
                .ok_or_else(|| SqlError::InvalidArgument(format!("no SQL dialect {dialect}")))?
                .as_ref(),
        )
        .map_err(SqlError::DataFusion)?;
        if statements.len() != 1 {
            return Err(SqlError::InvalidArgument(format!(
                "one statement per request ({} given)",
                statements.len()
            )));
        }
        let statement = statements.pop_front().expect("one statement");
        let plan = state.statement_to_plan(statement).await?;
        query_only().verify_plan(&plan).map_err(|e| {
            SqlError::NotAllowed(format!(
                "only queries run here ({}); write tables with weir run or weir ingest, objects through the API",
                e.find_root().to_string().trim_start_matches("Error during planning: ")
            ))
        })?;
        Ok(self.ctx.execute_logical_plan(plan).await?)
    }

    /// The session underneath, for reading its catalog (not for running
    /// statements: use [`ReadOnlySession::query`]).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }
}

/// Object stores by `scheme://host`, accepting only the lake's own: the
/// data store (`weir-data://`), repository views (`weir://REPO`,
/// `lakefs://REPO`) and the stores deltalake registers for tables at
/// those addresses (`delta-rs://weir-...`).
#[derive(Debug, Default)]
pub(crate) struct LakeStores {
    stores: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

fn key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
}

fn is_lake(url: &Url) -> bool {
    match url.scheme() {
        // The data store, and repositories as deltalake opens them.
        "weir-data" | "weir" | "lakefs" => true,
        "delta-rs" => url
            .host_str()
            .is_some_and(|h| h.starts_with("weir-") || h.starts_with("lakefs-")),
        _ => false,
    }
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        if !is_lake(url) {
            tracing::warn!(%url, "refused to register an object store outside the lake");
            return None;
        }
        self.stores.write().ok()?.insert(key(url), store)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        let found = if is_lake(url) {
            self.stores
                .read()
                .ok()
                .and_then(|s| s.get(&key(url)).cloned())
        } else {
            None
        };
        found.ok_or_else(|| {
            DataFusionError::Plan(format!(
                "{url} is outside the lake: SQL here reads only the lake's tables"
            ))
        })
    }
}
