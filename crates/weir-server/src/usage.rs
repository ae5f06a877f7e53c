//! Usage metering. Every authorized request is counted in memory by
//! tenant, user and operation (route template or S3 operation), with its
//! bytes and time; each SQL query is one record of its rows, bytes and the
//! engine's CPU time; a repository's stored bytes are sampled. A task
//! appends what was counted to the `usage` Delta table of the system
//! repository every `--usage-flush-secs` (one lake commit per flush), and
//! once more when the server stops.
//!
//! What a crash loses is bounded: the counts since the last flush (at most
//! one interval's worth; SIGKILL gives no chance to flush). A flush that
//! fails keeps its rows for the next one, up to [`MAX_PENDING`] rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::http::{Extensions, Method};
use chrono::{DateTime, Utc};
use weir_lineage::usage::{self, UsageRow, surface};
use weir_store::Lake;

use crate::authz::Principal;

/// Rows kept in memory while the table cannot be written; older ones are
/// dropped first (and logged) beyond this.
pub const MAX_PENDING: usize = 200_000;

/// Who a request was authorized for, filled in by the gate or the S3
/// access check; the metering layer reads it when the answer is ready.
#[derive(Clone, Default)]
pub(crate) struct Slot(Arc<OnceLock<Who>>);

pub(crate) struct Who {
    user: String,
    tenant: String,
    /// The S3 operation (the REST routes are known by their template).
    op: Option<&'static str>,
}

impl Slot {
    pub(crate) fn claim(ext: &Extensions, p: &Principal, op: Option<&'static str>) {
        if let Some(slot) = ext.get::<Slot>() {
            let _ = slot.0.set(Who {
                user: p.user.clone(),
                tenant: p.tenant().to_string(),
                op,
            });
        }
    }

    pub(crate) fn who(&self) -> Option<&Who> {
        self.0.get()
    }
}

#[derive(Default)]
struct Count {
    requests: i64,
    errors: i64,
    bytes_in: i64,
    bytes_out: i64,
    wall: f64,
}

/// FxHash, rustc's own: a rotate, an xor and a multiply per word. Every
/// request is counted under three keys (user, operation, surface and
/// method); with std's SipHash those hashes were most of metering's cost
/// per request (callgrind). The keys are this lake's user names and route
/// templates, not strings a caller chooses, so flooding is not a concern.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// Operation → (surface, method) → count, for one user.
type Ops = FxMap<String, FxMap<(&'static str, Method), Count>>;

struct Window {
    start: DateTime<Utc>,
    /// user → (tenant, counts). Nested so that counting a request of a
    /// user and operation seen before allocates nothing.
    users: FxMap<String, (String, Ops)>,
    /// Records of their own (queries).
    rows: Vec<UsageRow>,
}

impl Window {
    fn new() -> Window {
        Window {
            start: Utc::now(),
            users: FxMap::default(),
            rows: Vec::new(),
        }
    }
}

pub struct Meter {
    on: bool,
    recorder: String,
    window: Mutex<Window>,
    /// Rows a failed flush left for the next one.
    pending: Mutex<Vec<UsageRow>>,
    /// Serialises flushes (the periodic one and the last one at shutdown).
    flushing: tokio::sync::Mutex<()>,
}

impl Meter {
    pub fn new(on: bool) -> Meter {
        Meter {
            on,
            recorder: usage::recorder(),
            window: Mutex::new(Window::new()),
            pending: Mutex::default(),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// A slot for the request's caller, when metering is on.
    pub(crate) fn slot(&self) -> Option<Slot> {
        self.on.then(Slot::default)
    }

    /// Whether a request's body was stored: an upload that succeeded.
    pub(crate) fn stored<'a>(
        who: &'a Who,
        route: Option<&str>,
        method: &Method,
        status: u16,
    ) -> Option<&'a str> {
        (crate::quota::stores_body(method, route, who.op) && (200..300).contains(&status))
            .then_some(who.tenant.as_str())
    }

    /// Counts one answered request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn request(
        &self,
        who: &Who,
        route: Option<&str>,
        method: &Method,
        status: u16,
        bytes_in: u64,
        bytes_out: u64,
        took: Duration,
    ) {
        let (surface, op) = match (route, who.op) {
            (Some(r), _) if r.starts_with("/api/") || r == "/metrics" => (surface::REST, r),
            (Some(r), _) => (surface::DECIDE, r),
            (None, Some(op)) => (surface::S3, op),
            (None, None) => return,
        };
        let mut w = self.window.lock().unwrap();
        if !w.users.contains_key(&who.user) {
            w.users
                .insert(who.user.clone(), (who.tenant.clone(), Ops::default()));
        }
        let (_, ops) = w.users.get_mut(&who.user).expect("inserted above");
        if !ops.contains_key(op) {
            ops.insert(op.to_string(), FxMap::default());
        }
        let c = ops
            .get_mut(op)
            .expect("inserted above")
            .entry((surface, method.clone()))
            .or_default();
        c.requests += 1;
        c.errors += i64::from(status >= 400);
        c.bytes_in += bytes_in as i64;
        c.bytes_out += bytes_out as i64;
        c.wall += took.as_secs_f64();
    }

    /// A record of its own (a query, a storage sample).
    pub(crate) fn record(&self, mut row: UsageRow) {
        if !self.on {
            return;
        }
        row.recorder.clone_from(&self.recorder);
        self.window.lock().unwrap().rows.push(row);
    }

    /// Everything counted so far, as rows; the window starts again.
    fn take(&self) -> Vec<UsageRow> {
        let w = std::mem::replace(&mut *self.window.lock().unwrap(), Window::new());
        let (start, end) = (usage::timestamp(w.start), usage::timestamp(Utc::now()));
        let mut rows = w.rows;
        for (user, (tenant, ops)) in w.users {
            for (op, by) in ops {
                for ((surface, method), c) in by {
                    let operation = if surface == surface::S3 {
                        op.clone()
                    } else {
                        format!("{method} {op}")
                    };
                    rows.push(UsageRow {
                        start: start.clone(),
                        end: end.clone(),
                        tenant: tenant.clone(),
                        user: user.clone(),
                        surface: surface.to_string(),
                        operation,
                        requests: c.requests,
                        errors: c.errors,
                        bytes_in: c.bytes_in,
                        bytes_out: c.bytes_out,
                        wall_seconds: c.wall,
                        recorder: self.recorder.clone(),
                        ..UsageRow::default()
                    });
                }
            }
        }
        rows
    }

    /// Appends what was counted (and what an earlier flush could not
    /// write) to the usage table; the number of rows written.
    pub async fn flush(&self, lake: &Arc<Lake>) -> weir_lineage::Result<usize> {
        if !self.on {
            return Ok(0);
        }
        let _one = self.flushing.lock().await;
        let mut rows = std::mem::take(&mut *self.pending.lock().unwrap());
        rows.extend(self.take());
        if rows.is_empty() {
            return Ok(0);
        }
        match usage::append(lake, &rows, "weir").await {
            Ok(()) => Ok(rows.len()),
            Err(e) => {
                let n = rows.len();
                let mut p = self.pending.lock().unwrap();
                rows.append(&mut p);
                if rows.len() > MAX_PENDING {
                    let drop = rows.len() - MAX_PENDING;
                    tracing::error!(
                        rows = drop,
                        "usage rows dropped: the usage table could not be written for too long"
                    );
                    rows.drain(..drop);
                }
                *p = rows;
                tracing::warn!(rows = n, error = %e, "usage not flushed; kept for the next flush");
                Err(e)
            }
        }
    }
}

