//! Garbage collection: what retention, staging, uploads and the grace
//! period keep, what goes, and writers running during a collection.

use std::time::Duration;

use object_store::PutPayload;
use weir_store::gc::{GcOptions, GcRules, parse_branch_days};
use weir_store::{NoProgress, PutOptions, StoreError};

use crate::{commit, lake, put, read, repo};

fn run(grace: u64) -> GcOptions {
    GcOptions {
        grace: Duration::from_secs(grace),
        dry_run: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_decides_what_goes_and_the_rest_stays_readable() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "x", "v1").await;
    let c1 = commit(&r, "main", "v1").await;
    put(&r, "main", "x", "v2").await;
    commit(&r, "main", "v2").await;
    r.create_tag("keep", &c1).unwrap();
    r.create_branch("dev", "main").unwrap();
    put(&r, "dev", "y", "dev-old").await;
    commit(&r, "dev", "dev-old").await;
    put(&r, "dev", "y", "dev-new").await;
    commit(&r, "dev", "dev-new").await;
    // Staged, and only staged: kept.
    put(&r, "main", "staged", "s").await;
    // Written but never staged (a write in flight): kept by the grace only.
    let orphan = r
        .write_data(PutPayload::from_static(b"orphan"), &PutOptions::default())
        .await
        .unwrap();
    // An upload in progress: its part is kept.
    let part = r
        .write_data(PutPayload::from_static(b"part"), &PutOptions::default())
        .await
        .unwrap();
    let up = r
        .begin_upload("main/big.bin", "main", "big.bin", None, Default::default())
        .unwrap();
    r.add_part(&up.id, 1, &part).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    r.set_gc_rules(&parse_branch_days(0, &["dev=30".to_string()]).unwrap())
        .unwrap();

    // With a long grace, nothing young goes; the plan deletes nothing.
    let plan = r
        .gc(
            &GcOptions {
                grace: Duration::from_secs(3600),
                dry_run: true,
            },
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(plan.garbage_objects, 0, "{plan:?}");
    let plan = r
        .gc(
            &GcOptions {
                grace: Duration::ZERO,
                dry_run: true,
            },
            &NoProgress,
        )
        .await
        .unwrap();
    // Garbage: nothing on main's second commit or the tag names "v2"'s
    // predecessor... only the never-staged orphan and no version kept by
    // a head, a tag, dev's 30 days, staging or the upload.
    assert_eq!(plan.garbage_objects, 1, "{plan:?}");
    let done = r.gc(&run(0), &NoProgress).await.unwrap();
    assert_eq!(done.deleted_objects, 1, "{done:?}");
    assert!(matches!(
        r.read_entry(&orphan, None).await,
        Err(StoreError::Collected(_) | StoreError::Corrupt(_))
    ));
    assert_eq!(read(&r, "main", "x").await.as_deref(), Some("v2"));
    assert_eq!(read(&r, "keep", "x").await.as_deref(), Some("v1"));
    assert_eq!(read(&r, "dev~1", "y").await.as_deref(), Some("dev-old"));
    assert_eq!(read(&r, "main", "staged").await.as_deref(), Some("s"));
    assert_eq!(r.read_entry(&part, None).await.unwrap().as_ref(), b"part");

    // Without the tag and dev's rule, main's first version goes, and
    // reading it says so.
    r.delete_tag("keep").unwrap();
    r.set_gc_rules(&GcRules {
        default_retention_days: 0,
        branches: Vec::new(),
    })
    .unwrap();
    let done = r.gc(&run(0), &NoProgress).await.unwrap();
    assert_eq!(
        done.deleted_objects, 2,
        "main's v1 and dev's old y: {done:?}"
    );
    let e = read_err(&r, &c1, "x").await;
    assert!(matches!(e, StoreError::Collected(_)), "{e}");
    let rep = r.verify(true, &NoProgress).await.unwrap();
    assert!(rep.ok(), "{:?}", rep.problems);
    assert_eq!(rep.collected, 2);
}

async fn read_err(r: &weir_store::Repo, reference: &str, path: &str) -> StoreError {
    r.get_object(reference, path, None).await.unwrap_err()
}

/// Uploads and commits keep running while collections run; afterwards
/// every head is readable and verify is clean. The grace period (a
/// second here) is what protects a write whose bytes are stored and whose
/// entry is not staged yet; the garbage, older than that, goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_during_a_collection_lose_nothing() {
    let t = lake();
    let r = repo(&t, "demand").await;
    for i in 0..20 {
        put(&r, "main", &format!("old/{i}"), &format!("x{i}")).await;
    }
    commit(&r, "main", "old").await;
    for i in 0..20 {
        put(&r, "main", &format!("old/{i}"), &format!("y{i}")).await;
    }
    commit(&r, "main", "replaced").await;
    r.set_gc_rules(&GcRules {
        default_retention_days: 0,
        branches: Vec::new(),
    })
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writer = {
        let r = r.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                put(&r, "main", &format!("new/{i}"), &format!("{i}")).await;
                if i % 3 == 0 {
                    let _ = r
                        .commit("main", &format!("w{i}"), "w", Default::default(), false)
                        .await;
                }
            }
        })
    };
    let mut deleted = 0;
    for _ in 0..5 {
        deleted += r.gc(&run(1), &NoProgress).await.unwrap().deleted_objects;
    }
    writer.await.unwrap();
    assert_eq!(deleted, 20, "the replaced versions, and nothing else");
    let _ = r
        .commit("main", "rest", "w", Default::default(), false)
        .await;
    for i in 0..60 {
        assert_eq!(
            read(&r, "main", &format!("new/{i}")).await,
            Some(i.to_string())
        );
    }
    for i in 0..20 {
        assert_eq!(
            read(&r, "main", &format!("old/{i}")).await,
            Some(format!("y{i}"))
        );
    }
    let rep = r.verify(true, &NoProgress).await.unwrap();
    assert!(rep.ok(), "{:?}", rep.problems);
}
