use std::path::PathBuf;
use std::sync::Arc;

use deltalake::arrow::util::pretty::pretty_format_batches;
use weir_core::ErrorCode;
use weir_jobs::{Manifest, RunOptions, StageStatus, run};
use weir_store::Lake;

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub lake: Arc<Lake>,
}

pub async fn sql(lake: &Arc<Lake>, reference: &str, q: &str) -> String {
    let ctx = weir_sql::session(
        lake.clone(),
        &weir_sql::SqlOptions {
            repo: Some("demand".into()),
            reference: Some(reference.into()),
        },
    )
    .unwrap();
    let batches = ctx.sql(q).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

pub async fn exec(lake: &Arc<Lake>, q: &str, message: &str) {
    sql(lake, "main", q).await;
    let repo = lake.repo("demand").unwrap();
    repo.commit("main", message, "test", Default::default(), false)
        .await
        .unwrap();
}

const MANIFEST: &str = r#"
name = "demo"

[params]
min_qty = 2
label = "all"

[[stage]]
name = "clean"
sql = "clean.sql"
output = "sales_clean"

[[stage.gate]]
name = "no_negative"
query = "SELECT * FROM sales_clean WHERE qty < 0"

[[stage]]
name = "by_item"
sql = "by_item.sql"
output = "item_totals"

[[stage]]
name = "overall"
sql = "overall.sql"
output = "overall"
"#;

pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let lake = Arc::new(Lake::init(&root.join("lake")).unwrap());
    lake.create_repo("demand", "main", None, "test")
        .await
        .unwrap();
    exec(
        &lake,
        "CREATE TABLE sales AS SELECT * FROM (VALUES (1, 'a', 3), (2, 'a', 5), (3, 'b', 1), (4, 'b', 7)) AS t(id, item, qty)",
        "sales",
    )
    .await;
    let p = root.join("pipeline");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("weir.toml"), MANIFEST).unwrap();
    std::fs::write(
        p.join("clean.sql"),
        "-- rows worth keeping\nSELECT id, item, qty FROM sales WHERE qty >= $min_qty",
    )
    .unwrap();
    std::fs::write(
        p.join("by_item.sql"),
        "SELECT item, sum(qty) AS qty FROM sales_clean GROUP BY item ORDER BY item",
    )
    .unwrap();
    std::fs::write(
        p.join("overall.sql"),
        "SELECT count(*) AS n, sum(qty) AS qty, $label AS label FROM sales_clean",
    )
    .unwrap();
    Fixture {
        _dir: dir,
        root,
        lake,
    }
}

pub fn manifest(f: &Fixture) -> Manifest {
    Manifest::load(&f.root.join("pipeline/weir.toml")).unwrap()
}

pub fn opts(params: &[(&str, &str)]) -> RunOptions {
    RunOptions {
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        force: false,
        committer: "test".into(),
        tenant: String::new(),
        cause: None,
        scope: None,
        tracking: None,
    }
}

