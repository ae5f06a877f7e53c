use weir_core::ErrorCode;
use weir_store::{DiffKind, DiffMode, DiffScope, ListItem, LogOptions, RefKind, StoreError};

use crate::{commit, lake, put, read, repo};

#[tokio::test]
async fn repository_starts_with_main_and_an_initial_commit() {
    let t = lake();
    let r = repo(&t, "demand").await;
    let res = r.resolve("main").unwrap();
    assert_eq!(res.kind, RefKind::Branch);
    assert!(res.commit.parents.is_empty());
    assert_eq!(res.commit.generation, 1);
    assert_eq!(res.commit.id.len(), 64);
    let again = t.lake.create_repo("demand", "main", None, "x").await;
    assert_eq!(again.err().unwrap().code(), ErrorCode::AlreadyExists);
    for bad in ["De", "a_b", "-x"] {
        let e = t
            .lake
            .create_repo(bad, "main", None, "x")
            .await
            .err()
            .unwrap();
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{bad}");
    }
    assert_eq!(t.lake.list_repos().unwrap().len(), 1);
}

#[tokio::test]
async fn reads_see_changes_made_through_another_handle_at_once() {
    // A second handle has its own SQLite connections, as another process
    // (a CLI beside `weir serve`) does: the first handle's cached heads,
    // staged rows and repository records must not hide its writes.
    let t = lake();
    let r = repo(&t, "demand").await;
    let other = std::sync::Arc::new(weir_store::Lake::open(&t.dir.path().join("lake")).unwrap());
    let o = other.repo("demand").unwrap();
    for i in 0..40 {
        let v = i.to_string();
        put(&o, "main", "a.csv", &v).await;
        assert_eq!(read(&r, "main", "a.csv").await.as_deref(), Some(v.as_str()));
        assert_eq!(read(&r, "main", "a.csv").await.as_deref(), Some(v.as_str()));
        if i % 10 == 9 {
            let c = commit(&o, "main", &v).await;
            assert_eq!(r.resolve("main").unwrap().commit.id, c);
            assert_eq!(
                read(&r, "main@", "a.csv").await.as_deref(),
                Some(v.as_str())
            );
        }
    }
    o.create_branch("dev", "main").unwrap();
    assert!(r.resolve("dev").is_ok());
    other.delete_repo("demand", "x").await.unwrap();
    let e = t.lake.repo("demand").err().unwrap();
    assert_eq!(e.code(), ErrorCode::NotFound);
    // Recreated under the same name: the new record, not a remembered one.
    let again = other
        .create_repo("demand", "main", None, "x")
        .await
        .unwrap();
    let seen = t.lake.repo("demand").unwrap();
    assert_eq!(seen.record().namespace, again.record().namespace);
}

#[tokio::test]
async fn staged_writes_are_visible_on_the_branch_only_until_committed() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "a.csv", "1").await;
    assert_eq!(read(&r, "main", "a.csv").await.as_deref(), Some("1"));
    assert_eq!(
        read(&r, "main@", "a.csv").await,
        None,
        "main@ skips staging"
    );
    let c1 = commit(&r, "main", "add a").await;
    assert_eq!(read(&r, "main@", "a.csv").await.as_deref(), Some("1"));
    assert_eq!(read(&r, &c1, "a.csv").await.as_deref(), Some("1"));
    assert_eq!(read(&r, &c1[..10], "a.csv").await.as_deref(), Some("1"));
    assert_eq!(read(&r, "main~1", "a.csv").await, None);
    put(&r, "main", "a.csv", "2").await;
    r.delete_object("main", "a.csv").await.unwrap();
    assert_eq!(read(&r, "main", "a.csv").await, None);
    assert_eq!(read(&r, "main@", "a.csv").await.as_deref(), Some("1"));
    let d = r.diff_uncommitted("main", &DiffScope::all()).await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DiffKind::Removed);
    assert_eq!(r.reset_branch("main", "").unwrap(), 1);
    assert_eq!(read(&r, "main", "a.csv").await.as_deref(), Some("1"));
    let e = r
        .commit("main", "nothing", "t", Default::default(), false)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NoChanges(_)), "{e}");
}

