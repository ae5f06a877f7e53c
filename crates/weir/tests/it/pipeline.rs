//! `weir run` and `weir runs` as a user drives them.

use crate::Env;

pub(crate) fn setup() -> Env {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "weir://shop", "local://shop"]);
    let f = e.write(
        "in/sales.csv",
        "day,item,qty\n2024-01-01,a,3\n2024-01-01,b,5\n2024-01-02,a,4\n2024-01-02,b,-1\n",
    );
    e.ok(&["ingest", f.to_str().unwrap(), "weir://shop/main/sales"]);
    e.write(
        "p/weir.toml",
        r#"
name = "daily"
[params]
min_qty = 0
[[stage]]
name = "clean"
sql = "clean.sql"
output = "clean"
[[stage.gate]]
name = "no_negative"
query = "SELECT * FROM clean WHERE qty < 0"
[[stage]]
name = "totals"
sql = "totals.sql"
output = "totals"
"#,
    );
    e.write(
        "p/clean.sql",
        "SELECT day, item, qty FROM sales WHERE qty >= $min_qty",
    );
    e.write(
        "p/totals.sql",
        "SELECT item, sum(qty) AS qty FROM clean GROUP BY item",
    );
    e
}

#[test]
fn run_then_rerun_then_inspect_runs_from_the_cli_and_sql() {
    let e = setup();
    let out = e.ok(&["run", "p/weir.toml", "weir://shop/main"]);
    assert!(out.contains("Merged into main"), "{out}");
    let totals = e.ok(&[
        "sql",
        "SELECT item, qty FROM totals ORDER BY item",
        "--format",
        "csv",
    ]);
    assert_eq!(totals, "item,qty\na,7\nb,5\n");
    let out = e.ok(&["run", "p/weir.toml", "weir://shop/main"]);
    assert!(
        out.contains("Nothing changed: all 2 stages skipped"),
        "{out}"
    );

    let runs = e.json(&["runs"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "unchanged");
    assert_eq!(runs[1]["status"], "merged");
    let id = runs[1]["run_id"].as_str().unwrap();
    let stages = e.json(&["runs", id]);
    let stages = stages.as_array().unwrap();
    assert_eq!(stages.len(), 3, "{stages:?}");
    assert_eq!(stages[0]["stage"], "clean");
    assert_eq!(stages[0]["inputs"][0]["table"], "sales");
    assert_eq!(
        stages[0]["inputs"][0]["fingerprint"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(stages[0]["params"], "{\"min_qty\":0}");
    let n = e.ok(&[
        "sql",
        "SELECT count(*) AS n FROM weir_runs() WHERE status = 'skipped'",
        "--format",
        "csv",
    ]);
    assert_eq!(n, "n\n2\n");
    // Each stage that ran is a usage row of the repository's tenant, with
    // its CPU time; skipped stages cost nothing.
    assert!(
        stages[0]["cpu_seconds"].as_f64().unwrap() > 0.0,
        "{stages:?}"
    );
    assert!(stages[0]["cost"].as_f64().unwrap() > 0.0, "{stages:?}");
    assert_eq!(stages[0]["currency"], "USD");
    let used = e.json(&["usage", "--by", "tenant,surface,operation,resource_id"]);
    let used = used.as_array().unwrap();
    assert_eq!(used.len(), 2, "{used:?}");
    assert_eq!(used[0]["tenant"], "default");
    assert_eq!(used[0]["surface"], "stage");
    assert_eq!(used[0]["operation"], "daily/clean");
    assert_eq!(used[0]["resource_id"], id);
    assert_eq!(used[0]["requests"], 1);
    assert!(used[0]["cpu_seconds"].as_f64().unwrap() > 0.0, "{used:?}");
    let none = e.json(&["usage", "--from", "2999-01-01"]);
    assert_eq!(none, serde_json::json!([]));
    let (code, _, err) = e.run(&["usage", "--to", "soon"]);
    assert_eq!(code, 2);
    assert!(err.contains("--to soon"), "{err}");
    // Lineage, column by column, back to the ingested file.
    let up = e.ok(&["lineage", "weir://shop/main/totals", "--column", "qty"]);
    assert!(up.contains("totals.qty <- clean.qty"), "{up}");
    assert!(up.contains("clean.qty <- sales.qty"), "{up}");
    assert!(up.contains("in/sales.csv.qty"), "{up}");
    let down = e.json(&[
        "lineage",
        "weir://shop/main/sales",
        "--downstream",
        "--depth",
        "1",
    ]);
    assert_eq!(down[0]["to_name"], "clean");
    let n = e.ok(&[
        "sql",
        "SELECT count(*) AS n FROM weir_lineage('totals', 'upstream', 9)",
        "--format",
        "csv",
    ]);
    assert_eq!(n, "n\n3\n");
    let (code, _, err) = e.run(&["lineage", "weir://shop/main/totals", "--depth", "0"]);
    assert_eq!((code, err.trim()), (2, "error: --depth must be at least 1"));
    // A manual change takes over the table's lineage from that commit on.
    e.ok(&["sql", "INSERT INTO totals VALUES ('z', 1)"]);
    e.ok(&["commit", "weir://shop/main", "-m", "a hand-made row"]);
    let up = e.ok(&["lineage", "weir://shop/main/totals"]);
    assert!(up.contains("last written by weir://shop:commit"), "{up}");
    assert!(up.contains("records no inputs"), "{up}");
    let before = e.ok(&["lineage", "weir://shop/main~1/totals"]);
    assert!(before.contains("totals <- clean"), "{before}");
    // The audit log has the run's branch, commits and merge, chained.
    let audit = e.json(&["audit", "--repo", "shop"]);
    let ops: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        vec![
            "repo_create",
            "commit",
            "branch_create",
            "commit",
            "commit",
            "merge",
            "branch_delete",
            "branch_create",
            "branch_delete",
            "commit"
        ]
    );
    assert_eq!(audit[0]["actor"], "tester");
    let merges = e.ok(&[
        "sql",
        "SELECT count(*) AS n FROM weir_audit() WHERE operation = 'merge' AND repo = 'shop'",
        "--format",
        "csv",
    ]);
    assert_eq!(merges, "n\n1\n");
    let v = e.ok(&["verify"]);
    assert!(
        v.contains("OK   weir://shop") && v.contains("audit log of"),
        "{v}"
    );
    // Reproduce the merged run: every stage again at its pinned inputs.
    let rep = e.json(&["reproduce", id]);
    assert_eq!(rep["identical"], true, "{rep}");
    assert_eq!(rep["stages"].as_array().unwrap().len(), 2);
    assert_eq!(rep["stages"][1]["rows"], 2);
    let text = e.ok(&["reproduce", id]);
    assert!(text.contains("Every output is identical"), "{text}");
    let (code, _, err) = e.run(&["reproduce", "nope"]);
    assert_eq!(
        (code, err.trim()),
        (3, "error: no run nope (weir runs lists them)")
    );
    // The stage's lake commit names the run and the SQL it ran.
    let log = e.json(&["log", "weir://shop/main", "--amount", "5"]);
    let text = log.to_string();
    assert!(text.contains("weir.sql.sha256"), "{text}");
    assert!(text.contains(id), "{text}");
}

#[test]
fn a_failing_gate_exits_1_shows_the_rows_and_leaves_main_alone() {
    let e = setup();
    let before = e.json(&["log", "weir://shop/main", "--amount", "1"]);
    let (code, out, err) = e.run(&[
        "run",
        "p/weir.toml",
        "weir://shop/main",
        "--param",
        "min_qty=-5",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.starts_with("error: run "), "{err}");
    assert!(
        err.contains("gate no_negative of stage clean failed"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(out.contains("first offending rows"), "{out}");
    assert!(out.contains("-1"), "{out}");
    assert_eq!(
        e.json(&["log", "weir://shop/main", "--amount", "1"]),
        before
    );
    // The failed run is recorded with its error.
    let runs = e.json(&["runs"]);
    assert_eq!(runs[0]["status"], "failed");

    let (code, _, err) = e.run(&[
        "run",
        "p/weir.toml",
        "weir://shop/main",
        "-p",
        "min_qty=many",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err.trim(),
        "error: --param min_qty=many: min_qty must be an integer"
    );
    let (code, _, err) = e.run(&["run", "p/nope.toml", "weir://shop/main"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("p/nope.toml: cannot read"), "{err}");
    let (code, _, err) = e.run(&["runs", "no-such-run"]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn generated_demand_loads_and_its_truth_is_in_the_data() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "weir://lab", "local://lab"]);
    let out = e.ok(&[
        "generate",
        "demand",
        "panel.parquet",
        "--series",
        "12",
        "--days",
        "120",
        "--seed",
        "3",
    ]);
    assert!(out.contains("Wrote 1440 rows"), "{out}");
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(e.dir.path().join("panel.parquet.truth.json")).unwrap(),
    )
    .unwrap();
    e.ok(&["ingest", "panel.parquet", "weir://lab/main/demand"]);
    let spike = &truth["anomalies"][0];
    let q = format!(
        "SELECT d.y > 1.5 * (SELECT avg(y) FROM demand WHERE unique_id = '{0}') AS spike FROM demand d WHERE unique_id = '{0}' AND ds = DATE '{1}'",
        spike["unique_id"].as_str().unwrap(),
        spike["ds"].as_str().unwrap()
    );
    assert_eq!(e.ok(&["sql", &q, "--format", "csv"]), "spike\ntrue\n");
    // Same seed, same bytes of data.
    e.ok(&[
        "generate",
        "demand",
        "again.csv",
        "--series",
        "12",
        "--days",
        "120",
        "--seed",
        "3",
    ]);
    e.ok(&[
        "generate",
        "demand",
        "other.csv",
        "--series",
        "12",
        "--days",
        "120",
        "--seed",
        "3",
    ]);
    assert_eq!(
        std::fs::read(e.dir.path().join("again.csv")).unwrap(),
        std::fs::read(e.dir.path().join("other.csv")).unwrap()
    );
    let (code, _, err) = e.run(&["generate", "demand", "x.json"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = e.run(&["generate", "demand", "x.csv", "--days", "10"]);
    assert_eq!(code, 2, "{err}");
}