fn statuses(r: &weir_jobs::RunReport) -> Vec<(&str, StageStatus)> {
    r.stages
        .iter()
        .map(|s| (s.name.as_str(), s.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_merges_its_outputs_and_an_unchanged_rerun_skips_every_stage() {
    let f = fixture().await;
    let m = manifest(&f);
    let r = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "merged", "{:?}", r.failure);
    assert!(r.stages.iter().all(|s| s.status == StageStatus::Succeeded));
    let totals = sql(&f.lake, "main", "SELECT * FROM item_totals ORDER BY item").await;
    assert!(totals.contains("| a    | 8   |"), "{totals}");
    assert!(totals.contains("| b    | 7   |"), "{totals}");
    // The stage commit names the run and pins its inputs.
    let repo = f.lake.repo("demand").unwrap();
    let log = sql(
        &f.lake,
        "main",
        "SELECT message FROM weir_log('main') WHERE message LIKE '%stage clean%'",
    )
    .await;
    assert!(log.contains(&r.run_id), "{log}");
    // The run branch is gone once merged.
    assert!(repo.resolve(&r.run_branch).is_err());
    let head = repo.branch_head("main").unwrap();

    let again = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(again.status, "unchanged");
    assert!(
        again
            .stages
            .iter()
            .all(|s| s.status == StageStatus::Skipped),
        "{:?}",
        statuses(&again)
    );
    assert_eq!(repo.branch_head("main").unwrap(), head);

    // A new parameter value re-runs everything; so does --force.
    let p = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("min_qty", "4")]),
    )
    .await
    .unwrap();
    assert_eq!(p.status, "merged");
    let overall = sql(&f.lake, "main", "SELECT n, qty FROM overall").await;
    assert!(overall.contains("| 2 | 12  |"), "{overall}");

    // Records: one row per stage and one per run, queryable with SQL.
    let ctx = weir_sql::session(f.lake.clone(), &weir_sql::SqlOptions::default()).unwrap();
    let rows = ctx
        .sql("SELECT status, count(*) AS n FROM \"weir-system\".main.runs WHERE stage IS NOT NULL GROUP BY status ORDER BY status")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let rows = pretty_format_batches(&rows).unwrap().to_string();
    assert!(rows.contains("| skipped   | 3 |"), "{rows}");
    assert!(rows.contains("| succeeded | 6 |"), "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_stages_downstream_of_a_change_run_again() {
    let f = fixture().await;
    let m = manifest(&f);
    run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    // Rewrite one stage's SQL: it and its readers run, nothing else does.
    let edited = f.root.join("pipeline/overall.sql");
    std::fs::write(
        &edited,
        "SELECT count(*) AS n, max(qty) AS qty, $label AS label FROM sales_clean",
    )
    .unwrap();
    let r = run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(
        statuses(&r),
        vec![
            ("clean", StageStatus::Skipped),
            ("by_item", StageStatus::Skipped),
            ("overall", StageStatus::Succeeded)
        ]
    );
    // A parameter only one stage uses re-runs that stage alone.
    let r = run(
        f.lake.clone(),
        &manifest(&f),
        "demand",
        "main",
        &opts(&[("label", "x")]),
    )
    .await
    .unwrap();
    assert_eq!(
        statuses(&r),
        vec![
            ("clean", StageStatus::Skipped),
            ("by_item", StageStatus::Skipped),
            ("overall", StageStatus::Succeeded)
        ]
    );
    // New input data: the whole chain runs.
    exec(
        &f.lake,
        "INSERT INTO sales VALUES (5, 'c', 9)",
        "more sales",
    )
    .await;
    let r = run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert!(
        r.stages.iter().all(|s| s.status == StageStatus::Succeeded),
        "{:?}",
        statuses(&r)
    );
    let inputs = &r.stages[0].inputs;
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0].table, "sales");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_gate_leaves_the_target_as_it_was_and_keeps_the_run_branch() {
    let f = fixture().await;
    exec(
        &f.lake,
        "INSERT INTO sales VALUES (9, 'z', -4)",
        "a bad row",
    )
    .await;
    let repo = f.lake.repo("demand").unwrap();
    let head = repo.branch_head("main").unwrap();
    let r = run(
        f.lake.clone(),
        &manifest(&f),
        "demand",
        "main",
        &opts(&[("min_qty", "-10")]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, "failed");
    let (code, msg) = r.failure.clone().unwrap();
    assert_eq!(code, ErrorCode::CheckFailed);
    assert!(
        msg.contains("gate no_negative of stage clean failed"),
        "{msg}"
    );
    assert!(msg.contains(&r.run_branch), "{msg}");
    let rows = r.stages[0].gate_rows.clone().unwrap();
    assert!(rows.contains("-4"), "{rows}");
    // Downstream stages never started; the target did not move.
    assert_eq!(r.stages[1].status, StageStatus::NotRun);
    assert_eq!(repo.branch_head("main").unwrap(), head);
    assert!(weir_tables::list_tables(&repo, "main").await.unwrap() == vec!["sales"]);
    // The failed stage's output is on the kept branch for inspection.
    let kept = sql(
        &f.lake,
        &r.run_branch,
        "SELECT count(*) AS n FROM sales_clean",
    )
    .await;
    assert!(kept.contains("| 5 |"), "{kept}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sql_bad_params_and_bad_manifests_fail_before_anything_changes() {
    let f = fixture().await;
    let repo = f.lake.repo("demand").unwrap();
    let branches = repo.list_branches().unwrap().len();
    let m = manifest(&f);
    let e = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("min_qty", "lots")]),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert!(e.to_string().contains("min_qty must be an integer"), "{e}");
    let e = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("nope", "1")]),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("declares no parameter nope"), "{e}");
    let e = run(f.lake.clone(), &m, "demand", "v9", &opts(&[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound, "{e}");

    // A placeholder the manifest does not declare.
    std::fs::write(f.root.join("pipeline/overall.sql"), "SELECT $missing AS x").unwrap();
    let e = run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("$missing is not a parameter"), "{e}");
    // DDL instead of a query.
    std::fs::write(f.root.join("pipeline/overall.sql"), "DROP TABLE sales").unwrap();
    let e = run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("must be one query"), "{e}");
    // A table nobody has or writes: named before anything runs.
    std::fs::write(
        f.root.join("pipeline/overall.sql"),
        "SELECT * FROM sales_cleen",
    )
    .unwrap();
    let e = run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("stage overall (overall.sql): reads table sales_cleen, which does not exist"),
        "{e}"
    );
    // A cycle.
    std::fs::write(f.root.join("pipeline/clean.sql"), "SELECT * FROM overall").unwrap();
    std::fs::write(
        f.root.join("pipeline/overall.sql"),
        "SELECT * FROM sales_clean",
    )
    .unwrap();
    let e = run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("in a cycle"), "{e}");
    assert_eq!(repo.list_branches().unwrap().len(), branches);

    let bad = f.root.join("pipeline/bad.toml");
    for (text, want) in [
        (
            "name = \"x\"\n[[stage]]\nname = \"a\"\nsql = \"clean.sql\"\noutput = \"t\"\nbogus = 1\n",
            "unknown field `bogus`",
        ),
        (
            "name = \"x\"\n[[stage]]\nname = \"a\"\nsql = \"nope.sql\"\noutput = \"t\"\n",
            "stage a: cannot read SQL file",
        ),
        (
            "name = \"x\"\n[[stage]]\nname = \"a\"\nsql = \"clean.sql\"\noutput = \"t\"\nmode = \"merge\"\n",
            "mode merge needs keys",
        ),
        (
            "name = \"x\"\n[[stage]]\nname = \"a\"\nsql = \"clean.sql\"\noutput = \"t\"\n[[stage]]\nname = \"b\"\nsql = \"clean.sql\"\noutput = \"t\"\n",
            "each table has one writer",
        ),
        (
            "name = \"x\"\n[params]\nwhen = 2024-01-01T10:00:00\n[[stage]]\nname = \"a\"\nsql = \"clean.sql\"\noutput = \"t\"\n",
            "only dates",
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        let e = Manifest::load(&bad).unwrap_err();
        assert!(e.to_string().contains(want), "{e} (wanted {want})");
        assert!(e.to_string().starts_with(&bad.display().to_string()), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_error_fails_the_run_and_merge_mode_replaces_rows_by_key() {
    let f = fixture().await;
    let p = f.root.join("pipeline");
    std::fs::write(
        p.join("weir.toml"),
        r#"
name = "upsert"
[params]
day = 2024-03-01
[[stage]]
name = "latest"
sql = "latest.sql"
output = "latest"
mode = "merge"
keys = ["item"]
"#,
    )
    .unwrap();
    std::fs::write(
        p.join("latest.sql"),
        "SELECT item, max(qty) AS qty, $day AS day FROM sales GROUP BY item",
    )
    .unwrap();
    let m = manifest(&f);
    let r = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "merged", "{:?}", r.failure);
    exec(
        &f.lake,
        "INSERT INTO sales VALUES (5, 'b', 20), (6, 'c', 2)",
        "more",
    )
    .await;
    let r = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("day", "2024-03-02")]),
    )
    .await
    .unwrap();
    assert_eq!(r.status, "merged", "{:?}", r.failure);
    let t = sql(
        &f.lake,
        "main",
        "SELECT item, qty, CAST(day AS VARCHAR) AS day FROM latest ORDER BY item",
    )
    .await;
    for want in [
        "| a    | 5   | 2024-03-02 |",
        "| b    | 20  | 2024-03-02 |",
        "| c    | 2   | 2024-03-02 |",
    ] {
        assert!(t.contains(want), "{t}");
    }

    std::fs::write(
        p.join("latest.sql"),
        "SELECT item, no_such_column FROM sales",
    )
    .unwrap();
    let repo = f.lake.repo("demand").unwrap();
    let head = repo.branch_head("main").unwrap();
    let r = run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "failed");
    let (code, msg) = r.failure.unwrap();
    assert_eq!(code, ErrorCode::InvalidArgument);
    assert!(msg.contains("no_such_column"), "{msg}");
    assert_eq!(repo.branch_head("main").unwrap(), head);
}

