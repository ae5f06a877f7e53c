//! SQL over weir with DataFusion.
//!
//! Names are `repository.ref.table`: every repository is a catalog, every
//! ref (branch, tag, commit id, `main~2`, ...) a schema, every Delta table
//! at that ref a table. `SELECT * FROM sales` reads the default repository's
//! default ref. History is queryable through table functions modelled on
//! Dolt's: `weir_log`, `weir_branches`, `weir_tags`, `weir_diff`,
//! `weir_objects`, `table_history`, `table_diff`; pipeline runs through
//! `weir_runs()`. Forecasting, metric and
//! decision functions (`forecast`, `forecast_cv`, `mae`, `newsvendor_qty`,
//! ...) come from `weir-forecast` (see docs/sql-functions.md).
//!
//! Catalog listings and table functions reach async storage from
//! DataFusion's synchronous hooks, so sessions must run inside a
//! multi-threaded tokio runtime (the CLI's is).

mod analysis;
mod catalog;
mod error;
mod functions;
mod guard;
mod readonly;
mod scan;
mod system;
mod udf;
mod unnest;

use std::sync::Arc;

use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};
use weir_store::Lake;

pub use error::{Result, SqlError};
pub use guard::{ReadOnlySession, query_only};

/// Defaults for unqualified names.
#[derive(Debug, Clone, Default)]
pub struct SqlOptions {
    /// Repository for unqualified names; when `None` and the lake has
    /// exactly one repository, that one.
    pub repo: Option<String>,
    /// Ref for unqualified names; the repository's default branch if `None`.
    pub reference: Option<String>,
}

/// Runs `fut` to completion from synchronous code inside or outside a
/// runtime (DataFusion's catalog hooks are synchronous).
pub(crate) fn block_on<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(fut))
        }
        _ => std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime")
                    .block_on(fut)
            })
            .join()
            .expect("the SQL helper thread panicked")
        }),
    }
}

/// A DataFusion session over the lake, for the lake's own user (the CLI,
/// pipeline stages): queries, and `INSERT INTO` / `CREATE TABLE AS` on
/// branches.
pub fn session(lake: Arc<Lake>, opts: &SqlOptions) -> Result<SessionContext> {
    build(lake, opts, false, &Visible::All)
}

/// A stage's session when its run is confined to some repositories (a
/// run a tenant's trigger started): like [`session`], but the others are
/// absent, as if the lake did not hold them; `None` sees them all.
pub fn session_within(
    lake: Arc<Lake>,
    opts: &SqlOptions,
    repos: Option<&std::collections::HashSet<String>>,
) -> Result<SessionContext> {
    match repos {
        None => session(lake, opts),
        Some(r) => build(
            lake,
            opts,
            false,
            &Visible::Only(Arc::new(r.clone()), SystemTables::default()),
        ),
    }
}

/// A session that can only read the lake, for remote callers (see
/// [`guard`](crate::guard)): run statements with
/// [`ReadOnlySession::query`].
pub fn read_only_session(lake: Arc<Lake>, opts: &SqlOptions) -> Result<ReadOnlySession> {
    Ok(ReadOnlySession {
        ctx: build(lake, opts, true, &Visible::All)?,
    })
}

/// Which of weir's own tables a scoped session has.
#[derive(Debug, Clone, Default)]
pub struct SystemTables {
    /// Every repository's run records and audit log (`weir_runs()`,
    /// `weir_audit()`).
    pub records: bool,
    /// `weir_lineage()`, walking only this tenant's events (every
    /// tenant's with `Some(None)`), and only over visible repositories.
    pub lineage: Option<Option<String>>,
    /// Every tenant's usage and costs (`weir_usage()`, `weir_costs()`).
    pub usage: bool,
}

