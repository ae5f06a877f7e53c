//! What a pipeline run's bookkeeping costs (`weir-bench pipeline [RUNS]`):
//! a 10-stage pipeline over a small table (5,000 rows), run with
//! `weir run` semantics (run branch, input pins, skip checks, column
//! lineage, run records, lineage events, audit, merge) against the same
//! ten queries executed and written by hand: each result written to its
//! table on a branch and committed, nothing else. The run is timed twice:
//! with its stages chained in the by-hand order (the bookkeeping alone) and
//! as written (independent stages side by side). Medians of RUNS
//! alternating runs of each, in one process.

use std::sync::Arc;
use std::time::Instant;

use deltalake::datafusion::prelude::SessionContext;
use weir_jobs::{Manifest, RunOptions};
use weir_store::Lake;
use weir_tables::{CommitSpec, TableRef, WriteMode, WriteOptions};

/// (stage, output, SQL): a chain with fan-out, as forecasting pipelines are.
const STAGES: [(&str, &str); 10] = [
    (
        "clean",
        "SELECT id, item, store, day, qty FROM sales WHERE qty >= 0",
    ),
    (
        "by_item",
        "SELECT item, sum(qty) AS qty FROM clean GROUP BY item",
    ),
    (
        "by_store",
        "SELECT store, sum(qty) AS qty FROM clean GROUP BY store",
    ),
    (
        "by_day",
        "SELECT day, sum(qty) AS qty FROM clean GROUP BY day",
    ),
    (
        "item_day",
        "SELECT item, day, sum(qty) AS qty FROM clean GROUP BY item, day",
    ),
    (
        "rolling",
        "SELECT item, day, avg(qty) OVER (PARTITION BY item ORDER BY day ROWS 6 PRECEDING) AS avg7 FROM item_day",
    ),
    (
        "top_items",
        "SELECT item, qty FROM by_item ORDER BY qty DESC LIMIT 10",
    ),
    (
        "store_share",
        "SELECT s.store, s.qty / t.total AS share FROM by_store s CROSS JOIN (SELECT sum(qty) AS total FROM by_store) t",
    ),
    (
        "spikes",
        "SELECT r.item, r.day FROM rolling r JOIN item_day d ON r.item = d.item AND r.day = d.day WHERE d.qty > 2 * r.avg7",
    ),
    (
        "summary",
        "SELECT (SELECT count(*) FROM spikes) AS spikes, (SELECT count(*) FROM top_items) AS top, (SELECT max(qty) FROM by_day) AS peak",
    ),
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn setup(dir: &std::path::Path) -> Arc<Lake> {
    let lake = Arc::new(Lake::init(&dir.join("lake")).expect("lake"));
    lake.create_repo("bench", "main", None, "bench")
        .await
        .expect("repo");
    let ctx = weir_sql::session(lake.clone(), &weir_sql::SqlOptions::default()).expect("session");
    ctx.sql(
        "CREATE TABLE sales AS SELECT v AS id, 'i' || (v % 50) AS item, 's' || (v % 10) AS store, \
         v % 100 AS day, CAST((v * 7919) % 23 AS DOUBLE) - 1 AS qty FROM generate_series(1, 5000) AS t(v)",
    )
    .await
    .expect("sql")
    .collect()
    .await
    .expect("create");
    lake.repo("bench")
        .expect("repo")
        .commit("main", "sales", "bench", Default::default(), false)
        .await
        .expect("commit");
    let p = dir.join("pipeline");
    std::fs::create_dir_all(&p).expect("dir");
    // weir.toml as a user writes it; serial.toml chains every stage after
    // the one before, so the run does exactly the by-hand work in the same
    // order and the difference is bookkeeping alone.
    let mut toml = String::from("name = \"bench\"\n");
    let mut serial = String::from("name = \"bench-serial\"\n");
    let mut prev: Option<&str> = None;
    for (name, sql) in STAGES {
        std::fs::write(p.join(format!("{name}.sql")), sql).expect("sql file");
        let stage =
            format!("[[stage]]\nname = \"{name}\"\nsql = \"{name}.sql\"\noutput = \"{name}\"\n");
        toml.push_str(&stage);
        serial.push_str(&stage);
        if let Some(p) = prev {
            serial.push_str(&format!("after = [\"{p}\"]\n"));
        }
        prev = Some(name);
    }
    std::fs::write(p.join("weir.toml"), toml).expect("manifest");
    std::fs::write(p.join("serial.toml"), serial).expect("manifest");
    lake
}

/// The same queries, in order, each written and committed on a branch.
async fn by_hand(lake: &Arc<Lake>, branch: &str) {
    let repo = lake.repo("bench").expect("repo");
    for (name, sql) in STAGES {
        let ctx: SessionContext = weir_sql::session(
            lake.clone(),
            &weir_sql::SqlOptions {
                repo: Some("bench".into()),
                reference: Some(branch.into()),
            },
        )
        .expect("session");
        let stream = ctx
            .sql(sql)
            .await
            .expect("plan")
            .execute_stream()
            .await
            .expect("run");
        let t = TableRef::new(&repo, branch, name).expect("table");
        weir_tables::write_stream(
            &t,
            stream,
            &WriteOptions {
                mode: WriteMode::Overwrite,
                allow_new_columns: false,
                replace_schema: true,
                commit: Some(CommitSpec {
                    message: name.into(),
                    committer: "bench".into(),
                    metadata: Default::default(),
                }),
                properties: Vec::new(),
            },
        )
        .await
        .expect("write");
    }
}

pub fn run(args: &[String]) {
    let runs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(7);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = setup(dir.path()).await;
        let manifest = Manifest::load(&dir.path().join("pipeline/weir.toml")).expect("manifest");
        let serial = Manifest::load(&dir.path().join("pipeline/serial.toml")).expect("manifest");
        let opts = RunOptions {
            params: Vec::new(),
            force: true,
            committer: "bench".into(),
            tenant: String::new(),
            cause: None,
            scope: None,
            tracking: None,
        };
        let repo = lake.repo("bench").expect("repo");
        let (mut pipeline, mut chained, mut manual) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..=runs {
            let t = Instant::now();
            let r = weir_jobs::run(lake.clone(), &manifest, "bench", "main", &opts)
                .await
                .expect("run");
            assert_eq!(r.status, "merged", "{:?}", r.failure);
            let run_s = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let r = weir_jobs::run(lake.clone(), &serial, "bench", "main", &opts)
                .await
                .expect("run");
            assert_eq!(r.status, "merged", "{:?}", r.failure);
            let serial_s = t.elapsed().as_secs_f64();
            let branch = format!("manual-{i}");
            repo.create_branch(&branch, "main").expect("branch");
            let t = Instant::now();
            by_hand(&lake, &branch).await;
            let hand_s = t.elapsed().as_secs_f64();
            // The first of each warms caches.
            if i > 0 {
                pipeline.push(run_s);
                chained.push(serial_s);
                manual.push(hand_s);
            }
        }
        let (p, c, m) = (median(&mut pipeline), median(&mut chained), median(&mut manual));
        println!("| 10-stage pipeline, 5,000-row input | median of {runs} | vs by hand |");
        println!("|---|---|---|");
        println!("| the queries written and committed by hand, one after another | {:.0} ms | |", m * 1e3);
        println!(
            "| `weir run`, stages chained one after another (bookkeeping alone) | {:.0} ms | {:+.0}% |",
            c * 1e3,
            (c / m - 1.0) * 100.0
        );
        println!(
            "| `weir run` as written (independent stages side by side) | {:.0} ms | {:+.0}% |",
            p * 1e3,
            (p / m - 1.0) * 100.0
        );
    });
}
