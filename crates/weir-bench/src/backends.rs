//! The store's costs on the shared backends beside the embedded ones, in
//! one run: local files + SQLite, local files + PostgreSQL (the metadata
//! alone), and S3 (SeaweedFS) + PostgreSQL on loopback (`bench/backends.sh` starts them with tests/backends/cluster.sh
//! and passes their environment).
//!
//! `weir-bench backends` prints a markdown table: branch create, commit of
//! one object, staging and committing 100k objects, a point read of 1 MiB
//! through the ref view; medians of several runs each.
//!
//! `weir-bench gc-build DIR N GARBAGE` builds a local lake of N real small
//! objects of which GARBAGE are named by nothing, for timing `weir gc plan`
//! in a process of its own (bench/gc.sh reads its peak memory).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::PutPayload;
use weir_store::{Lake, LakeSpec, PutOptions, Repo};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

struct Row {
    name: &'static str,
    branch: Duration,
    commit1: Duration,
    stage100k: Duration,
    commit100k: Duration,
    read: Duration,
}

async fn measure(name: &'static str, lake: Arc<Lake>) -> Row {
    let repo: Repo = lake
        .create_repo(
            &format!("b{}", std::process::id() % 100_000 + 100),
            "main",
            None,
            "bench",
        )
        .await
        .unwrap();
    let template = repo
        .write_data(PutPayload::from(vec![7u8; 1 << 20]), &PutOptions::default())
        .await
        .unwrap();
    let mut b = Vec::new();
    for i in 0..21 {
        let t = Instant::now();
        repo.create_branch(&format!("br{i}"), "main").unwrap();
        b.push(t.elapsed());
    }
    let mut c1 = Vec::new();
    for i in 0..21 {
        let t = Instant::now();
        repo.put_object(
            "main",
            &format!("one/{i}"),
            PutPayload::from(vec![i as u8; 128]),
            &PutOptions::default(),
        )
        .await
        .unwrap();
        repo.commit("main", "one", "bench", BTreeMap::new(), false)
            .await
            .unwrap();
        c1.push(t.elapsed());
    }
    let (s100, c100) = crate::store::stage_and_commit_100k(&repo, &template).await;
    let mut rd = Vec::new();
    for i in 0..41 {
        let t = Instant::now();
        let (_, bytes) = repo
            .get_object("big0", &format!("new0/f{:07}", i * 997), None)
            .await
            .unwrap();
        assert_eq!(bytes.len(), 1 << 20);
        rd.push(t.elapsed());
    }
    Row {
        name,
        branch: median(b),
        commit1: median(c1),
        stage100k: median(s100),
        commit100k: median(c100),
        read: median(rd),
    }
}

pub fn run(_args: &[String]) {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            eprintln!("{k} is not set: run bench/backends.sh");
            std::process::exit(2)
        })
    };
    let (endpoint, bucket, pg) = (
        var("WEIR_S3_ENDPOINT"),
        var("WEIR_S3_BUCKET"),
        var("WEIR_PG_URL"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("bench{}", std::process::id());
    let rows = rt.block_on(async {
        let local = Arc::new(Lake::init(&dir.path().join("local")).unwrap());
        let shared = Arc::new(
            Lake::init_with(
                &dir.path().join("shared"),
                &LakeSpec {
                    meta: Some(format!("{pg}?schema={tag}")),
                    data: Some(format!("s3://{bucket}/{tag}")),
                    data_options: [
                        ("endpoint".to_string(), endpoint.clone()),
                        ("allow_http".to_string(), "true".to_string()),
                    ]
                    .into(),
                },
            )
            .await
            .unwrap(),
        );
        // PostgreSQL over local files: the metadata's cost alone.
        let pg_local = Arc::new(
            Lake::init_with(
                &dir.path().join("pg-local"),
                &LakeSpec {
                    meta: Some(format!("{pg}?schema={tag}_local")),
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
        );
        vec![
            measure("local files + SQLite", local).await,
            measure("local files + PostgreSQL", pg_local).await,
            measure("S3 (SeaweedFS) + PostgreSQL", shared).await,
        ]
    });
    println!(
        "| backends | branch create | commit 1 object | stage 100k | commit 100k staged | point read 1 MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.name,
            ms(r.branch),
            ms(r.commit1),
            ms(r.stage100k),
            ms(r.commit100k),
            ms(r.read)
        );
    }
    let a = &rows[0];
    for z in &rows[1..] {
        let x = |f: fn(&Row) -> Duration| f(z).as_secs_f64() / f(a).as_secs_f64();
        println!(
            "\n{} / {}: branch create {:.2}×, commit 1 object {:.2}×, stage 100k {:.2}×, commit 100k {:.2}×, point read {:.2}×",
            z.name,
            a.name,
            x(|r| r.branch),
            x(|r| r.commit1),
            x(|r| r.stage100k),
            x(|r| r.commit100k),
            x(|r| r.read)
        );
    }
}

/// A local lake of `n` real small objects, `garbage` of them unnamed.
pub fn build_gc(args: &[String]) {
    let usage = || -> ! {
        eprintln!("usage: weir-bench gc-build DIR OBJECTS GARBAGE");
        std::process::exit(2)
    };
    let (Some(dir), Some(n), Some(g)) = (args.first(), args.get(1), args.get(2)) else {
        usage()
    };
    let (n, g): (usize, usize) = (
        n.parse().unwrap_or_else(|_| usage()),
        g.parse().unwrap_or_else(|_| usage()),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lake = Arc::new(Lake::init(std::path::Path::new(dir)).unwrap());
        let repo = lake
            .create_repo("bench", "main", None, "bench")
            .await
            .unwrap();
        let start = Instant::now();
        let mut rows = Vec::with_capacity(100_000);
        for i in 0..n {
            let e = repo
                .write_data(
                    PutPayload::from(format!("object {i}").into_bytes()),
                    &PutOptions::default(),
                )
                .await
                .unwrap();
            if i >= g {
                rows.push((format!("t{:03}/f{i:09}", i % 100), Some(e)));
            }
            if rows.len() == 100_000 {
                repo.stage_many("main", &rows).unwrap();
                rows.clear();
            }
        }
        repo.stage_many("main", &rows).unwrap();
        repo.commit("main", "objects", "bench", BTreeMap::new(), false)
            .await
            .unwrap();
        eprintln!(
            "built {n} objects ({g} unnamed) in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    });
}
