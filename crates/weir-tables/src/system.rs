//! weir's own records (pipeline runs, lineage events) as Delta tables on
//! `main` of the system repository: typed rows in, typed rows out, through
//! Arrow's JSON reader and writer so nested lists and structs round-trip.

use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::physical_plan::memory::MemoryStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_store::{Lake, Repo};

use crate::delta::TableRef;
use crate::error::{Result, TablesError};
use crate::write::{CommitSpec, WriteMode, WriteOptions, write_stream};

/// weir's own repository for its records, created on first use.
pub async fn system_repo(lake: &Arc<Lake>, committer: &str) -> Result<Repo> {
    use weir_core::names::SYSTEM_REPO;
    use weir_store::StoreError;
    match lake.repo(SYSTEM_REPO) {
        Ok(r) => Ok(r),
        Err(StoreError::NotFound { .. }) => {
            match lake.create_repo(SYSTEM_REPO, "main", None, committer).await {
                Ok(r) => Ok(r),
                // Another process created it first.
                Err(StoreError::AlreadyExists { .. }) => Ok(lake.repo(SYSTEM_REPO)?),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Appends `rows` to the system table `table` as one Delta version and one
/// lake commit.
pub async fn append_rows<T: Serialize>(
    lake: &Arc<Lake>,
    table: &str,
    schema: SchemaRef,
    rows: &[T],
    commit: CommitSpec,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let repo = system_repo(lake, &commit.committer).await?;
    let t = TableRef::new(&repo, "main", table)?;
    let mut decoder = deltalake::arrow::json::ReaderBuilder::new(schema.clone()).build_decoder()?;
    decoder.serialize(rows)?;
    let batch = decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
    let stream = MemoryStream::try_new(vec![batch], schema, None)?;
    write_stream(
        &t,
        Box::pin(stream),
        &WriteOptions {
            mode: WriteMode::Append,
            // Records gain nullable columns as weir grows; older tables
            // take them on the next append.
            allow_new_columns: true,
            replace_schema: false,
            commit: Some(commit),
            // Appended on every run: a checkpoint every 10 versions keeps
            // the next append from replaying a long log.
            properties: vec![("delta.checkpointInterval".into(), "10".into())],
        },
    )
    .await?;
    Ok(())
}

/// Decodes rows written by [`append_rows`]. `lists` names list columns the
/// JSON writer leaves out when empty.
pub fn read_rows<T: DeserializeOwned>(batches: &[RecordBatch], lists: &[&str]) -> Result<Vec<T>> {
    let mut w = deltalake::arrow::json::ArrayWriter::new(Vec::new());
    w.write_batches(&batches.iter().collect::<Vec<_>>())?;
    w.finish()?;
    let bytes = w.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let bad = |e: serde_json::Error| TablesError::InvalidArgument(format!("stored records: {e}"));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(bad)?;
    rows.into_iter()
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                for k in lists {
                    o.entry(*k).or_insert(serde_json::json!([]));
                }
            }
            serde_json::from_value(v).map_err(bad)
        })
        .collect()
}
