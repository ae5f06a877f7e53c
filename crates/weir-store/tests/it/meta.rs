//! One conformance suite for the metadata stores, run against SQLite and
//! against PostgreSQL (a loopback server from tests/backends/cluster.sh,
//! a schema of its own per test): the contracts the store's guarantees
//! rest on, checked on the trait itself, then a whole lake on each.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use weir_store::audit::{AuditDraft, GENESIS, check_chain};
use weir_store::meta::postgres::PgMeta;
use weir_store::meta::sqlite::SqliteMeta;
use weir_store::meta::{CommitRecord, Cond, MetaStore, RepoRecord, StageOutcome, UploadRecord};
use weir_store::{Entry, Lake, LakeSpec, MergeOptions, NoProgress};

use crate::{commit, put, read};

/// The loopback PostgreSQL's URL, starting it on first use.
fn pg_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let script = crate::manifest_dir().join("../../tests/backends/cluster.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg("up")
            .output()
            .expect("run tests/backends/cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("export WEIR_PG_URL="))
            .expect("WEIR_PG_URL")
            .to_string()
    })
}

/// A schema no other test uses.
fn pg_schema_url() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}?schema=t_{n:x}_{}",
        pg_url(),
        std::process::id() as u64 + rand_suffix()
    )
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) * 1_000_000
}

fn entry(n: u8) -> Entry {
    Entry {
        address: format!("ns/data/{n:02}"),
        size: n as u64,
        checksum: [n; 32],
        mtime_us: 1,
        content_type: "text/plain".into(),
        metadata: BTreeMap::from([("k".into(), format!("v{n}"))]),
        etag: Some(format!("{n:032x}")),
    }
}

fn commit_rec(id: &str, parent: Option<&str>) -> CommitRecord {
    CommitRecord {
        id: id.repeat(64 / id.len()),
        parents: parent
            .map(|p| vec![p.repeat(64 / p.len())])
            .unwrap_or_default(),
        metarange: "00".repeat(32),
        message: format!("commit {id}"),
        committer: "tester".into(),
        created: 1_700_000_000,
        metadata: BTreeMap::new(),
        generation: 1,
    }
}

fn draft(op: &'static str, r: &str) -> AuditDraft {
    AuditDraft::new("tester", op, "demand", r)
}

