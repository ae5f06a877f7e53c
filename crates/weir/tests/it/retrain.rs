//! Sixty days of demand arriving one commit a day, with a level shift on
//! day 40 (`weir generate demand`'s known drift): monitoring fires on each
//! commit, and the shift starts exactly one retraining of the forecasting
//! pipeline, which merges and names the finding that caused it. A retrain
//! whose gate fails leaves `main` as it was and tells its webhook.

use serde_json::Value;

use crate::Env;
use crate::monitoring::{pipeline, watch_demand};

fn firings(e: &Env, trigger: &str) -> Vec<Value> {
    let v = e.json(&[
        "sql",
        &format!(
            "SELECT trigger, outcome, run_id, cause, error, alert FROM weir_schedule_runs() \
             WHERE trigger = '{trigger}' ORDER BY fired_at"
        ),
    ]);
    v.as_array().unwrap().clone()
}

#[test]
fn sixty_days_with_a_shift_on_day_40_retrain_once() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "weir://demand"]);
    // 300 days: the shift is on day 240 (2022-08-29); the first 200 days
    // are history, days 200..260 arrive one commit a day.
    e.ok(&[
        "generate", "demand", "all.csv", "--series", "12", "--days", "300", "--seed", "7",
    ]);
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(e.dir.path().join("all.csv.truth.json")).unwrap(),
    )
    .unwrap();
    let shift = truth["drift"]["from"].as_str().unwrap().to_string();
    let all = std::fs::read_to_string(e.dir.path().join("all.csv")).unwrap();
    let mut lines = all.lines();
    let header = lines.next().unwrap();
    let mut days: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for l in lines {
        days.entry(l.split(',').nth(4).unwrap())
            .or_default()
            .push(l);
    }
    let dates: Vec<&str> = days.keys().copied().collect();
    let (history, replay) = dates.split_at(200);
    assert_eq!(replay[40], shift, "the shift is on day 40 of the replay");
    let batch = |name: &str, ds: &[&str]| {
        let rows: Vec<&str> = ds.iter().flat_map(|d| days[d].iter().copied()).collect();
        let f = e.write(name, &format!("{header}\n{}\n", rows.join("\n")));
        e.ok(&["ingest", f.to_str().unwrap(), "weir://demand/main/demand"]);
    };
    batch("history.csv", history);
    e.ok(&["run", &pipeline("forecasting"), "weir://demand/main"]);
    // The monitoring manifest's own trigger, with a higher threshold: on
    // these 12 series (weekly season, promotions, a trend) up to 4 drift
    // by chance in a 24-day window; 5 are shifted.
    watch_demand(&e, "drifted_share=0.4");
    // The forecasting manifest's `retrain`: after `monitor`, when
    // drift_summary says so.
    e.ok(&[
        "schedule",
        "apply",
        &pipeline("forecasting"),
        "--target",
        "weir://demand/main",
    ]);
    let mut retrained_on = Vec::new();
    for (i, d) in replay[..60].iter().enumerate() {
        batch("day.csv", &[d]);
        let fired = e.json(&["scheduler", "--once"]);
        let fired = fired.as_array().unwrap();
        assert!(
            fired.iter().any(|f| f["trigger"] == "monitor"),
            "day {i}: {fired:?}"
        );
        for f in fired {
            assert_eq!(f["outcome"], "succeeded", "day {i}: {f}");
            if f["trigger"] == "retrain" {
                retrained_on.push(i);
            }
        }
    }
    assert_eq!(retrained_on.len(), 1, "retrained on days {retrained_on:?}");
    assert!(
        retrained_on[0] >= 40,
        "retrained before the shift: {retrained_on:?}"
    );
    let monitor = firings(&e, "monitor");
    assert_eq!(monitor.len(), 60);

    // The retrain merged, and its run names the finding.
    let f = &firings(&e, "retrain")[0];
    let run = f["run_id"].as_str().unwrap();
    let rows = e.json(&["runs", run]);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["stage"].is_null())
        .unwrap()
        .clone();
    assert_eq!(row["status"], "merged", "{row}");
    let finding: Value = serde_json::from_str(f["cause"].as_str().unwrap()).unwrap();
    assert!(
        finding["share_drifted"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.3
    );
    let cause = e.json(&[
        "sql",
        &format!("SELECT cause FROM weir_runs() WHERE run_id = '{run}' AND stage IS NULL AND status = 'merged'"),
    ]);
    let cause: Value = serde_json::from_str(cause[0]["cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["trigger"], "retrain");
    assert_eq!(cause["finding"], finding);

    // A retrain held to a margin it cannot meet (the challenger must be
    // 90 % better than the model in use) fails its gate: main stays, and
    // the webhook hears of it. Three days ahead, so the newest back-test
    // window holds only days the model in use was not chosen on.
    let (port, got) = crate::schedule::receiver(vec![200]);
    let url = format!("http://127.0.0.1:{port}/hook");
    e.ok(&[
        "schedule",
        "add",
        "strict-retrain",
        "--cron",
        "0 3 * * *",
        "--pipeline",
        &pipeline("forecasting"),
        "--target",
        "weir://demand/main",
        "--force",
        "--param",
        "retrain_margin=-0.9",
        "--param",
        "horizon=3",
        "--notify",
        &url,
    ]);
    let head = e.ok(&["sql", "SELECT commit_id FROM weir_log('main') LIMIT 1"]);
    let (code, out, err) = e.run(&["schedule", "run", "strict-retrain", "-o", "json"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("gate not_worse"), "{err}");
    let f = &firings(&e, "strict-retrain")[0];
    assert_eq!(f["outcome"], "failed", "{f}");
    assert!(
        f["error"].as_str().unwrap().contains("gate not_worse"),
        "{f}"
    );
    assert_eq!(f["alert"], "delivered");
    assert_eq!(
        e.ok(&["sql", "SELECT commit_id FROM weir_log('main') LIMIT 1"]),
        head
    );
    let told = got.lock().unwrap();
    let body: Value = serde_json::from_str(&told[0].1).unwrap();
    assert_eq!(body["trigger"], "strict-retrain");
    assert_eq!(body["outcome"], "failed");
}
