//! `weir-bench`: the project's benchmarks. Each prints a markdown table
//! that goes into BENCHMARKS.md together with the command that made it.
//!
//! ```text
//! cargo run --release -p weir-bench -- store [1000,100000,1000000]
//! bench/forecast.sh [SERIES]      (forecast gen/run beside statsforecast)
//! bench/m1.sh                     (forecast m1: M1 yearly accuracy beside statsforecast)
//! bench/tables.sh [ROWS]          (tables gen/query: ingest and SQL beside deltalake, DataFusion, DuckDB)
//! cargo run --release -p weir-bench -- lineage [100000]   (graph queries at 100k datasets, 1M edges)
//! cargo run --release -p weir-bench -- pipeline [RUNS]    (run bookkeeping beside the bare queries)
//! bench/serve.sh                  (weir serve under wrk: S3 GET, lakeFS stat, /recommend_qty beside FastAPI)
//! bench/backends.sh               (local + SQLite beside S3 + PostgreSQL; the S3 gateway over S3 beside S3 itself)
//! cargo run --release -p weir-bench -- session [100]      (a tenant's SQL session opening beside the whole lake's)
//! cargo run --release -p weir-bench -- schedule [1000]    (a scheduler's look at 1,000 triggers, nothing due)
//! bench/gc.sh [OBJECTS]           (weir gc plan over a lake of 1M objects: time and peak memory)
//! ```

mod backends;
mod files;
mod forecast;
mod lineage;
mod m1;
mod pipeline;
mod schedule;
mod session;
mod store;
mod tables;

fn main() {
    // WEIR_LOG=debug shows per-operation timings (commit phases).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("store") => store::run(&args[1..]),
        Some("backends") => backends::run(&args[1..]),
        Some("gc-build") => backends::build_gc(&args[1..]),
        Some("forecast") => forecast::main(&args[1..]),
        Some("tables") => tables::main(&args[1..]),
        Some("lineage") => lineage::run(&args[1..]),
        Some("pipeline") => pipeline::run(&args[1..]),
        Some("files") => files::run(&args[1..]),
        Some("session") => session::run(&args[1..]),
        Some("schedule") => schedule::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: weir-bench store [SIZES] | backends | gc-build DIR N GARBAGE | forecast gen N FILE | forecast run FILE | forecast m1 TSF | tables gen ROWS FILE | tables query LAKE DIR | lineage [DATASETS] | pipeline [RUNS] | session [REPOS] | schedule [TRIGGERS] | files DIR ADDR"
            );
            std::process::exit(2);
        }
    }
}
