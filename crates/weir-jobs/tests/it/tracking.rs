//! Each pipeline run is an MLflow run in the tenant's tracking store,
//! linked both ways, with what `[mlflow]` declares.

use std::sync::Arc;

use weir_jobs::{Manifest, run};
use weir_tracking::Store;

use crate::runs::{Fixture, fixture, opts, sql};

async fn tracked(f: &Fixture) -> Manifest {
    let p = f.root.join("pipeline");
    std::fs::write(
        p.join("metrics.sql"),
        "SELECT 'qty' AS key, CAST(sum(qty) AS DOUBLE) AS value FROM sales_clean",
    )
    .unwrap();
    std::fs::write(
        p.join("children.sql"),
        "SELECT item AS run_name, item AS param_item, CAST(qty AS DOUBLE) AS qty FROM item_totals",
    )
    .unwrap();
    let mut m = std::fs::read_to_string(p.join("weir.toml")).unwrap();
    m.push_str(
        "\n[mlflow]\nexperiment = \"demo-exp\"\nmetrics = \"metrics.sql\"\nchildren = \"children.sql\"\nartifacts = [\"item_totals\"]\n",
    );
    std::fs::write(p.join("weir.toml"), m).unwrap();
    Manifest::load(&p.join("weir.toml")).unwrap()
}

async fn state_of(lake: &Arc<weir_store::Lake>) -> Store {
    Store::load(lake.clone(), "default", None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_an_mlflow_run_linked_both_ways() {
    let f = fixture().await;
    let m = tracked(&f).await;
    let r = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("min_qty", "3")]),
    )
    .await
    .unwrap();
    assert!(r.records_error.is_none(), "{:?}", r.records_error);
    let id = r.mlflow_run.clone().unwrap();
    let store = state_of(&f.lake).await;
    store.read(|s| {
        let e = s.experiment_by_name("demo-exp").unwrap();
        let (info, run) = s.run(&id).unwrap();
        assert_eq!(info.experiment_id, e.experiment_id);
        assert_eq!(
            (info.status.as_str(), info.run_name.as_str()),
            ("FINISHED", r.run_id.as_str())
        );
        assert_eq!(run.params["min_qty"], "3");
        assert_eq!(run.params["label"], "all");
        assert_eq!(run.tags["weir.run_id"], r.run_id);
        assert_eq!(Some(&run.tags["weir.commit"]), r.merge_commit.as_ref());
        assert_eq!(run.tags["weir.stage.clean"], "succeeded");
        assert_eq!(run.tags["weir.gate.clean.no_negative"], "passed");
        // 3 + 5 + 7: the declared metric, at the merge commit.
        assert_eq!(run.latest["qty"].value, 15.0);
        assert!(run.latest.contains_key("stage.clean.seconds"));
        let names: Vec<(&str, &str)> = run
            .inputs
            .iter()
            .map(|d| {
                (
                    d["dataset"]["name"].as_str().unwrap(),
                    d["tags"][0]["value"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(names.contains(&("sales", "input")), "{names:?}");
        assert!(names.contains(&("sales_clean", "output")), "{names:?}");
        // One child run per item, under this run.
        let mut children: Vec<(String, f64)> = s
            .runs
            .values()
            .filter(|c| c.tags.get("mlflow.parentRunId") == Some(&id))
            .map(|c| (c.params["item"].clone(), c.latest["qty"].value))
            .collect();
        children.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            children,
            vec![("a".to_string(), 8.0), ("b".to_string(), 7.0)]
        );
    });
    // No server serves the store: the run flushed it to the tables itself.
    let runs = sql(
        &f.lake,
        "main",
        "SELECT count(*) AS n FROM mlflow.main.runs",
    )
    .await;
    assert!(runs.contains("| 3 "), "{runs}");
    let exp = store.read(|s| s.run(&id).unwrap().0.experiment_id.clone());
    let (_, csv) = f
        .lake
        .repo("mlflow")
        .unwrap()
        .get_object(
            "main",
            &format!("artifacts/{exp}/{id}/artifacts/tables/item_totals.csv"),
            None,
        )
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&csv).starts_with("item,qty\n"),
        "{csv:?}"
    );
    // The run's record names its MLflow run.
    let rec = sql(
        &f.lake,
        "main",
        &format!(
            "SELECT mlflow_run_id FROM weir_runs() WHERE run_id = '{}' AND status = 'merged'",
            r.run_id
        ),
    )
    .await;
    assert!(rec.contains(&id), "{rec}");

    // `track = false`: the next run is no MLflow run.
    let p = f.root.join("pipeline/weir.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("[mlflow]\n", "[mlflow]\ntrack = false\n");
    std::fs::write(&p, text).unwrap();
    let m = Manifest::load(&p).unwrap();
    let again = run(
        f.lake.clone(),
        &m,
        "demand",
        "main",
        &opts(&[("min_qty", "1")]),
    )
    .await
    .unwrap();
    assert!(again.mlflow_run.is_none());
    assert_eq!(state_of(&f.lake).await.read(|s| s.runs.len()), 3);
}

/// While another process serves the store, a run only journals its MLflow
/// run; that process takes it in and writes it at its next flush.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_beside_a_server_hands_its_mlflow_run_over() {
    let f = fixture().await;
    let m = tracked(&f).await;
    let meta = f.lake.meta_store();
    let until = chrono::Utc::now().timestamp_millis() + 60_000;
    meta.put_setting("mlflow", "mlflow/owner", &format!("elsewhere:1|{until}"))
        .unwrap();
    let r = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert!(r.records_error.is_none(), "{:?}", r.records_error);
    assert_eq!(
        meta.list_settings("mlflow", "mlflow/journal/")
            .unwrap()
            .len(),
        1
    );
    // Nothing in the tables yet: the serving process writes them.
    let repo = f.lake.repo("mlflow").unwrap();
    assert!(
        weir_tables::list_tables(&repo, "main")
            .await
            .unwrap()
            .is_empty()
    );
    // The serving process (its lease is over): it takes the row in.
    meta.put_setting("mlflow", "mlflow/owner", "elsewhere:1|0")
        .unwrap();
    let server = weir_tracking::Stores::new(f.lake.clone());
    server.store("default").await.unwrap();
    assert_eq!(server.flush_all().await.unwrap(), 1);
    assert!(
        meta.list_settings("mlflow", "mlflow/journal/")
            .unwrap()
            .is_empty()
    );
    let runs = sql(
        &f.lake,
        "main",
        "SELECT count(*) AS n FROM mlflow.main.runs",
    )
    .await;
    assert!(runs.contains("| 3 "), "{runs}");
    let id = r.mlflow_run.unwrap();
    assert!(state_of(&f.lake).await.read(|s| s.run(&id).is_some()));
}

