//! deltalake and DataFusion run unchanged on the store's view: a table written on
//! a branch, committed, read at a tag and at an older commit.

use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::{Int64Array, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::protocol::SaveMode;
use weir_tables::TableRef;

use crate::setup;

/// A deltalake handle on the repository view, straight from deltalake's
/// own API (only the `weir://` log-store registration is weir's).
fn table(r: &weir_store::Repo, reference: &str) -> DeltaTable {
    TableRef::new(r, reference, "sales")
        .unwrap()
        .builder_with(Arc::new(r.object_store()))
        .unwrap()
}

async fn count(t: DeltaTable) -> i64 {
    crate::count_table(t).await
}

async fn commit(r: &weir_store::Repo, branch: &str, msg: &str) -> String {
    r.commit(branch, msg, "tester", Default::default(), false)
        .await
        .unwrap()
        .id
}

fn batch(ids: &[i64], items: &[&str]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("item", DataType::Utf8, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(items.to_vec())),
        ],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn delta_tables_live_on_branches_and_travel_in_time() {
    let t = setup().await;
    let r = t.repo.clone();
    let v0 = table(&r, "main")
        .write(vec![batch(&[1, 2], &["a", "b"])])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();
    assert_eq!(v0.version(), Some(0));
    commit(&r, "main", "create sales").await;
    r.create_tag("v1.0", "main").unwrap();

    r.create_branch("dev", "main").unwrap();
    let mut dev = table(&r, "dev");
    dev.load().await.unwrap();
    let dev = dev
        .write(vec![batch(&[3], &["c"])])
        .with_save_mode(SaveMode::Append)
        .await
        .unwrap();
    assert_eq!(dev.version(), Some(1));
    commit(&r, "dev", "append to sales").await;

    let mut main = table(&r, "main");
    main.load().await.unwrap();
    assert_eq!(count(main).await, 2, "main does not see dev's append");
    let mut devt = table(&r, "dev");
    devt.load().await.unwrap();
    assert_eq!(count(devt).await, 3);
    let mut tagged = table(&r, "v1.0");
    tagged.load().await.unwrap();
    assert_eq!(tagged.version(), Some(0));

    r.merge("dev", "main", "t", &Default::default())
        .await
        .unwrap();
    let mut main = table(&r, "main");
    main.load().await.unwrap();
    assert_eq!(main.version(), Some(1));
    assert_eq!(count(main).await, 3);
    let mut old = table(&r, "main~1");
    old.load().await.unwrap();
    assert_eq!(
        count(old).await,
        2,
        "the first parent still has the old table"
    );

    // Writing through a tag is refused and leaves the tag's table intact.
    let mut tagged = table(&r, "v1.0");
    tagged.load().await.unwrap();
    let err = tagged
        .write(vec![batch(&[9], &["z"])])
        .with_save_mode(SaveMode::Append)
        .await;
    assert!(err.is_err());
    let mut tagged = table(&r, "v1.0");
    tagged.load().await.unwrap();
    assert_eq!(count(tagged).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_delta_writers_on_one_branch_serialize() {
    let t = setup().await;
    let r = t.repo.clone();
    table(&r, "main")
        .write(vec![batch(&[0], &["seed"])])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 1..=4i64 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = table(&r, "main");
            t.load().await.unwrap();
            t.write(vec![batch(&[i], &["w"])])
                .with_save_mode(SaveMode::Append)
                .await
                .map(|t| t.version())
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().unwrap().unwrap());
    }
    versions.sort();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    let mut t2 = table(&r, "main");
    t2.load().await.unwrap();
    assert_eq!(count(t2).await, 5);
}
