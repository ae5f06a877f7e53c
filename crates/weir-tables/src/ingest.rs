//! `weir ingest`: load a CSV, JSON or Parquet file into a table on a branch.
//!
//! The file is streamed: a blocking reader thread parses batches and hands
//! them over a bounded channel to the Delta writer, so files larger than
//! memory work. The SHA-256 of the source bytes is computed on the way and
//! recorded in the lake commit. Any parse error stops the write, names the
//! file, line and column, and withdraws everything the write staged.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use serde::Serialize;
use sha2::Digest;
use weir_store::{CommitRecord, Progress};

use crate::delta::TableRef;
use crate::error::{Result, TablesError};
use crate::write::{CommitSpec, WriteMode, WriteOptions, write_stream};

const BATCH_ROWS: usize = 64 * 1024;
const INFER_ROWS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestFormat {
    Csv,
    Json,
    Parquet,
}

impl std::str::FromStr for IngestFormat {
    type Err = TablesError;
    fn from_str(s: &str) -> Result<IngestFormat> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(IngestFormat::Csv),
            "json" | "ndjson" | "jsonl" => Ok(IngestFormat::Json),
            "parquet" => Ok(IngestFormat::Parquet),
            o => Err(TablesError::InvalidArgument(format!(
                "unknown format {o:?}: use csv, json or parquet"
            ))),
        }
    }
}

impl IngestFormat {
    pub fn from_path(p: &Path) -> Result<IngestFormat> {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default();
        ext.parse().map_err(|_| {
            TablesError::InvalidArgument(format!(
                "cannot tell the format of {} from its extension; pass --format csv|json|parquet",
                p.display()
            ))
        })
    }
}

pub struct IngestOptions {
    pub format: Option<IngestFormat>,
    pub mode: WriteMode,
    pub allow_new_columns: bool,
    /// Commit to the lake after writing (else stage only).
    pub commit: bool,
    pub message: Option<String>,
    pub committer: String,
    pub progress: Option<Arc<dyn Progress>>,
}

#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub table: String,
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    pub rows: u64,
    pub version: u64,
    pub created: bool,
    pub lake_commit: Option<String>,
    #[serde(skip)]
    pub commit: Option<CommitRecord>,
}

/// Reads through, hashing every byte and reporting progress.
struct Hashing<R> {
    inner: R,
    hash: Arc<Mutex<(sha2::Sha256, u64)>>,
    progress: Option<Arc<dyn Progress>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut h = self.hash.lock().unwrap();
        h.0.update(&buf[..n]);
        h.1 += n as u64;
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        Ok(n)
    }
}

/// Delta has no unsigned, half-float or zone-less nanosecond types: map
/// them onto what it stores. Naive timestamps are taken as UTC.
fn delta_type(t: &DataType) -> DataType {
    match t {
        DataType::UInt8 | DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::Timestamp(_, tz) => DataType::Timestamp(
            TimeUnit::Microsecond,
            Some(tz.clone().unwrap_or_else(|| "UTC".into())),
        ),
        DataType::Date64 => DataType::Date32,
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::Null => DataType::Utf8,
        other => other.clone(),
    }
}

fn delta_schema(s: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        s.fields()
            .iter()
            .map(|f| Field::new(f.name(), delta_type(f.data_type()), true))
            .collect::<Vec<_>>(),
    ))
}

fn conform(batch: RecordBatch, target: &SchemaRef) -> std::result::Result<RecordBatch, ArrowError> {
    let cols = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(target.clone(), cols)
}

