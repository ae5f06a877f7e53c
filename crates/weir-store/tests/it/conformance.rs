//! object_store's own conformance suite against a branch of the view, and
//! the put-if-absent race Delta's commit protocol depends on.

use std::sync::Arc;

use object_store::integration::*;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode};

use crate::{lake, repo};

#[tokio::test]
async fn object_store_conformance_on_a_branch() {
    let t = lake();
    let r = repo(&t, "demand").await;
    let store = r.ref_store("main");
    put_get_delete_list(&store).await;
    get_opts(&store).await;
    put_opts(&store, true).await;
    list_uses_directories_correctly(&store).await;
    list_with_delimiter(&store).await;
    rename_and_copy(&store).await;
    copy_if_not_exists(&store).await;
    copy_rename_nonexistent_object(&store).await;
    stream_get(&store).await;
    list_with_offset_exclusivity(&store).await;
    multipart_race_condition(&store, true).await;
    multipart_out_of_order(&store).await;
}

#[tokio::test]
async fn exactly_one_concurrent_create_wins() {
    let t = lake();
    let r = repo(&t, "demand").await;
    let store: Arc<dyn ObjectStore> = Arc::new(r.object_store());
    let path = Path::from("main/t/_delta_log/00000000000000000000.json");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = store.clone();
        let p = path.clone();
        tasks.push(tokio::spawn(async move {
            s.put_opts(&p, format!("writer {i}").into(), PutMode::Create.into())
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => wins += 1,
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn writes_need_a_branch() {
    let t = lake();
    let r = repo(&t, "demand").await;
    r.create_tag("v1", "main").unwrap();
    let store = r.object_store();
    let err = store
        .put(&Path::from("v1/x"), "a".into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a branch"), "{err}");
    let err = store
        .put(&Path::from("main~1/x"), "a".into())
        .await
        .unwrap_err();
    assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
    store.put(&Path::from("main/x"), "a".into()).await.unwrap();
    let got = store.get(&Path::from("main/x")).await.unwrap();
    assert_eq!(got.meta.location, Path::from("main/x"));
    assert_eq!(got.bytes().await.unwrap(), "a");
}