/// A typo in `[mlflow]` SQL fails the run before it starts, and changes
/// nothing; a query that fails only at the merge commit loses its own part,
/// not the run's MLflow run.
#[tokio::test(flavor = "multi_thread")]
async fn bad_mlflow_sql_fails_early_or_loses_only_its_part() {
    let f = fixture().await;
    let p = f.root.join("pipeline");
    let base = std::fs::read_to_string(p.join("weir.toml")).unwrap();
    std::fs::write(p.join("m.sql"), "SELEC 'x' AS key, 1.0 AS value").unwrap();
    std::fs::write(
        p.join("weir.toml"),
        format!("{base}\n[mlflow]\nmetrics = \"m.sql\"\n"),
    )
    .unwrap();
    let m = Manifest::load(&p.join("weir.toml")).unwrap();
    let e = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("[mlflow] metrics"), "{e}");
    assert!(f.lake.repo("mlflow").is_err());

    std::fs::write(
        p.join("m.sql"),
        "SELECT 'x' AS key, 1.0 AS value FROM no_such_table",
    )
    .unwrap();
    let m = Manifest::load(&p.join("weir.toml")).unwrap();
    let r = run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "merged");
    assert!(
        r.records_error
            .as_deref()
            .is_some_and(|e| e.contains("no_such_table")),
        "{:?}",
        r.records_error
    );
    let id = r.mlflow_run.unwrap();
    assert!(state_of(&f.lake).await.read(|s| s.run(&id).is_some()));
}
