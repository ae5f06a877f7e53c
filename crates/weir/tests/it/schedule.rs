//! Triggers: a timetable replayed hours ahead with `weir scheduler --once
//! --at`, two schedulers racing for the same tick, new commits that do or
//! do not touch the watched paths, and bad input that stores nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

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

/// `weir schedule add NAME ARGS` running the test pipeline into main.
fn trigger<'a>(name: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "schedule",
        "add",
        name,
        "--pipeline",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
    ];
    a.extend_from_slice(args);
    a
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
    let added = e.json(&trigger(
        "hourly",
        &["--cron", "0 * * * *", "--param", "min_qty=1"],
    ));
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
    e.ok(&trigger(
        "every-15",
        &["--cron", "*/15 * * * *", "--catch-up", "all"],
    ));
    let now = Utc::now();
    let f = tick(&e, now + Duration::minutes(61));
    assert!((4..=5).contains(&f.len()), "{f:?}");
    let dues: Vec<&str> = f.iter().map(|x| x["due_at"].as_str().unwrap()).collect();
    let mut sorted = dues.clone();
    sorted.sort();
    assert_eq!(dues, sorted);
    assert!(tick(&e, now + Duration::minutes(61)).is_empty());
}

/// `kill -9` lands between a firing's claim and its record (the process
/// is killed while the second of 24 forced runs works): the restarted
/// scheduler finishes that firing, and every tick has exactly one firing
/// and one merged run.
#[test]
fn a_scheduler_killed_mid_replay_fires_every_tick_once_after_restart() {
    let e = crate::pipeline::setup();
    let added = Utc::now();
    e.ok(&trigger(
        "hourly",
        &["--cron", "0 * * * *", "--catch-up", "all", "--force"],
    ));
    let at = added + Duration::hours(24);
    let mut child = e
        .cmd()
        .args(["scheduler", "--once", "--at", &at.to_rfc3339()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while firings(&e).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no firing recorded");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(firings(&e).len() < 24, "killed too late to test anything");
    tick(&e, at);
    let mut want: Vec<String> = Vec::new();
    let mut hour = added
        .with_minute(0)
        .unwrap()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    while hour + Duration::hours(1) <= at {
        hour += Duration::hours(1);
        want.push(hour.to_rfc3339());
    }
    let got: Vec<String> = firings(&e)
        .iter()
        .map(|f| {
            assert_eq!(f["outcome"], "succeeded", "{f}");
            let due = f["due_at"].as_str().unwrap();
            DateTime::parse_from_rfc3339(due)
                .unwrap()
                .to_utc()
                .to_rfc3339()
        })
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, want, "each tick fired once");
    // One merged run per tick. A run cut short before merging ran again;
    // one killed after its merge (its record still says running) was
    // recorded as the firing, not run again.
    let runs: Vec<String> = firings(&e)
        .iter()
        .map(|f| f["run_id"].as_str().unwrap().to_string())
        .collect();
    for id in &runs {
        let rows = e.json(&["runs", id]);
        let run = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["stage"].is_null());
        assert_eq!(run.unwrap()["status"], "merged", "{rows}");
    }
    let merged = e.json(&[
        "sql",
        "SELECT run_id, cause FROM weir_runs() WHERE stage IS NULL AND status = 'merged'",
    ]);
    let mut claims: Vec<String> = merged
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(runs.iter().any(|id| r["run_id"] == id.as_str()), "{r}");
            let c: Value = serde_json::from_str(r["cause"].as_str().unwrap()).unwrap();
            assert_eq!(c["trigger"], "hourly");
            c["claim"].as_str().unwrap().to_string()
        })
        .collect();
    claims.sort();
    let before = claims.len();
    claims.dedup();
    assert_eq!(claims.len(), before, "a tick merged twice: {claims:?}");
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
    e.ok(&trigger(
        "big-sale",
        &[
            "--after",
            "on-sales",
            "--when",
            "SELECT 2 AS min_qty, max(qty) AS biggest FROM sales HAVING max(qty) > 5",
        ],
    ));
    e.ok(&trigger(
        "never",
        &[
            "--cron",
            "*/5 * * * *",
            "--when",
            "SELECT 1 AS x FROM sales WHERE qty > 1000",
        ],
    ));
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

