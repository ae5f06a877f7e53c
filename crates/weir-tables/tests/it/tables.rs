use weir_tables::{delete_where, ingest_file, table_diff, table_history};

use crate::{count, opts, setup};

#[tokio::test(flavor = "multi_thread")]
async fn history_maps_delta_versions_to_lake_commits() {
    let t = setup().await;
    let sales = t.table("main", "sales");
    let a = t.file("a.csv", "id,qty\n1,10\n2,20\n");
    let r0 = ingest_file(&sales, &a, &opts()).await.unwrap();
    let b = t.file("b.csv", "id,qty\n3,30\n");
    let r1 = ingest_file(&sales, &b, &opts()).await.unwrap();
    let mut staged = opts();
    staged.commit = false;
    ingest_file(&sales, &b, &staged).await.unwrap();
    let h = table_history(&sales).await.unwrap();
    assert_eq!(
        h.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1, 0]
    );
    assert_eq!(h[0].lake_commit, None, "version 2 is uncommitted");
    assert_eq!(h[1].lake_commit, r1.lake_commit);
    assert_eq!(h[2].lake_commit, r0.lake_commit);
    assert_eq!(h[2].operation.as_deref(), Some("WRITE"));
    // Committed view: only two versions.
    let h = table_history(&t.table("main@", "sales")).await.unwrap();
    assert_eq!(h.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn row_diff_between_refs_and_delete_where() {
    let t = setup().await;
    let sales = t.table("main", "sales");
    let a = t.file("a.csv", "id,qty\n1,10\n2,20\n3,30\n");
    ingest_file(&sales, &a, &opts()).await.unwrap();
    t.repo.create_branch("fix", "main").unwrap();
    let fix = t.table("fix", "sales");
    let spec = Some(weir_tables::CommitSpec {
        message: "drop id 2".into(),
        committer: "tester".into(),
        metadata: Default::default(),
    });
    let (_, deleted) = delete_where(&fix, "id = 2", &spec).await.unwrap();
    assert_eq!(deleted, 1);
    let b = t.file("b.csv", "id,qty\n4,40\n");
    ingest_file(&fix, &b, &opts()).await.unwrap();
    let (schema, batches) = table_diff(&sales, &fix).await.unwrap();
    assert_eq!(schema.fields().last().unwrap().name(), "diff_type");
    let text = deltalake::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    assert!(text.contains("| 2  | 20  | removed   |"), "{text}");
    assert!(text.contains("| 4  | 40  | added     |"), "{text}");
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2);
    assert_eq!(count(&sales).await, 3);
    assert_eq!(count(&fix).await, 3);
    // Missing table on one side: everything is added.
    t.repo.create_branch("empty", "main~1").unwrap();
    let (_, batches) = table_diff(&t.table("empty", "sales"), &sales)
        .await
        .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
}

/// `table_diff(from, to)` as (rows, the pretty-printed table).
async fn diff_text(from: &weir_tables::TableRef, to: &weir_tables::TableRef) -> (usize, String) {
    let (_, batches) = table_diff(from, to).await.unwrap();
    let text = deltalake::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    (batches.iter().map(|b| b.num_rows()).sum(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn row_diff_counts_copies_and_ignores_rewrites() {
    let t = setup().await;
    let sales = t.table("main", "sales");
    let a = t.file("a.csv", "id,qty\n1,10\n1,10\n2,20\n");
    ingest_file(&sales, &a, &opts()).await.unwrap();
    t.repo.create_branch("dup", "main").unwrap();
    t.repo.create_branch("same", "main").unwrap();
    // One of two identical rows removed: the diff shows one removal (an
    // anti join would show none).
    let mut over = opts();
    over.mode = weir_tables::WriteMode::Overwrite;
    let b = t.file("b.csv", "id,qty\n1,10\n2,20\n");
    ingest_file(&t.table("dup", "sales"), &b, &over)
        .await
        .unwrap();
    let (rows, text) = diff_text(&sales, &t.table("dup", "sales")).await;
    assert_eq!(rows, 1, "{text}");
    assert!(text.contains("| 1  | 10  | removed   |"), "{text}");
    // The same rows rewritten into new files: no row differs.
    let same = t.table("same", "sales");
    ingest_file(&same, &a, &over).await.unwrap();
    assert_eq!(diff_text(&sales, &same).await.0, 0);
    // An append: only the new file is read, and only its rows show.
    let c = t.file("c.csv", "id,qty\n3,30\n1,10\n");
    ingest_file(&same, &c, &opts()).await.unwrap();
    let (rows, text) = diff_text(&sales, &same).await;
    assert_eq!(rows, 2, "{text}");
    assert!(text.contains("| 1  | 10  | added     |"), "{text}");
}