#[tokio::test(flavor = "multi_thread")]
async fn reproduce_finds_identical_outputs_and_names_a_nondeterministic_stage() {
    let f = fixture().await;
    let r = run(
        f.lake.clone(),
        &manifest(&f),
        "demand",
        "main",
        &opts(&[("label", "x")]),
    )
    .await
    .unwrap();
    // Later changes to the inputs and the SQL do not matter: the run's own
    // SQL, parameters and pinned commits are used.
    exec(&f.lake, "INSERT INTO sales VALUES (7, 'q', 50)", "later").await;
    std::fs::write(f.root.join("pipeline/clean.sql"), "SELECT 1 AS nothing").unwrap();
    let rep = weir_jobs::reproduce(f.lake.clone(), &r.run_id, "test")
        .await
        .unwrap();
    assert!(rep.identical, "{rep:?}");
    assert_eq!(rep.stages.len(), 3);
    assert!(rep.stages.iter().all(|s| s.branch.is_none()));
    // by_item and overall start together: find them by name.
    let rows = |name: &str| rep.stages.iter().find(|s| s.stage == name).unwrap().rows;
    assert_eq!((rows("by_item"), rows("overall")), (2, 1));

    std::fs::write(
        f.root.join("pipeline/by_item.sql"),
        "SELECT item, sum(qty) + random() AS qty FROM sales_clean GROUP BY item",
    )
    .unwrap();
    std::fs::write(
        f.root.join("pipeline/clean.sql"),
        "SELECT id, item, qty FROM sales WHERE qty >= $min_qty",
    )
    .unwrap();
    let r = run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "merged", "{:?}", r.failure);
    let rep = weir_jobs::reproduce(f.lake.clone(), &r.run_id, "test")
        .await
        .unwrap();
    assert!(!rep.identical);
    let bad: Vec<&str> = rep
        .stages
        .iter()
        .filter(|s| !s.identical)
        .map(|s| s.stage.as_str())
        .collect();
    assert_eq!(bad, vec!["by_item"]);
    let s = rep.stages.iter().find(|s| s.stage == "by_item").unwrap();
    assert_eq!((s.only_original, s.only_reproduced), (3, 3));
    let kept = s.branch.clone().unwrap();
    assert!(f.lake.repo("demand").unwrap().resolve(&kept).is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_at_once_on_one_target_both_finish_or_the_second_fails_cleanly() {
    let f = fixture().await;
    // A table function in FROM is not a table the run must find.
    std::fs::write(
        f.root.join("pipeline/overall.sql"),
        "SELECT (SELECT count(*) FROM weir_log('main')) AS commits, count(*) AS n FROM sales_clean",
    )
    .unwrap();
    let m = manifest(&f);
    let force = RunOptions {
        force: true,
        ..opts(&[])
    };
    let (a, b) = tokio::join!(
        run(f.lake.clone(), &m, "demand", "main", &force),
        run(f.lake.clone(), &m, "demand", "main", &force)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let outcomes = [a.status.as_str(), b.status.as_str()];
    assert!(outcomes.contains(&"merged"), "{outcomes:?}");
    for r in [&a, &b] {
        if r.status == "failed" {
            let (code, msg) = r.failure.clone().unwrap();
            assert_eq!(code, ErrorCode::Conflict, "{msg}");
            assert!(msg.contains("could not be merged"), "{msg}");
        }
    }
    let totals = sql(&f.lake, "main", "SELECT * FROM item_totals ORDER BY item").await;
    assert!(totals.contains("| a    | 8   |"), "{totals}");
    let repo = f.lake.repo("demand").unwrap();
    assert!(
        repo.verify(false, &weir_store::NoProgress)
            .await
            .unwrap()
            .ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stage_reading_through_a_table_function_reruns_when_its_input_changes() {
    // The SQL names no table (table_history takes a name as a string), so
    // only `after` says what it reads: that must still count as an input,
    // or a rerun would keep a stale output.
    let f = fixture().await;
    let dir = f.root.join("tf");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kept.sql"),
        "SELECT * FROM sales WHERE qty >= $min_qty",
    )
    .unwrap();
    std::fs::write(
        dir.join("versions.sql"),
        "SELECT count(*) AS versions FROM table_history('kept')",
    )
    .unwrap();
    std::fs::write(
        dir.join("weir.toml"),
        "name = \"tf\"\n[params]\nmin_qty = 1\n\
         [[stage]]\nname = \"kept\"\nsql = \"kept.sql\"\noutput = \"kept\"\n\
         [[stage]]\nname = \"versions\"\nsql = \"versions.sql\"\noutput = \"versions\"\nafter = [\"kept\"]\n",
    )
    .unwrap();
    let m = Manifest::load(&dir.join("weir.toml")).unwrap();
    let first = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(first.status, "merged", "{:?}", first.failure);
    let v1 = sql(&f.lake, "main", "SELECT versions FROM versions").await;
    let second = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("min_qty", "4")]),
    )
    .await
    .unwrap();
    assert_eq!(
        statuses(&second),
        vec![
            ("kept", StageStatus::Succeeded),
            ("versions", StageStatus::Succeeded)
        ]
    );
    let v2 = sql(&f.lake, "main", "SELECT versions FROM versions").await;
    assert_ne!(v1, v2, "versions must see the new version of kept");
    let pins = &second.stages[1].inputs;
    assert!(pins.iter().any(|p| p.table == "kept"), "{pins:?}");
}

