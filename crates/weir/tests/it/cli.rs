//! The lakectl-style verbs, their JSON, and their errors.

use crate::{Env, tree};

#[test]
fn a_full_session_with_lakectl_verbs() {
    let e = Env::new();
    e.ok(&["init"]);
    let repo = e.json(&["repo", "create", "weir://demand", "local://somewhere"]);
    assert_eq!(repo["id"], "demand");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["storage_namespace"], "local://somewhere");
    let f = e.write("in/sales.csv", "id,qty\n1,5\n");
    e.ok(&[
        "fs",
        "upload",
        "weir://demand/main/raw/sales.csv",
        "--source",
        f.to_str().unwrap(),
    ]);
    let c = e.json(&[
        "commit",
        "weir://demand/main",
        "-m",
        "load sales",
        "--meta",
        "source=test",
    ]);
    assert_eq!(c["message"], "load sales");
    assert_eq!(c["metadata"]["source"], "test");
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);

    e.ok(&[
        "branch",
        "create",
        "lakefs://demand/dev",
        "--source",
        "lakefs://demand/main",
    ]);
    let f2 = e.write("in/sales2.csv", "id,qty\n1,6\n");
    e.ok(&[
        "fs",
        "upload",
        "weir://demand/dev/raw/sales.csv",
        "--source",
        f2.to_str().unwrap(),
    ]);
    let d = e.json(&["diff", "weir://demand/dev"]);
    assert_eq!(d["results"][0]["type"], "changed");
    assert_eq!(d["results"][0]["path"], "raw/sales.csv");
    e.ok(&["commit", "weir://demand/dev", "-m", "fix qty"]);
    let d = e.json(&["diff", "weir://demand/main", "weir://demand/dev"]);
    assert_eq!(d["results"].as_array().unwrap().len(), 1);
    let m = e.json(&["merge", "weir://demand/dev", "weir://demand/main"]);
    assert_eq!(m["reference"].as_str().unwrap().len(), 64);
    assert_eq!(
        e.ok(&["fs", "cat", "weir://demand/main/raw/sales.csv"]),
        "id,qty\n1,6\n"
    );
    assert_eq!(
        e.ok(&[
            "fs",
            "cat",
            &format!("weir://demand/{}/raw/sales.csv", &id[..8])
        ]),
        "id,qty\n1,5\n"
    );
    e.ok(&["tag", "create", "weir://demand/v1.0", "weir://demand/main"]);
    assert_eq!(
        e.ok(&["fs", "cat", "weir://demand/v1.0~1/raw/sales.csv"]),
        "id,qty\n1,5\n"
    );
    let log = e.json(&["log", "weir://demand/main", "--amount", "2"]);
    assert_eq!(log["pagination"]["has_more"], true);
    let stat = e.json(&["fs", "stat", "weir://demand/main/raw/sales.csv"]);
    assert_eq!(stat["size_bytes"], 11);
    assert_eq!(stat["content_type"], "text/csv");
    let ls = e.json(&["fs", "ls", "weir://demand/main/"]);
    assert_eq!(ls["results"][0]["path_type"], "common_prefix");
    e.ok(&[
        "branch",
        "revert",
        "weir://demand/main",
        "main",
        "--parent-number",
        "1",
    ]);
    assert_eq!(
        e.ok(&["fs", "cat", "weir://demand/main/raw/sales.csv"]),
        "id,qty\n1,5\n"
    );
    let v = e.json(&["verify"]);
    assert_eq!(v["ok"], true);
}

#[test]
fn recursive_upload_rm_and_reset() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "demand"]);
    for i in 0..30 {
        e.write(&format!("src/d{}/f{i}.txt", i % 3), &format!("file {i}"));
    }
    let src = e.dir.path().join("src");
    let out = e.json(&[
        "fs",
        "upload",
        "weir://demand/main/files/",
        "--source",
        src.to_str().unwrap(),
        "--recursive",
    ]);
    assert_eq!(out["uploaded"], 30);
    e.ok(&["commit", "weir://demand/main", "-m", "30 files"]);
    let ls = e.json(&["fs", "ls", "weir://demand/main/files/", "--recursive"]);
    assert_eq!(ls["results"].as_array().unwrap().len(), 30);
    e.ok(&["fs", "rm", "weir://demand/main/files/d1/", "--recursive"]);
    let ls = e.json(&["fs", "ls", "weir://demand/main/files/", "--recursive"]);
    assert_eq!(ls["results"].as_array().unwrap().len(), 20);
    let reset = e.json(&["branch", "reset", "weir://demand/main"]);
    assert_eq!(reset["discarded"], 10);
    let ls = e.json(&["fs", "ls", "weir://demand/main/files/", "--recursive"]);
    assert_eq!(ls["results"].as_array().unwrap().len(), 30);
}

