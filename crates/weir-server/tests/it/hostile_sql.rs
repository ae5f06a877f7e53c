//! `POST /api/v1/sql` cannot write: statements that write a table, write a
//! file, read outside the lake or change the session are all refused with
//! a 4xx, and afterwards nothing outside the lake exists that did not, and
//! the lake's history, staging and data files are as they were.

use std::collections::BTreeSet;
use std::path::Path;

use axum::http::StatusCode;

use crate::endpoints::{sql, with_forecast};

fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_statements_are_refused_and_change_nothing() {
    let (s, _) = with_forecast().await;
    let outside = tempfile::tempdir().unwrap();
    let out = outside.path().display().to_string();
    std::fs::write(outside.path().join("secret.csv"), "a,b\n1,2\n").unwrap();
    let repo = s.state.lake.repo("shop").unwrap();
    let log_before = repo.log("main", &Default::default()).unwrap().0;
    let lake_files = |p: &Path| -> BTreeSet<String> {
        files_under(p)
            .into_iter()
            // SQLite's shared-memory index changes on any read.
            .filter(|f| !f.ends_with("-shm") && !f.ends_with("-wal"))
            .collect()
    };
    let files_before = lake_files(s.dir.path());

    let hostile = [
        format!("EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{out}/a.csv' STORED AS CSV"),
        "EXPLAIN ANALYZE INSERT INTO shop.main.reconciled SELECT * FROM shop.main.reconciled LIMIT 1".into(),
        "EXPLAIN ANALYZE CREATE TABLE shop.main.t2 AS SELECT 1 AS x".into(),
        "EXPLAIN ANALYZE DELETE FROM shop.main.reconciled".into(),
        "EXPLAIN ANALYZE UPDATE shop.main.reconciled SET mean = 0".into(),
        format!("EXPLAIN COPY (SELECT 1 AS x) TO '{out}/b.csv' STORED AS CSV"),
        "EXPLAIN VERBOSE INSERT INTO shop.main.reconciled SELECT * FROM shop.main.reconciled".into(),
        format!("COPY (SELECT 1 AS x) TO '{out}/c.parquet' STORED AS PARQUET"),
        format!("COPY shop.main.reconciled TO '{out}/d.csv' STORED AS CSV"),
        "INSERT INTO shop.main.reconciled VALUES ('c', DATE '2025-01-01', 1.0, 1.0, 1.0)".into(),
        "CREATE TABLE shop.main.t AS SELECT 1 AS x".into(),
        "DELETE FROM shop.main.reconciled".into(),
        "UPDATE shop.main.reconciled SET mean = 0".into(),
        "DROP TABLE shop.main.reconciled".into(),
        "TRUNCATE shop.main.reconciled".into(),
        "CREATE VIEW v AS SELECT 1 AS x".into(),
        "CREATE SCHEMA shop.evil".into(),
        format!("CREATE EXTERNAL TABLE ext STORED AS CSV LOCATION '{out}/secret.csv'"),
        format!("CREATE EXTERNAL TABLE ext2 (x INT) STORED AS PARQUET LOCATION '{out}/'"),
        "CREATE EXTERNAL TABLE ext3 STORED AS CSV LOCATION '/etc/passwd'".into(),
        format!("SELECT * FROM '{out}/secret.csv'"),
        format!("SELECT * FROM 'file://{out}/secret.csv'"),
        "SET datafusion.execution.target_partitions = 1".into(),
        "SET datafusion.catalog.information_schema = false".into(),
        "START TRANSACTION".into(),
        "PREPARE p AS INSERT INTO shop.main.reconciled SELECT * FROM shop.main.reconciled".into(),
        "WITH x AS (SELECT * FROM shop.main.reconciled) INSERT INTO shop.main.reconciled SELECT * FROM x".into(),
        format!("SELECT 1 AS x; COPY (SELECT 1 AS x) TO '{out}/e.csv' STORED AS CSV"),
        "SELECT 1 AS x; INSERT INTO shop.main.reconciled SELECT * FROM shop.main.reconciled".into(),
        "SELECT * FROM drift_report('INSERT INTO shop.main.reconciled SELECT * FROM shop.main.reconciled', 'SELECT 1 AS x')".into(),
        format!("SELECT * FROM drift_report('COPY (SELECT 1 AS x) TO ''{out}/f.csv'' STORED AS CSV', 'SELECT 1 AS x')"),
        format!("SELECT * FROM drift_report('{out}/secret.csv', 'SELECT 1 AS x')"),
        format!("SELECT * FROM reconcile('COPY (SELECT 1 AS x) TO ''{out}/g.csv''', 'SELECT 1 AS x', 'bu')"),
    ];
    assert!(hostile.len() >= 20);
    for q in &hostile {
        for accept in ["application/json", "application/vnd.apache.arrow.stream"] {
            let (st, b) = sql(&s, accept, q).await;
            assert!(
                st.is_client_error(),
                "{q}: answered {st}: {}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    // Nothing appeared outside the lake; the lake's history, staging and
    // files are as they were; the table holds what it held.
    let mut outside_now: Vec<String> = files_under(outside.path()).into_iter().collect();
    outside_now.sort();
    assert_eq!(outside_now, vec!["secret.csv".to_string()]);
    let log_after = repo.log("main", &Default::default()).unwrap().0;
    assert_eq!(
        log_before.iter().map(|c| &c.id).collect::<Vec<_>>(),
        log_after.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    for (branch, _) in repo.list_branches().unwrap() {
        let staged = repo
            .diff_uncommitted(&branch, &Default::default())
            .await
            .unwrap();
        assert!(staged.is_empty(), "{branch}: {staged:?}");
    }
    assert_eq!(lake_files(s.dir.path()), files_before);
    let (st, b) = sql(
        &s,
        "text/csv",
        "SELECT count(*) AS n FROM shop.main.reconciled",
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(String::from_utf8(b).unwrap(), "n\n3\n");
    // Reads still work, EXPLAIN of a query included.
    let (st, _) = sql(
        &s,
        "application/json",
        "EXPLAIN ANALYZE SELECT count(*) FROM shop.main.reconciled",
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}
