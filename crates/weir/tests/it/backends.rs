//! A lake whose bytes live in object storage: SeaweedFS's S3 server on
//! loopback, started (once per machine) by tests/backends/cluster.sh, with
//! real `weir` processes and, over `weir serve`, the real clients.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Env, manifest_dir};

fn repo_root() -> PathBuf {
    manifest_dir().join("../..")
}

/// Starts the loopback cluster if it is not running; its environment.
fn cluster() -> Vec<(String, String)> {
    let out = Command::new("bash")
        .arg(repo_root().join("tests/backends/cluster.sh"))
        .arg("up")
        .output()
        .expect("run tests/backends/cluster.sh");
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
/// a prefix of its own.
fn s3_env() -> (Env, String) {
    let mut e = Env::new();
    e.vars = cluster();
    let prefix = format!("t-{}", uuid_like());
    let url = format!("s3://{}/{prefix}", var(&e.vars, "WEIR_S3_BUCKET"));
    let endpoint = format!("endpoint={}", var(&e.vars, "WEIR_S3_ENDPOINT"));
    e.ok(&[
        "init",
        "--data",
        &url,
        "--data-option",
        &endpoint,
        "--data-option",
        "allow_http=true",
    ]);
    (e, url)
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

/// `weir serve` kills itself when the test ends, even on a panic.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    let out = Command::new("bash")
        .arg(repo_root().join("tests/clients/venv.sh"))
        .output()
        .unwrap();
    assert!(out.status.success());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn weir_serve_on_object_storage_answers_the_real_clients() {
    let (e, _) = s3_env();
    let key = e.json(&["auth", "create-key", "--user", "alice"]);
    let port = free_port();
    let server = Served(
        e.cmd()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let py = python();
    for script in ["test_lakefs_sdk.py", "test_s3_delta_lineage.py"] {
        let out = Command::new(&py)
            .arg(repo_root().join("tests/clients").join(script))
            .env("WEIR_URL", format!("http://127.0.0.1:{port}"))
            .env("WEIR_ENDPOINT", format!("http://127.0.0.1:{port}/api/v1"))
            .env("WEIR_KEY", key["access_key_id"].as_str().unwrap())
            .env("WEIR_SECRET", key["secret_access_key"].as_str().unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    drop(server);
    let v = e.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
}