#[test]
fn bad_input_gets_one_line_a_code_and_changes_nothing() {
    let e = Env::new();
    // No lake yet.
    let (code, _, err) = e.run(&["repo", "list"]);
    assert_eq!(code, 8, "{err}");
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(err.contains("weir init"), "{err}");
    e.ok(&["init"]);
    let (code, _, _) = e.run(&["init"]);
    assert_eq!(code, 4, "init twice");
    e.ok(&["repo", "create", "demand"]);
    let f = e.write("x.csv", "a\n");
    let before = tree(&e.lake());
    let cases: &[(&[&str], i32)] = &[
        (&["repo", "create", "Bad_Name"], 2),
        (&["repo", "create", "demand"], 4),
        (
            &[
                "branch",
                "create",
                "weir://demand/has space",
                "--source",
                "weir://demand/main",
            ],
            2,
        ),
        (
            &[
                "branch",
                "create",
                "weir://demand/x",
                "--source",
                "weir://demand/nope",
            ],
            3,
        ),
        (
            &[
                "fs",
                "upload",
                "weir://demand/main/../../etc/passwd",
                "--source",
                f.to_str().unwrap(),
            ],
            2,
        ),
        (
            &[
                "fs",
                "upload",
                "weir://demand/main//a",
                "--source",
                f.to_str().unwrap(),
            ],
            2,
        ),
        (
            &[
                "fs",
                "upload",
                "weir://demand/main/a",
                "--source",
                "/does/not/exist",
            ],
            10,
        ),
        (
            &[
                "fs",
                "upload",
                "weir://demand/v9/a",
                "--source",
                f.to_str().unwrap(),
            ],
            3,
        ),
        (&["fs", "cat", "weir://demand/main/missing"], 3),
        (&["fs", "cat", "s3://demand/main/x"], 2),
        (&["log", "weir://demand/main~5"], 3),
        (&["commit", "weir://demand/main", "-m", "empty"], 2),
        (
            &[
                "merge",
                "weir://demand/main",
                "weir://demand/main",
                "--strategy",
                "coin-flip",
            ],
            2,
        ),
        (
            &[
                "commit",
                "weir://demand/main",
                "-m",
                "x",
                "--meta",
                "novalue",
            ],
            2,
        ),
        (&["branch", "delete", "weir://demand/main"], 7),
        (&["repo", "delete", "weir://demand"], 2),
    ];
    for (args, want) in cases {
        let (code, out, err) = e.run(args);
        assert_eq!(code, *want, "weir {args:?}: {err}");
        assert!(out.is_empty(), "weir {args:?} printed {out}");
        assert_eq!(err.lines().count(), 1, "weir {args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(
        tree(&e.lake()).len(),
        before.len(),
        "no files were added to the lake"
    );
    assert_eq!(
        e.json(&["branch", "list", "weir://demand"])["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(!e.dir.path().join("etc").exists());
    // Not a lake: a directory with other files.
    std::fs::create_dir_all(e.dir.path().join("other")).unwrap();
    e.write("other/file", "x");
    let (code, _, err) = e.run(&["--lake", "other", "init"]);
    assert_eq!(code, 8, "{err}");
    let (code, _, _) = e.run(&["--lake", "other", "repo", "list"]);
    assert_eq!(code, 8);
}

#[test]
fn verify_exits_1_and_names_the_tampered_object() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "demand"]);
    let f = e.write("a.csv", "a,b\n1,2\n");
    e.ok(&[
        "fs",
        "upload",
        "weir://demand/main/a.csv",
        "--source",
        f.to_str().unwrap(),
    ]);
    e.ok(&["commit", "weir://demand/main", "-m", "a"]);
    let stat = e.json(&["fs", "stat", "weir://demand/main/a.csv"]);
    let addr = stat["physical_address"].as_str().unwrap();
    std::fs::write(e.lake().join("data").join(addr), "a,b\n1,9\n").unwrap();
    let (code, out, _) = e.run(&["verify"]);
    assert_eq!(code, 1);
    assert!(out.contains("BAD") && out.contains(addr), "{out}");
}