#[tokio::test]
async fn rewriting_identical_bytes_is_not_a_change() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "a", "same").await;
    let c = commit(&r, "main", "one").await;
    put(&r, "main", "a", "same").await;
    assert!(matches!(
        r.commit("main", "again", "t", Default::default(), false)
            .await,
        Err(StoreError::NoChanges(_))
    ));
    assert_eq!(r.branch_head("main").unwrap(), c);
    assert_eq!(
        r.diff_uncommitted("main", &DiffScope::all())
            .await
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn ref_expressions_tags_and_log_paging() {
    let t = lake();
    let r = repo(&t, "demand").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        put(&r, "main", &format!("f{i}"), &i.to_string()).await;
        ids.push(commit(&r, "main", &format!("c{i}")).await);
    }
    assert_eq!(r.resolve("main~2").unwrap().commit.id, ids[2]);
    assert_eq!(r.resolve("main^").unwrap().commit.id, ids[3]);
    assert_eq!(r.resolve("main~1^1").unwrap().commit.id, ids[2]);
    assert!(r.resolve("main~99").is_err());
    r.create_tag("v1.0", "main~1").unwrap();
    assert_eq!(r.resolve("v1.0").unwrap().commit.id, ids[3]);
    assert_eq!(r.resolve("v1.0").unwrap().kind, RefKind::Tag);
    assert_eq!(
        r.create_tag("v1.0", "main").unwrap_err().code(),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        r.create_tag("main", "main").unwrap_err().code(),
        ErrorCode::AlreadyExists
    );
    assert_eq!(r.list_tags().unwrap().len(), 1);
    // Writes need a branch.
    assert!(r.ref_store("v1.0").to_string().contains("v1.0"));
    r.delete_tag("v1.0").unwrap();
    assert_eq!(
        r.delete_tag("v1.0").unwrap_err().code(),
        ErrorCode::NotFound
    );

    let page = |after: Option<String>| LogOptions {
        first_parent: false,
        after,
        amount: 2,
    };
    let (p1, more) = r.log("main", &page(None)).unwrap();
    assert!(more);
    assert_eq!(
        p1.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![ids[4].clone(), ids[3].clone()]
    );
    let (p2, _) = r.log("main", &page(Some(p1[1].id.clone()))).unwrap();
    assert_eq!(p2[0].id, ids[2]);
    let (all, more) = r
        .log(
            "main",
            &LogOptions {
                amount: 100,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(!more);
    assert_eq!(all.len(), 6, "5 commits and the initial one");
}

#[tokio::test]
async fn branches_are_independent_and_protected() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "x", "main").await;
    commit(&r, "main", "x").await;
    r.create_branch("dev", "main").unwrap();
    put(&r, "dev", "x", "dev").await;
    assert_eq!(read(&r, "main", "x").await.as_deref(), Some("main"));
    assert_eq!(read(&r, "dev", "x").await.as_deref(), Some("dev"));
    assert_eq!(
        r.create_branch("dev", "main").unwrap_err().code(),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        r.create_branch("bad name", "main").unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        r.create_branch("new", "nope").unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        r.delete_branch("main").unwrap_err().code(),
        ErrorCode::NotAllowed
    );
    r.delete_branch("dev").unwrap();
    assert_eq!(read(&r, "main", "x").await.as_deref(), Some("main"));
    assert_eq!(r.resolve("dev").unwrap_err().code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn bad_paths_are_rejected_and_change_nothing() {
    let t = lake();
    let r = repo(&t, "demand").await;
    for bad in ["../escape", "/etc/passwd", "a//b", "a/./b", ""] {
        let e = r
            .put_object("main", bad, vec![1u8].into(), &Default::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{bad:?}");
    }
    assert_eq!(
        r.diff_uncommitted("main", &DiffScope::all())
            .await
            .unwrap()
            .len(),
        0
    );
    let e = r
        .put_object("nobranch", "a", vec![1u8].into(), &Default::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn listing_with_delimiter_prefix_and_pagination() {
    let t = lake();
    let r = repo(&t, "demand").await;
    for p in ["a/1", "a/2", "a/b/3", "b/4", "c", "a-x"] {
        put(&r, "main", p, p).await;
    }
    commit(&r, "main", "files").await;
    r.delete_object("main", "a/2").await.unwrap();
    put(&r, "main", "a/0", "new").await;
    let (items, more) = r.list_objects("main", "a/", true, None, 100).await.unwrap();
    assert!(!more);
    let names: Vec<_> = items.iter().map(|i| i.path().to_string()).collect();
    assert_eq!(names, vec!["a/0", "a/1", "a/b/"]);
    assert!(matches!(items[2], ListItem::CommonPrefix { .. }));
    let (top, _) = r.list_objects("main", "", true, None, 100).await.unwrap();
    let names: Vec<_> = top.iter().map(|i| i.path().to_string()).collect();
    assert_eq!(names, vec!["a-x", "a/", "b/", "c"]);
    let (p1, more) = r.list_objects("main", "", false, None, 2).await.unwrap();
    assert!(more);
    let (p2, _) = r
        .list_objects("main", "", false, Some(p1[1].path()), 100)
        .await
        .unwrap();
    let all: Vec<_> = p1
        .iter()
        .chain(p2.iter())
        .map(|i| i.path().to_string())
        .collect();
    assert_eq!(all, vec!["a-x", "a/0", "a/1", "a/b/3", "b/4", "c"]);
    // The committed view does not see staging.
    let (c, _) = r
        .list_objects("main@", "a/", false, None, 100)
        .await
        .unwrap();
    assert_eq!(c.len(), 3);
}

#[tokio::test]
async fn two_dot_and_three_dot_diff() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "base", "0").await;
    commit(&r, "main", "base").await;
    r.create_branch("dev", "main").unwrap();
    put(&r, "dev", "dev-only", "1").await;
    commit(&r, "dev", "dev").await;
    put(&r, "main", "main-only", "2").await;
    commit(&r, "main", "main").await;
    let three = r
        .diff("main", "dev", DiffMode::ThreeDot, &DiffScope::all())
        .await
        .unwrap();
    assert_eq!(
        three
            .iter()
            .map(|d| (d.path.as_str(), d.kind))
            .collect::<Vec<_>>(),
        vec![("dev-only", DiffKind::Added)]
    );
    let two = r
        .diff("main", "dev", DiffMode::TwoDot, &DiffScope::all())
        .await
        .unwrap();
    assert_eq!(
        two.iter()
            .map(|d| (d.path.as_str(), d.kind))
            .collect::<Vec<_>>(),
        vec![
            ("dev-only", DiffKind::Added),
            ("main-only", DiffKind::Removed)
        ]
    );
    let copy = r
        .copy_object("main", "base", "main", "copied", None)
        .await
        .unwrap();
    assert_eq!(
        copy.address,
        r.stat("main", "base").await.unwrap().address,
        "copies share bytes"
    );
    assert_eq!(read(&r, "main", "copied").await.as_deref(), Some("0"));
}

#[tokio::test]
async fn byte_ranges() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "f", "0123456789").await;
    let (_, b) = r.get_object("main", "f", Some(2..5)).await.unwrap();
    assert_eq!(&b[..], b"234");
    let e = r.get_object("main", "f", Some(5..50)).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
}
