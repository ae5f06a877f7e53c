//! SQL behaviour as sqllogictest files (`tests/slt/*.slt`), each run
//! against a fresh lake built by [`fixture`].
//!
//! Fixture (repository `demand`):
//! - `main`: table `sales(id BIGINT, item VARCHAR, qty BIGINT)` with ids
//!   1-3 (commit "load sales"), tagged `v1.0`; then table
//!   `prices(item, price)` (commit "add prices").
//! - `dev`: branched from `v1.0`, appends id 4 to `sales` (commit
//!   "more sales").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::datafusion::prelude::SessionContext;
use sqllogictest::{DBOutput, DefaultColumnType};
use weir_store::Lake;
use weir_tables::{IngestOptions, TableRef, WriteMode, ingest_file};

struct Db {
    ctx: SessionContext,
    _dir: Arc<tempfile::TempDir>,
}

#[derive(Debug)]
struct DbError(String);
impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DbError {}

fn cells(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, DbError> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DbError(e.to_string()))?;
        for r in 0..b.num_rows() {
            rows.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    Ok(rows)
}

#[async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let df = self
            .ctx
            .sql(sql)
            .await
            .map_err(|e| DbError(e.to_string()))?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await.map_err(|e| DbError(e.to_string()))?;
        let is_query = !(schema.fields().len() == 1 && schema.field(0).name() == "count" && {
            let s = sql.trim_start().to_ascii_lowercase();
            s.starts_with("insert") || s.starts_with("create")
        });
        if !is_query {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| {
                if f.data_type().is_integer() {
                    DefaultColumnType::Integer
                } else if f.data_type().is_floating() {
                    DefaultColumnType::FloatingPoint
                } else {
                    DefaultColumnType::Text
                }
            })
            .collect();
        Ok(DBOutput::Rows {
            types,
            rows: cells(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "weir"
    }
}

async fn fixture(dir: &Path) -> Arc<Lake> {
    let lake = Arc::new(Lake::init(&dir.join("lake")).unwrap());
    let repo = lake
        .create_repo("demand", "main", None, "fixture")
        .await
        .unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let opts = |msg: &str| IngestOptions {
        format: None,
        mode: WriteMode::Append,
        allow_new_columns: false,
        commit: true,
        message: Some(msg.to_string()),
        committer: "fixture".into(),
        progress: None,
    };
    let sales = file(
        "sales.csv",
        "id,item,qty\n1,apple,10\n2,pear,20\n3,plum,30\n",
    );
    ingest_file(
        &TableRef::new(&repo, "main", "sales").unwrap(),
        &sales,
        &opts("load sales"),
    )
    .await
    .unwrap();
    repo.create_tag("v1.0", "main").unwrap();
    let prices = file("prices.csv", "item,price\napple,1.5\npear,2.25\n");
    ingest_file(
        &TableRef::new(&repo, "main", "prices").unwrap(),
        &prices,
        &opts("add prices"),
    )
    .await
    .unwrap();
    repo.create_branch("dev", "v1.0").unwrap();
    let more = file("more.csv", "id,item,qty\n4,fig,40\n");
    ingest_file(
        &TableRef::new(&repo, "dev", "sales").unwrap(),
        &more,
        &opts("more sales"),
    )
    .await
    .unwrap();
    lake
}

fn slt_files() -> Vec<PathBuf> {
    let dir = manifest_dir().join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

/// What to run, from the arguments as libtest takes them: names to run
/// (substrings, any of which selects a file) and `--skip NAME` to leave
/// files out. Other flags (`--nocapture`, ...) mean nothing here.
struct Selection {
    filters: Vec<String>,
    skips: Vec<String>,
}

impl Selection {
    fn from_args() -> Selection {
        let mut sel = Selection {
            filters: Vec::new(),
            skips: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            if a == "--skip" {
                sel.skips.extend(args.next());
            } else if let Some(s) = a.strip_prefix("--skip=") {
                sel.skips.push(s.to_string());
            } else if !a.starts_with('-') {
                sel.filters.push(a);
            }
        }
        sel
    }

    fn runs(&self, name: &str) -> bool {
        (self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str())))
            && !self.skips.iter().any(|s| name.contains(s.as_str()))
    }
}

fn main() {
    let selection = Selection::from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut passed, mut failed) = (0, 0);
    for path in slt_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !selection.runs(&name) {
            continue;
        }
        let result = rt.block_on(async {
            let dir = Arc::new(tempfile::tempdir().unwrap());
            let lake = fixture(dir.path()).await;
            let mut runner = sqllogictest::Runner::new(move || {
                let lake = lake.clone();
                let dir = dir.clone();
                async move {
                    let ctx = weir_sql::session(lake, &weir_sql::SqlOptions::default())
                        .map_err(|e| DbError(e.to_string()))?;
                    Ok(Db { ctx, _dir: dir })
                }
            });
            runner.run_file_async(&path).await
        });
        match result {
            Ok(()) => {
                println!("test slt::{name} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test slt::{name} ... FAILED\n{e}");
                failed += 1;
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
    // A filter that selects nothing is a mistake, not a pass.
    if passed == 0 && !selection.filters.is_empty() {
        println!("no .slt file matches {:?}", selection.filters);
        std::process::exit(1);
    }
}

/// This crate's directory, read when the tests run: a shared target
/// directory may hold a test binary built from another checkout of the
/// same sources, whose compile-time path is not this one.
pub fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