#[test]
fn quickstart_runs_twice_and_verifies() {
    let e = Env::new();
    let out = e.ok(&["quickstart"]);
    assert!(out.contains("Merged: main is now at"), "{out}");
    assert!(out.contains("OK:"), "{out}");
    assert!(out.contains("weather        1461 rows"), "{out}");
    assert!(out.contains("| rain    | 641  | 13.5      |"), "{out}");
    assert!(out.contains("1 stage ran"), "{out}");
    assert!(out.contains("14 stages ran"), "{out}");
    // A commit trigger fired the monitoring pipeline on the new month.
    assert!(
        out.contains("trigger monitor (on-commit) on commit"),
        "{out}"
    );
    assert!(out.contains("succeeded\n"), "{out}");
    assert!(out.contains("| data_through | series |"), "{out}");
    // The tour's forecast, back-test winners and drift tables were printed.
    assert!(out.contains("| Construction                 |"), "{out}");
    assert!(out.contains("K-S p_value"), "{out}");
    assert!(out.contains("base_forecast.mean <- panel.y"), "{out}");
    assert!(out.contains("demand.y <- unemployment.count"), "{out}");
    assert!(
        out.contains("unemployment.count <- weir/data/unemployment-across-industries.json.count"),
        "{out}"
    );
    let out = e.ok(&["quickstart"]);
    assert!(
        out.contains("Nothing changed: all 14 stages skipped"),
        "{out}"
    );
    assert!(
        out.contains("Nothing changed: its one stage skipped"),
        "{out}"
    );
    assert!(out.contains("nothing to commit"), "{out}");
    assert!(out.contains("weather       already loaded"), "{out}");
    assert!(out.contains("main already contains everything"), "{out}");
    // The branch is made afresh, and its new commit fires the trigger again.
    assert!(
        out.contains("trigger monitor (on-commit) on commit"),
        "{out}"
    );
    assert_eq!(
        e.ok(&["fs", "cat", "weir://demand/main/curated/airline_yearly.csv"])
            .lines()
            .nth(1),
        Some("1949,1520")
    );
    crate::auth::a_second_tenant_sees_nothing_of_the_first(&e);
    let help = e.ok(&["--help"]);
    for verb in [
        "quickstart",
        "repo",
        "branch",
        "tag",
        "commit",
        "log",
        "diff",
        "merge",
        "fs",
        "verify",
    ] {
        assert!(help.contains(verb), "help lacks {verb}");
    }
}

