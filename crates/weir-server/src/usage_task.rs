//! The server's metering task: flushes counted usage on an interval,
//! measures stored bytes (for the tenants' stored-bytes quotas) and
//! samples them into usage. Several servers of one shared lake sample in
//! turn, not all at once: a sample is taken by the server that moves the
//! lake's "last sampled" time forward (a compare-and-swap in the metadata),
//! so byte-hours are counted once whatever the number of servers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use weir_core::names::SYSTEM_REPO;
use weir_lineage::usage::{self, UsageRow, surface};

use crate::AppState;

/// The lake's setting that holds the time of the last storage sample.
const SAMPLED: (&str, &str) = ("", "usage.storage_sampled_at");

/// Flushes every `flush`, samples stored bytes every `sample`, until the
/// task is dropped (the server flushes once more as it stops).
pub async fn run(state: Arc<AppState>) {
    let (flush, sample) = (state.options.usage_flush, state.options.storage_sample);
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sample_check = std::time::Instant::now() - sample;
    loop {
        tick.tick().await;
        if last_sample_check.elapsed() >= sample {
            last_sample_check = std::time::Instant::now();
            if let Err(e) = storage(&state, sample).await {
                tracing::warn!(error = %e, "storage not measured or sampled");
            }
        }
        // Errors are logged by the meter, which keeps the rows.
        let _ = state.meter.flush(&state.lake).await;
    }
}

/// Each repository's stored bytes (what its namespace holds in the data
/// store) and its tenant.
pub async fn measure(state: &Arc<AppState>) -> crate::Result<Vec<(String, String, u64)>> {
    let model = model(state).await?;
    let mut out = Vec::new();
    for r in state.lake.list_repos()? {
        if r.name == SYSTEM_REPO {
            continue;
        }
        let prefix = object_store::path::Path::from(r.namespace.as_str());
        let bytes: u64 = state
            .lake
            .data_store()
            .list(Some(&prefix))
            .map_ok(|m| m.size)
            .try_fold(0u64, |a, s| async move { Ok(a + s) })
            .await
            .map_err(|e| crate::ServerError::Store(weir_store::StoreError::from(e)))?;
        out.push((
            r.name.clone(),
            model.repo_tenant(&r.name).to_string(),
            bytes,
        ));
    }
    Ok(out)
}

async fn model(state: &Arc<AppState>) -> crate::Result<Arc<crate::authz::Model>> {
    let a = state.authz.clone();
    tokio::task::spawn_blocking(move || a.model())
        .await
        .map_err(|e| crate::ServerError::Keys(e.to_string()))?
}

/// Stored bytes by tenant, from [`measure`]'s repositories.
fn by_tenant(measured: &[(String, String, u64)]) -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    for (_, tenant, bytes) in measured {
        *out.entry(tenant.clone()).or_insert(0u64) += bytes;
    }
    out
}

/// Listing a lake's objects costs (a request per thousand on S3): this
/// server measures them when a tenant's stored bytes are limited, and
/// otherwise only when it is its turn to sample them into usage.
async fn storage(state: &Arc<AppState>, every: Duration) -> crate::Result<()> {
    let limited = model(state)
        .await?
        .tenants
        .values()
        .any(|t| t.quota.stored_bytes.is_some());
    let measured = if limited {
        let m = measure(state).await?;
        state.quotas.set_stored(by_tenant(&m));
        Some(m)
    } else {
        None
    };
    record_sample(state, every, measured).await?;
    Ok(())
}

/// Measures the tenants' stored bytes for their quotas now.
pub async fn refresh_stored(state: &Arc<AppState>) -> crate::Result<()> {
    let m = measure(state).await?;
    state.quotas.set_stored(by_tenant(&m));
    Ok(())
}

/// Records each repository's stored bytes if no server of the lake did
/// within `every`; the number of repositories sampled.
pub async fn sample_storage(state: &Arc<AppState>, every: Duration) -> crate::Result<usize> {
    record_sample(state, every, None).await
}

/// `measured`: the repositories' bytes if just measured (else measured
/// here, once this server has the turn).
async fn record_sample(
    state: &Arc<AppState>,
    every: Duration,
    measured: Option<Vec<(String, String, u64)>>,
) -> crate::Result<usize> {
    if !state.meter.is_on() {
        return Ok(0);
    }
    let meta = state.lake.meta_store();
    let now = Utc::now();
    let before = {
        let m = meta.clone();
        tokio::task::spawn_blocking(move || m.get_setting(SAMPLED.0, SAMPLED.1))
            .await
            .map_err(|e| crate::ServerError::Keys(e.to_string()))??
    };
    let last: Option<DateTime<Utc>> = before
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    if let Some(l) = last
        && (now - l).to_std().unwrap_or_default() < every
    {
        return Ok(0);
    }
    let stamp = usage::timestamp(now);
    let won = {
        let (m, b, s) = (meta.clone(), before.clone(), stamp.clone());
        tokio::task::spawn_blocking(move || m.swap_setting(SAMPLED.0, SAMPLED.1, b.as_deref(), &s))
            .await
            .map_err(|e| crate::ServerError::Keys(e.to_string()))??
    };
    if !won {
        return Ok(0);
    }
    let measured = match measured {
        Some(m) => m,
        None => measure(state).await?,
    };
    // The first sample of a lake starts the clock: no hours before it.
    let hours = last.map_or(0.0, |l| (now - l).num_milliseconds() as f64 / 3.6e6);
    let mut n = 0;
    for (repo, tenant, bytes) in measured {
        state.meter.record(UsageRow {
            start: last.map_or_else(|| stamp.clone(), usage::timestamp),
            end: stamp.clone(),
            tenant,
            user: String::new(),
            surface: surface::STORAGE.into(),
            operation: "stored".into(),
            resource_id: Some(repo.clone()),
            repository: Some(repo),
            stored_bytes: bytes as i64,
            byte_hours: bytes as f64 * hours,
            ..UsageRow::default()
        });
        n += 1;
    }
    Ok(n)
}