/// What a receiver was sent: (signature header, body) per request.
pub(crate) type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on a port of its own: answers each request with the
/// next of `statuses` (the last one repeats) and keeps what it was sent.
pub(crate) fn receiver(statuses: Vec<u16>) -> (u16, Received) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut c) = conn else { continue };
            let mut reader = BufReader::new(c.try_clone().unwrap());
            let (mut signature, mut length) = (String::new(), 0);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap_or_default();
                match k.to_ascii_lowercase().as_str() {
                    "x-weir-signature" => signature = v.trim().to_string(),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            kept.lock()
                .unwrap()
                .push((signature, String::from_utf8(body).unwrap()));
            let status = statuses[i.min(statuses.len() - 1)];
            let _ = write!(
                c,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (port, seen)
}

/// A run that fails its gate is told to the trigger's webhook, signed,
/// through a first 500; a webhook that never answers 2xx leaves a dead
/// letter on the firing's record.
#[test]
fn a_failed_run_is_told_to_the_webhook_and_a_dead_one_is_recorded() {
    // RFC 4231, test case 2.
    assert_eq!(
        hex(&weir_jobs::schedule::hmac_sha256(
            b"Jefe",
            b"what do ya want for nothing?"
        )),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let mut e = crate::pipeline::setup();
    for (k, v) in [
        ("WEIR_WEBHOOK_SECRET", "s3cret"),
        ("WEIR_ALERT_BACKOFF_MS", "50"),
        ("WEIR_ALERT_ATTEMPTS", "3"),
    ] {
        e.vars.push((k.into(), v.into()));
    }
    let (flaky, seen) = receiver(vec![500, 200]);
    let (dead, dead_seen) = receiver(vec![503]);
    for (name, port) in [("nightly", flaky), ("doomed", dead)] {
        // min_qty=-5 lets the -1 sale through: the no_negative gate fails.
        e.ok(&trigger(
            name,
            &[
                "--cron",
                "0 3 * * *",
                "--param",
                "min_qty=-5",
                "--notify",
                &format!("http://127.0.0.1:{port}/hook"),
            ],
        ));
    }
    e.ok(&trigger(
        "quiet",
        &[
            "--cron",
            "0 3 * * *",
            "--notify",
            &format!("http://127.0.0.1:{flaky}/hook"),
        ],
    ));
    let fired = tick(&e, Utc::now() + Duration::days(1));
    let by = |name: &str| fired.iter().find(|f| f["trigger"] == name).unwrap().clone();
    let nightly = by("nightly");
    assert_eq!(nightly["outcome"], "failed", "{nightly}");
    assert_eq!(nightly["alert"], "delivered", "{nightly}");
    assert_eq!(nightly["alert_attempts"], 2, "{nightly}");
    let doomed = by("doomed");
    assert_eq!(doomed["alert"], "dead-letter", "{doomed}");
    assert_eq!(doomed["alert_attempts"], 3, "{doomed}");
    assert!(
        doomed["alert_error"].as_str().unwrap().contains("503"),
        "{doomed}"
    );
    assert_eq!(dead_seen.lock().unwrap().len(), 3);
    // A run that succeeded is not told (--notify-on failure, the default).
    assert_eq!(by("quiet")["outcome"], "succeeded");
    assert!(by("quiet")["alert"].is_null());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "the 500, then the delivery");
    for (signature, body) in seen.iter() {
        let want = format!(
            "sha256={}",
            hex(&weir_jobs::schedule::hmac_sha256(
                b"s3cret",
                body.as_bytes()
            ))
        );
        assert_eq!(signature, &want);
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["event"], "weir.schedule.fired");
        assert_eq!(v["trigger"], "nightly");
        assert_eq!(v["outcome"], "failed");
        assert!(v["error"].as_str().unwrap().contains("no_negative"), "{v}");
    }
    // The dead letter is on record.
    let (code, out, err) = e.run(&[
        "sql",
        "SELECT trigger, alert, alert_attempts FROM weir_schedule_runs() WHERE alert = 'dead-letter'",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "trigger,alert,alert_attempts\ndoomed,dead-letter,3\n");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A pipeline declares its triggers; `weir schedule apply` installs them,
/// leaves the same ones as they are and replaces changed ones.
#[test]
fn a_manifest_declares_its_triggers_and_apply_installs_them() {
    let e = crate::pipeline::setup();
    let base = std::fs::read_to_string(e.dir.path().join("p/weir.toml")).unwrap();
    let with = |cron: &str| {
        e.write(
            "p/weir.toml",
            &format!(
                "{base}\n[[trigger]]\nname = \"on-sales\"\non_commit = \"main\"\npaths = [\"sales/**\"]\n\n\
                 [[trigger]]\nname = \"nightly\"\ncron = \"{cron}\"\ntimezone = \"Europe/Paris\"\nparams = {{ min_qty = 1 }}\n\n\
                 [[trigger]]\nname = \"after-sales\"\nafter = \"on-sales\"\nwhen = \"SELECT 3 AS min_qty\"\n"
            ),
        );
    };
    with("0 3 * * *");
    let apply = || {
        e.json(&[
            "schedule",
            "apply",
            "p/weir.toml",
            "--target",
            "weir://shop/main",
        ])
    };
    let states = |v: Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["trigger"].as_str().unwrap().into(),
                    x["state"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let mut first = states(apply());
    first.sort();
    assert_eq!(
        first,
        [
            ("after-sales", "added"),
            ("nightly", "added"),
            ("on-sales", "added")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(states(apply()).iter().all(|(_, s)| s == "unchanged"));
    with("0 4 * * *");
    let mut again = states(apply());
    again.sort();
    assert_eq!(again[1], ("nightly".to_string(), "updated".to_string()));
    assert_eq!(again[0].1, "unchanged");
    let list = e.json(&["schedule", "list"]);
    let nightly = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "nightly")
        .unwrap();
    assert_eq!(nightly["when"]["cron"], "0 4 * * *", "{nightly}");
    assert_eq!(nightly["when"]["timezone"], "Europe/Paris");
    assert_eq!(nightly["params"], serde_json::json!([["min_qty", "1"]]));
    // Still a pipeline like any other.
    e.ok(&["run", "p/weir.toml", "weir://shop/main"]);
    // The declared triggers fire: new sales, then the condition after them.
    more_sales(&e);
    let fired = tick(&e, Utc::now());
    let names: Vec<&str> = fired
        .iter()
        .map(|f| f["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["on-sales", "after-sales"], "{fired:?}");
    // A manifest without triggers, or naming a branch that is not there.
    e.write("p/weir.toml", &base);
    let (code, _, err) = e.run(&[
        "schedule",
        "apply",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("declares no [[trigger]]"), "{err}");
    e.write(
        "p/weir.toml",
        &format!("{base}\n[[trigger]]\nname = \"x\"\non_commit = \"nosuch\"\npaths = [\"a/**\"]\n"),
    );
    let (code, _, err) = e.run(&[
        "schedule",
        "apply",
        "p/weir.toml",
        "--target",
        "weir://shop/main",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("nosuch"), "{err}");
}

/// A trigger with --force runs every stage; without, unchanged stages
/// are skipped as in `weir run`.
#[test]
fn a_forced_trigger_runs_every_stage() {
    let e = crate::pipeline::setup();
    for (name, force) in [("plain", false), ("forced", true)] {
        let mut args = trigger(name, &["--cron", "0 3 * * *"]);
        if force {
            args.push("--force");
        }
        e.ok(&args);
    }
    e.ok(&["run", "p/weir.toml", "weir://shop/main"]);
    let statuses = |name: &str| -> Vec<String> {
        let f = e.json(&["schedule", "run", name]);
        let run = e.json(&["runs", f[0]["run_id"].as_str().unwrap()]);
        run.as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["stage"].is_null())
            .map(|r| r["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(statuses("plain"), ["skipped", "skipped"]);
    assert_eq!(statuses("forced"), ["succeeded", "succeeded"]);
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
        (&["--on-commit", "weir://shop/main"][..], "--paths"),
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
        (
            &[
                "--when",
                "SELEC 1",
                "--cron",
                "0 6 * * *",
                "--target",
                "weir://shop/main",
            ][..],
            "--when",
        ),
        (
            &["--when", "SELECT 1", "--target", "weir://shop/main"][..],
            "--when",
        ),
        (
            &[
                "--when",
                "SELECT 1",
                "--after",
                "nosuch",
                "--target",
                "weir://shop/main",
            ][..],
            "nosuch",
        ),
        (
            &[
                "--cron",
                "0 6 * * *",
                "--target",
                "weir://shop/main",
                "--notify",
                "ftp://x",
            ][..],
            "--notify",
        ),
    ] {
        let (code, out, err) = add(extra);
        assert_ne!(code, 0, "{extra:?}: {out}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    // A condition is one read-only query: a write, one wrapped in an
    // EXPLAIN or hidden behind a second statement is refused when added,
    // and writes nothing.
    let outside = e.dir.path().join("outside.csv");
    let copy = format!(
        "COPY (SELECT 1 AS x) TO '{}' STORED AS CSV",
        outside.display()
    );
    for q in [
        copy.clone(),
        format!("EXPLAIN ANALYZE {copy}"),
        "INSERT INTO sales SELECT * FROM sales".to_string(),
        "SELECT 1; DROP TABLE sales".to_string(),
        "CREATE TABLE t AS SELECT 1 AS x".to_string(),
    ] {
        let (code, _, err) = add(&[
            "--when",
            &q,
            "--cron",
            "0 6 * * *",
            "--target",
            "weir://shop/main",
        ]);
        assert_ne!(code, 0, "{q}");
        assert!(err.contains("--when"), "{q}: {err}");
    }
    assert!(!outside.exists());
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
    e.ok(&trigger("t1", &["--cron", "0 6 * * *"]));
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

/// A pipeline kept in the lake: `weir run` and a trigger read it at the
/// ref's commit, so a change committed to it is what the next firing runs.
#[test]
fn a_pipeline_in_the_lake_runs_from_there() {
    let e = crate::pipeline::setup();
    let dir = e.dir.path().join("p");
    e.ok(&[
        "fs",
        "upload",
        "weir://shop/main/pipelines/daily/",
        "--source",
        dir.to_str().unwrap(),
        "--recursive",
    ]);
    e.ok(&["commit", "weir://shop/main", "-m", "the pipeline"]);
    let lake_manifest = "weir://shop/main/pipelines/daily/weir.toml";
    let out = e.ok(&["run", lake_manifest, "weir://shop/main"]);
    assert!(out.contains("2 stages ran"), "{out}");
    e.ok(&[
        "schedule",
        "add",
        "daily",
        "--cron",
        "0 3 * * *",
        "--pipeline",
        lake_manifest,
        "--target",
        "weir://shop/main",
        "--force",
    ]);
    let f = e.json(&["schedule", "run", "daily"]);
    assert_eq!(f[0]["outcome"], "succeeded", "{f}");
    // A manifest that is not there, or not a manifest, is refused when added.
    for bad in [
        "weir://shop/main/pipelines/none/weir.toml",
        "weir://shop/main/pipelines/daily/clean.sql",
        "weir://nope/main/pipelines/daily/weir.toml",
    ] {
        let (code, _, err) = e.run(&[
            "schedule",
            "add",
            "bad",
            "--cron",
            "0 3 * * *",
            "--pipeline",
            bad,
            "--target",
            "weir://shop/main",
        ]);
        assert_ne!(code, 0, "{bad}");
        assert_eq!(err.trim().lines().count(), 1, "{bad}: {err}");
    }
    let list = e.json(&["schedule", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}
