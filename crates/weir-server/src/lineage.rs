//! Lineage over HTTP. OpenLineage emitters (Airflow, Spark, dbt,
//! openlineage-python) post events to `POST /api/v1/lineage`, as they would
//! to Marquez; they land in the same `lineage` table as weir's own run and
//! ingest events, so one graph holds both. Reads follow Marquez's shapes
//! (`GET /api/v1/lineage?nodeId=dataset:NS:NAME&depth=N`, namespaces,
//! datasets, jobs, runs), plus what Marquez lacks: `asOf`, a ref (the graph
//! that made the data at that ref) or a time. Each tenant has its own
//! graph: an event belongs to the tenant of the key that posted it (or of
//! the repository a run wrote), and a caller reads only its tenant's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use weir_lineage::{AsOf, Direction, EventRow, Graph};

use crate::authz::{Principal, Resource};
use crate::error::{Result, ServerError};
use crate::{AppState, Caller};

type St = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/lineage", get(graph).post(ingest))
        .route("/lineage/batch", axum::routing::post(ingest_batch))
        .route("/namespaces", get(namespaces))
        .route("/namespaces/{ns}/datasets", get(datasets))
        .route("/namespaces/{ns}/jobs", get(jobs))
        .route("/namespaces/{ns}/jobs/{job}/runs", get(runs))
        .merge(crate::marquez::routes())
}

/// The body, gunzipped when the emitter compressed it, within the limit.
fn body_bytes(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Vec<u8>> {
    let gz = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gz {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ServerError::InvalidArgument(format!("the gzip body does not inflate: {e}"))
        })?;
    if out.len() > limit {
        return Err(ServerError::InvalidArgument(format!(
            "the inflated body exceeds {limit} bytes"
        )));
    }
    Ok(out)
}

