//! The lineage graph and its queries. Each dataset has one producer: the
//! latest completed event that wrote it. "As of" a ref, a weir table's
//! producer is the latest event whose output commit is in the ref's
//! history, so the graph is the one that made the data at that ref (runs
//! on other branches, or later, do not show). Events from other tools,
//! which carry no commit, count when they happened before the ref's commit.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::store::EventRow;

pub type Key = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Direction, String> {
        match s.to_ascii_lowercase().as_str() {
            "upstream" | "up" => Ok(Direction::Upstream),
            "downstream" | "down" => Ok(Direction::Downstream),
            o => Err(format!("direction {o:?}: use upstream or downstream")),
        }
    }
}

/// Who last wrote a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Producer {
    pub job: String,
    pub run_id: String,
    pub event_time: String,
    /// How many datasets it read.
    pub inputs: usize,
}

#[derive(Debug)]
struct ProducerRun {
    job: String,
    run_id: String,
    event_time: String,
    inputs: Vec<Key>,
    /// Output column → (input dataset, input column, transformation).
    columns: HashMap<String, Vec<(Key, String, String)>>,
}

/// One edge found by a query: `from` feeds `to` through `job`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub depth: usize,
    pub from_namespace: String,
    pub from_name: String,
    pub from_column: Option<String>,
    pub to_namespace: String,
    pub to_name: String,
    pub to_column: Option<String>,
    pub job: String,
    pub run_id: String,
    pub event_time: String,
    /// IDENTITY, TRANSFORMATION, AGGREGATION (column edges), or empty.
    pub transformation: String,
}

#[derive(Debug, Default)]
pub struct Graph {
    producers: Vec<ProducerRun>,
    by_output: HashMap<Key, usize>,
    /// Input dataset → (output dataset, producer).
    consumers: HashMap<Key, Vec<(Key, usize)>>,
}

/// Which outputs of stored events count.
pub struct AsOf {
    /// The namespace whose commits are checked (`weir://REPO`).
    pub namespace: String,
    /// Commit ids in the ref's history.
    pub commits: HashSet<String>,
    /// RFC 3339 time of the ref's commit: later foreign events are left out.
    pub time: String,
}

