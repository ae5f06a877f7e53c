//! What the scheduler costs when nothing is due: one look at a lake with
//! 1,000 timetables and 100 commit triggers (CPU of the process, median of
//! several looks), and what matching a new commit against a commit
//! trigger's path globs costs.
//!
//! `cargo run --release -p weir-bench -- schedule [TRIGGERS]`

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use weir_jobs::process_cpu_seconds;
use weir_jobs::schedule::{self, CatchUp, Scheduler, Trigger, When, path_glob};
use weir_store::Lake;

pub fn run(args: &[String]) {
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let lake = Arc::new(Lake::init(&dir.path().join("lake")).expect("lake"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(lake.create_repo("shop", "main", None, "bench"))
        .expect("repository");
    let manifest = dir.path().join("weir.toml");
    std::fs::write(
        &manifest,
        "name = \"p\"\n[[stage]]\nname = \"s\"\nsql = \"s.sql\"\noutput = \"s\"\n",
    )
    .expect("manifest");
    std::fs::write(dir.path().join("s.sql"), "SELECT 1 AS x").expect("sql");
    let on_commit = n / 10;
    for i in 0..n + on_commit {
        let when = if i < n {
            // Yearly: nothing comes due while the benchmark runs.
            When::Cron {
                cron: format!("{} {} 1 1 *", i % 60, i % 24),
                timezone: "Europe/Paris".into(),
            }
        } else {
            When::OnCommit {
                repo: "shop".into(),
                branch: "main".into(),
                paths: vec![format!("raw/{i}/**")],
            }
        };
        let t = Trigger {
            name: format!("t{i}"),
            when,
            pipeline: manifest.display().to_string(),
            target: "weir://shop/main".into(),
            params: Vec::new(),
            force: false,
            catch_up: CatchUp::Latest,
            paused: false,
            scoped: false,
            notify: None,
            created: Utc::now(),
            created_by: "bench".into(),
        };
        schedule::add(&lake, t).expect("trigger");
    }
    let s = Scheduler::new(
        lake.clone(),
        Arc::new(|_: &str| "default".to_string()),
        Default::default(),
    );
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..7 {
        let (c, w) = (process_cpu_seconds(), Instant::now());
        let fired = rt.block_on(s.tick(Utc::now())).expect("tick");
        assert!(fired.is_empty(), "nothing is due");
        cpu.push((process_cpu_seconds() - c) * 1e3);
        wall.push(w.elapsed().as_secs_f64() * 1e3);
    }
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    // A commit's changed paths against a trigger's globs.
    let paths: Vec<String> = (0..100)
        .map(|i| format!("sales/2026/{i}/part.parquet"))
        .collect();
    let globs = ["sales/**", "raw/*.csv", "demand/**/part-*.parquet"];
    let rounds = 10_000;
    let t = Instant::now();
    let mut hits = 0;
    for _ in 0..rounds {
        for p in &paths {
            hits += usize::from(globs.iter().any(|g| path_glob(g, p)));
        }
    }
    let per_commit = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    assert_eq!(hits, rounds * paths.len());
    println!("| scheduler, nothing due | median of 7 looks |");
    println!("|---|---|");
    println!(
        "| {n} timetables + {on_commit} commit triggers, one look | {:.1} ms CPU, {:.1} ms wall |",
        cpu[3], wall[3]
    );
    println!("| a commit of 100 changed paths against 3 globs | {per_commit:.1} µs |");
}
