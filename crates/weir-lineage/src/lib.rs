//! Lineage for weir: OpenLineage RunEvents for every pipeline stage and
//! ingest, with column lineage derived from the DataFusion logical plan,
//! stored as the Delta table `lineage` in the system repository, and graph
//! queries (upstream or downstream, a table or one column, to any depth)
//! as of any ref; and the usage records billing and costs are made from
//! (the Delta table `usage` beside it, [`usage`]).

pub mod column;
pub mod commit;
pub mod costs;
pub mod error;
pub mod event;
pub mod graph;
pub mod ingest;
pub mod store;
pub mod usage;

use std::collections::HashSet;
use std::sync::Arc;

use weir_store::{Lake, LogOptions};

pub use column::{ColumnLineage, Direct, Indirect, column_lineage};
pub use commit::record_commit;
pub use error::{LineageError, Result};
pub use event::{Dataset, JobEvent, namespace, run_uuid};
pub use graph::{AsOf, Direction, Edge, Graph, Producer};
pub use ingest::{Ingested, record_ingest};
pub use store::{EventRow, append, load};

/// What `weir lineage` and `weir_lineage()` ask.
#[derive(Debug, Clone)]
pub struct Query {
    pub repo: String,
    /// The graph as of this ref (the repository's default branch if None).
    pub reference: Option<String>,
    pub table: String,
    pub column: Option<String>,
    pub direction: Direction,
    pub depth: usize,
    /// Whose events make the graph: the repository's tenant (every
    /// tenant's with None, as the lake's owner sees them).
    pub tenant: Option<String>,
}

/// The history of `reference` as the graph's filter.
pub fn as_of(lake: &Arc<Lake>, repo: &str, reference: &str) -> Result<AsOf> {
    let r = lake.repo(repo)?;
    let (log, _) = r.log(
        reference,
        &LogOptions {
            amount: usize::MAX >> 1,
            ..Default::default()
        },
    )?;
    let head = log.first().map(|c| c.created).unwrap_or(0);
    let time = chrono::DateTime::from_timestamp(head, 0)
        .unwrap_or_default()
        // Foreign events up to the end of the commit's second count.
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        .replace(".000000Z", ".999999Z");
    Ok(AsOf {
        namespace: namespace(repo),
        commits: log.into_iter().map(|c| c.id).collect::<HashSet<_>>(),
        time,
    })
}

/// Runs a lineage query against the stored events.
pub async fn query(lake: &Arc<Lake>, q: &Query) -> Result<Vec<Edge>> {
    Ok(query_with_producer(lake, q).await?.0)
}

/// Like [`query`], with the job run that last wrote the table.
pub async fn query_with_producer(
    lake: &Arc<Lake>,
    q: &Query,
) -> Result<(Vec<Edge>, Option<Producer>)> {
    let repo = lake.repo(&q.repo)?;
    let reference = q
        .reference
        .clone()
        .unwrap_or_else(|| repo.record().default_branch.clone());
    let filter = as_of(lake, &q.repo, &reference)?;
    let events = load(lake, q.tenant.as_deref()).await?;
    let g = Graph::build(&events, Some(&filter));
    let key = (namespace(&q.repo), q.table.clone());
    let edges = g.query(&key, q.column.as_deref(), q.direction, q.depth);
    Ok((edges, g.producer(&key)))
}
