//! Tables and SQL at scale (bench/tables.sh): a seeded synthetic sales
//! table, and a suite of forecast/audit queries timed in weir (the lake,
//! Delta on a versioned ref) and in plain DataFusion over copies of the same
//! Parquet files, in one process with the same DataFusion build, so the
//! difference is what the versioning and Delta layers cost.
//!
//! Sales: `store` (s0..s49), `item` (i0..), `ds` (a date, 2023-01-01 on),
//! `qty` (integer, weekly pattern, some zeros), `price` (two decimals); one
//! row per store × item × day, stores × items = rows / 730.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use deltalake::datafusion::prelude::{ParquetReadOptions, SessionContext};
use weir_store::Lake;

pub const DAYS: usize = 730;

/// The suite: (name, SQL). `sales` is the table in both engines.
pub const QUERIES: [(&str, &str); 5] = [
    (
        "group-by",
        "SELECT store, sum(qty) AS units, avg(price) AS price FROM sales GROUP BY store",
    ),
    (
        "monthly per item",
        "SELECT item, date_trunc('month', ds) AS month, sum(qty) AS units FROM sales GROUP BY 1, 2",
    ),
    (
        "forecast vs actuals join",
        "SELECT a.store, avg(abs(a.qty - f.qty)) AS mae FROM sales a JOIN sales f \
         ON a.store = f.store AND a.item = f.item AND a.ds = f.ds + INTERVAL '7 days' \
         WHERE a.ds >= DATE '2024-12-01' GROUP BY a.store",
    ),
    (
        "rolling window",
        "SELECT count(*) AS spikes FROM (SELECT qty, avg(qty) OVER (PARTITION BY store, item ORDER BY ds \
         ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS r FROM sales WHERE ds >= DATE '2024-11-01') WHERE qty > 2 * r",
    ),
    (
        "point lookup",
        "SELECT * FROM sales WHERE store = 's7' AND item = 'i20' AND ds = DATE '2024-06-01'",
    ),
];

pub fn generate(rows: usize, path: &str) -> std::io::Result<()> {
    let series = (rows / DAYS).max(1);
    let stores = 50.min(series);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "store,item,ds,qty,price")?;
    let mut rng = crate::forecast::Rng(42);
    let start = 19358; // 2023-01-01 as days since 1970-01-01
    for day in 0..DAYS {
        let (y, m, d) = civil(start + day as i64);
        for s in 0..series {
            let (store, item) = (s % stores, s / stores);
            let r = rng.next_u64();
            let weekly = [1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 1.4][day % 7];
            let base = 3.0 + (s % 17) as f64;
            let qty = if r.is_multiple_of(11) {
                0
            } else {
                (base * weekly + (r >> 40) as f64 / 2f64.powi(24) * 4.0) as i64
            };
            let price = 1.0 + (item % 97) as f64 * 0.25;
            writeln!(
                out,
                "s{store},i{item},{y:04}-{m:02}-{d:02},{qty},{price:.2}"
            )?;
        }
    }
    out.flush()
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

async fn time_one(ctx: &SessionContext, sql: &str) -> (f64, usize) {
    let start = Instant::now();
    let batches = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    (
        start.elapsed().as_secs_f64(),
        batches.iter().map(|b| b.num_rows()).sum(),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Each query `runs` times in both sessions, alternating (this machine's
/// speed drifts within seconds; alternating gives both engines the same
/// conditions): per query, the median time in each and the row count.
async fn time_paired(
    a: &SessionContext,
    b: &SessionContext,
    runs: usize,
) -> Vec<((f64, usize), (f64, usize))> {
    let mut out = Vec::new();
    // WEIR_BENCH_QUERY=NAME times one query of the suite (for profiling).
    let only = std::env::var("WEIR_BENCH_QUERY").ok();
    for (name, sql) in QUERIES {
        if only.as_deref().is_some_and(|o| o != name) {
            out.push(((f64::NAN, 0), (f64::NAN, 0)));
            continue;
        }
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        let (mut ra, mut rb) = (0, 0);
        for _ in 0..runs {
            let (t, r) = time_one(a, sql).await;
            ta.push(t);
            ra = r;
            let (t, r) = time_one(b, sql).await;
            tb.push(t);
            rb = r;
        }
        out.push(((median(ta), ra), (median(tb), rb)));
    }
    out
}

/// WEIR_BENCH_SET="key=value;key=value": DataFusion settings tried on
/// both sessions (to see what an option is worth here).
async fn apply_settings(ctx: &SessionContext) {
    for kv in std::env::var("WEIR_BENCH_SET")
        .unwrap_or_default()
        .split(';')
    {
        if let Some((k, v)) = kv.split_once('=') {
            ctx.sql(&format!("SET {k} = {v}")).await.expect("SET");
        }
    }
}

/// Times the suite in weir (LAKE, default repository and branch) and in
/// plain DataFusion over PARQUET_DIR; prints a markdown table.
pub fn query(lake: &str, parquet_dir: &str, runs: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let lake = Arc::new(Lake::open(std::path::Path::new(lake)).expect("lake"));
        let weir = weir_sql::session(lake, &weir_sql::SqlOptions::default()).expect("session");
        apply_settings(&weir).await;
        let plain = SessionContext::new();
        apply_settings(&plain).await;
        plain
            .register_parquet("sales", parquet_dir, ParquetReadOptions::default())
            .await
            .expect("parquet");
        let timed = time_paired(&weir, &plain, runs).await;
        println!("| query | rows out | weir s | DataFusion s | weir / DataFusion |");
        println!("|---|---|---|---|---|");
        for ((name, _), ((ws, wr), (ps, pr))) in QUERIES.iter().zip(&timed) {
            assert_eq!(
                wr, pr,
                "{name}: weir and DataFusion disagree on the row count"
            );
            println!("| {name} | {wr} | {ws:.4} | {ps:.4} | {:.2} |", ws / ps);
        }
        // Audit: which rows does the branch's uncommitted write change?
        // (weir only: the peers have no versions to diff.)
        let insert =
            "INSERT INTO sales SELECT * FROM sales WHERE ds = DATE '2024-12-31' LIMIT 1000";
        weir.sql(insert)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("insert");
        let diff = "SELECT count(*) FROM table_diff('sales', 'main@', 'main')";
        let mut secs = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            weir.sql(diff)
                .await
                .expect("plan")
                .collect()
                .await
                .expect("diff");
            secs.push(start.elapsed().as_secs_f64());
        }
        secs.sort_by(f64::total_cmp);
        println!(
            "| table_diff, 1,000 uncommitted rows | 1 | {:.4} | – | – |",
            secs[secs.len() / 2]
        );
    });
}

pub fn main(args: &[String]) {
    match args {
        [cmd, n, path] if cmd == "gen" => {
            let n: usize = n
                .parse()
                .unwrap_or_else(|_| panic!("ROWS must be a number: {n}"));
            generate(n, path).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
        [cmd, lake, dir] if cmd == "query" => query(lake, dir, 9),
        [cmd, lake, dir, runs] if cmd == "query" => query(lake, dir, runs.parse().expect("RUNS")),
        _ => {
            eprintln!(
                "usage: weir-bench tables gen ROWS FILE | tables query LAKE PARQUET_DIR [RUNS]"
            );
            std::process::exit(2);
        }
    }
}