/// eventTime as weir stores it: RFC 3339 UTC with microseconds. Marquez
/// accepts times without an offset (read as UTC) and with nanoseconds.
fn normalize_time(t: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
    let parsed = DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .ok()?;
    Some(parsed.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// One received event as a stored row (RunEvent, JobEvent or DatasetEvent).
fn to_row(event: &Value) -> Result<EventRow> {
    let bad = |m: String| ServerError::InvalidArgument(m);
    if !event.is_object() {
        return Err(bad("an OpenLineage event is a JSON object".into()));
    }
    let time = event["eventTime"]
        .as_str()
        .ok_or_else(|| bad("eventTime is required".into()))?;
    let time = normalize_time(time).ok_or_else(|| {
        bad(format!(
            "eventTime {time:?} is not an ISO-8601 date and time"
        ))
    })?;
    let kind = if event["run"].is_object() {
        None
    } else if event["dataset"].is_object() {
        Some("DATASET")
    } else if event["job"].is_object() {
        Some("JOB")
    } else {
        return Err(bad(
            "not an OpenLineage event: it has none of run, job, dataset".into(),
        ));
    };
    if kind != Some("DATASET")
        && (event["job"]["namespace"].as_str().is_none() || event["job"]["name"].as_str().is_none())
    {
        return Err(bad("job.namespace and job.name are required".into()));
    }
    let mut row = EventRow::from_event(event, &|_, _| None)
        .map_err(|e| ServerError::InvalidArgument(e.to_string()))?;
    row.event_time = time;
    if let Some(k) = kind {
        row.event_type = k.to_string();
    }
    Ok(row)
}

async fn store(
    s: &AppState,
    mut rows: Vec<EventRow>,
    caller: &Caller,
    who: &Principal,
) -> Result<()> {
    for r in &mut rows {
        r.tenant = Some(who.tenant().to_string());
    }
    let message = match rows.as_slice() {
        [one] => format!("lineage event from {}: {}", caller.0, one.job_name),
        many => format!("{} lineage events from {}", many.len(), caller.0),
    };
    Ok(weir_lineage::append(&s.lake, &rows, &caller.0, &message).await?)
}

async fn ingest(
    State(s): St,
    Extension(c): Extension<Caller>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode> {
    let raw = body_bytes(&headers, body, s.options.max_body)?;
    let event: Value = serde_json::from_slice(&raw)
        .map_err(|e| ServerError::InvalidArgument(format!("the body is not JSON: {e}")))?;
    let row = to_row(&event)?;
    store(&s, vec![row], &c, &who).await?;
    // Marquez answers 201 with no body; emitters take any 2xx.
    Ok(StatusCode::CREATED)
}

/// `POST /lineage/batch` as the OpenLineage spec has it: bad events are
/// reported by index, the good ones are stored.
async fn ingest_batch(
    State(s): St,
    Extension(c): Extension<Caller>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let raw = body_bytes(&headers, body, s.options.max_body)?;
    let events: Vec<Value> = serde_json::from_slice(&raw).map_err(|e| {
        ServerError::InvalidArgument(format!("the body is not a JSON array of events: {e}"))
    })?;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match to_row(e) {
            Ok(r) => rows.push(r),
            Err(e) => {
                failed.push(json!({ "index": i, "reason": e.to_string(), "retriable": false }))
            }
        }
    }
    let ok = rows.len();
    if ok > 0 {
        store(&s, rows, &c, &who).await?;
    }
    Ok(Json(json!({
        "status": if failed.is_empty() { "success" } else { "partial_success" },
        "summary": { "received": events.len(), "successful": ok, "failed": failed.len(),
                     "retriable": 0, "non_retriable": failed.len() },
        "failed_events": failed,
    })))
}

/// `dataset:NS:NAME` or `job:NS:NAME`. Namespaces hold colons (`weir://r`,
/// `s3://b`, `host:5432`): the split is at the first colon not followed by
/// `//` or a digit, as Marquez does it.
pub(crate) fn parse_node(id: &str) -> Result<(&'static str, String, String)> {
    let bad = || {
        ServerError::InvalidArgument(format!(
            "nodeId {id:?}: use dataset:NAMESPACE:NAME or job:NAMESPACE:NAME"
        ))
    };
    let (kind, rest) = id.split_once(':').ok_or_else(bad)?;
    let kind = match kind {
        "dataset" => "dataset",
        "job" => "job",
        _ => return Err(bad()),
    };
    let b = rest.as_bytes();
    let at = (0..b.len())
        .find(|&i| {
            b[i] == b':'
                && !rest[i + 1..].starts_with("//")
                && !b.get(i + 1).is_some_and(u8::is_ascii_digit)
        })
        .ok_or_else(bad)?;
    let (ns, name) = (&rest[..at], &rest[at + 1..]);
    if ns.is_empty() || name.is_empty() {
        return Err(bad());
    }
    Ok((kind, ns.to_string(), name.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphQuery {
    node_id: Option<String>,
    depth: Option<usize>,
    as_of: Option<String>,
}

/// `asOf` for a node: a ref of the dataset's weir repository, or a time.
pub(crate) fn as_of(s: &AppState, who: &Principal, ns: &str, spec: &str) -> Result<AsOf> {
    if let Some(t) = normalize_time(spec) {
        return Ok(AsOf {
            namespace: String::new(),
            commits: Default::default(),
            time: t,
        });
    }
    let repo = ns.strip_prefix("weir://").ok_or_else(|| {
        ServerError::InvalidArgument(format!(
            "asOf {spec:?}: a ref applies to weir datasets (weir://REPO); for {ns} give a time"
        ))
    })?;
    who.require("repo:Read", &Resource::repo(repo))?;
    weir_lineage::as_of(&s.lake, repo, spec).map_err(|e| match e.code() {
        weir_core::ErrorCode::NotFound => ServerError::NotFound(e.to_string()),
        _ => ServerError::InvalidArgument(e.to_string()),
    })
}

pub(crate) async fn load_events(s: &AppState, who: &Principal) -> Result<Vec<EventRow>> {
    Ok(weir_lineage::load(&s.lake, Some(who.tenant())).await?)
}

pub(crate) fn node_id(kind: &str, ns: &str, name: &str) -> String {
    format!("{kind}:{ns}:{name}")
}

/// A job's inputs, outputs and latest run in a graph answer.
type JobIo = (
    BTreeSet<(String, String)>,
    BTreeSet<(String, String)>,
    String,
);

async fn graph(
    State(s): St,
    Extension(who): Extension<Principal>,
    Query(q): Query<GraphQuery>,
) -> Result<Json<Value>> {
    let id = q.node_id.ok_or_else(|| {
        ServerError::InvalidArgument("the query parameter nodeId is required".into())
    })?;
    let (kind, ns, name) = parse_node(&id)?;
    let depth = q.depth.unwrap_or(20).clamp(1, 100);
    let filter = match &q.as_of {
        Some(spec) => Some(as_of(&s, &who, &ns, spec)?),
        None => None,
    };
    let rows = load_events(&s, &who).await?;
    let g = Graph::build(&rows, filter.as_ref());
    let starts: Vec<(String, String)> = match kind {
        "dataset" => vec![(ns.clone(), name.clone())],
        _ => g.outputs_of(&format!("{ns}:{name}")),
    };
    // (dataset → job) and (job → dataset) edges, Marquez's direction of flow.
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    let mut job_io: BTreeMap<String, JobIo> = BTreeMap::new();
    let mut datasets: BTreeSet<(String, String)> = starts.iter().cloned().collect();
    if kind == "job" {
        job_io.entry(format!("{ns}:{name}")).or_default();
    }
    for start in &starts {
        if let Some(p) = g.producer(start) {
            let j = job_io.entry(p.job.clone()).or_default();
            j.1.insert(start.clone());
            j.2 = p.run_id.clone();
        }
        for dir in [Direction::Upstream, Direction::Downstream] {
            for e in g.query(start, None, dir, depth) {
                let from = (e.from_namespace.clone(), e.from_name.clone());
                let to = (e.to_namespace.clone(), e.to_name.clone());
                let j = job_io.entry(e.job.clone()).or_default();
                j.0.insert(from.clone());
                j.1.insert(to.clone());
                j.2 = e.run_id.clone();
                datasets.insert(from);
                datasets.insert(to);
            }
        }
    }
    for (job, (ins, outs, _)) in &job_io {
        let jid = format!("job:{job}");
        for i in ins {
            edges.insert((node_id("dataset", &i.0, &i.1), jid.clone()));
        }
        for o in outs {
            edges.insert((jid.clone(), node_id("dataset", &o.0, &o.1)));
        }
    }
    // Each node's edges, looked up once per node rather than by scanning
    // every edge for every node.
    let mut by_node: HashMap<&str, (Vec<Value>, Vec<Value>)> = HashMap::new();
    for (o, d) in &edges {
        let e = json!({ "origin": o, "destination": d });
        by_node.entry(d).or_default().0.push(e.clone());
        by_node.entry(o).or_default().1.push(e);
    }
    let mut edge_json = |id: &str| by_node.remove(id).unwrap_or_default();
    let mut nodes: Vec<Value> = Vec::new();
    for (dns, dname) in &datasets {
        let id = node_id("dataset", dns, dname);
        let (ins, outs) = edge_json(&id);
        nodes.push(json!({
            "id": id, "type": "DATASET",
            "data": {
                "id": { "namespace": dns, "name": dname }, "type": "DB_TABLE",
                "name": dname, "physicalName": dname, "namespace": dns,
                "sourceName": dns, "fields": [], "tags": [], "facets": {},
            },
            "inEdges": ins, "outEdges": outs,
        }));
    }
    for (job, (ins, outs, run)) in &job_io {
        let (jns, jname) = split_job(job);
        let id = format!("job:{job}");
        let (ein, eout) = edge_json(&id);
        let ds = |set: &BTreeSet<(String, String)>| -> Vec<Value> {
            set.iter()
                .map(|(n, m)| json!({ "namespace": n, "name": m }))
                .collect()
        };
        nodes.push(json!({
            "id": id, "type": "JOB",
            "data": {
                "id": { "namespace": jns, "name": jname }, "type": "BATCH",
                "name": jname, "simpleName": jname, "namespace": jns,
                "inputs": ds(ins), "outputs": ds(outs),
                "latestRun": if run.is_empty() { Value::Null } else { json!({ "id": run, "state": "COMPLETED" }) },
            },
            "inEdges": ein, "outEdges": eout,
        }));
    }
    nodes.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(Json(json!({ "graph": nodes })))
}

/// `NAMESPACE:NAME` of a job, split as [`parse_node`] splits node ids.
fn split_job(job: &str) -> (String, String) {
    match parse_node(&format!("job:{job}")) {
        Ok((_, ns, name)) => (ns, name),
        Err(_) => (String::new(), job.to_string()),
    }
}

#[derive(Deserialize)]
struct Paging {
    limit: Option<usize>,
    offset: Option<usize>,
}

impl Paging {
    fn apply<T>(&self, v: Vec<T>) -> Vec<T> {
        v.into_iter()
            .skip(self.offset.unwrap_or(0))
            .take(self.limit.unwrap_or(100))
            .collect()
    }
}

pub(crate) fn event_datasets(r: &EventRow) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r
        .inputs
        .iter()
        .chain(&r.outputs)
        .map(|d| (d.namespace.clone(), d.name.clone()))
        .collect();
    if r.event_type == "DATASET"
        && let Ok(e) = serde_json::from_str::<Value>(&r.event)
        && let (Some(ns), Some(n)) = (
            e["dataset"]["namespace"].as_str(),
            e["dataset"]["name"].as_str(),
        )
    {
        v.push((ns.to_string(), n.to_string()));
    }
    v
}

async fn namespaces(
    State(s): St,
    Extension(who): Extension<Principal>,
    Query(p): Query<Paging>,
) -> Result<Json<Value>> {
    let rows = load_events(&s, &who).await?;
    // name → (first seen, last seen)
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut see = |ns: &str, t: &str| {
        let e = seen
            .entry(ns.to_string())
            .or_insert_with(|| (t.to_string(), t.to_string()));
        e.1 = t.to_string();
    };
    for r in &rows {
        if !r.job_namespace.is_empty() {
            see(&r.job_namespace, &r.event_time);
        }
        for (ns, _) in event_datasets(r) {
            see(&ns, &r.event_time);
        }
    }
    let list: Vec<Value> = seen
        .into_iter()
        .map(|(name, (created, updated))| {
            json!({ "name": name, "createdAt": created, "updatedAt": updated,
                    "ownerName": "weir", "description": null, "isHidden": false })
        })
        .collect();
    Ok(Json(json!({ "namespaces": p.apply(list) })))
}

async fn datasets(
    State(s): St,
    Extension(who): Extension<Principal>,
    Path(ns): Path<String>,
    Query(p): Query<Paging>,
) -> Result<Json<Value>> {
    let rows = load_events(&s, &who).await?;
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for r in &rows {
        for (dns, name) in event_datasets(r) {
            if dns == ns {
                let e = seen
                    .entry(name)
                    .or_insert_with(|| (r.event_time.clone(), r.event_time.clone()));
                e.1 = r.event_time.clone();
            }
        }
    }
    let total = seen.len();
    let list: Vec<Value> = seen
        .into_iter()
        .map(|(name, (created, updated))| {
            json!({ "id": { "namespace": ns, "name": name }, "type": "DB_TABLE", "name": name,
                    "physicalName": name, "namespace": ns, "sourceName": ns,
                    "createdAt": created, "updatedAt": updated, "fields": [], "tags": [],
                    "facets": {}, "deleted": false })
        })
        .collect();
    Ok(Json(
        json!({ "datasets": p.apply(list), "totalCount": total }),
    ))
}

fn run_state(event_type: &str) -> &'static str {
    match event_type {
        "START" => "RUNNING",
        "COMPLETE" => "COMPLETED",
        "ABORT" => "ABORTED",
        "FAIL" => "FAILED",
        _ => "RUNNING",
    }
}

async fn jobs(
    State(s): St,
    Extension(who): Extension<Principal>,
    Path(ns): Path<String>,
    Query(p): Query<Paging>,
) -> Result<Json<Value>> {
    let rows = load_events(&s, &who).await?;
    let mut seen: BTreeMap<String, Vec<&EventRow>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.job_namespace == ns && r.event_type != "DATASET")
    {
        seen.entry(r.job_name.clone()).or_default().push(r);
    }
    let total = seen.len();
    let list: Vec<Value> = seen
        .into_iter()
        .map(|(name, evs)| {
            let last = evs[evs.len() - 1];
            let io = |v: &[weir_lineage::store::EventDataset]| -> Vec<Value> {
                v.iter()
                    .map(|d| json!({ "namespace": d.namespace, "name": d.name }))
                    .collect()
            };
            json!({ "id": { "namespace": ns, "name": name }, "type": "BATCH", "name": name,
                    "simpleName": name, "namespace": ns,
                    "createdAt": evs[0].event_time, "updatedAt": last.event_time,
                    "inputs": io(&last.inputs), "outputs": io(&last.outputs),
                    "latestRun": { "id": last.run_id, "state": run_state(&last.event_type) } })
        })
        .collect();
    Ok(Json(json!({ "jobs": p.apply(list), "totalCount": total })))
}

async fn runs(
    State(s): St,
    Extension(who): Extension<Principal>,
    Path((ns, job)): Path<(String, String)>,
    Query(p): Query<Paging>,
) -> Result<Json<Value>> {
    let rows = load_events(&s, &who).await?;
    let mut by_run: BTreeMap<String, Vec<&EventRow>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.job_namespace == ns && r.job_name == job && !r.run_id.is_empty())
    {
        by_run.entry(r.run_id.clone()).or_default().push(r);
    }
    if by_run.is_empty() {
        return Err(ServerError::NotFound(format!("no runs of job {ns}:{job}")));
    }
    let mut list: Vec<(String, Value)> = by_run
        .into_iter()
        .map(|(id, evs)| {
            let first = &evs[0].event_time;
            let last = evs[evs.len() - 1];
            let started = evs
                .iter()
                .find(|e| e.event_type == "START")
                .map(|e| e.event_time.clone());
            let ended = evs
                .iter()
                .rev()
                .find(|e| matches!(e.event_type.as_str(), "COMPLETE" | "FAIL" | "ABORT"))
                .map(|e| e.event_time.clone());
            let v = json!({ "id": id, "createdAt": first, "updatedAt": last.event_time,
                            "state": run_state(&last.event_type),
                            "startedAt": started, "endedAt": ended, "args": {}, "facets": {} });
            (last.event_time.clone(), v)
        })
        .collect();
    // Newest first, as Marquez lists them.
    list.sort_by(|a, b| b.0.cmp(&a.0));
    let total = list.len();
    let list: Vec<Value> = list.into_iter().map(|(_, v)| v).collect();
    Ok(Json(json!({ "runs": p.apply(list), "totalCount": total })))
}
