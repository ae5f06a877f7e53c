use weir_core::ErrorCode;
use weir_store::DiffScope;
use weir_tables::{IngestFormat, WriteMode, ingest_file, list_tables};

use crate::{count, opts, setup};

#[tokio::test(flavor = "multi_thread")]
async fn csv_ingest_infers_types_and_records_the_source() {
    let t = setup().await;
    let f = t.file(
        "sales.csv",
        "unique_id,ds,y,price\nA,2024-01-01,3,1.5\nA,2024-01-02,5,1.5\nB,2024-01-01,0,2.25\n",
    );
    let sales = t.table("main", "sales");
    let r = ingest_file(&sales, &f, &opts()).await.unwrap();
    assert_eq!(r.rows, 3);
    assert!(r.created);
    assert_eq!(r.version, 0);
    assert_eq!(r.sha256.len(), 64);
    let c = r.commit.unwrap();
    assert_eq!(c.metadata["weir.source.sha256"], r.sha256);
    assert_eq!(c.metadata["weir.table"], "sales");
    assert_eq!(count(&sales).await, 3);
    let table = sales.require().await.unwrap();
    let schema = table.snapshot().unwrap().snapshot().arrow_schema();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    assert_eq!(types, vec!["Utf8", "Date32", "Int64", "Float64"]);
    assert_eq!(list_tables(&t.repo, "main").await.unwrap(), vec!["sales"]);

    // Append, then overwrite.
    let more = t.file("more.csv", "unique_id,ds,y,price\nC,2024-01-03,7,3.0\n");
    ingest_file(&sales, &more, &opts()).await.unwrap();
    assert_eq!(count(&sales).await, 4);
    let mut o = opts();
    o.mode = WriteMode::Overwrite;
    let r = ingest_file(&sales, &more, &o).await.unwrap();
    assert_eq!(r.version, 2);
    assert_eq!(count(&sales).await, 1);
    assert_eq!(count(&t.table("main~1", "sales")).await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_files_name_file_line_and_column_and_change_nothing() {
    let t = setup().await;
    let good = t.file("good.csv", "id,qty\n1,10\n2,20\n");
    let sales = t.table("main", "sales");
    ingest_file(&sales, &good, &opts()).await.unwrap();
    let head = t.repo.branch_head("main").unwrap();

    // A type mismatch far enough in that inference saw only integers.
    let mut text = String::from("id,qty\n");
    for i in 0..100_050 {
        text.push_str(&format!("{i},{i}\n"));
    }
    text.push_str("7,seven\n");
    let bad = t.file("bad.csv", &text);
    let e = ingest_file(&sales, &bad, &opts()).await.unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.code(), ErrorCode::InvalidArgument, "{msg}");
    assert!(msg.contains("bad.csv"), "{msg}");
    assert!(msg.contains("\"qty\""), "{msg}");
    assert!(msg.contains("line 100052"), "{msg}");
    assert_eq!(t.repo.branch_head("main").unwrap(), head);
    assert!(
        t.repo
            .diff_uncommitted("main", &DiffScope::all())
            .await
            .unwrap()
            .is_empty(),
        "nothing staged"
    );
    assert_eq!(count(&sales).await, 2);

    let ragged = t.file("ragged.csv", "id,qty\n1,2\n3,4,5\n");
    let e = ingest_file(&sales, &ragged, &opts()).await.unwrap_err();
    assert!(e.to_string().contains("ragged.csv"), "{e}");
    assert!(
        t.repo
            .diff_uncommitted("main", &DiffScope::all())
            .await
            .unwrap()
            .is_empty()
    );

    let wrong_type = t.file("wrong.csv", "id,qty\n1,1.5\n");
    let e = ingest_file(&sales, &wrong_type, &opts()).await.unwrap_err();
    assert!(e.to_string().contains("column qty"), "{e}");
    let new_col = t.file("newcol.csv", "id,qty,note\n1,2,x\n");
    let e = ingest_file(&sales, &new_col, &opts()).await.unwrap_err();
    assert!(e.to_string().contains("--allow-new-columns"), "{e}");
    let mut o = opts();
    o.allow_new_columns = true;
    ingest_file(&sales, &new_col, &o).await.unwrap();
    assert_eq!(count(&sales).await, 3);

    let e = ingest_file(&sales, &t.dir.path().join("missing.csv"), &opts())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("missing.csv"), "{e}");
    let e = ingest_file(&t.table("main", "x"), &t.file("x.txt", "a"), &opts())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--format"), "{e}");
    t.repo.create_tag("v1", "main").unwrap();
    let e = ingest_file(&t.table("v1", "sales"), &good, &opts())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotAllowed);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_arrays_and_parquet_round_trip() {
    let t = setup().await;
    let json = t.file(
        "u.json",
        r#"[{"series":"Government","year":2000,"count":430},{"series":"Mining","year":2000,"count":19}]"#,
    );
    let u = t.table("main", "unemployment");
    let r = ingest_file(&u, &json, &opts()).await.unwrap();
    assert_eq!(r.rows, 2);
    let nd = t.file(
        "u.ndjson",
        "{\"series\":\"Retail\",\"year\":2001,\"count\":5}\n",
    );
    let mut o = opts();
    o.format = Some(IngestFormat::Json);
    ingest_file(&u, &nd, &o).await.unwrap();
    assert_eq!(count(&u).await, 3);

    // Export the table's own Parquet file and ingest it elsewhere.
    let (items, _) = t
        .repo
        .list_objects("main", "unemployment/", false, None, 100)
        .await
        .unwrap();
    let part = items
        .iter()
        .find(|i| i.path().ends_with(".parquet"))
        .unwrap();
    let (_, bytes) = t.repo.get_object("main", part.path(), None).await.unwrap();
    let pq = t.dir.path().join("part.parquet");
    std::fs::write(&pq, &bytes).unwrap();
    let copy = t.table("main", "copy");
    let r = ingest_file(&copy, &pq, &opts()).await.unwrap();
    assert!(r.rows >= 1);
}
