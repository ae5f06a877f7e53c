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