/// The contracts of `MetaStore`, whatever is behind it.
fn contract(m: &dyn MetaStore) {
    // Repositories.
    let repo = RepoRecord {
        name: "demand".into(),
        namespace: "demand-1".into(),
        default_branch: "main".into(),
        storage_namespace: "local://demand".into(),
        created: 1,
    };
    let c1 = commit_rec("a", None);
    m.create_repo(&repo, &c1, &draft("repo_create", "main"))
        .unwrap();
    assert!(
        m.create_repo(&repo, &c1, &draft("repo_create", "main"))
            .is_err()
    );
    assert_eq!(m.get_repo("demand").unwrap().unwrap().namespace, "demand-1");
    assert_eq!(m.list_repos().unwrap().len(), 1);
    assert_eq!(m.get_branch("demand", "main").unwrap(), Some(c1.id.clone()));
    assert_eq!(m.get_commit("demand", &c1.id).unwrap().unwrap(), c1);
    assert_eq!(
        m.commits_with_prefix("demand", "aaa", 5).unwrap(),
        vec![c1.id.clone()]
    );

    // Refs, ordered by bytes.
    for b in ["zeta", "Alpha", "a-b", "a0", "a"] {
        m.create_branch("demand", b, &c1.id, &draft("branch_create", b))
            .unwrap();
    }
    assert!(
        m.create_branch("demand", "a", &c1.id, &draft("branch_create", "a"))
            .is_err()
    );
    let names: Vec<String> = m
        .list_branches("demand")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, vec!["Alpha", "a", "a-b", "a0", "main", "zeta"]);
    m.create_tag("demand", "v1", &c1.id, &draft("tag_create", "v1"))
        .unwrap();
    assert_eq!(m.get_tag("demand", "v1").unwrap(), Some(c1.id.clone()));
    assert!(
        m.delete_tag("demand", "v1", &draft("tag_delete", "v1"))
            .unwrap()
    );
    assert!(
        !m.delete_tag("demand", "v1", &draft("tag_delete", "v1"))
            .unwrap()
    );

    // Staging: paths in byte order, tombstones, counts.
    let rows: Vec<(String, Option<Entry>)> = ["é.csv", "b/x", "a/b", "a-b", "B", "a"]
        .iter()
        .enumerate()
        .map(|(i, p)| (p.to_string(), (i != 1).then(|| entry(i as u8))))
        .collect();
    m.stage("demand", "main", &rows).unwrap();
    assert!(m.stage("demand", "nope", &rows).is_err());
    let scan = m.staged_scan("demand", "main", "", 100).unwrap();
    let paths: Vec<&str> = scan.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, vec!["B", "a", "a-b", "a/b", "b/x", "é.csv"]);
    assert!(
        scan.iter()
            .find(|r| r.path == "b/x")
            .unwrap()
            .entry
            .is_none()
    );
    assert_eq!(
        scan.iter().find(|r| r.path == "a").unwrap().entry,
        Some(entry(5))
    );
    assert_eq!(m.staged_scan("demand", "main", "a/", 2).unwrap().len(), 2);
    // Resuming after a path, as listings do: strictly after it.
    let after: Vec<String> = m
        .staged_scan("demand", "main", "a-b\0", 2)
        .unwrap()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(after, vec!["a/b", "b/x"]);
    assert_eq!(m.staged_count("demand", "main").unwrap(), 6);
    let (head, row) = m.branch_lookup("demand", "main", "a").unwrap().unwrap();
    assert_eq!(head, c1.id);
    assert_eq!(row.unwrap().entry, Some(entry(5)));
    assert!(
        m.branch_lookup("demand", "main", "none")
            .unwrap()
            .unwrap()
            .1
            .is_none()
    );
    assert!(m.branch_lookup("demand", "nope", "a").unwrap().is_none());

    // A commit removes exactly the rows it read: `a` re-staged meanwhile
    // keeps its new version.
    let read_rows: Vec<(String, i64)> = scan.iter().map(|r| (r.path.clone(), r.version)).collect();
    m.stage("demand", "main", &[("a".into(), Some(entry(9)))])
        .unwrap();
    let before_audit = m.audit_head().unwrap();
    let c2 = commit_rec("b", Some("a"));
    assert!(
        !m.advance_branch(
            "demand",
            "main",
            &"f".repeat(64),
            &c2,
            Some(&read_rows),
            &draft("commit", "main")
        )
        .unwrap(),
        "a stale head changes nothing"
    );
    assert_eq!(m.audit_head().unwrap(), before_audit, "and records nothing");
    assert_eq!(m.staged_count("demand", "main").unwrap(), 6);
    assert!(
        m.advance_branch(
            "demand",
            "main",
            &c1.id,
            &c2,
            Some(&read_rows),
            &draft("commit", "main")
        )
        .unwrap()
    );
    assert_ne!(m.audit_head().unwrap(), before_audit);
    assert_eq!(m.get_branch("demand", "main").unwrap(), Some(c2.id.clone()));
    let left = m.staged_scan("demand", "main", "", 100).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].path.as_str(), left[0].entry.clone()),
        ("a", Some(entry(9)))
    );
    // Without `consumed` a branch with staged rows does not move.
    let c3 = commit_rec("c", Some("b"));
    assert!(
        m.advance_branch("demand", "main", &c2.id, &c3, None, &draft("merge", "main"))
            .is_err()
    );
    assert_eq!(
        m.reset_staging("demand", "main", "a", &draft("branch_reset", "main"))
            .unwrap(),
        1
    );
    assert!(
        m.advance_branch("demand", "main", &c2.id, &c3, None, &draft("merge", "main"))
            .unwrap()
    );

    // Conditional writes, decided against the staged or committed entry.
    let head = m.get_branch("demand", "main").unwrap().unwrap();
    let put_if = |p: &str, e: u8, committed: Option<&Entry>, cond: Cond, h: &str| {
        m.stage_if("demand", "main", p, Some(&entry(e)), h, committed, &cond)
            .unwrap()
    };
    assert_eq!(
        put_if("new", 1, None, Cond::Absent, &head),
        StageOutcome::Staged
    );
    assert_eq!(
        put_if("new", 2, None, Cond::Absent, &head),
        StageOutcome::Exists
    );
    assert_eq!(
        put_if("old", 2, Some(&entry(7)), Cond::Absent, &head),
        StageOutcome::Exists
    );
    assert_eq!(
        put_if(
            "new",
            3,
            None,
            Cond::Matches(entry(1).checksum_hex()),
            &head
        ),
        StageOutcome::Staged
    );
    assert_eq!(
        put_if(
            "new",
            4,
            None,
            Cond::Matches(entry(1).checksum_hex()),
            &head
        ),
        StageOutcome::Mismatch
    );
    assert_eq!(
        put_if("new", 4, None, Cond::Matches(format!("{:032x}", 3)), &head),
        StageOutcome::Staged,
        "the S3 ETag names the version too"
    );
    assert_eq!(
        put_if("x", 1, None, Cond::Absent, &"e".repeat(64)),
        StageOutcome::HeadMoved
    );
    m.unstage("demand", "main", &["new".into()]).unwrap();
    assert_eq!(m.staged_count("demand", "main").unwrap(), 0);

    // Deleting a branch drops its staging area.
    m.stage("demand", "zeta", &[("q".into(), Some(entry(1)))])
        .unwrap();
    assert!(
        m.delete_branch("demand", "zeta", &draft("branch_delete", "zeta"))
            .unwrap()
    );
    m.create_branch("demand", "zeta", &c1.id, &draft("branch_create", "zeta"))
        .unwrap();
    assert_eq!(m.staged_count("demand", "zeta").unwrap(), 0);

    // Multipart uploads.
    let up = |id: &str, key: &str| UploadRecord {
        id: id.into(),
        repo: "demand".into(),
        key: key.into(),
        branch: "main".into(),
        path: key.trim_start_matches("main/").into(),
        content_type: Some("text/csv".into()),
        metadata: BTreeMap::from([("m".into(), "1".into())]),
        initiated: 5,
    };
    m.create_upload(&up("u1", "main/a.csv")).unwrap();
    m.create_upload(&up("u2", "main/a.csv")).unwrap();
    m.create_upload(&up("u3", "main/b.csv")).unwrap();
    assert_eq!(
        m.get_upload("demand", "u1").unwrap(),
        Some(up("u1", "main/a.csv"))
    );
    assert_eq!(
        m.put_upload_part("demand", "u1", 1, &entry(1)).unwrap(),
        Some(None)
    );
    assert_eq!(
        m.put_upload_part("demand", "u1", 1, &entry(2)).unwrap(),
        Some(Some(entry(1))),
        "a replaced part is handed back"
    );
    m.put_upload_part("demand", "u1", 2, &entry(3)).unwrap();
    assert_eq!(
        m.put_upload_part("demand", "none", 1, &entry(3)).unwrap(),
        None
    );
    assert_eq!(
        m.upload_parts("demand", "u1", 1, 10).unwrap(),
        vec![(2, entry(3))]
    );
    let listed = |prefix: &str, after: (&str, Option<&str>)| -> Vec<String> {
        m.list_uploads("demand", prefix, after, 10)
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect()
    };
    assert_eq!(listed("main/", ("", None)), vec!["u1", "u2", "u3"]);
    assert_eq!(listed("main/a", ("", None)), vec!["u1", "u2"]);
    assert_eq!(
        listed("main/", ("main/a.csv", Some("u1"))),
        vec!["u2", "u3"]
    );
    assert_eq!(listed("main/", ("main/a.csv", None)), vec!["u3"]);
    assert!(
        m.take_upload("demand", "u1", &mut |_| false)
            .unwrap()
            .is_none()
    );
    assert!(
        m.get_upload("demand", "u1").unwrap().is_some(),
        "refused: kept"
    );
    let taken = m
        .take_upload("demand", "u1", &mut |u| u.parts.len() == 2)
        .unwrap()
        .unwrap();
    assert_eq!(taken.parts.len(), 2);
    assert!(m.get_upload("demand", "u1").unwrap().is_none());
    assert!(m.upload_parts("demand", "u1", 0, 10).unwrap().is_empty());

    // The audit chain is whole and ordered.
    let chain = m.audit_scan(0, 10_000).unwrap();
    assert!(chain.len() > 10);
    assert_eq!(chain[0].prev_hash, GENESIS);
    assert_eq!(check_chain(&chain), None);
    assert_eq!(m.audit_head().unwrap(), chain.last().unwrap().hash);

    // Settings.
    assert_eq!(m.get_setting("demand", "gc_rules").unwrap(), None);
    m.put_setting("demand", "gc_rules", "{}").unwrap();
    m.put_setting("demand", "gc_rules", r#"{"a":1}"#).unwrap();
    assert_eq!(
        m.get_setting("demand", "gc_rules").unwrap().as_deref(),
        Some(r#"{"a":1}"#)
    );
    // Compare-and-swap: only from the value read.
    assert!(m.swap_setting("", "auth", None, "v1").unwrap());
    assert!(!m.swap_setting("", "auth", None, "v2").unwrap());
    assert!(!m.swap_setting("", "auth", Some("v0"), "v2").unwrap());
    assert!(m.swap_setting("", "auth", Some("v1"), "v2").unwrap());
    assert_eq!(m.get_setting("", "auth").unwrap().as_deref(), Some("v2"));
    // By prefix (a `%` or `_` in it is no wildcard), and deleted only from
    // the value read.
    for k in ["c/a/1", "c/a/2", "c/ab/1", "c%/x", "d/a"] {
        m.put_setting("", k, k).unwrap();
    }
    let keys = |p: &str| -> Vec<String> {
        m.list_settings("", p)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys("c/a/"), ["c/a/1", "c/a/2"]);
    assert_eq!(keys("c%"), ["c%/x"]);
    assert_eq!(keys("c_"), Vec::<String>::new());
    assert!(!m.delete_setting("", "c/a/1", "stale").unwrap());
    assert!(m.delete_setting("", "c/a/1", "c/a/1").unwrap());
    assert!(!m.delete_setting("", "c/a/1", "c/a/1").unwrap());
    assert_eq!(keys("c/a"), ["c/a/2", "c/ab/1"]);

    // Deleting the repository removes everything of it.
    assert!(m.delete_repo("demand", &draft("repo_delete", "")).unwrap());
    assert!(m.get_repo("demand").unwrap().is_none());
    assert!(m.list_branches("demand").unwrap().is_empty());
    assert!(m.get_upload("demand", "u2").unwrap().is_none());
    assert_eq!(m.get_setting("demand", "gc_rules").unwrap(), None);
}

#[test]
fn sqlite_meets_the_metadata_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&SqliteMeta::create(&dir.path().join("meta.db")).unwrap());
}

