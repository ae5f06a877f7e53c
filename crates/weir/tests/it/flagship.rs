//! The flagship pipeline (sql/forecasting) on generated data: it finds what
//! was injected, its gates stop bad data, and a run reproduces exactly.

use crate::Env;

fn manifest() -> String {
    crate::manifest_dir()
        .join("../../sql/forecasting/weir.toml")
        .display()
        .to_string()
}

fn csv_rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn the_forecasting_pipeline_finds_the_injected_spikes_and_drift() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "weir://demand"]);
    e.ok(&[
        "generate",
        "demand",
        "demand.parquet",
        "--series",
        "12",
        "--days",
        "300",
        "--seed",
        "42",
    ]);
    e.ok(&["ingest", "demand.parquet", "weir://demand/main/demand"]);
    let out = e.ok(&["run", &manifest(), "weir://demand/main"]);
    assert!(out.contains("14 stages ran"), "{out}");
    let again = e.ok(&["run", &manifest(), "weir://demand/main"]);
    assert!(
        again.contains("Nothing changed: all 14 stages skipped"),
        "{again}"
    );
    // A parameter only the order stage uses re-runs that stage alone.
    let cost = e.ok(&[
        "run",
        &manifest(),
        "weir://demand/main",
        "--param",
        "under_cost=9",
    ]);
    assert!(cost.contains("1 stage ran, 13 skipped"), "{cost}");
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(e.dir.path().join("demand.parquet.truth.json")).unwrap(),
    )
    .unwrap();

    // Spikes: most injected ones are flagged.
    let flagged = csv_rows(&e.ok(&[
        "sql",
        "SELECT unique_id, CAST(ds AS VARCHAR) AS ds FROM anomalies",
        "--format",
        "csv",
    ]));
    let injected = truth["anomalies"].as_array().unwrap();
    let found = injected
        .iter()
        .filter(|a| {
            flagged.iter().any(|f| {
                f[0] == a["unique_id"].as_str().unwrap() && f[1] == a["ds"].as_str().unwrap()
            })
        })
        .count();
    assert!(
        found * 10 >= injected.len() * 8,
        "{found} of {} spikes found",
        injected.len()
    );

    // Drift: every series whose level was shifted is flagged.
    let drifted = csv_rows(&e.ok(&[
        "sql",
        "SELECT unique_id FROM drift WHERE drifted",
        "--format",
        "csv",
    ]));
    for s in truth["drift"]["unique_ids"].as_array().unwrap() {
        assert!(
            drifted.iter().any(|d| d[0] == s.as_str().unwrap()),
            "{s} not flagged"
        );
    }

    // Coherent forecasts and an order for every item and day.
    let gap = e.ok(&[
        "sql",
        "SELECT max(abs(t.mean - s.m)) < 1e-6 * max(abs(t.mean)) AS coherent FROM reconciled t JOIN \
         (SELECT ds, sum(mean) AS m FROM reconciled WHERE NOT is_aggregate GROUP BY ds) s ON t.ds = s.ds WHERE t.unique_id = 'total'",
        "--format",
        "csv",
    ]);
    assert_eq!(gap, "coherent\ntrue\n");
    let orders = e.ok(&[
        "sql",
        "SELECT count(*) AS n, min(order_qty) >= 0 AS ok FROM orders",
        "--format",
        "csv",
    ]);
    assert_eq!(orders, "n,ok\n168,true\n");

    // The back-test grid: every configuration of every series in each of
    // the 3 windows, one winner per series, the Croston family only where
    // demand is intermittent.
    let grid = e.ok(&[
        "sql",
        "SELECT count(DISTINCT config) AS configs, min(n) AS lo, max(n) AS hi, \
         bool_and(NOT intermittent_only OR zeros >= 0.3) AS croston_where_intermittent \
         FROM (SELECT b.unique_id, b.config, count(*) AS n, \
                      b.model IN ('croston_sba', 'croston_optimized', 'tsb') AS intermittent_only, \
                      (SELECT avg(CASE WHEN y = 0 THEN 1.0 ELSE 0.0 END) FROM panel p WHERE p.unique_id = b.unique_id) AS zeros \
               FROM backtest b GROUP BY b.unique_id, b.config, b.model)",
        "--format",
        "csv",
    ]);
    assert_eq!(
        grid,
        "configs,lo,hi,croston_where_intermittent\n10,3,3,true\n"
    );
    let chosen = e.ok(&[
        "sql",
        "SELECT count(*) = count(DISTINCT unique_id) AND count(*) = (SELECT count(DISTINCT unique_id) FROM panel) AS one_each FROM model_choice",
        "--format",
        "csv",
    ]);
    assert_eq!(chosen, "one_each\ntrue\n");
    // Diagnostics: one row per series, the decomposition adds up.
    let diag = e.ok(&[
        "sql",
        "SELECT count(*) = (SELECT count(DISTINCT unique_id) FROM panel) AS every_series, \
         bool_and(abs(bias_squared + variance - mse) <= 1e-9 * (1 + mse)) AS adds_up, \
         bool_and(ljung_box_p BETWEEN 0 AND 1 AND bias_p BETWEEN 0 AND 1) AS p_values FROM diagnostics",
        "--format",
        "csv",
    ]);
    assert_eq!(diag, "every_series,adds_up,p_values\ntrue,true,true\n");
    // Features: lags and the promotions joined from the demand table.
    let feats = e.ok(&[
        "sql",
        "SELECT count(*) = (SELECT count(*) FROM demand) AS every_row, \
         sum(CASE WHEN promo THEN 1 ELSE 0 END) = (SELECT sum(CASE WHEN promo THEN 1 ELSE 0 END) FROM demand) AS promos, \
         count(lag_7) = count(*) - 7 * 12 AS lags FROM features",
        "--format",
        "csv",
    ]);
    assert_eq!(feats, "every_row,promos,lags\ntrue,true,true\n");

    // The run reproduces exactly.
    let runs = e.json(&["runs"]);
    let id = runs[0]["run_id"].as_str().unwrap();
    assert_eq!(runs[0]["status"], "merged");
    let rep = e.json(&["reproduce", id]);
    assert_eq!(rep["identical"], true, "{rep}");

    // Bad data is stopped by the preflight gate and main stays as it was.
    e.ok(&["sql", "INSERT INTO demand SELECT unique_id, store, item, category, ds + INTERVAL '400 days', -5.0, promo FROM demand WHERE unique_id = 'store0_item0' AND ds < DATE '2022-01-03'"]);
    e.ok(&["commit", "weir://demand/main", "-m", "bad rows"]);
    let before = e.json(&["log", "weir://demand/main", "--amount", "1"]);
    let (code, out, err) = e.run(&["run", &manifest(), "weir://demand/main"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("gate no_errors of stage preflight failed"),
        "{err}"
    );
    assert!(out.contains("negative_demand"), "{out}");
    assert_eq!(
        e.json(&["log", "weir://demand/main", "--amount", "1"]),
        before
    );
}
