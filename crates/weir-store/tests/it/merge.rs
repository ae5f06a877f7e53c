use weir_core::ErrorCode;
use weir_store::{MergeOptions, StoreError, Strategy};

use crate::{commit, lake, put, read, repo};

#[tokio::test]
async fn merge_brings_changes_and_records_both_parents() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "keep", "k").await;
    put(&r, "main", "gone", "g").await;
    commit(&r, "main", "base").await;
    r.create_branch("dev", "main").unwrap();
    put(&r, "dev", "new", "n").await;
    r.delete_object("dev", "gone").await.unwrap();
    let dev = commit(&r, "dev", "dev work").await;
    put(&r, "main", "other", "o").await;
    let main = commit(&r, "main", "main work").await;
    let m = r
        .merge("dev", "main", "t", &MergeOptions::default())
        .await
        .unwrap();
    assert_eq!(m.parents, vec![main.clone(), dev.clone()]);
    assert_eq!(read(&r, "main", "new").await.as_deref(), Some("n"));
    assert_eq!(read(&r, "main", "other").await.as_deref(), Some("o"));
    assert_eq!(read(&r, "main", "gone").await, None);
    assert_eq!(r.merge_base(&m.id, &dev).unwrap().id, dev);
    assert_eq!(r.resolve("main^2").unwrap().commit.id, dev);
    let again = r
        .merge("dev", "main", "t", &MergeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::NoChanges(_)), "{again}");
}

#[tokio::test]
async fn conflicts_fail_by_default_and_strategies_resolve_them() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "f", "base").await;
    commit(&r, "main", "base").await;
    r.create_branch("dev", "main").unwrap();
    put(&r, "dev", "f", "dev").await;
    commit(&r, "dev", "dev").await;
    put(&r, "main", "f", "main").await;
    let head = commit(&r, "main", "main").await;
    let e = r
        .merge("dev", "main", "t", &MergeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    assert!(e.to_string().contains('f'), "{e}");
    assert_eq!(
        r.branch_head("main").unwrap(),
        head,
        "a failed merge changes nothing"
    );
    let dest = MergeOptions {
        strategy: Strategy::DestWins,
        ..Default::default()
    };
    r.create_branch("try", "main").unwrap();
    r.merge("dev", "try", "t", &dest).await.unwrap();
    assert_eq!(read(&r, "try", "f").await.as_deref(), Some("main"));
    let src = MergeOptions {
        strategy: Strategy::SourceWins,
        ..Default::default()
    };
    let m = r.merge("dev", "main", "t", &src).await.unwrap();
    assert_eq!(read(&r, "main", "f").await.as_deref(), Some("dev"));
    assert_eq!(m.metadata[".weir.merge.strategy"], "source-wins");
    assert_eq!(m.parents.len(), 2);
    // A squash merge: one parent, the source named in metadata.
    r.create_branch("sq", "main").unwrap();
    put(&r, "sq", "g", "squashed").await;
    commit(&r, "sq", "g").await;
    let sq_head = r.branch_head("sq").unwrap();
    let main_head = r.branch_head("main").unwrap();
    let squash = MergeOptions {
        squash: true,
        ..Default::default()
    };
    let m = r.merge("sq", "main", "t", &squash).await.unwrap();
    assert_eq!(m.parents, vec![main_head]);
    assert_eq!(m.metadata[".weir.merge.squashed"], sq_head);
    assert_eq!(read(&r, "main", "g").await.as_deref(), Some("squashed"));
    assert!("bogus".parse::<Strategy>().is_err());
}

#[tokio::test]
async fn merge_into_a_dirty_branch_is_refused() {
    let t = lake();
    let r = repo(&t, "demand").await;
    r.create_branch("dev", "main").unwrap();
    put(&r, "dev", "a", "1").await;
    commit(&r, "dev", "a").await;
    put(&r, "main", "wip", "x").await;
    let e = r
        .merge("dev", "main", "t", &MergeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    assert_eq!(read(&r, "main", "a").await, None);
}

#[tokio::test]
async fn revert_undoes_a_commit_and_detects_later_edits() {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "a", "1").await;
    commit(&r, "main", "a1").await;
    put(&r, "main", "a", "2").await;
    put(&r, "main", "b", "new").await;
    let c2 = commit(&r, "main", "a2 + b").await;
    let rev = r.revert("main", &c2, 0, "t").await.unwrap();
    assert_eq!(rev.metadata[".weir.revert"], c2);
    assert_eq!(read(&r, "main", "a").await.as_deref(), Some("1"));
    assert_eq!(read(&r, "main", "b").await, None);
    // Reverting c2 again conflicts: its changes are no longer on main.
    let e = r.revert("main", &c2, 0, "t").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Conflict);
    let first = r.resolve("main~3").unwrap().commit.id;
    let e = r.revert("main", &first, 0, "t").await.unwrap_err();
    assert_eq!(
        e.code(),
        ErrorCode::InvalidArgument,
        "the initial commit has no parent"
    );
}
