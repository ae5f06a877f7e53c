//! More of Marquez's read endpoints, for tools and UIs written against
//! it: the raw event log (`GET /api/v1/events/lineage`), name search
//! (`GET /api/v1/search`) and column lineage (`GET /api/v1/column-lineage`).
//! All read the same `lineage` table as the graph, the caller's tenant's
//! events only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Extension, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::authz::Principal;
use crate::error::{Result, ServerError};
use crate::lineage::{as_of, event_datasets, load_events, node_id, parse_node};

type St = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/events/lineage", get(events))
        .route("/search", get(search))
        .route("/column-lineage", get(column_lineage))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ColumnQuery {
    node_id: Option<String>,
    depth: Option<usize>,
    with_downstream: Option<bool>,
    as_of: Option<String>,
}

/// A column's node, `datasetField:NAMESPACE:DATASET:FIELD`.
type Field = (String, String, String);
/// A field's inputs with their transformation, its edges in and out.
type FieldNode = (BTreeMap<Field, String>, BTreeSet<String>, BTreeSet<String>);

/// How strongly a transformation ties a field to its input, in
/// `weir_lineage::Direct`'s order (an aggregation outranks an identity).
fn strength(t: &str) -> Option<usize> {
    use weir_lineage::Direct;
    [
        Direct::Identity,
        Direct::Transformation,
        Direct::Aggregation,
    ]
    .iter()
    .position(|d| d.as_str() == t)
}