/// Rewrites arrow's "for column N at line L" into the column's name and a
/// 1-based line of the file (arrow counts data rows from 0... after the
/// header, which is line 1).
fn explain(file: &Path, schema: &Schema, e: &ArrowError, header_lines: usize) -> TablesError {
    let mut msg = e.to_string();
    if let Some(i) = msg.find("for column ") {
        let rest = &msg[i + 11..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse::<usize>()
            && let Some(f) = schema.fields().get(n)
        {
            msg = format!(
                "{}for column {:?}{}",
                &msg[..i],
                f.name(),
                &rest[digits.len()..]
            );
        }
    }
    if let Some(i) = msg.find("at line ") {
        let rest = &msg[i + 8..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse::<usize>() {
            msg = format!(
                "{}at line {}{}",
                &msg[..i],
                n + header_lines,
                &rest[digits.len()..]
            );
        }
    }
    TablesError::BadInput {
        file: file.display().to_string(),
        message: msg.trim_start_matches("Parser error: ").to_string(),
    }
}

type BatchIter = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

/// Opens the file and returns its (inferred) schema and a batch iterator.
fn open_reader(
    path: &Path,
    format: IngestFormat,
    hashing: Hashing<File>,
) -> Result<(SchemaRef, BatchIter, usize)> {
    use deltalake::arrow::csv;
    use deltalake::arrow::json;
    let bad = |e: ArrowError| TablesError::BadInput {
        file: path.display().to_string(),
        message: e.to_string(),
    };
    match format {
        IngestFormat::Csv => {
            let fmt = csv::reader::Format::default().with_header(true);
            let mut f = File::open(path)?;
            let (schema, _) = fmt.infer_schema(&mut f, Some(INFER_ROWS)).map_err(bad)?;
            if schema.fields().is_empty() {
                return Err(TablesError::BadInput {
                    file: path.display().to_string(),
                    message: "the file has no header row".into(),
                });
            }
            let schema = Arc::new(schema);
            let reader = csv::ReaderBuilder::new(schema.clone())
                .with_format(fmt)
                .with_batch_size(BATCH_ROWS)
                .build(BufReader::new(hashing))
                .map_err(bad)?;
            Ok((schema, Box::new(reader), 1))
        }
        IngestFormat::Json => {
            let mut probe = BufReader::new(File::open(path)?);
            let first = probe
                .fill_buf()?
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .copied();
            if first == Some(b'[') {
                // A JSON array: read it whole (arrays cannot be streamed
                // row by row) and turn it into newline-delimited JSON.
                let mut text = Vec::new();
                BufReader::new(hashing).read_to_end(&mut text)?;
                let rows: Vec<serde_json::Value> =
                    serde_json::from_slice(&text).map_err(|e| TablesError::BadInput {
                        file: path.display().to_string(),
                        message: format!(
                            "invalid JSON at line {}, column {}: {e}",
                            e.line(),
                            e.column()
                        ),
                    })?;
                let mut nd = Vec::with_capacity(text.len());
                for r in rows {
                    serde_json::to_writer(&mut nd, &r).unwrap_or_default();
                    nd.push(b'\n');
                }
                let (schema, _) =
                    json::reader::infer_json_schema(Cursor::new(&nd), Some(INFER_ROWS))
                        .map_err(bad)?;
                let schema = Arc::new(schema);
                let reader = json::ReaderBuilder::new(schema.clone())
                    .with_batch_size(BATCH_ROWS)
                    .build(Cursor::new(nd))
                    .map_err(bad)?;
                return Ok((schema, Box::new(reader), 0));
            }
            probe.seek(SeekFrom::Start(0))?;
            let (schema, _) =
                json::reader::infer_json_schema(probe, Some(INFER_ROWS)).map_err(bad)?;
            let schema = Arc::new(schema);
            let reader = json::ReaderBuilder::new(schema.clone())
                .with_batch_size(BATCH_ROWS)
                .build(BufReader::new(hashing))
                .map_err(bad)?;
            Ok((schema, Box::new(reader), 0))
        }
        IngestFormat::Parquet => {
            use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
            // Parquet needs random access, so the hash is taken in a
            // separate sequential pass.
            let mut h = hashing;
            std::io::copy(&mut h, &mut std::io::sink())?;
            let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)
                .map_err(|e| TablesError::BadInput {
                    file: path.display().to_string(),
                    message: e.to_string(),
                })?
                .with_batch_size(BATCH_ROWS);
            let schema = b.schema().clone();
            let reader = b.build().map_err(|e| TablesError::BadInput {
                file: path.display().to_string(),
                message: e.to_string(),
            })?;
            Ok((schema, Box::new(reader), 0))
        }
    }
}

/// Ingests `file` into the table `t` (which must be on a branch).
pub async fn ingest_file(t: &TableRef, file: &Path, opts: &IngestOptions) -> Result<IngestReport> {
    crate::write::require_branch(t)?;
    let meta = std::fs::metadata(file).map_err(|e| TablesError::BadInput {
        file: file.display().to_string(),
        message: e.to_string(),
    })?;
    if !meta.is_file() {
        return Err(TablesError::BadInput {
            file: file.display().to_string(),
            message: "not a regular file".into(),
        });
    }
    let format = match opts.format {
        Some(f) => f,
        None => IngestFormat::from_path(file)?,
    };
    if let Some(p) = &opts.progress {
        p.start("ingest", meta.len());
    }
    let hash = Arc::new(Mutex::new((sha2::Sha256::new(), 0u64)));
    let hashing = Hashing {
        inner: File::open(file)?,
        hash: hash.clone(),
        progress: opts.progress.clone(),
    };
    let path: PathBuf = file.to_path_buf();
    let (raw_schema, mut batches, header_lines) = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || open_reader(&path, format, hashing))
            .await
            .map_err(|e| TablesError::InvalidArgument(e.to_string()))??
    };
    let target = delta_schema(&raw_schema);
    let first_error: Arc<Mutex<Option<TablesError>>> = Arc::default();
    let (tx, rx) =
        tokio::sync::mpsc::channel::<std::result::Result<RecordBatch, DataFusionError>>(4);
    {
        let target = target.clone();
        let first_error = first_error.clone();
        let path = path.clone();
        let raw_schema = raw_schema.clone();
        tokio::task::spawn_blocking(move || {
            for b in batches.by_ref() {
                let item = b
                    .map_err(|e| explain(&path, &raw_schema, &e, header_lines))
                    .and_then(|b| conform(b, &target).map_err(TablesError::from));
                match item {
                    Ok(b) => {
                        if tx.blocking_send(Ok(b)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        *first_error.lock().unwrap() = Some(e);
                        let _ = tx.blocking_send(Err(DataFusionError::Execution(msg)));
                        return;
                    }
                }
            }
        });
    }
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        target.clone(),
        tokio_stream(rx),
    ));
    let message = opts.message.clone().unwrap_or_else(|| {
        format!(
            "Ingest {} into {} ({})",
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            t.name,
            opts.mode.as_str()
        )
    });
    // The commit metadata needs the hash, known only once the stream ends:
    // write first (staged), then commit with the full record.
    let written = write_stream(
        t,
        stream,
        &WriteOptions {
            mode: opts.mode,
            allow_new_columns: opts.allow_new_columns,
            replace_schema: false,
            commit: None,
            properties: Vec::new(),
        },
    )
    .await;
    if let Some(p) = &opts.progress {
        p.finish();
    }
    let written = match written {
        Ok(w) => w,
        Err(e) => return Err(first_error.lock().unwrap().take().unwrap_or(e)),
    };
    let (sha, bytes) = {
        let h = hash.lock().unwrap();
        (hex::encode(h.0.clone().finalize()), h.1)
    };
    let mut report = IngestReport {
        table: t.name.clone(),
        file: file.display().to_string(),
        sha256: sha.clone(),
        bytes,
        rows: written.rows,
        version: written.version,
        created: written.created,
        lake_commit: None,
        commit: None,
    };
    if opts.commit {
        let mut md = BTreeMap::new();
        md.insert("weir.table".into(), t.name.clone());
        md.insert("weir.table.version".into(), written.version.to_string());
        md.insert(
            "weir.table.operation".into(),
            format!("ingest-{}", opts.mode.as_str()),
        );
        md.insert("weir.source.file".into(), file.display().to_string());
        md.insert("weir.source.sha256".into(), sha);
        md.insert("weir.source.rows".into(), written.rows.to_string());
        let branch = crate::write::require_branch(t)?;
        let spec = CommitSpec {
            message,
            committer: opts.committer.clone(),
            metadata: md,
        };
        let c = t
            .repo
            .commit_prefix(
                &branch,
                &format!("{}/", t.name),
                &spec.message,
                &spec.committer,
                spec.metadata,
                false,
            )
            .await?;
        report.lake_commit = Some(c.id.clone());
        report.commit = Some(c);
    }
    Ok(report)
}

fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
