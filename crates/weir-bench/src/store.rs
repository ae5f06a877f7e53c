//! How the store's costs grow with the lake: 1k, 100k and 1M objects.
//!
//! `cargo run --release -p weir-bench -- store [SIZES]` (default
//! `1000,100000,1000000`). Prints a markdown table for BENCHMARKS.md.
//! Lakes are built by linking entries to existing bytes (as lakeFS's
//! import and `lakectl abuse` do), since what grows here is metadata; the
//! point-read rows read real bytes.
//!
//! Each timed row is the median of several runs; the machine is noisy, so
//! compare ratios across sizes rather than absolute times.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use weir_store::{Entry, Lake, PutOptions, Repo};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn linked(template: &Entry, i: usize) -> (String, Option<Entry>) {
    // Keys spread over 100 "tables" of N/100 files, like a lake of tables.
    (
        format!("t{:03}/part-{i:09}.parquet", i % 100),
        Some(template.clone()),
    )
}

async fn build(repo: &Repo, template: &Entry, n: usize) -> Duration {
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100_000) {
        let rows: Vec<_> = chunk.iter().map(|&i| linked(template, i)).collect();
        repo.stage_many("main", &rows).unwrap();
    }
    repo.commit("main", "import", "bench", BTreeMap::new(), false)
        .await
        .unwrap();
    start.elapsed()
}

struct Row {
    n: usize,
    build: Duration,
    branch: Duration,
    commit1: Duration,
    commit100k: Duration,
    stage100k: Duration,
    read_view: Duration,
    read_raw: Duration,
    list_prefix: Duration,
    list_tomb: Duration,
    list_clean: Duration,
}

async fn measure(n: usize) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let lake = Arc::new(Lake::init(&dir.path().join("lake")).unwrap());
    let repo = lake
        .create_repo("bench", "main", None, "bench")
        .await
        .unwrap();
    // One real 1 MiB object (a small Parquet file's size) whose entry every
    // linked key shares.
    let payload = vec![7u8; 1024 * 1024];
    let template = repo
        .write_data(PutPayload::from(payload.clone()), &PutOptions::default())
        .await
        .unwrap();
    let build_t = build(&repo, &template, n).await;

    let mut b = Vec::new();
    for i in 0..21 {
        let t = Instant::now();
        repo.create_branch(&format!("b{i}"), "main").unwrap();
        b.push(t.elapsed());
    }

    // Overwrite one existing object at a spread of places in the key space:
    // which range a change lands in (ranges vary in size) is then averaged
    // out by the median.
    let mut c1 = Vec::new();
    for i in 0..21 {
        let t = Instant::now();
        let (key, _) = linked(&template, (i * 7919 + 13) % n);
        repo.put_object(
            "main",
            &key,
            PutPayload::from(vec![i as u8; 128]),
            &PutOptions::default(),
        )
        .await
        .unwrap();
        repo.commit("main", "one object", "bench", BTreeMap::new(), false)
            .await
            .unwrap();
        c1.push(t.elapsed());
    }

    let (s100, c100) = stage_and_commit_100k(&repo, &template).await;

    // Point reads: the same 1 MiB through the ref view and straight from
    // the underlying store.
    let view = repo.object_store();
    let raw = lake.data_store();
    let mut keys: Vec<String> = Vec::new();
    for i in 0..200 {
        let k = linked(&template, i * (n / 200).max(1) % n).0;
        if repo.stat("main", &k).await.unwrap().size == payload.len() as u64 {
            keys.push(k);
        }
    }
    let phys = Path::from(template.address.as_str());
    let mut rv = Vec::new();
    let mut rr = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for k in &keys {
            let got = view.get(&Path::from(format!("main/{k}"))).await.unwrap();
            assert_eq!(got.bytes().await.unwrap().len(), payload.len());
        }
        rv.push(t.elapsed() / keys.len() as u32);
        let t = Instant::now();
        for _ in &keys {
            let got = raw.get(&phys).await.unwrap();
            assert_eq!(got.bytes().await.unwrap().len(), payload.len());
        }
        rr.push(t.elapsed() / keys.len() as u32);
    }

    // Prefix listing of one "table" directory (N/100 files, first 1000).
    let mut lp = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let (items, _) = repo
            .list_objects("main", "t007/", false, None, 1000)
            .await
            .unwrap();
        assert!(!items.is_empty());
        lp.push(t.elapsed());
    }

    // Listing a page after 10k uncommitted deletes at the start of a prefix.
    let victims: Vec<_> = {
        let (items, _) = repo
            .list_objects("main", "t011/", false, None, 10_000)
            .await
            .unwrap();
        items
            .into_iter()
            .map(|i| (i.path().to_string(), None))
            .collect()
    };
    let mut lc = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        repo.list_objects("main", "t012/", false, None, 100)
            .await
            .unwrap();
        lc.push(t.elapsed());
    }
    repo.stage_many("main", &victims).unwrap();
    let mut lt = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        repo.list_objects("main", "t011/", false, None, 100)
            .await
            .unwrap();
        lt.push(t.elapsed());
    }
    Row {
        n,
        build: build_t,
        branch: median(b),
        commit1: median(c1),
        commit100k: median(c100),
        stage100k: median(s100),
        read_view: median(rv),
        read_raw: median(rr),
        list_prefix: median(lp),
        list_tomb: median(lt),
        list_clean: median(lc),
    }
}

