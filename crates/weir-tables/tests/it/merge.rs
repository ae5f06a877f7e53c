//! Merging branches that both changed one Delta table: the source's
//! commits replay on the destination's log when they commute, and the
//! merge fails naming the table and both operations when they do not.
//! With a strategy, a table is taken whole from the winning side. After
//! every merge, `verify` finds the logs and data files in agreement.

use std::collections::BTreeMap;

use weir_store::{MergeOptions, NoProgress, Strategy};
use weir_tables::{CommitSpec, IngestOptions, WriteMode, delete_where, ingest_file, table_history};

use crate::{T, count, opts, setup};

fn overwrite() -> IngestOptions {
    IngestOptions {
        mode: WriteMode::Overwrite,
        ..opts()
    }
}

fn spec(message: &str) -> Option<CommitSpec> {
    Some(CommitSpec {
        message: message.into(),
        committer: "tester".into(),
        metadata: BTreeMap::new(),
    })
}

/// `t` on main with ids 1-3 in one file, and a branch `b1` from it.
async fn base(t: &T) {
    write(t, "main", "1,10\n2,20\n3,30\n", opts()).await;
    t.repo.create_branch("b1", "main").unwrap();
}

/// Writes `csv` (header `id,qty`) to `t` on `branch`, committed.
async fn write(t: &T, branch: &str, csv: &str, opts: IngestOptions) {
    let f = t.file(
        &format!("{branch}-{}.csv", csv.len()),
        &format!("id,qty\n{csv}"),
    );
    ingest_file(&t.table(branch, "t"), &f, &opts).await.unwrap();
}

async fn merge(t: &T, strategy: Strategy) -> weir_store::Result<weir_store::CommitRecord> {
    let opts = MergeOptions {
        strategy,
        ..Default::default()
    };
    t.repo.merge("b1", "main", "tester", &opts).await
}

async fn ids(t: &T, reference: &str) -> Vec<i64> {
    use deltalake::arrow::array::{Array, Int64Array};
    use deltalake::datafusion::prelude::SessionContext;
    let table = t.table(reference, "t").require().await.unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("t", table.table_provider().await.unwrap())
        .unwrap();
    let batches = ctx
        .sql("SELECT CAST(id AS BIGINT) FROM t ORDER BY 1")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in batches {
        let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend((0..a.len()).map(|i| a.value(i)));
    }
    out
}