/// One SQL query's record, written when its answer is finished or dropped
/// (a client that goes away mid-answer is metered for what it got).
pub(crate) struct QueryRecord {
    pub state: Arc<crate::AppState>,
    pub who: Option<(String, String)>,
    pub id: String,
    pub repository: Option<String>,
    pub started: DateTime<Utc>,
    pub clock: Instant,
    pub bytes_in: u64,
    pub rows: u64,
    pub bytes_out: u64,
    pub plan: Option<Arc<dyn deltalake::datafusion::physical_plan::ExecutionPlan>>,
}

impl Drop for QueryRecord {
    fn drop(&mut self) {
        let Some((user, tenant)) = self.who.take() else {
            return;
        };
        let cpu = self
            .plan
            .as_ref()
            .map_or(0.0, |p| compute_seconds(p.as_ref()));
        self.state.meter.record(UsageRow {
            start: usage::timestamp(self.started),
            end: usage::timestamp(Utc::now()),
            tenant,
            user,
            surface: surface::SQL.into(),
            operation: "query".into(),
            resource_id: Some(std::mem::take(&mut self.id)),
            repository: self.repository.take(),
            requests: 1,
            bytes_in: self.bytes_in as i64,
            bytes_out: self.bytes_out as i64,
            rows: self.rows as i64,
            cpu_seconds: cpu,
            wall_seconds: self.clock.elapsed().as_secs_f64(),
            ..UsageRow::default()
        });
    }
}

/// The CPU time the engine's operators report (DataFusion's
/// `elapsed_compute`), over the whole plan.
fn compute_seconds(plan: &dyn deltalake::datafusion::physical_plan::ExecutionPlan) -> f64 {
    let own = plan
        .metrics()
        .and_then(|m| m.elapsed_compute())
        .unwrap_or(0) as f64
        / 1e9;
    own + plan
        .children()
        .iter()
        .map(|c| compute_seconds(c.as_ref()))
        .sum::<f64>()
}

/// The bytes of a request body, when its length was not declared
/// (a chunked upload), counted as the handler reads them.
pub(crate) enum BytesIn {
    Known(u64),
    Counted(Arc<std::sync::atomic::AtomicU64>),
}

impl BytesIn {
    /// Wraps `req`'s body if its length is not known in advance.
    pub(crate) fn of(req: &mut axum::extract::Request) -> BytesIn {
        if let Some(n) = http_body::Body::size_hint(req.body()).exact() {
            return BytesIn::Known(n);
        }
        let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let body = std::mem::take(req.body_mut());
        *req.body_mut() = axum::body::Body::new(Counted {
            inner: body,
            n: n.clone(),
        });
        BytesIn::Counted(n)
    }

    pub(crate) fn get(&self) -> u64 {
        match self {
            BytesIn::Known(n) => *n,
            BytesIn::Counted(n) => n.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

pin_project_lite::pin_project! {
    struct Counted {
        #[pin]
        inner: axum::body::Body,
        n: Arc<std::sync::atomic::AtomicU64>,
    }
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        let this = self.project();
        let r = this.inner.poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(f))) = &r
            && let Some(d) = f.data_ref()
        {
            this.n
                .fetch_add(d.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
