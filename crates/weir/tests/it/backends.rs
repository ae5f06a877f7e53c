//! Lakes on real backends: SeaweedFS's S3 server and PostgreSQL on
//! loopback, started (once per machine) by tests/backends/cluster.sh, with
//! real `weir` processes and, over `weir serve`, the real clients; a
//! shared lake served by two servers at once, one of them killed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Env, manifest_dir, output_within};

pub(crate) fn repo_root() -> PathBuf {
    manifest_dir().join("../..")
}

/// Starts the loopback cluster if it is not running (once per process);
/// its environment.
fn cluster() -> Vec<(String, String)> {
    static ENV: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    ENV.get_or_init(start_cluster).clone()
}

fn start_cluster() -> Vec<(String, String)> {
    let out = output_within(
        Command::new("bash")
            .arg(repo_root().join("tests/backends/cluster.sh"))
            .arg("up"),
        Duration::from_secs(900),
    );
    assert!(
        out.status.success(),
        "tests/backends/cluster.sh up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn var<'a>(vars: &'a [(String, String)], k: &str) -> &'a str {
    &vars.iter().find(|(n, _)| n == k).unwrap().1
}

/// An environment whose lake is initialised in the cluster's bucket under
/// a prefix of its own, with its metadata in SQLite beside it or, when
/// `shared`, in a PostgreSQL schema of its own.
fn lake_env(shared: bool) -> (Env, String) {
    let mut e = Env::new();
    e.vars = cluster();
    let prefix = format!("t-{}", uuid_like());
    let url = format!("s3://{}/{prefix}", var(&e.vars, "WEIR_S3_BUCKET"));
    let endpoint = format!("endpoint={}", var(&e.vars, "WEIR_S3_ENDPOINT"));
    let meta = format!(
        "{}?schema=t_{}",
        var(&e.vars, "WEIR_PG_URL"),
        prefix.replace(['-', 't'], "_").trim_start_matches('_')
    );
    let mut args = vec![
        "init",
        "--data",
        &url,
        "--data-option",
        &endpoint,
        "--data-option",
        "allow_http=true",
    ];
    if shared {
        args.extend(["--meta", &meta]);
    }
    e.ok(&args);
    (e, url)
}

fn s3_env() -> (Env, String) {
    lake_env(false)
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{t:x}-{}", std::process::id())
}

#[test]
fn a_lake_in_object_storage_works_as_a_local_one() {
    let (e, url) = s3_env();
    let info = e.json(&["lake", "info"]);
    assert_eq!(info["data"], url.as_str(), "{info}");
    assert_eq!(info["data_local"], false);
    // Only the descriptor and the metadata are beside the lake.
    let mut local: Vec<String> = std::fs::read_dir(e.lake())
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("meta.db-"))
        .collect();
    local.sort();
    assert_eq!(local, vec!["lake.toml", "meta.db"]);

    e.ok(&["repo", "create", "weir://demand"]);
    let f = e.write("raw/a.csv", "k,v\n1,2\n");
    e.ok(&[
        "fs",
        "upload",
        "weir://demand/main/raw/a.csv",
        "--source",
        f.to_str().unwrap(),
    ]);
    e.ok(&["commit", "weir://demand/main", "-m", "raw"]);
    assert_eq!(
        e.ok(&["fs", "cat", "weir://demand/main/raw/a.csv"]),
        "k,v\n1,2\n"
    );
    // Tables, branches and a merge of a table both sides changed.
    let t0 = e.write("t0.csv", "id,qty\n1,10\n");
    let t1 = e.write("t1.csv", "id,qty\n2,20\n");
    let t2 = e.write("t2.csv", "id,qty\n3,30\n");
    e.ok(&["ingest", t0.to_str().unwrap(), "weir://demand/main/t"]);
    e.ok(&[
        "branch",
        "create",
        "weir://demand/dev",
        "--source",
        "weir://demand/main",
    ]);
    e.ok(&["ingest", t1.to_str().unwrap(), "weir://demand/dev/t"]);
    e.ok(&["ingest", t2.to_str().unwrap(), "weir://demand/main/t"]);
    e.ok(&["merge", "weir://demand/dev", "weir://demand/main"]);
    assert_eq!(
        e.ok(&[
            "sql",
            "SELECT sum(qty) AS s FROM t",
            "--repo",
            "demand",
            "--format",
            "csv"
        ]),
        "s\n60\n"
    );
    let v = e.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");

    // Garbage collection over S3: an overwritten version past retention,
    // named by no head once the merged branch is gone, goes; the current
    // one stays.
    e.ok(&["branch", "delete", "weir://demand/dev"]);
    let f2 = e.write("raw/a2.csv", "k,v\n3,4\n");
    e.ok(&[
        "fs",
        "upload",
        "weir://demand/main/raw/a.csv",
        "--source",
        f2.to_str().unwrap(),
    ]);
    e.ok(&["commit", "weir://demand/main", "-m", "raw again"]);
    e.ok(&["gc", "rules", "weir://demand", "--default-days", "0"]);
    std::thread::sleep(Duration::from_millis(1100));
    let plan = e.json(&["gc", "plan", "weir://demand", "--grace-hours", "0"]);
    assert!(plan["garbage_objects"].as_u64().unwrap() >= 1, "{plan}");
    let done = e.json(&["gc", "run", "weir://demand", "--grace-hours", "0"]);
    assert_eq!(done["deleted_objects"], plan["garbage_objects"], "{done}");
    assert_eq!(
        e.ok(&["fs", "cat", "weir://demand/main/raw/a.csv"]),
        "k,v\n3,4\n"
    );
    let v = e.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn a_data_store_that_cannot_be_used_is_refused_at_init() {
    let mut e = Env::new();
    e.vars = cluster();
    let endpoint = format!("endpoint={}", var(&e.vars, "WEIR_S3_ENDPOINT"));
    for (k, v) in e.vars.iter_mut() {
        if k == "AWS_SECRET_ACCESS_KEY" {
            *v = "not-the-secret".into();
        }
    }
    let (code, _, err) = e.run(&[
        "init",
        "--data",
        "s3://weir/refused",
        "--data-option",
        &endpoint,
        "--data-option",
        "allow_http=true",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!e.lake().exists(), "nothing was created");
    let (code, _, err) = e.run(&[
        "init",
        "--data",
        "s3://weir/x",
        "--data-option",
        "aws_secret_access_key=x",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("environment"), "{err}");
}

/// `weir serve` kills itself when the test ends, even on a panic, and
/// then shows what it logged.
pub(crate) struct Served(Child, PathBuf);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.1).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- {} (last lines)", self.1.display());
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The clients' pinned Python (tests/clients/venv.sh).
fn python() -> PathBuf {
    static PY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PY.get_or_init(make_venv).clone()
}

fn make_venv() -> PathBuf {
    let out = output_within(
        Command::new("bash").arg(repo_root().join("tests/clients/venv.sh")),
        Duration::from_secs(900),
    );
    assert!(
        out.status.success(),
        "tests/clients/venv.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn weir_serve_on_object_storage_answers_the_real_clients() {
    let (e, _) = s3_env();
    let key = e.json(&["auth", "create-key", "--user", "alice"]);
    let (server, port) = serve(&e);
    for script in ["test_lakefs_sdk.py", "test_s3_delta_lineage.py"] {
        client(script, port, &key, &[]);
    }
    drop(server);
    let v = e.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
}

/// A second directory of the same shared lake (another machine's view):
/// the descriptor and the key that seals access keys, nothing else.
fn second_view(e: &Env) -> Env {
    let mut b = Env::new();
    b.vars = e.vars.clone();
    std::fs::create_dir_all(b.lake()).unwrap();
    for f in ["lake.toml", "auth.key"] {
        if e.lake().join(f).exists() {
            std::fs::copy(e.lake().join(f), b.lake().join(f)).unwrap();
        }
    }
    b
}

/// `weir serve` on a port the system picks (a port found free first
/// could be taken by another test's server before this one binds it).
pub(crate) fn serve(e: &Env) -> (Served, u16) {
    serve_with(e, &[])
}

/// [`serve`] with more flags.
pub(crate) fn serve_with(e: &Env, flags: &[&str]) -> (Served, u16) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = e.dir.path().join(format!("serve-{n}.log"));
    let child = e
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut served = Served(child, log);
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&served.1).unwrap_or_default();
        let port = text
            .split_once("on http://127.0.0.1:")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse::<u16>().ok());
        if let Some(port) = port {
            return (served, port);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30) && served.0.try_wait().unwrap().is_none(),
            "serve did not start: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TCP proxy that sends each new connection to the next of `backends`,
/// so a client's requests alternate between the servers.
fn round_robin(backends: Vec<u16>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(client) = conn else { continue };
            let Ok(server) =
                std::net::TcpStream::connect(("127.0.0.1", backends[i % backends.len()]))
            else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c1, mut s1) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut s1);
                let _ = s1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