fn column_facet(
    event: &Value,
    out_ns: &str,
    out_name: &str,
) -> HashMap<String, Vec<(Key, String, String)>> {
    let mut cols = HashMap::new();
    let Some(outs) = event["outputs"].as_array() else {
        return cols;
    };
    for o in outs {
        if o["namespace"] != out_ns || o["name"] != out_name {
            continue;
        }
        let Some(fields) = o["facets"]["columnLineage"]["fields"].as_object() else {
            continue;
        };
        for (col, f) in fields {
            let inputs = f["inputFields"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|i| {
                            let t = &i["transformations"][0];
                            let kind = t["subtype"].as_str().or(t["type"].as_str()).unwrap_or("");
                            Some((
                                (
                                    i["namespace"].as_str()?.to_string(),
                                    i["name"].as_str()?.to_string(),
                                ),
                                i["field"].as_str()?.to_string(),
                                kind.to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            cols.insert(col.clone(), inputs);
        }
    }
    cols
}

impl Graph {
    /// Builds the graph from events in time order.
    pub fn build(events: &[EventRow], as_of: Option<&AsOf>) -> Graph {
        let mut g = Graph::default();
        for e in events {
            // START, FAIL and ABORT say nothing about what the data is.
            if matches!(e.event_type.as_str(), "START" | "FAIL" | "ABORT") {
                continue;
            }
            let mut parsed: Option<Value> = None;
            for out in &e.outputs {
                if let Some(a) = as_of {
                    let counts = match (&out.commit, out.namespace == a.namespace) {
                        (Some(c), true) => a.commits.contains(c),
                        (Some(_), false) => true,
                        (None, _) => e.event_time <= a.time,
                    };
                    if !counts {
                        continue;
                    }
                }
                let event = parsed
                    .get_or_insert_with(|| serde_json::from_str(&e.event).unwrap_or(Value::Null));
                let key = (out.namespace.clone(), out.name.clone());
                let p = ProducerRun {
                    job: format!("{}:{}", e.job_namespace, e.job_name),
                    run_id: e.run_id.clone(),
                    event_time: e.event_time.clone(),
                    inputs: e
                        .inputs
                        .iter()
                        .map(|i| (i.namespace.clone(), i.name.clone()))
                        .collect(),
                    columns: column_facet(event, &out.namespace, &out.name),
                };
                g.producers.push(p);
                g.by_output.insert(key, g.producers.len() - 1);
            }
        }
        for (out, &p) in &g.by_output {
            for i in &g.producers[p].inputs {
                g.consumers
                    .entry(i.clone())
                    .or_default()
                    .push((out.clone(), p));
            }
        }
        g
    }

    /// The job run that last wrote `key` (as of the graph's ref).
    pub fn producer(&self, key: &Key) -> Option<Producer> {
        self.by_output.get(key).map(|&p| {
            let pr = &self.producers[p];
            Producer {
                job: pr.job.clone(),
                run_id: pr.run_id.clone(),
                event_time: pr.event_time.clone(),
                inputs: pr.inputs.len(),
            }
        })
    }

    /// The datasets whose latest producer is `job` (`NAMESPACE:NAME`).
    pub fn outputs_of(&self, job: &str) -> Vec<Key> {
        let mut v: Vec<Key> = self
            .by_output
            .iter()
            .filter(|(_, p)| self.producers[**p].job == job)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    pub fn datasets(&self) -> usize {
        let mut all: HashSet<&Key> = self.by_output.keys().collect();
        all.extend(self.consumers.keys());
        all.len()
    }

    fn edge(
        &self,
        depth: usize,
        from: (&Key, Option<&str>),
        to: (&Key, Option<&str>),
        p: usize,
        t: &str,
    ) -> Edge {
        let pr = &self.producers[p];
        Edge {
            depth,
            from_namespace: from.0.0.clone(),
            from_name: from.0.1.clone(),
            from_column: from.1.map(str::to_string),
            to_namespace: to.0.0.clone(),
            to_name: to.0.1.clone(),
            to_column: to.1.map(str::to_string),
            job: pr.job.clone(),
            run_id: pr.run_id.clone(),
            event_time: pr.event_time.clone(),
            transformation: t.to_string(),
        }
    }

    /// Edges within `depth` hops of `start` (a dataset, or one of its
    /// columns), nearest first.
    pub fn query(
        &self,
        start: &Key,
        column: Option<&str>,
        dir: Direction,
        depth: usize,
    ) -> Vec<Edge> {
        let mut out = Vec::new();
        let mut seen: HashSet<(Key, Option<String>)> = HashSet::new();
        seen.insert((start.clone(), column.map(str::to_string)));
        let mut frontier: Vec<(Key, Option<String>)> =
            vec![(start.clone(), column.map(str::to_string))];
        for d in 1..=depth {
            let mut next = Vec::new();
            for (node, col) in &frontier {
                let found = match dir {
                    Direction::Upstream => self.up(node, col.as_deref(), d),
                    Direction::Downstream => self.down(node, col.as_deref(), d),
                };
                for e in found {
                    let n = match dir {
                        Direction::Upstream => (
                            (e.from_namespace.clone(), e.from_name.clone()),
                            e.from_column.clone(),
                        ),
                        Direction::Downstream => (
                            (e.to_namespace.clone(), e.to_name.clone()),
                            e.to_column.clone(),
                        ),
                    };
                    if seen.insert(n.clone()) {
                        next.push(n);
                    }
                    out.push(e);
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        out
    }

    fn up(&self, node: &Key, col: Option<&str>, depth: usize) -> Vec<Edge> {
        let Some(&p) = self.by_output.get(node) else {
            return Vec::new();
        };
        let pr = &self.producers[p];
        match col {
            None => pr
                .inputs
                .iter()
                .map(|i| self.edge(depth, (i, None), (node, None), p, ""))
                .collect(),
            Some(c) => pr
                .columns
                .get(c)
                .map(|srcs| {
                    srcs.iter()
                        .map(|(k, ic, t)| self.edge(depth, (k, Some(ic)), (node, Some(c)), p, t))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn down(&self, node: &Key, col: Option<&str>, depth: usize) -> Vec<Edge> {
        let Some(users) = self.consumers.get(node) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (o, p) in users {
            match col {
                None => out.push(self.edge(depth, (node, None), (o, None), *p, "")),
                Some(c) => {
                    let mut cols: Vec<(&String, &str)> = self.producers[*p]
                        .columns
                        .iter()
                        .filter_map(|(oc, srcs)| {
                            srcs.iter()
                                .find(|(k, ic, _)| k == node && ic == c)
                                .map(|(_, _, t)| (oc, t.as_str()))
                        })
                        .collect();
                    cols.sort();
                    for (oc, t) in cols {
                        out.push(self.edge(depth, (node, Some(c)), (o, Some(oc)), *p, t));
                    }
                }
            }
        }
        out
    }
}
