//! Integration tests of the versioned store (one binary, see DEVELOPERS.md).

mod basics;
mod conformance;
mod gc;
mod merge;
mod meta;
mod trees;
mod uploads;
mod verify;

use std::sync::Arc;

use object_store::PutPayload;
use weir_store::{Lake, PutOptions, Repo};

pub struct TestLake {
    pub dir: tempfile::TempDir,
    pub lake: Arc<Lake>,
}

pub fn lake() -> TestLake {
    let dir = tempfile::tempdir().unwrap();
    let lake = Arc::new(Lake::init(&dir.path().join("lake")).unwrap());
    TestLake { dir, lake }
}

pub async fn repo(t: &TestLake, name: &str) -> Repo {
    t.lake
        .create_repo(name, "main", None, "tester")
        .await
        .unwrap()
}

pub async fn put(repo: &Repo, branch: &str, path: &str, data: &str) {
    repo.put_object(
        branch,
        path,
        PutPayload::from(data.as_bytes().to_vec()),
        &PutOptions::default(),
    )
    .await
    .unwrap();
}

pub async fn read(repo: &Repo, reference: &str, path: &str) -> Option<String> {
    match repo.get_object(reference, path, None).await {
        Ok((_, b)) => Some(String::from_utf8(b.to_vec()).unwrap()),
        Err(weir_store::StoreError::NotFound { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

pub async fn commit(repo: &Repo, branch: &str, msg: &str) -> String {
    repo.commit(branch, msg, "tester", Default::default(), false)
        .await
        .unwrap()
        .id
}

/// This crate's directory, read when the tests run: a shared target
/// directory may hold a test binary built from another checkout.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
