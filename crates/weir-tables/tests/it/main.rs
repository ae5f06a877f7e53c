//! Integration tests of Delta tables on weir refs.

mod delta;
mod ingest;
mod merge;
mod tables;

use std::sync::Arc;

use weir_store::{Lake, Repo};
use weir_tables::TableRef;

pub struct T {
    pub dir: tempfile::TempDir,
    pub repo: Repo,
}

pub async fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let lake = Arc::new(Lake::init(&dir.path().join("lake")).unwrap());
    let repo = lake
        .create_repo("demand", "main", None, "tester")
        .await
        .unwrap();
    T { dir, repo }
}

impl T {
    pub fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn table(&self, reference: &str, name: &str) -> TableRef {
        TableRef::new(&self.repo, reference, name).unwrap()
    }
}

pub fn opts() -> weir_tables::IngestOptions {
    weir_tables::IngestOptions {
        format: None,
        mode: weir_tables::WriteMode::Append,
        allow_new_columns: false,
        commit: true,
        message: None,
        committer: "tester".into(),
        progress: None,
    }
}

/// `SELECT count(*)` of a table at a ref.
pub async fn count(t: &TableRef) -> i64 {
    count_table(t.require().await.unwrap()).await
}

pub async fn count_table(table: deltalake::DeltaTable) -> i64 {
    use deltalake::arrow::array::Int64Array;
    use deltalake::datafusion::prelude::SessionContext;
    let ctx = SessionContext::new();
    ctx.register_table("t", table.table_provider().await.unwrap())
        .unwrap();
    let b = ctx
        .sql("SELECT count(*) FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    b[0].column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}
