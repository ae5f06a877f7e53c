//! Tenants' limits, enforced where requests come in: requests per second
//! (a token bucket per tenant, on every surface), SQL queries at once and
//! bytes stored (measured with the storage samples, plus what was written
//! since).
//! A request over a limit is refused before it does anything (429 with
//! Retry-After; S3 SlowDown), so it never writes in part. A tenant without
//! a quota costs one lookup in the model and nothing else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Whether a request stores its body (what the stored-bytes quota counts):
/// a REST upload, or an S3 PutObject or UploadPart.
pub(crate) fn stores_body(
    method: &axum::http::Method,
    route: Option<&str>,
    s3_op: Option<&str>,
) -> bool {
    match (route, s3_op) {
        (Some(r), _) => {
            method == axum::http::Method::POST && r.ends_with("/branches/{branch}/objects")
        }
        (None, Some(op)) => op == "PutObject" || op == "UploadPart",
        (None, None) => false,
    }
}

#[derive(Default)]
pub struct Quotas {
    buckets: Mutex<HashMap<String, Bucket>>,
    queries: Arc<Mutex<HashMap<String, u32>>>,
    /// Bytes each tenant stores, as last measured plus what was written
    /// through this server since (deletes count when measured again).
    stored: Mutex<HashMap<String, u64>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A running query's place in its tenant's count, given back on drop.
pub struct QueryPermit {
    tenant: String,
    queries: Arc<Mutex<HashMap<String, u32>>>,
}

impl Drop for QueryPermit {
    fn drop(&mut self) {
        let mut q = self.queries.lock().unwrap();
        if let Some(n) = q.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Quotas {
    /// Takes one request of `tenant`'s `rps`; Err is the whole seconds to
    /// wait before the next one is admitted.
    pub fn admit(&self, tenant: &str, rps: u32) -> Result<(), u64> {
        let rate = f64::from(rps.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let b = buckets.entry(tenant.to_string()).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    /// The tenants' stored bytes, measured.
    pub fn set_stored(&self, measured: HashMap<String, u64>) {
        *self.stored.lock().unwrap() = measured;
    }

    pub fn add_stored(&self, tenant: &str, bytes: u64) {
        let mut s = self.stored.lock().unwrap();
        match s.get_mut(tenant) {
            Some(n) => *n += bytes,
            None => {
                s.insert(tenant.to_string(), bytes);
            }
        }
    }

    /// Whether `bytes` more fit under `limit` for `tenant`.
    pub fn fits(&self, tenant: &str, bytes: u64, limit: u64) -> Result<(), u64> {
        let now = self
            .stored
            .lock()
            .unwrap()
            .get(tenant)
            .copied()
            .unwrap_or(0);
        if now.saturating_add(bytes) > limit {
            Err(now)
        } else {
            Ok(())
        }
    }

    /// A place for one more query of `tenant`, if fewer than `limit` run.
    pub fn query(&self, tenant: &str, limit: u32) -> Option<QueryPermit> {
        let mut q = self.queries.lock().unwrap();
        let n = q.entry(tenant.to_string()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(QueryPermit {
            tenant: tenant.to_string(),
            queries: self.queries.clone(),
        })
    }
}
