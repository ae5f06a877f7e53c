//! Crash safety and cross-process concurrency with real processes: kill -9
//! at arbitrary moments never loses a committed state or leaves a branch
//! unreadable.

use std::process::Stdio;
use std::time::Duration;

use crate::Env;

fn setup(e: &Env, files: usize) {
    e.ok(&["init"]);
    e.ok(&["repo", "create", "demand"]);
    for i in 0..files {
        e.write(
            &format!("src/f{i:04}.txt"),
            &format!("payload {i} {}", "x".repeat(i % 97)),
        );
    }
}

#[test]
fn kill_9_during_uploads_and_commits_keeps_the_lake_consistent() {
    let e = Env::new();
    setup(&e, 400);
    let src = e.dir.path().join("src");
    let mut committed = 0;
    let mut killed_uploads = 0;
    for round in 0..6u64 {
        // Upload, then commit, killing each at a different moment.
        let mut up = e
            .cmd()
            .args([
                "fs",
                "upload",
                "weir://demand/main/r/",
                "--source",
                src.to_str().unwrap(),
                "--recursive",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + round * 35));
        let _ = up.kill();
        if !up.wait().unwrap().success() {
            killed_uploads += 1;
        }
        let mut c = e
            .cmd()
            .args([
                "commit",
                "weir://demand/main",
                "-m",
                &format!("round {round}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + round * 10));
        let _ = c.kill();
        let status = c.wait().unwrap();
        if status.success() {
            committed += 1;
        }
        // Whatever happened, the lake opens, the branch reads and verifies.
        let v = e.json(&["verify"]);
        assert_eq!(v["ok"], true, "round {round}: {v}");
        e.json(&["fs", "ls", "weir://demand/main/", "--recursive"]);
    }
    // A final clean commit sees every object that was staged.
    let (code, _, err) = e.run(&["commit", "weir://demand/main", "-m", "final"]);
    assert!(code == 0 || err.contains("no changes"), "{err}");
    e.ok(&[
        "fs",
        "upload",
        "weir://demand/main/r/",
        "--source",
        src.to_str().unwrap(),
        "--recursive",
    ]);
    let (code, _, err) = e.run(&["commit", "weir://demand/main", "-m", "complete"]);
    assert!(code == 0 || err.contains("no changes"), "{err}");
    let ls = e.json(&["fs", "ls", "weir://demand/main@/r/", "--recursive"]);
    assert_eq!(ls["results"].as_array().unwrap().len(), 400);
    for i in [0usize, 199, 399] {
        let got = e.ok(&["fs", "cat", &format!("weir://demand/main/r/f{i:04}.txt")]);
        assert!(got.starts_with(&format!("payload {i} ")));
    }
    println!("{committed} of 6 interrupted commits completed before the kill");
    assert!(
        killed_uploads > 0,
        "no upload was interrupted: the test tested nothing"
    );
    assert_eq!(e.json(&["verify"])["ok"], true);
}

#[test]
fn concurrent_processes_commit_to_one_branch_without_losing_writes() {
    let e = Env::new();
    setup(&e, 0);
    let mut children = Vec::new();
    for w in 0..4 {
        for i in 0..5 {
            e.write(&format!("w{w}/f{i}.txt"), &format!("{w}-{i}"));
        }
        let dir = e.dir.path().join(format!("w{w}"));
        let script = format!(
            "set -e; for i in 0 1 2 3 4; do \"$WEIR\" fs upload weir://demand/main/w{w}/f$i.txt --source {}/f$i.txt >/dev/null; \
             \"$WEIR\" commit weir://demand/main -m \"w{w} $i\" >/dev/null 2>&1 || true; done",
            dir.display()
        );
        children.push(
            std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .env("WEIR", env!("CARGO_BIN_EXE_weir"))
                .env("WEIR_LAKE", e.lake())
                .env("WEIR_COMMITTER", format!("w{w}"))
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // Commits that lost a race left their writes staged; one more commit
    // takes them, and nothing is lost or duplicated.
    let _ = e.run(&["commit", "weir://demand/main", "-m", "sweep"]);
    let ls = e.json(&["fs", "ls", "weir://demand/main@/", "--recursive"]);
    assert_eq!(ls["results"].as_array().unwrap().len(), 20);
    assert_eq!(e.ok(&["fs", "cat", "weir://demand/main/w3/f4.txt"]), "3-4");
    assert_eq!(e.json(&["verify"])["ok"], true);
}

#[test]
fn a_run_killed_at_any_moment_leaves_the_target_as_it_was() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "shop"]);
    let f = e.write("in/sales.csv", "item,qty\na,3\nb,5\n");
    e.ok(&["ingest", f.to_str().unwrap(), "weir://shop/main/sales"]);
    let mut toml = String::from("name = \"slow\"\n");
    for i in 0..6 {
        // Each stage does a little real work, so kills land mid-run.
        e.write(
            &format!("p/s{i}.sql"),
            "SELECT s.item, sum(s.qty * g.value) AS qty FROM sales s CROSS JOIN generate_series(1, 200000) AS g GROUP BY s.item",
        );
        toml.push_str(&format!(
            "[[stage]]\nname = \"s{i}\"\nsql = \"s{i}.sql\"\noutput = \"t{i}\"\n{}",
            if i > 0 {
                format!("after = [\"s{}\"]\n", i - 1)
            } else {
                String::new()
            }
        ));
    }
    e.write("p/weir.toml", &toml);
    let mut head = e.json(&["log", "weir://shop/main", "--amount", "1"]);
    let mut killed = 0;
    for round in 0..5u64 {
        let mut run = e
            .cmd()
            .args(["run", "p/weir.toml", "weir://shop/main", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(60 + round * 90));
        let _ = run.kill();
        if run.wait().unwrap().success() {
            break;
        }
        killed += 1;
        // The target never shows half a run: it is where it was, or at the
        // merge of a whole run (a kill while the records were being saved).
        let now = e.json(&["log", "weir://shop/main", "--amount", "1"]);
        if now != head {
            let c = &now["results"][0];
            assert!(c["metadata"]["weir.run.id"].is_string(), "{now}");
            assert_eq!(c["parents"][0], head["results"][0]["id"], "{now}");
            head = now;
        }
    }
    assert!(killed > 0, "every run finished before it could be killed");
    // Every run branch a killed run left behind is recorded as running (a
    // kill before the branch existed leaves neither; one after its merge
    // shows as merged).
    let runs = e.json(&["runs", "--limit", "100"]);
    let running: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "running")
        .map(|r| r["run_branch"].as_str().unwrap())
        .collect();
    let listed = e.json(&["branch", "list", "weir://shop"]).to_string();
    for b in &running {
        assert!(listed.contains(b), "{b} not in {listed}");
    }
    // And every run branch left behind is listed, recorded or not.
    let branches = e.json(&["branch", "list", "weir://shop"]);
    for b in branches["results"].as_array().unwrap() {
        let id = b["id"].as_str().unwrap();
        if id.starts_with("run-") {
            assert!(running.contains(&id), "{id} not listed as running: {runs}");
        }
    }
    let v = e.ok(&["verify", "--no-objects"]);
    assert!(v.contains("OK   weir://shop"), "{v}");
    // And a run after them works (or finds a finished one already merged).
    let out = e.ok(&["run", "p/weir.toml", "weir://shop/main"]);
    assert!(
        out.contains("Merged into main") || out.contains("Nothing changed"),
        "{out}"
    );
    let t5 = e.ok(&["sql", "SELECT count(*) AS n FROM t5", "--format", "csv"]);
    assert_eq!(t5, "n\n2\n");
}