/// Marquez's column lineage of one field: the fields it is computed from
/// (and, with `withDownstream=true`, the fields computed from it), each a
/// DATASET_FIELD node with its edges and the inputs it is made of.
async fn column_lineage(
    State(s): St,
    Extension(who): Extension<Principal>,
    Query(q): Query<ColumnQuery>,
) -> Result<Json<Value>> {
    let id = q
        .node_id
        .ok_or_else(|| bad("the query parameter nodeId is required".into()))?;
    let malformed = || {
        bad(format!(
            "nodeId {id:?}: use datasetField:NAMESPACE:DATASET:FIELD"
        ))
    };
    let rest = id.strip_prefix("datasetField:").ok_or_else(malformed)?;
    let (dataset, field) = rest.rsplit_once(':').ok_or_else(malformed)?;
    let (_, ns, name) = parse_node(&format!("dataset:{dataset}")).map_err(|_| malformed())?;
    if field.is_empty() {
        return Err(malformed());
    }
    let depth = q.depth.unwrap_or(20).clamp(1, 100);
    let filter = match &q.as_of {
        Some(spec) => Some(as_of(&s, &who, &ns, spec)?),
        None => None,
    };
    let rows = load_events(&s, &who).await?;
    let g = weir_lineage::Graph::build(&rows, filter.as_ref());
    let start = (ns, name);
    let mut dirs = vec![weir_lineage::Direction::Upstream];
    if q.with_downstream.unwrap_or(false) {
        dirs.push(weir_lineage::Direction::Downstream);
    }
    let mut nodes: BTreeMap<Field, FieldNode> = BTreeMap::new();
    nodes
        .entry((start.0.clone(), start.1.clone(), field.to_string()))
        .or_default();
    let fid = |f: &Field| format!("datasetField:{}:{}:{}", f.0, f.1, f.2);
    for dir in dirs {
        for e in g.query(&start, Some(field), dir, depth) {
            let (Some(fc), Some(tc)) = (e.from_column, e.to_column) else {
                continue;
            };
            let from = (e.from_namespace, e.from_name, fc);
            let to = (e.to_namespace, e.to_name, tc);
            nodes.entry(from.clone()).or_default().2.insert(fid(&to));
            let t = nodes.entry(to).or_default();
            t.1.insert(fid(&from));
            t.0.insert(from, e.transformation);
        }
    }
    let graph: Vec<Value> = nodes
        .iter()
        .map(|(f, (inputs, ins, outs))| {
            let id = fid(f);
            let kind = inputs.values().max_by_key(|t| strength(t)).cloned();
            json!({
                "id": id, "type": "DATASET_FIELD",
                "data": {
                    "namespace": f.0, "dataset": f.1, "datasetVersion": null, "field": f.2,
                    "fieldType": null, "transformationDescription": null,
                    "transformationType": kind,
                    "inputFields": inputs.iter().map(|(i, t)| json!({
                        "namespace": i.0, "dataset": i.1, "datasetVersion": null, "field": i.2,
                        "transformationDescription": null, "transformationType": t,
                    })).collect::<Vec<_>>(),
                },
                "inEdges": ins.iter().map(|o| json!({"origin": o, "destination": id})).collect::<Vec<_>>(),
                "outEdges": outs.iter().map(|d| json!({"origin": id, "destination": d})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({ "graph": graph })))
}

fn bad(m: String) -> ServerError {
    ServerError::InvalidArgument(m)
}

/// A time bound as Marquez takes it (RFC 3339), in weir's stored form
/// (RFC 3339 UTC with microseconds), so bounds compare as strings.
fn bound(name: &str, v: &Option<String>, default: &str) -> Result<String> {
    let t = v.as_deref().unwrap_or(default);
    let d = DateTime::parse_from_rfc3339(t)
        .map_err(|_| bad(format!("{name}: {t:?} is not an RFC 3339 time")))?;
    Ok(d.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Micros, true))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsQuery {
    before: Option<String>,
    after: Option<String>,
    sort_direction: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// The events received or produced between `after` and `before`, as sent
/// (unknown facets included), newest first unless `sortDirection=asc`.
async fn events(
    State(s): St,
    Extension(who): Extension<Principal>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Value>> {
    let before = bound("before", &q.before, "2030-01-01T00:00:00Z")?;
    let after = bound("after", &q.after, "1970-01-01T00:00:00Z")?;
    let asc = match q.sort_direction.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => return Err(bad(format!("sortDirection: {other:?} is not asc or desc"))),
    };
    let mut rows: Vec<_> = load_events(&s, &who)
        .await?
        .into_iter()
        .filter(|r| r.event_time >= after && r.event_time <= before)
        .collect();
    rows.sort_by(|a, b| a.event_time.cmp(&b.event_time));
    if !asc {
        rows.reverse();
    }
    let total = rows.len();
    let events: Vec<Value> = rows
        .into_iter()
        .skip(q.offset.unwrap_or(0))
        .take(q.limit.unwrap_or(100))
        .map(|r| serde_json::from_str(&r.event).unwrap_or(Value::Null))
        .collect();
    Ok(Json(json!({ "events": events, "totalCount": total })))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    filter: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    namespace: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

/// Datasets and jobs whose name contains `q` (case-insensitive, as
/// Marquez's `ILIKE`), with the time of their latest event.
async fn search(
    State(s): St,
    Extension(who): Extension<Principal>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>> {
    let needle = match q.q.as_deref() {
        Some(t) if !t.is_empty() => t.to_lowercase(),
        _ => return Err(bad("q is required: the text to look for in names".into())),
    };
    let (want_datasets, want_jobs) = match q.filter.as_deref().map(str::to_ascii_lowercase) {
        None => (true, true),
        Some(f) if f == "dataset" => (true, false),
        Some(f) if f == "job" => (false, true),
        Some(f) => return Err(bad(format!("filter: {f:?} is not dataset or job"))),
    };
    let by_time = match q.sort.as_deref().map(str::to_ascii_lowercase) {
        None => false,
        Some(s) if s == "name" => false,
        Some(s) if s == "updated_at" => true,
        Some(s) => return Err(bad(format!("sort: {s:?} is not name or updated_at"))),
    };
    let day = |name: &str, v: &Option<String>| -> Result<Option<NaiveDate>> {
        v.as_deref()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| bad(format!("{name}: {d:?} is not YYYY-MM-DD")))
            })
            .transpose()
    };
    let (before, after) = (day("before", &q.before)?, day("after", &q.after)?);
    // (type, namespace, name) -> latest event time
    let mut found: BTreeMap<(&'static str, String, String), String> = BTreeMap::new();
    for r in load_events(&s, &who).await? {
        let mut hit = |kind: &'static str, ns: String, name: String| {
            if name.to_lowercase().contains(&needle)
                && q.namespace.as_ref().is_none_or(|n| *n == ns)
            {
                let t = found.entry((kind, ns, name)).or_default();
                if r.event_time > *t {
                    *t = r.event_time.clone();
                }
            }
        };
        if want_jobs && !r.job_name.is_empty() {
            hit("JOB", r.job_namespace.clone(), r.job_name.clone());
        }
        if want_datasets {
            for (ns, name) in event_datasets(&r) {
                hit("DATASET", ns, name);
            }
        }
    }
    let mut results: Vec<((&'static str, String, String), String)> = found
        .into_iter()
        .filter(|(_, t)| {
            let d = DateTime::parse_from_rfc3339(t).ok().map(|d| d.date_naive());
            before.is_none_or(|b| d.is_some_and(|d| d < b))
                && after.is_none_or(|a| d.is_some_and(|d| d > a))
        })
        .collect();
    if by_time {
        results.sort_by(|a, b| b.1.cmp(&a.1));
    }
    let total = results.len();
    let results: Vec<Value> = results
        .into_iter()
        .take(q.limit.unwrap_or(10))
        .map(|((kind, ns, name), t)| {
            let node = node_id(if kind == "JOB" { "job" } else { "dataset" }, &ns, &name);
            json!({ "type": kind, "name": name, "updatedAt": t, "namespace": ns, "nodeId": node })
        })
        .collect();
    Ok(Json(json!({ "totalCount": total, "results": results })))
}