pub fn run(args: &[String]) {
    let sizes: Vec<usize> = args
        .first()
        .cloned()
        .unwrap_or_else(|| "1000,100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("sizes are numbers"))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows: Vec<Row> = sizes.iter().map(|&n| rt.block_on(measure(n))).collect();
    println!(
        "| objects in lake | import + commit | branch create | commit 1 object | stage 100k | commit 100k staged | point read 1 MiB: view / raw | list 1000 under prefix | list 100 after 10k uncommitted deletes / none |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} / {} ({:.2}×) | {} | {} / {} |",
            r.n,
            ms(r.build),
            ms(r.branch),
            ms(r.commit1),
            ms(r.stage100k),
            ms(r.commit100k),
            ms(r.read_view),
            ms(r.read_raw),
            r.read_view.as_secs_f64() / r.read_raw.as_secs_f64(),
            ms(r.list_prefix),
            ms(r.list_tomb),
            ms(r.list_clean),
        );
    }
    if rows.len() > 1 {
        let (a, z) = (&rows[0], &rows[rows.len() - 1]);
        println!(
            "\nGrowth from {} to {} objects: branch create {:.2}×, commit of 1 object {:.2}×, commit of 100k staged {:.2}×",
            a.n,
            z.n,
            z.branch.as_secs_f64() / a.branch.as_secs_f64(),
            z.commit1.as_secs_f64() / a.commit1.as_secs_f64(),
            z.commit100k.as_secs_f64() / a.commit100k.as_secs_f64(),
        );
    }
}

/// Three rounds of 100k objects staged on a new branch `bigN` (keys
/// `newN/f0000000`...) and committed: the staging and the commit times.
pub(crate) async fn stage_and_commit_100k(
    repo: &weir_store::Repo,
    template: &weir_store::Entry,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut staged, mut committed) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let br = format!("big{round}");
        repo.create_branch(&br, "main").unwrap();
        let rows: Vec<_> = (0..100_000)
            .map(|i| (format!("new{round}/f{i:07}"), Some(template.clone())))
            .collect();
        let t = Instant::now();
        repo.stage_many(&br, &rows).unwrap();
        staged.push(t.elapsed());
        let t = Instant::now();
        repo.commit(&br, "100k", "bench", BTreeMap::new(), false)
            .await
            .unwrap();
        committed.push(t.elapsed());
    }
    (staged, committed)
}