#[test]
fn ingest_then_query_any_ref_with_sql() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "demand"]);
    let f = e.write("sales.csv", "id,item,qty\n1,apple,10\n2,pear,20\n");
    let r = e.json(&["ingest", f.to_str().unwrap(), "weir://demand/main/sales"]);
    assert_eq!(r["rows"], 2);
    assert_eq!(r["created"], true);
    let first = r["lake_commit"].as_str().unwrap().to_string();
    let g = e.write("more.csv", "id,item,qty\n3,plum,30\n");
    e.ok(&[
        "ingest",
        g.to_str().unwrap(),
        "weir://demand/main/sales",
        "-m",
        "more",
    ]);
    let out = e.ok(&["sql", "SELECT count(*) AS n FROM sales", "--format", "csv"]);
    assert_eq!(out, "n\n3\n");
    let out = e.ok(&[
        "sql",
        &format!("SELECT count(*) AS n FROM demand.\"{}\".sales", &first[..8]),
        "--format",
        "csv",
    ]);
    assert_eq!(out, "n\n2\n");
    let out = e.ok(&[
        "sql",
        "SELECT sum(qty) AS q FROM sales",
        "--ref",
        "main~1",
        "--format",
        "csv",
    ]);
    assert_eq!(out, "q\n30\n");
    let rows: serde_json::Value = serde_json::from_str(&e.ok(&[
        "sql",
        "SELECT version, lake_commit FROM table_history('sales') ORDER BY version",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(rows[0]["lake_commit"], first.as_str());
    // Parquet export round-trips through ingest.
    let pq = e.dir.path().join("out.parquet");
    e.ok(&[
        "sql",
        "SELECT * FROM sales",
        "--format",
        "parquet",
        "--out",
        pq.to_str().unwrap(),
    ]);
    let r = e.json(&["ingest", pq.to_str().unwrap(), "weir://demand/main/copy"]);
    assert_eq!(r["rows"], 3);

    // Bad input: one line, a code, nothing changed.
    let head = e.json(&["log", "weir://demand/main", "--amount", "1"])["results"][0]["id"].clone();
    let bad = e.write("bad.csv", "id,item,qty\n4,fig,many\n");
    let (code, _, err) = e.run(&["ingest", bad.to_str().unwrap(), "weir://demand/main/sales"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("column qty"), "{err}");
    let (code, _, err) = e.run(&["sql", "SELEC 1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("Line: 1, Column: 1") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, _) = e.run(&["ingest", "nope.csv", "weir://demand/main/sales"]);
    assert_eq!(code, 2);
    let (code, _, err) = e.run(&["ingest", f.to_str().unwrap(), "weir://demand/main/a/b"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        e.json(&["log", "weir://demand/main", "--amount", "1"])["results"][0]["id"],
        head
    );
    assert!(
        e.json(&["diff", "weir://demand/main"])["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The session, verb for verb: two branches append to one table,
/// the merge keeps every row (no strategy needed), and a cherry-pick
/// applies one commit of another branch.
#[test]
fn branches_that_both_appended_to_a_table_merge_with_every_row() {
    let e = Env::new();
    e.ok(&["init"]);
    e.ok(&["repo", "create", "weir://rr1"]);
    let t0 = e.write("t0.csv", "id,v\n1,a\n");
    let t1 = e.write("t1.csv", "id,v\n2,b\n");
    let t2 = e.write("t2.csv", "id,v\n3,c\n");
    e.ok(&["ingest", t0.to_str().unwrap(), "weir://rr1/main/t"]);
    e.ok(&[
        "branch",
        "create",
        "weir://rr1/b1",
        "--source",
        "weir://rr1/main",
    ]);
    e.ok(&[
        "ingest",
        t1.to_str().unwrap(),
        "weir://rr1/b1/t",
        "--mode",
        "append",
    ]);
    e.ok(&[
        "ingest",
        t2.to_str().unwrap(),
        "weir://rr1/main/t",
        "--mode",
        "append",
    ]);
    e.ok(&["merge", "weir://rr1/b1", "weir://rr1/main"]);
    assert_eq!(
        e.ok(&["sql", "SELECT id FROM t ORDER BY id", "--format", "csv"]),
        "id\n1\n2\n3\n"
    );
    assert_eq!(
        e.ok(&[
            "sql",
            "SELECT version FROM table_history('t') ORDER BY version",
            "--format",
            "csv"
        ]),
        "version\n0\n1\n2\n"
    );
    let v = e.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");

    // Cherry-pick one commit of another branch.
    e.ok(&[
        "branch",
        "create",
        "weir://rr1/feature",
        "--source",
        "weir://rr1/main",
    ]);
    let f = e.write("note.txt", "hello");
    e.ok(&[
        "fs",
        "upload",
        "weir://rr1/feature/note.txt",
        "--source",
        f.to_str().unwrap(),
    ]);
    e.ok(&["commit", "weir://rr1/feature", "-m", "add a note"]);
    let c = e.json(&[
        "branch",
        "cherry-pick",
        "weir://rr1/main",
        "weir://rr1/feature",
    ]);
    assert_eq!(c["message"], "add a note");
    assert_eq!(e.ok(&["fs", "cat", "weir://rr1/main/note.txt"]), "hello");
}
