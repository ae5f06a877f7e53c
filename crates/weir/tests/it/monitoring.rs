//! The monitoring pipeline (sql/monitoring) fired by a commit trigger when
//! a new batch of demand arrives: drift per series and column, anomalies
//! and the live forecasts' health, appended to history tables.

use crate::Env;

pub(crate) fn pipeline(dir: &str) -> String {
    crate::manifest_dir()
        .join(format!("../../sql/{dir}/weir.toml"))
        .display()
        .to_string()
}

fn csv(e: &Env, sql: &str) -> Vec<Vec<String>> {
    e.ok(&["sql", sql, "--format", "csv"])
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The trigger `monitor`: sql/monitoring on each commit to main that
/// changes the demand table, with one parameter set (`NAME=VALUE`).
pub(crate) fn watch_demand(e: &Env, param: &str) {
    e.ok(&[
        "schedule",
        "add",
        "monitor",
        "--on-commit",
        "weir://demand/main",
        "--paths",
        "demand/**",
        "--pipeline",
        &pipeline("monitoring"),
        "--param",
        param,
    ]);
}

#[test]
fn a_new_batch_fires_monitoring_and_its_findings_accumulate() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "weir://demand"]);
    e.ok(&[
        "generate", "demand", "all.csv", "--series", "12", "--days", "300", "--seed", "42",
    ]);
    // The last 20 days arrive later, as a second batch.
    let all = std::fs::read_to_string(e.dir.path().join("all.csv")).unwrap();
    let mut lines = all.lines();
    let header = lines.next().unwrap();
    let (old, new): (Vec<&str>, Vec<&str>) =
        lines.partition(|l| l.split(',').nth(4) < Some("2022-10-08"));
    let first = e.write("first.csv", &format!("{header}\n{}\n", old.join("\n")));
    let second = e.write("second.csv", &format!("{header}\n{}\n", new.join("\n")));
    e.ok(&[
        "ingest",
        first.to_str().unwrap(),
        "weir://demand/main/demand",
    ]);
    e.ok(&["run", &pipeline("forecasting"), "weir://demand/main"]);
    watch_demand(&e, "window=56");
    let now = chrono::Utc::now().to_rfc3339();
    let look = || e.json(&["scheduler", "--once", "--at", &now]);
    assert_eq!(look(), serde_json::json!([]));

    e.ok(&[
        "ingest",
        second.to_str().unwrap(),
        "weir://demand/main/demand",
    ]);
    let fired = look();
    assert_eq!(fired[0]["trigger"], "monitor", "{fired}");
    assert_eq!(fired[0]["outcome"], "succeeded", "{fired}");
    // Its own merge wrote the finding tables, not demand/: nothing more.
    assert_eq!(look(), serde_json::json!([]));

    // Drift: every series whose level was shifted is flagged, on the
    // last period of the new batch; promotions are checked too.
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(e.dir.path().join("all.csv.truth.json")).unwrap(),
    )
    .unwrap();
    let drifted = csv(
        &e,
        "SELECT unique_id FROM drift_history WHERE column_name = 'y' AND drifted \
         AND data_through = DATE '2022-10-27'",
    );
    for s in truth["drift"]["unique_ids"].as_array().unwrap() {
        assert!(
            drifted.iter().any(|d| d[0] == s.as_str().unwrap()),
            "{s} not flagged"
        );
    }
    let columns = csv(
        &e,
        "SELECT column_name, count(*) AS n FROM drift_history GROUP BY column_name ORDER BY 1",
    );
    assert_eq!(columns, [["promo", "12"], ["y", "12"]]);
    let summary = csv(&e, "SELECT series, drifted >= 1 AS some FROM drift_summary");
    assert_eq!(summary, [["12", "true"]]);
    // The forecasts made before the batch, checked against it: 14 horizons
    // (the pipeline's), each over the 12 items.
    let health = csv(
        &e,
        "SELECT count(*) AS horizons, min(points) AS lo, max(points) AS hi, \
         bool_and(coverage BETWEEN 0 AND 1) AS ok FROM forecast_health",
    );
    assert_eq!(health, [["14", "12", "12", "true"]]);
    // Anomalies: most spikes injected into the latest window are logged.
    let logged = csv(&e, "SELECT unique_id, CAST(ds AS VARCHAR) FROM anomaly_log");
    let recent: Vec<_> = truth["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["ds"].as_str().unwrap() > "2022-09-01")
        .collect();
    assert!(!recent.is_empty());
    let found = recent
        .iter()
        .filter(|a| {
            logged.iter().any(|l| {
                l[0] == a["unique_id"].as_str().unwrap() && l[1] == a["ds"].as_str().unwrap()
            })
        })
        .count();
    assert!(
        found * 10 >= recent.len() * 8,
        "{found} of {} spikes logged",
        recent.len()
    );

    // A third batch appends to the history; nothing is overwritten.
    let third = e.write(
        "third.csv",
        &format!("{header}\nstore0_item0,store0,item0,beverages,2022-10-28,30.0,false\n"),
    );
    e.ok(&[
        "ingest",
        third.to_str().unwrap(),
        "weir://demand/main/demand",
    ]);
    assert_eq!(look()[0]["outcome"], "succeeded");
    let checks = csv(
        &e,
        "SELECT CAST(data_through AS VARCHAR) AS d, count(*) AS n FROM drift_history GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(checks, [["2022-10-27", "24"], ["2022-10-28", "24"]]);

    // The trigger the shipped manifest declares replaces this test's own
    // (it differs: no window parameter).
    let applied = e.json(&[
        "schedule",
        "apply",
        &pipeline("monitoring"),
        "--target",
        "weir://demand/main",
    ]);
    assert_eq!(
        applied,
        serde_json::json!([{"trigger": "monitor", "state": "updated"}])
    );
}
