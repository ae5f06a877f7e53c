//! Triggers: a timetable replayed hours ahead with `weir scheduler --once
//! --at`, two schedulers racing for the same tick, new commits that do or
//! do not touch the watched paths, and bad input that stores nothing.

use chrono::{DateTime, Duration, Timelike, Utc};
use serde_json::Value;

use crate::Env;

fn tick(e: &Env, at: DateTime<Utc>) -> Vec<Value> {
    let v = e.json(&["scheduler", "--once", "--at", &at.to_rfc3339()]);
    v.as_array().unwrap().clone()
}

fn firings(e: &Env) -> Vec<Value> {
    let (code, out, err) = e.run(&[
        "sql",
        "SELECT trigger, kind, due_at, outcome, run_id FROM weir_schedule_runs() ORDER BY fired_at",
        "-o",
        "json",
    ]);
    if code != 0 && err.contains("no trigger has fired") {
        return Vec::new();
    }
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_array().unwrap().clone()
}

/// A trigger on new sales committed to main.
fn watch_sales(e: &Env) {
    e.ok(&[
        "schedule",
        "add",
        "on-sales",
        "--on-commit",
        "weir://shop/main",
        "--paths",
        "sales/**",
        "--pipeline",
        "p/weir.toml",
    ]);
}

fn more_sales(e: &Env) {
    let f = e.write("in/more.csv", "day,item,qty\n2024-01-03,a,7\n");
    e.ok(&["ingest", f.to_str().unwrap(), "weir://shop/main/sales"]);
}

