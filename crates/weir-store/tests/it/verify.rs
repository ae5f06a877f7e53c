//! `verify` finds tampering anywhere: object bytes, tree files, commits.

use crate::{commit, lake, put, repo};

async fn setup() -> (crate::TestLake, weir_store::Repo) {
    let t = lake();
    let r = repo(&t, "demand").await;
    put(&r, "main", "a.csv", "x,y\n1,2\n").await;
    put(&r, "main", "b.csv", "x,y\n3,4\n").await;
    commit(&r, "main", "two files").await;
    (t, r)
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn ns_dir(t: &crate::TestLake, r: &weir_store::Repo) -> std::path::PathBuf {
    t.dir.path().join("lake/data").join(&r.record().namespace)
}

#[tokio::test]
async fn a_clean_lake_verifies() {
    let (_t, r) = setup().await;
    let rep = r.verify(true, &weir_store::NoProgress).await.unwrap();
    assert!(rep.ok(), "{:?}", rep.problems);
    assert_eq!(rep.commits, 2);
    assert_eq!(rep.objects, 2);
}

#[tokio::test]
async fn modified_object_bytes_are_found() {
    let (t, r) = setup().await;
    let e = r.stat("main", "a.csv").await.unwrap();
    let file = t.dir.path().join("lake/data").join(&e.address);
    std::fs::write(&file, "x,y\n1,3\n").unwrap();
    let rep = r.verify(true, &weir_store::NoProgress).await.unwrap();
    assert_eq!(rep.problems.len(), 1, "{:?}", rep.problems);
    assert!(rep.problems[0].contains(&e.address));
}

#[tokio::test]
async fn modified_or_missing_tree_files_are_found() {
    let (t, r) = setup().await;
    let ranges = files_under(&ns_dir(&t, &r).join("_weir/ranges"));
    let target = ranges
        .iter()
        .find(|p| std::fs::metadata(p).unwrap().len() > 100)
        .unwrap();
    let mut bytes = std::fs::read(target).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(target, &bytes).unwrap();
    let rep = r.verify(false, &weir_store::NoProgress).await.unwrap();
    assert!(!rep.ok());
    assert!(
        rep.problems
            .iter()
            .any(|p| p.contains("does not match its hash")),
        "{:?}",
        rep.problems
    );
    // Reads refuse the tampered tree rather than serve it.
    std::fs::remove_file(target).unwrap();
    let rep = r.verify(false, &weir_store::NoProgress).await.unwrap();
    assert!(
        rep.problems.iter().any(|p| p.contains("missing")),
        "{:?}",
        rep.problems
    );
}

#[tokio::test]
async fn modified_commits_are_found() {
    let (t, r) = setup().await;
    let head = r.branch_head("main").unwrap();
    let db = rusqlite::Connection::open(t.dir.path().join("lake/meta.db")).unwrap();
    db.execute(
        "UPDATE commits SET message = 'innocent' WHERE id = ?1",
        [&head],
    )
    .unwrap();
    let rep = r.verify(false, &weir_store::NoProgress).await.unwrap();
    assert_eq!(rep.problems.len(), 1, "{:?}", rep.problems);
    assert!(rep.problems[0].contains(&head));
}

#[tokio::test]
async fn every_change_leaves_a_chained_audit_record() {
    let (t, r) = setup().await;
    let r = r.as_actor("alice");
    r.create_branch("dev", "main").unwrap();
    put(&r, "dev", "c.csv", "x\n1\n").await;
    commit(&r, "dev", "add c").await;
    r.create_tag("v1", "dev").unwrap();
    r.merge("dev", "main", "bob", &Default::default())
        .await
        .unwrap();
    r.delete_branch("dev").unwrap();
    let log = t.lake.audit_log(0, 100).unwrap();
    let ops: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|a| (a.operation.as_str(), a.reference.as_str(), a.actor.as_str()))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("repo_create", "main", "tester"),
            ("commit", "main", "tester"),
            ("branch_create", "dev", "alice"),
            ("commit", "dev", "tester"),
            ("tag_create", "v1", "alice"),
            ("merge", "main", "bob"),
            ("branch_delete", "dev", "alice"),
        ]
    );
    assert!(weir_store::audit::check_chain(&log).is_none());
    // The merge commit carries the chain head of its time: the tag record.
    let merge = r.commit_record(&r.branch_head("main").unwrap()).unwrap();
    assert_eq!(merge.metadata[weir_store::audit::HEAD_KEY], log[4].hash);
    assert_eq!(log[5].after.as_deref(), Some(merge.id.as_str()));
    assert_eq!(log[6].after, None);
    let rep = r.verify(false, &weir_store::NoProgress).await.unwrap();
    assert!(rep.ok(), "{:?}", rep.problems);
    assert_eq!(rep.audit_records, 7);
}

#[tokio::test]
async fn a_modified_deleted_or_rewritten_audit_log_is_found() {
    let (t, r) = setup().await;
    r.create_branch("dev", "main").unwrap();
    put(&r, "main", "c.csv", "x\n1\n").await;
    commit(&r, "main", "third").await;
    let db = rusqlite::Connection::open(t.dir.path().join("lake/meta.db")).unwrap();
    let problems = || async {
        r.verify(false, &weir_store::NoProgress)
            .await
            .unwrap()
            .problems
    };
    // An edited record breaks its own hash: named by number.
    db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2", [])
        .unwrap();
    let p = problems().await;
    assert!(
        p[0].contains("audit record 2") && p[0].contains("modified"),
        "{p:?}"
    );
    db.execute("UPDATE audit SET actor = 'tester' WHERE seq = 2", [])
        .unwrap();
    assert!(problems().await.is_empty());
    // A removed record breaks the sequence.
    db.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    let p = problems().await;
    assert!(
        p.iter().any(|x| x.contains("audit record 3 is missing")),
        "{p:?}"
    );
    // A log rebuilt from scratch with valid hashes still disagrees with the
    // chain heads the commits recorded.
    db.execute("DELETE FROM audit", []).unwrap();
    let p = problems().await;
    assert!(
        p.iter().any(|x| x.contains("is not in the audit log")),
        "{p:?}"
    );
}

#[tokio::test]
async fn a_ref_moved_behind_weirs_back_is_found() {
    let (t, r) = setup().await;
    let first = r.log("main", &Default::default()).unwrap().0[1].id.clone();
    let db = rusqlite::Connection::open(t.dir.path().join("lake/meta.db")).unwrap();
    db.execute(
        "UPDATE branches SET commit_id = ?1 WHERE name = 'main'",
        [&first],
    )
    .unwrap();
    let p = r
        .verify(false, &weir_store::NoProgress)
        .await
        .unwrap()
        .problems;
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("branch main") && p[0].contains("moved outside weir"),
        "{p:?}"
    );
}
