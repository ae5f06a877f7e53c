//! Real clients against `weir serve` over a real socket. The
//! pinned client virtualenv is created by tests/clients/venv.sh.

use std::path::PathBuf;
use std::process::Command;

use crate::Server;

fn repo_root() -> PathBuf {
    crate::manifest_dir().join("../..")
}

/// The clients' Python, installing the pinned packages on first use.
fn python() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("tests/clients/venv.sh"))
        .output()
        .expect("run tests/clients/venv.sh");
    assert!(
        out.status.success(),
        "tests/clients/venv.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Serves a fresh lake on a real socket, runs one client script against
/// it with the endpoint and a key in its environment, and fails with the
/// script's output if the script fails.
async fn run_client(script: &str) {
    let s = Server::start();
    run_against(&s, s.state.clone(), script, &[], &[]).await;
}

/// Serves `state` on a real socket while `script` runs with `args`;
/// returns the script's standard output.
async fn run_against(
    s: &Server,
    state: std::sync::Arc<weir_server::AppState>,
    script: &str,
    args: &[&str],
    extra_env: &[(String, String)],
) -> String {
    let py = tokio::task::spawn_blocking(python).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(weir_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let script = repo_root().join("tests/clients").join(script);
    let (id, secret) = (s.key.access_key_id.clone(), s.key.secret_access_key.clone());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let more: Vec<(String, String)> = extra_env.to_vec();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg(script)
            .args(args)
            .envs(more)
            .env("WEIR_URL", format!("http://{addr}"))
            .env("WEIR_ENDPOINT", format!("http://{addr}/api/v1"))
            .env("WEIR_KEY", id)
            .env("WEIR_SECRET", secret)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lakefs_python_sdk_works_unchanged() {
    run_client("test_lakefs_sdk.py").await;
}

/// boto3 over the S3 gateway, Python deltalake writing lakefs:// tables
/// that polars and weir's SQL read back, openlineage-python emitting events
/// that the Marquez-style lineage API returns.
#[tokio::test(flavor = "multi_thread")]
async fn boto3_deltalake_polars_and_openlineage_work_unchanged() {
    run_client("test_s3_delta_lineage.py").await;
}

/// The mlflow client, unchanged: tracking, artifacts, search, the
/// registry and a pyfunc model loaded by alias. What it logged is then in
/// the tracking repository's tables and objects, committed when the server
/// stopped.
#[tokio::test(flavor = "multi_thread")]
async fn the_mlflow_client_works_unchanged() {
    let s = Server::start();
    let out = run_against(&s, s.state.clone(), "test_mlflow.py", &[], &[]).await;
    let run = out.trim().lines().last().unwrap().to_string();
    let session = weir_sql::read_only_session(s.state.lake.clone(), &Default::default()).unwrap();
    let q = format!(
        "SELECT string_agg(CAST(value AS VARCHAR), ',' ORDER BY step) AS v FROM mlflow.main.metrics \
         WHERE run_id = '{run}' AND key = 'mae'"
    );
    let b = session.query(&q).await.unwrap().collect().await.unwrap();
    let text = deltalake::arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    assert!(text.contains("10.0,9.0,8.0,7.0,6.0"), "{text}");
    let repo = s.state.lake.repo("mlflow").unwrap();
    let (_, bytes) = repo
        .get_object(
            "main",
            &format!("artifacts/1/{run}/artifacts/reports/report.txt"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"MAE fell every week\n");
}

/// boto3 begins a multipart upload, the server stops, a new server opens
/// the same lake, and boto3 lists the upload and its part, adds the last
/// part and completes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_upload_survives_a_server_restart() {
    let s = Server::start();
    let id = run_against(&s, s.state.clone(), "test_s3_restart.py", &["begin"], &[]).await;
    let lake = std::sync::Arc::new(weir_store::Lake::open(s.dir.path()).unwrap());
    let keys = std::sync::Arc::new(weir_server::KeyStore::open(s.dir.path()).unwrap());
    let restarted = weir_server::AppState::new(lake, keys, Default::default()).unwrap();
    run_against(
        &s,
        restarted,
        "test_s3_restart.py",
        &["finish", id.trim()],
        &[],
    )
    .await;
}

/// Two tenants and a viewer with boto3, the lakeFS SDK and plain HTTP:
/// the other tenant's buckets are AccessDenied and its repositories
/// absent, a viewer cannot write, and nothing refused changed anything.
#[tokio::test(flavor = "multi_thread")]
async fn tenants_see_nothing_of_each_other_through_the_real_clients() {
    let s = Server::start();
    let mut env = Vec::new();
    for (n, user, tenant, group) in [
        ("2", "eve", "acme", "Admins"),
        ("3", "vic", "default", "Viewers"),
    ] {
        let k = s.add_user(user, tenant, group);
        env.push((format!("WEIR_KEY{n}"), k.access_key_id));
        env.push((format!("WEIR_SECRET{n}"), k.secret_access_key));
    }
    run_against(&s, s.state.clone(), "test_tenants.py", &[], &env).await;
}

/// schemathesis sends generated requests, valid and malformed, to every
/// operation of weir's OpenAPI document; none may get a 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn generated_requests_to_every_operation_get_no_server_error() {
    run_client("test_api_fuzz.py").await;
}

/// The `lakefs` Python package (lakeFS's high-level client) through its
/// common flows, and the SDK's merge without a body.
#[tokio::test(flavor = "multi_thread")]
async fn the_lakefs_python_wrapper_works_unchanged() {
    run_client("test_lakefs_wrapper.py").await;
}

/// pyarrow's S3FileSystem, boto3's checksums and rclone over the S3
/// gateway (rclone from Debian's packages, installed by
/// tests/clients/tools.sh).
#[tokio::test(flavor = "multi_thread")]
async fn pyarrow_boto3_checksums_and_rclone_work_unchanged() {
    let out = Command::new("bash")
        .arg(repo_root().join("tests/clients/tools.sh"))
        .output()
        .expect("run tests/clients/tools.sh");
    assert!(
        out.status.success(),
        "tests/clients/tools.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    run_client("test_s3_tools.py").await;
}