fn client(script: &str, port: u16, key: &serde_json::Value, args: &[&str]) -> String {
    let out = output_within(
        Command::new(python())
            .arg(repo_root().join("tests/clients").join(script))
            .args(args)
            .env("WEIR_URL", format!("http://127.0.0.1:{port}"))
            .env("WEIR_ENDPOINT", format!("http://127.0.0.1:{port}/api/v1"))
            .env("WEIR_KEY", key["access_key_id"].as_str().unwrap())
            .env("WEIR_SECRET", key["secret_access_key"].as_str().unwrap()),
        Duration::from_secs(300),
    );
    assert!(
        out.status.success(),
        "{script}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn two_servers_on_one_shared_lake_answer_the_clients_as_one() {
    let (a, _) = lake_env(true);
    let info = a.json(&["lake", "info"]);
    assert!(
        info["metadata"]
            .as_str()
            .unwrap()
            .starts_with("postgres://"),
        "{info}"
    );
    let key = a.json(&["auth", "create-key", "--user", "alice"]);
    let b = second_view(&a);
    // The key made through one view is known to the other.
    let listed = b.json(&["auth", "list-keys"]);
    assert!(
        listed
            .to_string()
            .contains(key["access_key_id"].as_str().unwrap()),
        "{listed}"
    );
    let (server_a, port_a) = serve(&a);
    let (server_b, port_b) = serve(&b);
    let both = round_robin(vec![port_a, port_b]);
    for script in ["test_lakefs_sdk.py", "test_s3_delta_lineage.py"] {
        client(script, both, &key, &[]);
    }
    drop((server_a, server_b));
    for view in [&a, &b] {
        let v = view.json(&["verify"]);
        assert_eq!(v["ok"], true, "{v}");
    }
}

/// A multipart upload begun on one server, which is then killed with
/// SIGKILL, is found and finished on another server of the shared lake.
#[test]
fn an_upload_begun_on_a_killed_server_is_finished_on_another() {
    let (a, _) = lake_env(true);
    let key = a.json(&["auth", "create-key", "--user", "alice"]);
    let b = second_view(&a);
    let (server_a, port_a) = serve(&a);
    let (server_b, port_b) = serve(&b);
    let id = client("test_s3_restart.py", port_a, &key, &["begin"]);
    drop(server_a);
    client("test_s3_restart.py", port_b, &key, &["finish", id.trim()]);
    drop(server_b);
    let v = b.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
}

/// Commits racing through two processes on one shared lake: each lands
/// or fails with a conflict, and `weir verify` finds nothing wrong.
#[test]
fn concurrent_commits_through_two_views_serialise() {
    let (a, _) = lake_env(true);
    let b = second_view(&a);
    a.ok(&["repo", "create", "weir://race"]);
    let mut children = Vec::new();
    for i in 0..8 {
        let view = if i % 2 == 0 { &a } else { &b };
        let f = view.write(&format!("f{i}.txt"), &format!("{i}"));
        view.ok(&[
            "fs",
            "upload",
            &format!("weir://race/main/f{i}.txt"),
            "--source",
            f.to_str().unwrap(),
        ]);
        let mut commit = view.cmd();
        commit.args(["commit", "weir://race/main", "-m", &format!("c{i}")]);
        children.push(std::thread::spawn(move || {
            output_within(&mut commit, Duration::from_secs(300))
        }));
    }
    for c in children {
        let out = c.join().unwrap();
        let code = out.status.code().unwrap_or(-1);
        // 0 landed; 2 nothing left to commit (another took it); 5 conflict.
        assert!(
            [0, 2, 5].contains(&code),
            "{code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = b.run(&["commit", "weir://race/main", "-m", "rest"]);
    for i in 0..8 {
        assert_eq!(
            a.ok(&["fs", "cat", &format!("weir://race/main/f{i}.txt")]),
            i.to_string()
        );
    }
    let v = b.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
}

/// `weir` killed with SIGKILL at several points of committing a shared
/// lake: each commit landed whole or not at all, verify finds nothing,
/// and every file is committed or still staged.
#[test]
fn processes_killed_mid_commit_leave_the_shared_lake_whole() {
    let (a, _) = lake_env(true);
    a.ok(&["repo", "create", "weir://kill"]);
    for (round, delay) in [5u64, 30, 80, 150].into_iter().enumerate() {
        let src = a.dir.path().join(format!("r{round}"));
        for i in 0..200 {
            a.write(&format!("r{round}/f{i:03}.txt"), &format!("{round}-{i}"));
        }
        a.ok(&[
            "fs",
            "upload",
            &format!("weir://kill/main/r{round}/"),
            "--source",
            src.to_str().unwrap(),
            "--recursive",
        ]);
        let mut child = a
            .cmd()
            .args([
                "commit",
                "weir://kill/main",
                "-m",
                &format!("round {round}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let v = a.json(&["verify"]);
        assert_eq!(v["ok"], true, "round {round}: {v}");
    }
    let _ = a.run(&["commit", "weir://kill/main", "-m", "the rest"]);
    for round in 0..4 {
        assert_eq!(
            a.ok(&["fs", "cat", &format!("weir://kill/main/r{round}/f199.txt")]),
            format!("{round}-199")
        );
    }
}

/// PostgreSQL stopped under a running `weir serve`: requests get a 503
/// with a message, nothing panics, and the server answers again by itself
/// once the database is back. The database is a private one, so the other
/// tests keep theirs.
#[test]
fn weir_serve_rides_out_a_postgres_restart() {
    let port = free_port();
    let dir = format!("/var/tmp/weir-pg-restart-{}", std::process::id());
    let pg = |verb: &str| {
        let out = output_within(
            Command::new("bash")
                .arg(repo_root().join("tests/backends/cluster.sh"))
                .arg(verb)
                .env("WEIR_PG_PORT", port.to_string())
                .env("WEIR_PG_DIR", &dir)
                .env(
                    "WEIR_CLUSTER_DIR",
                    std::env::temp_dir().join(format!("weir-pg-restart-{port}")),
                ),
            Duration::from_secs(300),
        );
        assert!(
            out.status.success(),
            "cluster.sh {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Stops the private database and removes it, even when a check fails.
    struct Cleanup<'a>(&'a dyn Fn(&str) -> String, &'a str);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.0)("pg-down")));
            let _ = std::fs::remove_dir_all(self.1);
        }
    }
    let _cleanup = Cleanup(&pg, &dir);
    let url = pg("pg-up")
        .lines()
        .find_map(|l| l.strip_prefix("export WEIR_PG_URL="))
        .unwrap()
        .to_string();
    let e = Env::new();
    e.ok(&["init", "--meta", &format!("{url}?schema=restart")]);
    let key = e.json(&["auth", "create-key", "--user", "alice"]);
    let (server, port) = serve(&e);
    let get = || -> (u16, String) {
        let out = output_within(
            Command::new("curl")
                .args([
                    "-s",
                    "-m",
                    "30",
                    "-o",
                    "/dev/stderr",
                    "-w",
                    "%{http_code}",
                    "-u",
                ])
                .arg(format!(
                    "{}:{}",
                    key["access_key_id"].as_str().unwrap(),
                    key["secret_access_key"].as_str().unwrap()
                ))
                .arg(format!("http://127.0.0.1:{port}/api/v1/repositories")),
            Duration::from_secs(60),
        );
        (
            String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(get().0, 200);
    pg("pg-down");
    let (status, body) = get();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("metadata database unavailable"), "{body}");
    pg("pg-up");
    let start = Instant::now();
    loop {
        if get().0 == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no recovery");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
}
