//! `POST /api/v1/sql`: a query over the lake, answered as an Arrow IPC
//! stream, JSON, NDJSON or CSV by `Accept`, streamed batch by batch so a
//! large result never sits whole in the server's memory. Only queries run
//! here, in a session that cannot write (`weir_sql::read_only_session`):
//! writes over HTTP go through the object API or the S3 gateway, where
//! each one is a staged, auditable change.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::ipc::writer::StreamWriter;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use weir_sql::SqlOptions;

use crate::AppState;
use crate::authz::{Decision, Principal, Resource};
use crate::error::ServerError;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/sql", post(sql))
}

#[derive(Deserialize, Default)]
struct Params {
    query: Option<String>,
    repo: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Arrow,
    Json,
    NdJson,
    Csv,
}

impl Format {
    fn from_accept(h: &HeaderMap) -> Format {
        let accept = h
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for part in accept.split(',') {
            match part.split(';').next().unwrap_or("").trim() {
                "application/vnd.apache.arrow.stream" => return Format::Arrow,
                "application/x-ndjson" | "application/jsonl" => return Format::NdJson,
                "text/csv" => return Format::Csv,
                "application/json" => return Format::Json,
                _ => {}
            }
        }
        Format::Json
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Json => "application/json",
            Format::NdJson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// A query error as JSON, with the line and column when the parser gave one.
fn query_error(status: StatusCode, message: String) -> Response {
    let mut body = json!({ "message": message });
    if let Some(i) = message.find("Line: ") {
        let rest = &message[i + 6..];
        let num = |s: &str| {
            s.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u64>()
                .ok()
        };
        if let Some(line) = num(rest) {
            body["line"] = json!(line);
            if let Some(j) = rest.find("Column: ") {
                body["column"] = json!(num(&rest[j + 8..]));
            }
        }
    }
    (status, Json(body)).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    query_error(StatusCode::BAD_REQUEST, message.into())
}

async fn sql(
    State(s): State<Arc<AppState>>,
    Extension(who): Extension<Principal>,
    Query(q): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = if crate::declares_json(&headers) {
        match serde_json::from_slice::<Params>(&body) {
            Ok(p) => p,
            Err(e) => return bad(format!("the body is not a JSON object with a query: {e}")),
        }
    } else {
        Params {
            query: Some(String::from_utf8_lossy(&body).into_owned())
                .filter(|t| !t.trim().is_empty()),
            ..Default::default()
        }
    };
    let Some(text) = p.query.or(q.query) else {
        return bad("no query: send SQL as the body, or JSON {\"query\": ...}");
    };
    let opts = SqlOptions {
        repo: p.repo.or(q.repo),
        reference: p.reference.or(q.reference),
    };
    if opts.repo.as_deref() == Some(weir_core::names::SYSTEM_REPO) {
        return bad(
            "the system repository is read through weir_runs(), weir_lineage() and weir_usage()",
        );
    }
    let format = Format::from_accept(&headers);
    // Held until the answer's last byte is sent (it moves into the body).
    let permit = match who.model.quota(who.tenant()).concurrent_queries {
        Some(n) => match s.quotas.query(who.tenant(), n) {
            Some(p) => Some(p),
            None => {
                return ServerError::OverQuota(
                    format!(
                        "tenant {} already runs {n} queries at once, its quota",
                        who.tenant()
                    ),
                    1,
                )
                .into_response();
            }
        },
        None => None,
    };
    let record = s.meter.is_on().then(|| crate::usage::QueryRecord {
        state: s.clone(),
        who: Some((who.user.clone(), who.tenant().to_string())),
        id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        repository: opts.repo.clone(),
        started: chrono::Utc::now(),
        clock: std::time::Instant::now(),
        bytes_in: body.len() as u64,
        rows: 0,
        bytes_out: 0,
        plan: None,
    });
    match run(&s, &who, &text, &opts, format, (permit, record)).await {
        Ok(r) => r,
        Err(e) => {
            let status = StatusCode::from_u16(e.code().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            query_error(status, e.to_string())
        }
    }
}

async fn run(
    s: &Arc<AppState>,
    who: &Principal,
    text: &str,
    opts: &SqlOptions,
    format: Format,
    // The query's place in its tenant's count and its usage record: both
    // end with the answer's last byte (they move into the body).
    (permit, mut record): (
        Option<crate::quota::QueryPermit>,
        Option<crate::usage::QueryRecord>,
    ),
) -> Result<Response, weir_sql::SqlError> {
    // The session cannot write (weir_sql::guard): the statement is planned
    // and refused unless its plan only reads.
    // It sees only the repositories the caller may query.
    let repos = s
        .lake
        .list_repos()?
        .into_iter()
        .map(|r| r.name)
        .filter(|n| who.decide("sql:Query", &Resource::repo(n)) == Decision::Allow)
        .collect();
    // Lineage is the caller's tenant's; the lake-wide tables only for the
    // default tenant: run records and audit for its readers, every
    // tenant's usage and costs for the lake's admins.
    let lineage = who.decide("lineage:Read", &Resource::Lineage) == Decision::Allow;
    let system = weir_sql::SystemTables {
        records: lineage && who.tenant() == crate::authz::DEFAULT_TENANT,
        lineage: lineage.then(|| Some(who.tenant().to_string())),
        usage: who.decide("admin:ReadUsage", &Resource::Lake) == Decision::Allow,
    };
    let session = weir_sql::scoped_session(s.lake.clone(), opts, repos, system)?;
    let df = session.query(text).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    let stream = deltalake::datafusion::physical_plan::execute_stream(plan.clone(), task)?;
    if let Some(r) = &mut record {
        r.plan = Some(plan);
    }
    let enc = Encoder::new(format, schema)?;
    let body = futures::stream::unfold(
        (enc, stream, Stage::Begin, (permit, record)),
        |(mut enc, mut stream, stage, mut held)| async move {
            let (out, next) = match stage {
                Stage::Begin => (Ok(enc.begin()), Stage::Rows),
                Stage::Rows => match stream.next().await {
                    Some(Ok(b)) => match enc.batch(&b) {
                        Ok(bytes) => {
                            if let Some(r) = &mut held.1 {
                                r.rows += b.num_rows() as u64;
                                r.bytes_out += bytes.len() as u64;
                            }
                            (Ok(bytes), Stage::Rows)
                        }
                        Err(e) => (Err(e), Stage::Done),
                    },
                    // The status line has gone: a failure mid-stream can
                    // only cut the response short, which clients detect
                    // (no Arrow end-of-stream marker, unbalanced JSON).
                    Some(Err(e)) => (Err(ArrowError::ExternalError(Box::new(e))), Stage::Done),
                    None => (enc.end(), Stage::Done),
                },
                Stage::Done => return None,
            };
            Some((out, (enc, stream, next, held)))
        },
    );
    Ok((
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from_stream(body),
    )
        .into_response())
}

enum Stage {
    Begin,
    Rows,
    Done,
}

/// Turns batches into the bytes of one response format.
struct Encoder {
    format: Format,
    schema: SchemaRef,
    ipc: Option<StreamWriter<Vec<u8>>>,
    /// Rows (JSON) or a header (CSV) written so far.
    started: bool,
}

impl Encoder {
    fn new(format: Format, schema: SchemaRef) -> Result<Encoder, weir_sql::SqlError> {
        let ipc = match format {
            Format::Arrow => Some(
                StreamWriter::try_new(Vec::new(), &schema)
                    .map_err(|e| weir_sql::SqlError::DataFusion(e.into()))?,
            ),
            _ => None,
        };
        Ok(Encoder {
            format,
            schema,
            ipc,
            started: false,
        })
    }

    fn begin(&mut self) -> Bytes {
        match (&mut self.ipc, self.format) {
            (Some(w), _) => Bytes::from(std::mem::take(w.get_mut())),
            (None, Format::Json) => Bytes::from_static(b"["),
            _ => Bytes::new(),
        }
    }

    fn batch(&mut self, b: &RecordBatch) -> Result<Bytes, ArrowError> {
        use deltalake::arrow::{csv, json};
        if b.num_rows() == 0 {
            return Ok(Bytes::new());
        }
        let mut buf = Vec::new();
        match self.format {
            Format::Arrow => {
                let w = self.ipc.as_mut().expect("an IPC writer");
                w.write(b)?;
                return Ok(Bytes::from(std::mem::take(w.get_mut())));
            }
            Format::Json => {
                let mut w = json::ArrayWriter::new(&mut buf);
                w.write(b)?;
                w.finish()?;
                // `[row,row]` → `,row,row` after the first batch.
                let inner = &buf[1..buf.len() - 1];
                let mut out = Vec::with_capacity(inner.len() + 1);
                if self.started {
                    out.push(b',');
                }
                out.extend_from_slice(inner);
                self.started = true;
                return Ok(Bytes::from(out));
            }
            Format::NdJson => {
                let mut w = json::LineDelimitedWriter::new(&mut buf);
                w.write(b)?;
                w.finish()?;
            }
            Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .with_header(!self.started)
                    .build(&mut buf);
                w.write(b)?;
                self.started = true;
            }
        }
        Ok(Bytes::from(buf))
    }

    fn end(&mut self) -> Result<Bytes, ArrowError> {
        match self.format {
            Format::Arrow => {
                let w = self.ipc.as_mut().expect("an IPC writer");
                w.finish()?;
                Ok(Bytes::from(std::mem::take(w.get_mut())))
            }
            Format::Json => Ok(Bytes::from_static(b"]")),
            Format::NdJson => Ok(Bytes::new()),
            // An empty result still names its columns.
            Format::Csv if !self.started => {
                let mut buf = Vec::new();
                let mut w = deltalake::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut buf);
                w.write(&RecordBatch::new_empty(self.schema.clone()))?;
                drop(w);
                Ok(Bytes::from(buf))
            }
            Format::Csv => Ok(Bytes::new()),
        }
    }
}