#[test]
fn postgres_meets_the_metadata_contract() {
    let url = pg_schema_url();
    contract(&PgMeta::create(&url).unwrap());
    // Opening checks the format; a second lake in the same schema is refused.
    PgMeta::open(&url).unwrap();
    assert!(PgMeta::create(&url).is_err());
}

/// Concurrent commits to one branch through two handles (two servers):
/// each lands or fails cleanly, none is lost, the chain stays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_through_two_postgres_handles_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = pg_schema_url();
    let spec = LakeSpec {
        meta: Some(url.clone()),
        data: Some(format!("file://{}", dir.path().join("data").display())),
        ..Default::default()
    };
    let a = Arc::new(Lake::init_with(&dir.path().join("a"), &spec).await.unwrap());
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::copy(
        dir.path().join("a/lake.toml"),
        dir.path().join("b/lake.toml"),
    )
    .unwrap();
    let b = Arc::new(Lake::open(&dir.path().join("b")).unwrap());
    let ra = a.create_repo("demand", "main", None, "a").await.unwrap();
    let rb = b.repo("demand").unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let r = if i % 2 == 0 { ra.clone() } else { rb.clone() };
        tasks.push(tokio::spawn(async move {
            put(&r, "main", &format!("f{i}"), &format!("{i}")).await;
            r.commit("main", &format!("c{i}"), "t", Default::default(), false)
                .await
        }));
    }
    let mut landed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => landed += 1,
            // Another commit took this one's file first, or the head moved.
            Err(weir_store::StoreError::NoChanges(_)) => {}
            Err(e) => assert_eq!(e.code(), weir_core::ErrorCode::Conflict, "{e}"),
        }
    }
    assert!(landed >= 1);
    // Every staged file is committed or still staged: none vanished.
    for i in 0..16 {
        assert_eq!(
            read(&rb, "main", &format!("f{i}")).await,
            Some(i.to_string())
        );
    }
    let _ = ra
        .commit("main", "the rest", "t", Default::default(), false)
        .await;
    let report = rb.verify(true, &NoProgress).await.unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    // A merge through one handle is seen by the other at once.
    ra.create_branch("dev", "main").unwrap();
    put(&ra, "dev", "d", "x").await;
    commit(&ra, "dev", "d").await;
    rb.merge("dev", "main", "b", &MergeOptions::default())
        .await
        .unwrap();
    assert_eq!(read(&ra, "main", "d").await.as_deref(), Some("x"));
}
