//! Multipart uploads kept in the metadata store: they outlive the handle
//! (the server) that began them, and no part's bytes are left behind
//! unreachable by a replaced part, a completed upload or an aborted one.

use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStoreExt;
use weir_store::{Entry, Lake, PutOptions, Repo, StoreError};

use crate::{commit, lake, read, repo};

async fn part(repo: &Repo, data: &str) -> Entry {
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(data.to_string()))]);
    repo.write_stream(body, &PutOptions::default(), 1 << 20)
        .await
        .unwrap()
}

async fn exists(repo: &Repo, e: &Entry) -> bool {
    let p = object_store::path::Path::from(e.address.as_str());
    match repo.data_store().head(&p).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn an_upload_outlives_its_handle_and_completes_on_another() {
    let t = lake();
    let first = repo(&t, "uploads").await;
    let meta = [("owner".to_string(), "ops".to_string())].into();
    let u = first
        .begin_upload(
            "main/big.bin",
            "main",
            "big.bin",
            Some("text/plain".into()),
            meta,
        )
        .unwrap();
    assert!(
        first
            .add_part(&u.id, 1, &part(&first, "hello ").await)
            .await
            .unwrap()
    );
    let stale = part(&first, "wrong").await;
    assert!(first.add_part(&u.id, 2, &stale).await.unwrap());
    let good = part(&first, "world").await;
    assert!(first.add_part(&u.id, 2, &good).await.unwrap());
    assert!(
        !exists(&first, &stale).await,
        "a replaced part's bytes are removed"
    );
    drop(first);

    // A new handle on the same lake, as a restarted server opens it.
    let lake = Arc::new(Lake::open(&t.dir.path().join("lake")).unwrap());
    let r = lake.repo("uploads").unwrap();
    assert_eq!(r.upload(&u.id).unwrap().as_ref(), Some(&u));
    let listed: Vec<String> = r
        .uploads("main/", ("", None), 10)
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&u.id));
    assert!(r.uploads("other/", ("", None), 10).unwrap().is_empty());
    assert!(
        r.uploads("", ("main/big.bin", None), 10)
            .unwrap()
            .is_empty()
    );
    let page = r.upload_parts(&u.id, 1, 10).unwrap();
    assert_eq!(page.iter().map(|p| p.0).collect::<Vec<_>>(), [2]);
    assert_eq!(page[0].1.address, good.address);

    // A refused completion changes nothing.
    let taken = r.take_upload(&u.id, &mut |_| false).unwrap();
    assert!(taken.is_none());
    assert_eq!(r.upload_parts(&u.id, 0, 10).unwrap().len(), 2);

    let u = r
        .take_upload(&u.id, &mut |u| u.parts.len() == 2)
        .unwrap()
        .expect("the upload");
    assert!(r.upload(&u.record.id).unwrap().is_none());
    let parts: Vec<Entry> = u.parts.values().cloned().collect();
    let opts = PutOptions {
        content_type: u.record.content_type.clone(),
        metadata: u.record.metadata.clone(),
        cond: None,
    };
    let joined = r.concat_data(&parts, &opts).await.unwrap();
    r.stage_entry("main", &u.record.path, Some(joined), None)
        .await
        .unwrap();
    r.discard_parts(parts.clone()).await;
    commit(&r, "main", "big").await;
    assert_eq!(
        read(&r, "main", "big.bin").await.as_deref(),
        Some("hello world")
    );
    let e = r.stat("main", "big.bin").await.unwrap();
    assert_eq!(e.content_type, "text/plain");
    assert_eq!(e.metadata.get("owner").map(String::as_str), Some("ops"));
    for p in &parts {
        assert!(!exists(&r, p).await, "a joined part's bytes are removed");
    }

    // A part arriving after the upload ended is refused and not kept.
    let late = part(&r, "late").await;
    assert!(!r.add_part(&u.record.id, 3, &late).await.unwrap());
    assert!(!exists(&r, &late).await);
}

#[tokio::test]
async fn uploads_are_listed_in_key_order_by_marker_and_go_with_their_repository() {
    let t = lake();
    let r = repo(&t, "uploads").await;
    let mut ids = Vec::new();
    for key in ["main/b", "main/a", "main/a"] {
        let path = &key[5..];
        ids.push((
            key,
            r.begin_upload(key, "main", path, None, Default::default())
                .unwrap()
                .id,
        ));
    }
    ids.sort();
    let all = r.uploads("", ("", None), 10).unwrap();
    let got: Vec<(&str, String)> = all.iter().map(|u| (u.key.as_str(), u.id.clone())).collect();
    assert_eq!(got, ids);
    // After (key, id); after a key alone skips all of that key's uploads.
    let next = r.uploads("", ("main/a", Some(&ids[0].1)), 10).unwrap();
    assert_eq!(
        next.iter().map(|u| &u.id).collect::<Vec<_>>(),
        [&ids[1].1, &ids[2].1]
    );
    let next = r.uploads("", ("main/a", None), 10).unwrap();
    assert_eq!(next.iter().map(|u| &u.id).collect::<Vec<_>>(), [&ids[2].1]);
    assert_eq!(r.uploads("", ("", None), 1).unwrap().len(), 1);

    // Bad targets are refused before anything is recorded.
    assert!(matches!(
        r.begin_upload("nope/x", "nope", "x", None, Default::default()),
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        r.begin_upload("main/../x", "main", "../x", None, Default::default())
            .is_err()
    );
    assert_eq!(r.uploads("", ("", None), 10).unwrap().len(), 3);

    // Another repository sees none of them, even by id.
    let other = repo(&t, "other").await;
    assert!(other.upload(&ids[0].1).unwrap().is_none());
    assert!(other.uploads("", ("", None), 10).unwrap().is_empty());

    t.lake.delete_repo("uploads", "tester").await.unwrap();
    let again = repo(&t, "uploads").await;
    assert!(again.uploads("", ("", None), 10).unwrap().is_empty());
}