/// A stage that both reads a table and waits for the stage writing it used
/// to pin that table twice; when a stage beside it committed in between,
/// the two pins differed in their commit and an unchanged rerun ran again.
#[test]
fn inputs_pinned_at_different_commits_are_the_same_contents() {
    use weir_jobs::records::{TablePin, input_contents};
    let pin = |table: &str, commit: &str, fingerprint: &str| TablePin {
        repo: "demand".into(),
        reference: "run-1".into(),
        table: table.into(),
        commit: commit.into(),
        version: 0,
        fingerprint: fingerprint.into(),
    };
    let once = [
        pin("panel", "c1", "f1"),
        pin("preflight_report", "c1", "f2"),
    ];
    let twice = [
        pin("preflight_report", "c2", "f2"),
        pin("panel", "c1", "f1"),
        pin("panel", "c2", "f1"),
    ];
    assert_eq!(input_contents(&once), input_contents(&twice));
    let changed = [
        pin("panel", "c1", "f3"),
        pin("preflight_report", "c1", "f2"),
    ];
    assert_ne!(input_contents(&once), input_contents(&changed));
    assert_ne!(input_contents(&once), input_contents(&once[..1]));
}

/// `target.T` reads T as the target had it when the run started, even
/// after a stage of the run rewrote it; a stage reading a `target.T` the
/// target does not have yet is skipped and says why, and a gate is not
/// checked.
#[tokio::test(flavor = "multi_thread")]
async fn target_tables_read_what_the_run_started_from() {
    let f = fixture().await;
    let p = f.root.join("pipeline");
    std::fs::write(
        p.join("weir.toml"),
        r#"
name = "compare"
[params]
min_qty = 2
[[stage]]
name = "clean"
sql = "clean.sql"
output = "sales_clean"
[[stage.gate]]
name = "no_fewer"
query = "SELECT * FROM (SELECT count(*) AS n FROM sales_clean) a, (SELECT count(*) AS n FROM target.sales_clean) b WHERE a.n < b.n"
[[stage]]
name = "changed"
sql = "changed.sql"
output = "changed"
after = ["clean"]
"#,
    )
    .unwrap();
    std::fs::write(
        p.join("changed.sql"),
        "SELECT (SELECT count(*) FROM sales_clean) AS now, (SELECT count(*) FROM target.sales_clean) AS before",
    )
    .unwrap();
    let m = Manifest::load(&p.join("weir.toml")).unwrap();
    let first = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(first.status, "merged", "{:?}", first.failure);
    let changed = first.stages.iter().find(|s| s.name == "changed").unwrap();
    assert_eq!(changed.status, StageStatus::Skipped);
    let why = changed.error.as_deref().unwrap();
    assert!(why.contains("target.sales_clean"), "{why}");

    // Three rows kept before, four now: `target.` still sees three.
    let again = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("min_qty", "0")]),
    )
    .await
    .unwrap();
    assert_eq!(again.status, "merged", "{:?}", again.failure);
    let out = sql(&f.lake, "main", "SELECT now, before FROM changed").await;
    assert!(out.contains("| 4   | 3      |"), "{out}");

    // Fewer rows than the target had: the gate compares and fails.
    let fewer = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("min_qty", "5")]),
    )
    .await
    .unwrap();
    assert_eq!(fewer.status, "failed");
    let (_, message) = fewer.failure.unwrap();
    assert!(message.contains("gate no_fewer"), "{message}");
}

