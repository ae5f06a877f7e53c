//! The lakeFS Python SDK against `weir serve` over a real socket. The
//! pinned client virtualenv is created by tests/clients/venv.sh.

use std::path::PathBuf;
use std::process::Command;

use crate::Server;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
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

#[tokio::test(flavor = "multi_thread")]
async fn the_lakefs_python_sdk_works_unchanged() {
    let py = tokio::task::spawn_blocking(python).await.unwrap();
    let s = Server::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(weir_server::serve(listener, s.state.clone(), async {
        let _ = stopped.await;
    }));
    let script = repo_root().join("tests/clients/test_lakefs_sdk.py");
    let (id, secret) = (s.key.access_key_id.clone(), s.key.secret_access_key.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg(script)
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
}
