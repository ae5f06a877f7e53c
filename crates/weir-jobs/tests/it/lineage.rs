//! Lineage of pipeline runs: events, column lineage from the plan, and
//! graph queries as of a ref.

use weir_lineage::{Direction, Query};

use crate::runs::{exec, fixture, manifest, opts};

fn q(table: &str, column: Option<&str>, dir: Direction, reference: &str) -> Query {
    Query {
        repo: "demand".into(),
        reference: Some(reference.into()),
        table: table.into(),
        column: column.map(str::to_string),
        direction: dir,
        depth: 5,
        tenant: Some("default".into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn column_lineage_follows_the_plan_through_stages() {
    let f = fixture().await;
    let r = weir_jobs::run(f.lake.clone(), &manifest(&f), "demand", "main", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "merged");

    let up = weir_lineage::query(
        &f.lake,
        &q("item_totals", Some("qty"), Direction::Upstream, "main"),
    )
    .await
    .unwrap();
    let edges: Vec<(usize, String, String, String)> = up
        .iter()
        .map(|e| {
            (
                e.depth,
                format!("{}.{}", e.from_name, e.from_column.clone().unwrap()),
                format!("{}.{}", e.to_name, e.to_column.clone().unwrap()),
                e.transformation.clone(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![
            (
                1,
                "sales_clean.qty".into(),
                "item_totals.qty".into(),
                "AGGREGATION".into()
            ),
            (
                2,
                "sales.qty".into(),
                "sales_clean.qty".into(),
                "IDENTITY".into()
            ),
        ]
    );
    // The group key is an identity; a filter column is no column's source.
    let item = weir_lineage::query(
        &f.lake,
        &q("item_totals", Some("item"), Direction::Upstream, "main"),
    )
    .await
    .unwrap();
    assert_eq!(item[0].from_column.as_deref(), Some("item"));
    assert_eq!(item[0].transformation, "IDENTITY");

    let down = weir_lineage::query(&f.lake, &q("sales", None, Direction::Downstream, "main"))
        .await
        .unwrap();
    let mut names: Vec<(usize, &str)> =
        down.iter().map(|e| (e.depth, e.to_name.as_str())).collect();
    names.sort();
    assert_eq!(
        names,
        vec![(1, "sales_clean"), (2, "item_totals"), (2, "overall")]
    );

    // The stored events are OpenLineage RunEvents: START then COMPLETE per
    // stage, with the SQL, schema, version and column lineage facets.
    let events = weir_lineage::load(&f.lake, None).await.unwrap();
    // The run wrote a repository of the default tenant: its events are
    // that tenant's, and no other's.
    assert_eq!(
        weir_lineage::load(&f.lake, Some("default"))
            .await
            .unwrap()
            .len(),
        events.len()
    );
    assert!(
        weir_lineage::load(&f.lake, Some("acme"))
            .await
            .unwrap()
            .is_empty()
    );
    let clean: Vec<serde_json::Value> = events
        .iter()
        .filter(|e| e.job_name == "demo.clean")
        .map(|e| serde_json::from_str(&e.event).unwrap())
        .collect();
    assert_eq!(clean.len(), 2);
    assert_eq!(clean[0]["eventType"], "START");
    let done = &clean[1];
    assert_eq!(done["eventType"], "COMPLETE");
    assert_eq!(
        done["schemaURL"],
        "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    );
    assert_eq!(done["run"]["runId"].as_str().unwrap().len(), 36);
    assert_eq!(done["run"]["facets"]["parent"]["job"]["name"], "demo");
    assert!(
        done["job"]["facets"]["sql"]["query"]
            .as_str()
            .unwrap()
            .contains("$min_qty")
    );
    let out = &done["outputs"][0];
    assert_eq!(out["namespace"], "weir://demand");
    assert_eq!(out["name"], "sales_clean");
    assert_eq!(out["facets"]["version"]["datasetVersion"], "0");
    assert_eq!(out["outputFacets"]["outputStatistics"]["rowCount"], 3);
    let filter = &out["facets"]["columnLineage"]["dataset"];
    assert!(filter.to_string().contains("\"FILTER\""), "{filter}");
    assert_eq!(done["inputs"][0]["name"], "sales");
}

#[tokio::test(flavor = "multi_thread")]
async fn lineage_as_of_a_ref_shows_the_runs_in_its_history_only() {
    let f = fixture().await;
    let m = manifest(&f);
    weir_jobs::run(f.lake.clone(), &m, "demand", "main", &opts(&[]))
        .await
        .unwrap();
    let repo = f.lake.repo("demand").unwrap();
    repo.create_tag("v1", "main").unwrap();
    // On a branch, the pipeline now reads a new table too.
    repo.create_branch("dev", "main").unwrap();
    exec(
        &f.lake,
        "CREATE TABLE returns AS SELECT * FROM (VALUES (1, 'a')) AS t(id, item)",
        "returns",
    )
    .await;
    repo.merge("main", "dev", "test", &Default::default())
        .await
        .unwrap();
    std::fs::write(
        f.root.join("pipeline/by_item.sql"),
        "SELECT c.item, sum(c.qty) AS qty FROM sales_clean c WHERE c.item NOT IN (SELECT item FROM returns) GROUP BY c.item",
    )
    .unwrap();
    let r = weir_jobs::run(f.lake.clone(), &manifest(&f), "demand", "dev", &opts(&[]))
        .await
        .unwrap();
    assert_eq!(r.status, "merged", "{:?}", r.failure);
    let inputs = |reference: &'static str| {
        let lake = f.lake.clone();
        async move {
            let mut v: Vec<String> = weir_lineage::query(
                &lake,
                &q("item_totals", None, Direction::Upstream, reference),
            )
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.depth == 1)
            .map(|e| e.from_name)
            .collect();
            v.sort();
            v
        }
    };
    assert_eq!(inputs("dev").await, vec!["returns", "sales_clean"]);
    assert_eq!(inputs("main").await, vec!["sales_clean"]);
    assert_eq!(inputs("v1").await, vec!["sales_clean"]);
    // Before the first run there was no lineage at all.
    let none = weir_lineage::query(
        &f.lake,
        &q("item_totals", None, Direction::Upstream, "v1~1"),
    )
    .await
    .unwrap();
    assert!(none.is_empty(), "{none:?}");
}