/// `row_number()` is UInt64, which Delta stores as a signed long: a stage
/// appending it appends again on the next run (it used to fail there, the
/// table's column read back as Int64); a value too big for the column is
/// an error, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn an_append_of_unsigned_integers_lands_in_the_signed_column() {
    let f = fixture().await;
    let p = f.root.join("pipeline");
    std::fs::write(
        p.join("weir.toml"),
        "name = \"numbered\"\n[params]\nbig = false\n[[stage]]\nname = \"numbered\"\nsql = \"numbered.sql\"\noutput = \"numbered\"\nmode = \"append\"\n",
    )
    .unwrap();
    std::fs::write(
        p.join("numbered.sql"),
        "SELECT item, CASE WHEN $big THEN CAST(18446744073709551615 AS BIGINT UNSIGNED) \
         ELSE row_number() OVER (ORDER BY id) END AS n FROM sales",
    )
    .unwrap();
    let m = Manifest::load(&p.join("weir.toml")).unwrap();
    let force = RunOptions {
        force: true,
        ..opts(&[])
    };
    for _ in 0..2 {
        let r = run(f.lake.clone(), &m, "demand", "main", &force)
            .await
            .unwrap();
        assert_eq!(r.status, "merged", "{:?}", r.failure);
    }
    let out = sql(
        &f.lake,
        "main",
        "SELECT count(*) AS c, max(n) AS m FROM numbered",
    )
    .await;
    assert!(out.contains("| 8 | 4 |"), "{out}");
    let big = RunOptions {
        force: true,
        ..opts(&[("big", "true")])
    };
    let r = run(f.lake.clone(), &m, "demand", "main", &big)
        .await
        .unwrap();
    assert_eq!(r.status, "failed");
    let out = sql(&f.lake, "main", "SELECT count(*) AS c FROM numbered").await;
    assert!(out.contains("| 8 |"), "{out}");
}
