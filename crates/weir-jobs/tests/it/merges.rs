//! A run merges into a target that moved while it ran, and `reproduce`
//! tells outputs apart by how often a row repeats.

use std::sync::Arc;
use std::time::Duration;

use weir_jobs::{Manifest, run};
use weir_store::Lake;
use weir_tables::{IngestOptions, TableRef, WriteMode, ingest_file};

use crate::runs::{exec, fixture, opts, sql};

fn pipeline(root: &std::path::Path, name: &str, stage_sql: &str, mode: &str) -> Manifest {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("weir.toml"),
        format!(
            "name = \"{name}\"\n\n[[stage]]\nname = \"only\"\nsql = \"only.sql\"\noutput = \"events\"\nmode = \"{mode}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("only.sql"), stage_sql).unwrap();
    Manifest::load(&dir.join("weir.toml")).unwrap()
}

/// Ingests `id,src` rows into `events` on main as soon as the run's
/// branch exists, while the run's stage is still computing.
async fn ingest_during_run(lake: Arc<Lake>, file: std::path::PathBuf) -> String {
    let repo = lake.repo("demand").unwrap();
    for _ in 0..6000 {
        if repo
            .list_branches()
            .unwrap()
            .iter()
            .any(|(b, _)| b.starts_with("run-"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t = TableRef::new(&repo, "main", "events").unwrap();
    let r = ingest_file(
        &t,
        &file,
        &IngestOptions {
            format: None,
            mode: WriteMode::Append,
            allow_new_columns: false,
            commit: true,
            message: Some("ingest during the run".into()),
            committer: "ingest".into(),
            progress: None,
        },
    )
    .await
    .unwrap();
    r.lake_commit.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_ingested_while_a_run_works_survive_its_merge() {
    let f = fixture().await;
    exec(
        &f.lake,
        "CREATE TABLE events AS SELECT * FROM (VALUES (CAST(0 AS BIGINT), 'seed')) AS t(id, src)",
        "events",
    )
    .await;
    let file = f.root.join("during.csv");
    std::fs::write(&file, "id,src\n7,ingest\n8,ingest\n").unwrap();
    // The stage counts a long series, so the ingest lands while it runs;
    // on a machine fast enough to finish first, the series grows.
    let mut n: u64 = 20_000_000;
    for attempt in 0..4 {
        let m = pipeline(
            &f.root,
            &format!("slow{attempt}"),
            &format!(
                "SELECT CAST(count(*) AS BIGINT) AS id, 'run' AS src FROM generate_series(1, {n})"
            ),
            "append",
        );
        let ingest = tokio::spawn(ingest_during_run(f.lake.clone(), file.clone()));
        let r = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
            .await
            .unwrap();
        assert_eq!(r.status, "merged", "{:?}", r.failure);
        let ingested = ingest.await.unwrap();
        let repo = f.lake.repo("demand").unwrap();
        let merge = repo
            .commit_record(r.merge_commit.as_ref().unwrap())
            .unwrap();
        if merge.parents[0] != ingested {
            n *= 3;
            continue; // the run merged before the ingest committed
        }
        let rows = sql(
            &f.lake,
            "main",
            "SELECT concat(sum(CASE WHEN src = 'ingest' THEN 1 ELSE 0 END), '/', \
             sum(CASE WHEN src = 'run' THEN 1 ELSE 0 END)) AS c FROM events",
        )
        .await;
        let want = format!("| {}/{} |", 2 * (attempt + 1), attempt + 1);
        assert!(rows.contains(&want), "{rows} (want {want})");
        let report = repo.verify(false, &weir_store::NoProgress).await.unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        return;
    }
    panic!("the run finished before the ingest every time");
}

#[tokio::test(flavor = "multi_thread")]
async fn reproduce_reports_a_row_that_repeats_more_often() {
    let f = fixture().await;
    // One row per branch of the repository: the run sees main and its run
    // branch; a reproduction made after another branch appears sees one
    // more copy of the same row.
    let m = pipeline(
        &f.root,
        "copies",
        "SELECT 'x' AS v FROM weir_branches()",
        "overwrite",
    );
    let r = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "merged", "{:?}", r.failure);
    let repo = f.lake.repo("demand").unwrap();
    repo.create_branch("another", "main").unwrap();
    let rep = weir_jobs::reproduce(f.lake.clone(), &r.run_id, "test")
        .await
        .unwrap();
    assert!(!rep.identical, "{rep:?}");
    let s = &rep.stages[0];
    assert!(s.schema_matches, "{s:?}");
    assert_eq!((s.only_original, s.only_reproduced), (0, 1), "{s:?}");
}