#[test]
fn a_timetable_fires_each_tick_once_whoever_looks() {
    let e = crate::pipeline::setup();
    let added = e.json(&[
        "schedule",
        "add",
        "hourly",
        "--cron",
        "0 * * * *",
        "--pipeline",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
        "--param",
        "min_qty=1",
    ]);
    assert_eq!(added["when"]["kind"], "cron", "{added}");
    assert!(added["next"].as_str().is_some(), "{added}");
    let now = Utc::now();
    let hour = |h: i64| {
        (now + Duration::hours(h))
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap()
    };

    // Nothing is due before the first tick.
    assert!(tick(&e, now + Duration::seconds(1)).is_empty());
    // Three ticks passed unseen: one run, for the latest (--catch-up latest).
    let f = tick(&e, hour(3) + Duration::minutes(5));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["outcome"], "succeeded", "{f:?}");
    let due: DateTime<Utc> = f[0]["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, hour(3));
    let run = f[0]["run_id"].as_str().unwrap().to_string();
    let runs = e.json(&["runs", &run]);
    assert!(!runs.as_array().unwrap().is_empty(), "{runs}");
    // Looking again at the same time fires nothing.
    assert!(tick(&e, hour(3) + Duration::minutes(6)).is_empty());

    // Two schedulers look at the next tick at once: it fires once.
    let at = (hour(4) + Duration::minutes(1)).to_rfc3339();
    let racers: Vec<_> = (0..2)
        .map(|_| {
            e.cmd()
                .args(["scheduler", "--once", "--at", &at, "-o", "json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut total = 0;
    for r in racers {
        let out = r.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        total += v.as_array().unwrap().len();
    }
    assert_eq!(total, 1);

    // Paused, it fires nothing; resumed, the hours it slept through stay
    // unfired (it starts again from now).
    e.ok(&["schedule", "pause", "hourly"]);
    assert!(tick(&e, hour(6) + Duration::minutes(1)).is_empty());
    e.ok(&["schedule", "resume", "hourly"]);
    let list = e.json(&["schedule", "list"]);
    assert_eq!(list[0]["paused"], false, "{list}");

    // By hand, recorded as manual.
    let f = e.json(&["schedule", "run", "hourly"]);
    assert_eq!(f[0]["kind"], "manual", "{f}");

    let all = firings(&e);
    let kinds: Vec<&str> = all.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["cron", "cron", "manual"], "{all:?}");
    let history = e.json(&["schedule", "history", "hourly"]);
    assert_eq!(history.as_array().unwrap().len(), 3, "{history}");
    let text = e.ok(&["schedule", "history", "hourly"]);
    assert!(text.contains("succeeded"), "{text}");

    e.ok(&["schedule", "rm", "hourly"]);
    assert_eq!(e.json(&["schedule", "list"]), serde_json::json!([]));
    // Its firings stay on record.
    assert_eq!(firings(&e).len(), 3);
}

#[test]
fn catch_up_all_fires_every_missed_tick_in_order() {
    let e = crate::pipeline::setup();
    e.ok(&[
        "schedule",
        "add",
        "every-15",
        "--cron",
        "*/15 * * * *",
        "--pipeline",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
        "--catch-up",
        "all",
    ]);
    let now = Utc::now();
    let f = tick(&e, now + Duration::minutes(61));
    assert!((4..=5).contains(&f.len()), "{f:?}");
    let dues: Vec<&str> = f.iter().map(|x| x["due_at"].as_str().unwrap()).collect();
    let mut sorted = dues.clone();
    sorted.sort();
    assert_eq!(dues, sorted);
    assert!(tick(&e, now + Duration::minutes(61)).is_empty());
}

#[test]
fn a_commit_fires_only_when_it_touches_the_watched_paths() {
    let e = crate::pipeline::setup();
    watch_sales(&e);
    let now = Utc::now();
    // The history already on main does not fire it.
    assert!(tick(&e, now).is_empty());
    more_sales(&e);
    let head = e.json(&["log", "weir://shop/main", "--amount", "1"]);
    let fired = tick(&e, now);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["kind"], "on-commit");
    assert_eq!(fired[0]["outcome"], "succeeded", "{fired:?}");
    assert_eq!(fired[0]["commit"], head["results"][0]["id"], "{head}");
    // The run's own merge changed clean/ and totals/, not sales/: no loop.
    assert!(tick(&e, now).is_empty());
    // A commit elsewhere fires nothing either.
    let doc = e.write("notes.txt", "hello");
    e.ok(&[
        "fs",
        "upload",
        "weir://shop/main/docs/notes.txt",
        "--source",
        doc.to_str().unwrap(),
    ]);
    e.ok(&["commit", "weir://shop/main", "-m", "docs"]);
    assert!(tick(&e, now).is_empty());
    assert_eq!(firings(&e).len(), 1);
}

/// A condition asked after another trigger's run fires when its query
/// returns a row, with the row's values as the run's parameters, once per
/// run it follows; a timetable condition whose query returns nothing
/// does not fire.
#[test]
fn a_condition_after_a_run_fires_with_its_row_as_parameters() {
    let e = crate::pipeline::setup();
    watch_sales(&e);
    e.ok(&[
        "schedule",
        "add",
        "big-sale",
        "--after",
        "on-sales",
        "--when",
        "SELECT 2 AS min_qty, max(qty) AS biggest FROM sales HAVING max(qty) > 5",
        "--pipeline",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
    ]);
    e.ok(&[
        "schedule",
        "add",
        "never",
        "--cron",
        "*/5 * * * *",
        "--when",
        "SELECT 1 AS x FROM sales WHERE qty > 1000",
        "--pipeline",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
    ]);
    let now = Utc::now();
    assert!(tick(&e, now + Duration::minutes(11)).is_empty());
    more_sales(&e); // a sale of 7
    let fired = tick(&e, now + Duration::minutes(12));
    let kinds: Vec<&str> = fired.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["on-commit", "condition"], "{fired:?}");
    let cond = &fired[1];
    assert_eq!(cond["trigger"], "big-sale");
    assert_eq!(cond["outcome"], "succeeded", "{cond}");
    let cause: Value = serde_json::from_str(cond["cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["biggest"], "7", "{cause}");
    // The row's min_qty is the run's parameter (biggest is not one of the
    // pipeline's: left out).
    let run = e.json(&["runs", cond["run_id"].as_str().unwrap()]);
    let params: Value = serde_json::from_str(run[0]["params"].as_str().unwrap()).unwrap();
    assert_eq!(params["min_qty"], 2, "{params}");
    // Asked once per run it follows: nothing new, nothing fired.
    assert!(tick(&e, now + Duration::minutes(13)).is_empty());
}

#[test]
fn bad_triggers_get_one_line_and_store_nothing() {
    let e = crate::pipeline::setup();
    let add = |extra: &[&str]| {
        let mut a = vec!["schedule", "add", "t1", "--pipeline", "p/weir.toml"];
        a.extend_from_slice(extra);
        e.run(&a)
    };
    for (extra, says) in [
        (
            &["--cron", "61 * * * *", "--target", "weir://shop/main"][..],
            "--cron",
        ),
        (
            &[
                "--cron",
                "0 6 * * *",
                "--timezone",
                "Mars/Olympus",
                "--target",
                "weir://shop/main",
            ][..],
            "--timezone",
        ),
        (
            &["--cron", "0 6 * * *", "--target", "weir://nosuch/main"][..],
            "nosuch",
        ),
        (&["--cron", "0 6 * * *"][..], "--target"),
        (
            &["--on-commit", "weir://shop/nosuchbranch"][..],
            "nosuchbranch",
        ),
        (
            &[
                "--cron",
                "0 6 * * *",
                "--target",
                "weir://shop/main",
                "--catch-up",
                "some",
            ][..],
            "--catch-up",
        ),
    ] {
        let (code, out, err) = add(extra);
        assert_ne!(code, 0, "{extra:?}: {out}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    let (code, _, err) = e.run(&[
        "schedule",
        "add",
        "t1",
        "--cron",
        "0 6 * * *",
        "--pipeline",
        "p/missing.toml",
        "--target",
        "weir://shop/main",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("missing.toml"), "{err}");
    assert_eq!(e.json(&["schedule", "list"]), serde_json::json!([]));
    e.ok(&[
        "schedule",
        "add",
        "t1",
        "--cron",
        "0 6 * * *",
        "--pipeline",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
    ]);
    let (code, _, err) = e.run(&[
        "schedule",
        "add",
        "t1",
        "--cron",
        "0 7 * * *",
        "--pipeline",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    for verb in ["pause", "resume", "rm", "run", "history"] {
        let (code, _, err) = e.run(&["schedule", verb, "nosuch"]);
        assert_ne!(code, 0, "{verb}");
        assert!(err.contains("no trigger nosuch"), "{verb}: {err}");
    }
}

/// `weir serve` fires triggers: two servers of one lake see the same new
/// commit, and it fires once.
#[test]
fn two_servers_fire_a_commit_trigger_once() {
    let e = crate::pipeline::setup();
    e.ok(&["auth", "create-key", "--user", "alice"]);
    watch_sales(&e);
    let servers = [
        crate::backends::serve_with(&e, &["--schedule-secs", "1"]),
        crate::backends::serve_with(&e, &["--schedule-secs", "1"]),
    ];
    more_sales(&e);
    let start = std::time::Instant::now();
    while firings(&e).is_empty() {
        assert!(start.elapsed().as_secs() < 60, "no firing within 60 s");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Both servers have looked again since.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let all = firings(&e);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["outcome"], "succeeded", "{all:?}");
    drop(servers);
}