async fn assert_verified(t: &T) {
    let report = t.repo.verify(false, &NoProgress).await.unwrap();
    assert!(report.ok(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_on_both_sides_keep_every_row_and_both_histories() {
    let t = setup().await;
    base(&t).await;
    write(&t, "b1", "4,40\n", opts()).await;
    write(&t, "main", "5,50\n", opts()).await;
    merge(&t, Strategy::Fail).await.unwrap();
    assert_eq!(ids(&t, "main").await, vec![1, 2, 3, 4, 5]);
    let h = table_history(&t.table("main", "t")).await.unwrap();
    assert_eq!(
        h.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![2, 1, 0]
    );
    assert_verified(&t).await;
    // The replayed version says where it came from.
    let (_, log) = t
        .repo
        .get_object("main", "t/_delta_log/00000000000000000002.json", None)
        .await
        .unwrap();
    let text = String::from_utf8(log.to_vec()).unwrap();
    assert!(text.contains("weirReplayedFrom"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_append_lands_after_an_overwrite_on_either_side() {
    // main overwrites, b1 appends.
    let t = setup().await;
    base(&t).await;
    write(&t, "b1", "4,40\n", opts()).await;
    write(&t, "main", "7,70\n8,80\n", overwrite()).await;
    merge(&t, Strategy::Fail).await.unwrap();
    assert_eq!(ids(&t, "main").await, vec![4, 7, 8]);
    assert_verified(&t).await;

    // b1 overwrites, main appends.
    let t = setup().await;
    base(&t).await;
    write(&t, "b1", "7,70\n", overwrite()).await;
    write(&t, "main", "5,50\n", opts()).await;
    merge(&t, Strategy::Fail).await.unwrap();
    assert_eq!(ids(&t, "main").await, vec![5, 7]);
    assert_verified(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_and_an_append_merge_and_two_rewrites_conflict() {
    let t = setup().await;
    base(&t).await;
    delete_where(&t.table("b1", "t"), "id = 1", &spec("drop 1"))
        .await
        .unwrap();
    write(&t, "main", "5,50\n", opts()).await;
    merge(&t, Strategy::Fail).await.unwrap();
    assert_eq!(ids(&t, "main").await, vec![2, 3, 5]);
    assert_verified(&t).await;

    // Deletes of rows of the same file on both sides.
    let t = setup().await;
    base(&t).await;
    delete_where(&t.table("b1", "t"), "id = 1", &spec("drop 1"))
        .await
        .unwrap();
    delete_where(&t.table("main", "t"), "id = 2", &spec("drop 2"))
        .await
        .unwrap();
    let head = t.repo.branch_head("main").unwrap();
    let err = merge(&t, Strategy::Fail).await.unwrap_err().to_string();
    assert!(err.contains("table t"), "{err}");
    assert!(
        err.contains("DELETE on b1") && err.contains("DELETE on main"),
        "{err}"
    );
    assert_eq!(t.repo.branch_head("main").unwrap(), head, "nothing merged");
    // A strategy takes one side's table whole, log and files together.
    merge(&t, Strategy::SourceWins).await.unwrap();
    assert_eq!(ids(&t, "main").await, vec![2, 3]);
    assert_verified(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dest_wins_keeps_the_destination_table_whole() {
    let t = setup().await;
    base(&t).await;
    write(&t, "b1", "9,90\n", overwrite()).await;
    write(&t, "main", "8,80\n", overwrite()).await;
    assert!(merge(&t, Strategy::Fail).await.is_err());
    merge(&t, Strategy::DestWins).await.unwrap();
    assert_eq!(ids(&t, "main").await, vec![8]);
    assert_verified(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_column_on_one_side_merges_and_a_replaced_schema_does_not() {
    let t = setup().await;
    base(&t).await;
    let wide = IngestOptions {
        allow_new_columns: true,
        ..opts()
    };
    let b = t.file("t1.csv", "id,qty,note\n4,40,new\n");
    ingest_file(&t.table("b1", "t"), &b, &wide).await.unwrap();
    write(&t, "main", "5,50\n", opts()).await;
    merge(&t, Strategy::Fail).await.unwrap();
    assert_eq!(ids(&t, "main").await, vec![1, 2, 3, 4, 5]);
    assert_verified(&t).await;

    // A schema replaced on b1 (id becomes text) while main wrote rows with
    // the old one.
    let t = setup().await;
    base(&t).await;
    overwrite_with_id_as_text(&t, "b1").await.unwrap();
    write(&t, "main", "5,50\n", opts()).await;
    let err = merge(&t, Strategy::Fail).await.unwrap_err().to_string();
    assert!(err.contains("changed its schema"), "{err}");
}

/// Overwrites `t` on `branch` with a different schema (`id` as text), as a
/// pipeline stage whose SQL now selects other types does.
async fn overwrite_with_id_as_text(t: &T, branch: &str) -> weir_tables::Result<()> {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int64Array, RecordBatch, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("qty", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(Int64Array::from(vec![1])),
        ],
    )
    .unwrap();
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(vec![Ok(batch)]),
    ));
    weir_tables::write_stream(
        &t.table(branch, "t"),
        stream,
        &weir_tables::WriteOptions {
            mode: WriteMode::Overwrite,
            allow_new_columns: false,
            replace_schema: true,
            commit: spec("retype id"),
            properties: Vec::new(),
        },
    )
    .await
    .map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn compactions_of_the_same_files_on_both_sides_conflict() {
    let t = setup().await;
    write(&t, "main", "1,10\n", opts()).await;
    write(&t, "main", "2,20\n", opts()).await;
    t.repo.create_branch("b1", "main").unwrap();
    for branch in ["b1", "main"] {
        let table = t.table(branch, "t").require().await.unwrap();
        let (_, metrics) = table.optimize().await.unwrap();
        assert_eq!(metrics.num_files_removed, 2, "{branch}");
        t.repo
            .commit(branch, "compact", "tester", BTreeMap::new(), false)
            .await
            .unwrap();
    }
    let err = merge(&t, Strategy::Fail).await.unwrap_err().to_string();
    assert!(err.contains("rewrote the data file"), "{err}");
    assert!(err.contains("OPTIMIZE on b1"), "{err}");
    assert_eq!(count(&t.table("main", "t")).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_the_rows_a_merge_by_object_lost() {
    let t = setup().await;
    base(&t).await;
    write(&t, "b1", "4,40\n", opts()).await;
    write(&t, "main", "5,50\n", opts()).await;
    // What a merge by object did: b1's log version 1 over main's, main's
    // data file left behind.
    let log = "t/_delta_log/00000000000000000001.json";
    let theirs = t.repo.stat("b1", log).await.unwrap();
    t.repo
        .stage_entry("main", log, Some(theirs), None)
        .await
        .unwrap();
    let data: Vec<String> = t
        .repo
        .list_objects("b1", "t/", false, None, 1000)
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|i| i.path().to_string())
        .filter(|p| p.ends_with(".parquet"))
        .collect();
    for p in data {
        let e = t.repo.stat("b1", &p).await.unwrap();
        t.repo.stage_entry("main", &p, Some(e), None).await.unwrap();
    }
    t.repo
        .commit("main", "lose a row", "tester", BTreeMap::new(), false)
        .await
        .unwrap();
    let report = t.repo.verify(false, &NoProgress).await.unwrap();
    let orphan = report
        .problems
        .iter()
        .find(|p| p.contains("named by no version"))
        .unwrap_or_else(|| panic!("{:?}", report.problems));
    assert!(orphan.contains("table t at main"), "{orphan}");
}

/// A data file no log ever named (a writer killed between its data file
/// and its log entry, then committed by the next writer) added no rows:
/// verify does not call it lost.
#[tokio::test(flavor = "multi_thread")]
async fn verify_passes_a_data_file_no_log_ever_named() {
    let t = setup().await;
    base(&t).await;
    t.repo
        .put_object(
            "main",
            "t/part-00000-killed-c000.snappy.parquet",
            object_store::PutPayload::from_static(b"PAR1 written, never logged"),
            &Default::default(),
        )
        .await
        .unwrap();
    t.repo
        .commit("main", "after a kill", "tester", BTreeMap::new(), false)
        .await
        .unwrap();
    let report = t.repo.verify(false, &NoProgress).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
