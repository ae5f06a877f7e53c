//! Tree properties: content-defined ranges make equal contents equal ids,
//! and the cost of a commit or diff follows the change.

use std::collections::BTreeMap;

use weir_store::{DiffMode, DiffScope, Entry};

use crate::{commit, lake, put, repo};

fn entry(i: usize) -> Entry {
    Entry {
        address: format!("shared/data/{i:08}"),
        size: i as u64,
        checksum: [(i % 251) as u8; 32],
        mtime_us: 1_700_000_000_000_000,
        content_type: "application/octet-stream".into(),
        metadata: BTreeMap::new(),
        etag: None,
    }
}

fn ranges_on_disk(t: &crate::TestLake, r: &weir_store::Repo) -> usize {
    let dir = t
        .dir
        .path()
        .join("lake/data")
        .join(&r.record().namespace)
        .join("_weir/ranges");
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn equal_contents_give_equal_trees_whatever_the_history() {
    let t = lake();
    let r = repo(&t, "demand").await;
    let n = 6000;
    let rows: Vec<_> = (0..n)
        .map(|i| (format!("k/{i:06}"), Some(entry(i))))
        .collect();
    r.stage_many("main", &rows).unwrap();
    let a = commit(&r, "main", "all at once").await;

    r.create_branch("other", "main~1").unwrap();
    for chunk in rows.chunks(1000).rev() {
        r.stage_many("other", chunk).unwrap();
        commit(&r, "other", "a chunk").await;
    }
    // An extra object added and removed again.
    put(&r, "other", "zz", "tmp").await;
    commit(&r, "other", "tmp").await;
    r.delete_object("other", "zz").await.unwrap();
    let b = commit(&r, "other", "rm tmp").await;

    let ta = r.resolve(&a).unwrap().commit.metarange;
    let tb = r.resolve(&b).unwrap().commit.metarange;
    assert_eq!(ta, tb, "same entries must give the same tree id");
    let meta = r.metarange(&r.resolve(&a).unwrap().commit).await.unwrap();
    assert_eq!(meta.object_count(), n as u64);
    assert!(meta.ranges.len() > 2, "6000 entries span several ranges");
}

#[tokio::test]
async fn a_small_change_rewrites_few_ranges_and_diff_finds_it() {
    let t = lake();
    let r = repo(&t, "demand").await;
    let rows: Vec<_> = (0..20_000)
        .map(|i| (format!("obj/{i:07}"), Some(entry(i))))
        .collect();
    r.stage_many("main", &rows).unwrap();
    commit(&r, "main", "20k objects").await;
    let before = ranges_on_disk(&t, &r);
    assert!(before >= 5, "{before}");
    r.stage_many("main", &[("obj/0012345".into(), Some(entry(1)))])
        .unwrap();
    commit(&r, "main", "one change").await;
    let written = ranges_on_disk(&t, &r) - before;
    assert!(written <= 2, "one changed object rewrote {written} ranges");
    let d = r
        .diff("main~1", "main", DiffMode::TwoDot, &DiffScope::all())
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].path, "obj/0012345");
    let scoped = r
        .diff(
            "main~1",
            "main",
            DiffMode::TwoDot,
            &DiffScope {
                prefix: "nope/".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(scoped.is_empty());
}

#[tokio::test]
async fn many_tombstones_do_not_hide_live_objects() {
    let t = lake();
    let r = repo(&t, "demand").await;
    let rows: Vec<_> = (0..3000)
        .map(|i| (format!("d/{i:05}"), Some(entry(i))))
        .collect();
    r.stage_many("main", &rows).unwrap();
    commit(&r, "main", "3000").await;
    let dels: Vec<_> = (0..2990).map(|i| (format!("d/{i:05}"), None)).collect();
    r.stage_many("main", &dels).unwrap();
    let (items, more) = r.list_objects("main", "d/", false, None, 5).await.unwrap();
    assert!(more);
    assert_eq!(items[0].path(), "d/02990");
    assert_eq!(items.len(), 5);
    let c = r
        .commit("main", "deletes", "t", Default::default(), false)
        .await
        .unwrap();
    let meta = r.metarange(&c).await.unwrap();
    assert_eq!(meta.object_count(), 10);
}
