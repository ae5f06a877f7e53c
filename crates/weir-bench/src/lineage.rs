//! Lineage graph queries at scale (`weir-bench lineage [DATASETS]`): a
//! seeded synthetic graph of DATASETS tables (default 100,000), each made
//! by one job from 10 earlier tables (1M table edges), every table with 5
//! columns each computed from 2 columns of its inputs (1M column edges).
//! Times building the graph from stored events and upstream queries to
//! depth 5, table- and column-level, from random tables: p50, p95.

use std::time::Instant;

use serde_json::json;
use weir_lineage::{Direction, EventRow, Graph, store::EventDataset};

use crate::forecast::Rng;

const FAN_IN: usize = 10;
const COLUMNS: usize = 5;
const QUERIES: usize = 500;

fn name(i: usize) -> String {
    format!("t{i}")
}

/// Events as weir stores them: the column lineage facet inside the JSON.
fn events(n: usize) -> Vec<EventRow> {
    let mut r = Rng(7);
    let ns = "weir://bench";
    (0..n)
        .map(|i| {
            let inputs: Vec<usize> = if i == 0 {
                Vec::new()
            } else {
                (0..FAN_IN).map(|_| (r.next_u64() as usize) % i).collect()
            };
            let fields: serde_json::Map<String, serde_json::Value> = (0..COLUMNS)
                .map(|c| {
                    let srcs: Vec<serde_json::Value> = if inputs.is_empty() {
                        Vec::new()
                    } else {
                        (0..2)
                            .map(|_| {
                                let t = inputs[(r.next_u64() as usize) % inputs.len()];
                                let col = (r.next_u64() as usize) % COLUMNS;
                                json!({"namespace": ns, "name": name(t), "field": format!("c{col}"),
                                       "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION"}]})
                            })
                            .collect()
                    };
                    (format!("c{c}"), json!({"inputFields": srcs}))
                })
                .collect();
            let event = json!({
                "eventType": "COMPLETE",
                "eventTime": format!("2026-01-01T00:00:00.{i:06}Z"),
                "run": {"runId": format!("r{i}")},
                "job": {"namespace": ns, "name": format!("job{i}")},
                "inputs": inputs.iter().map(|&t| json!({"namespace": ns, "name": name(t)})).collect::<Vec<_>>(),
                "outputs": [{"namespace": ns, "name": name(i), "facets": {"columnLineage": {"fields": fields}}}],
            });
            EventRow {
                event_time: event["eventTime"].as_str().unwrap_or_default().to_string(),
                event_type: "COMPLETE".into(),
                run_id: format!("r{i}"),
                job_namespace: ns.into(),
                job_name: format!("job{i}"),
                inputs: inputs
                    .iter()
                    .map(|&t| EventDataset {
                        namespace: ns.into(),
                        name: name(t),
                        commit: None,
                    })
                    .collect(),
                outputs: vec![EventDataset {
                    namespace: ns.into(),
                    name: name(i),
                    commit: None,
                }],
                event: event.to_string(),
                tenant: None,
            }
        })
        .collect()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

pub fn run(args: &[String]) {
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let t = Instant::now();
    let rows = events(n);
    let gen_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let g = Graph::build(&rows, None);
    let build_s = t.elapsed().as_secs_f64();
    let mut r = Rng(99);
    let key = |i: usize| ("weir://bench".to_string(), name(i));
    let mut table_ms = Vec::new();
    let mut column_ms = Vec::new();
    let mut table_edges = 0;
    let mut column_edges = 0;
    for _ in 0..QUERIES {
        // Start in the newest half, where depth 5 is reachable.
        let i = n / 2 + (r.next_u64() as usize) % (n / 2);
        let c = format!("c{}", (r.next_u64() as usize) % COLUMNS);
        let t = Instant::now();
        let e = g.query(&key(i), Some(&c), Direction::Upstream, 5);
        column_ms.push(t.elapsed().as_secs_f64() * 1e3);
        column_edges += e.len();
        let t = Instant::now();
        let e = g.query(&key(i), None, Direction::Upstream, 5);
        table_ms.push(t.elapsed().as_secs_f64() * 1e3);
        table_edges += e.len();
    }
    println!(
        "graph: {} datasets, {} table edges, {} column edges (generated in {gen_s:.1} s)",
        g.datasets(),
        n.saturating_sub(1) * FAN_IN,
        n.saturating_sub(1) * COLUMNS * 2
    );
    println!("| step | p50 | p95 | mean edges returned |");
    println!("|---|---|---|---|");
    println!("| build graph from {n} stored events | {build_s:.2} s | | |");
    println!(
        "| upstream depth 5, one column | {:.3} ms | {:.3} ms | {:.0} |",
        percentile(&mut column_ms, 0.5),
        percentile(&mut column_ms, 0.95),
        column_edges as f64 / QUERIES as f64
    );
    println!(
        "| upstream depth 5, whole table | {:.3} ms | {:.3} ms | {:.0} |",
        percentile(&mut table_ms, 0.5),
        percentile(&mut table_ms, 0.95),
        table_edges as f64 / QUERIES as f64
    );
}