/// A read-only session that sees only `repos` (a tenant's caller): other
/// repositories are absent from its catalogs, `information_schema` and
/// table functions, as if the lake did not hold them; weir's own
/// lake-wide tables only as `system` says.
pub fn scoped_session(
    lake: Arc<Lake>,
    opts: &SqlOptions,
    repos: std::collections::HashSet<String>,
    system: SystemTables,
) -> Result<ReadOnlySession> {
    let visible = Visible::Only(Arc::new(repos), system);
    Ok(ReadOnlySession {
        ctx: build(lake, opts, true, &visible)?,
    })
}

/// Which repositories a session sees.
#[derive(Debug, Clone)]
pub(crate) enum Visible {
    All,
    /// These, and the system tables `SystemTables` names.
    Only(Arc<std::collections::HashSet<String>>, SystemTables),
}

impl Visible {
    pub(crate) fn allows(&self, repo: &str) -> bool {
        match self {
            Visible::All => true,
            Visible::Only(set, _) => set.contains(repo),
        }
    }

    /// The repository, or the error a missing one gives.
    pub(crate) fn repo(
        &self,
        lake: &Arc<Lake>,
        name: &str,
    ) -> weir_store::Result<weir_store::Repo> {
        if !self.allows(name) {
            return Err(weir_store::StoreError::NotFound {
                kind: "repository",
                name: name.to_string(),
            });
        }
        lake.repo(name)
    }
}

fn build(
    lake: Arc<Lake>,
    opts: &SqlOptions,
    read_only: bool,
    visible: &Visible,
) -> Result<SessionContext> {
    weir_tables::delta::register_scheme();
    let repo = match &opts.repo {
        Some(r) => Some(visible.repo(&lake, r)?),
        None => {
            // weir's own records do not count: they are there as soon as
            // a pipeline has run.
            let repos: Vec<_> = lake
                .list_repos()?
                .into_iter()
                .filter(|r| !weir_core::names::is_records_repo(&r.name) && visible.allows(&r.name))
                .collect();
            match repos.as_slice() {
                [one] => Some(lake.repo(&one.name)?),
                _ => None,
            }
        }
    };
    let (catalog, schema) = match &repo {
        Some(r) => {
            let reference = opts
                .reference
                .clone()
                .unwrap_or_else(|| r.record().default_branch.clone());
            r.resolve(&reference)?;
            (r.name().to_string(), reference)
        }
        None => ("datafusion".to_string(), "public".to_string()),
    };
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(catalog, schema.clone())
        // Repositories are the catalogs; the memory catalog DataFusion would
        // create under the same name would shadow nothing but list twice.
        .with_create_default_catalog_and_schema(false)
        // As deltalake's own sessions: hash-join IN-list pushdown can panic
        // on dictionary-encoded join keys.
        .set_usize("datafusion.optimizer.hash_join_inlist_pushdown_max_size", 0)
        .set_usize(
            "datafusion.optimizer.hash_join_inlist_pushdown_max_distinct_values",
            0,
        );
    let catalogs = Arc::new(catalog::LakeCatalogs::new(
        lake.clone(),
        read_only,
        visible.clone(),
    ));
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_optimizer_rules(unnest::optimizer_rules())
        .with_catalog_list(catalogs)
        .with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new());
    if read_only {
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(guard::LakeStores::default()))
            .build_arc()?;
        builder = builder
            .with_runtime_env(runtime)
            .with_table_factories(Default::default());
    }
    let state = builder.build();
    let ctx = SessionContext::new_with_state(state);
    let lake_for_system = lake.clone();
    let default = repo.map(|r| (r.name().to_string(), schema));
    functions::register(&ctx, lake, default.clone(), visible.clone());
    udf::register(&ctx);
    analysis::register(&ctx);
    let system = match visible {
        Visible::All => SystemTables {
            records: true,
            lineage: Some(None),
            usage: true,
        },
        Visible::Only(_, s) => s.clone(),
    };
    if system.records {
        system::register(&ctx, lake_for_system.clone());
    }
    if let Some(tenant) = system.lineage {
        system::register_lineage(
            &ctx,
            lake_for_system.clone(),
            default,
            tenant,
            visible.clone(),
        );
    }
    if system.usage {
        system::register_usage(&ctx, lake_for_system);
    }
    Ok(ctx)
}
