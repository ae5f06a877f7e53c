//! Usage billed through Stripe: the `usage` table summed per tenant,
//! meter and hour, posted as Stripe Billing meter events
//! (`POST /v1/billing/meter_events`, form-encoded).
//!
//! Exactly once in effect: each event's `identifier` (also sent as the
//! `Idempotency-Key`) is a hash of the lake, tenant, meter and window, so a
//! window posted again after a crash is the same events, which Stripe
//! answers as already received; the lake's cursor (up to where usage was
//! billed) moves past a window only after Stripe accepted all of its
//! events. Usage counts in the window its row's `end` falls in; windows
//! end `settle` before now so that servers have flushed their counts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use deltalake::datafusion::prelude::col;
use serde::Serialize;
use sha2::{Digest, Sha256};
use weir_lineage::usage::{self, UsageRow};
use weir_store::Lake;

use crate::authz::Model;
use crate::error::{Result, ServerError};

/// The lake's setting that says where billing got to.
const CURSOR: (&str, &str) = ("", "billing.cursor");
/// The end of the period an export began to post: an export after a crash
/// finishes that period with the same windows, so the same identifiers.
const PENDING: (&str, &str) = ("", "billing.pending");

/// What one usage row adds to a meter.
pub type Measure = fn(&UsageRow) -> f64;

/// Stripe meters weir reports, by `event_name`, with what a usage row adds
/// to each. Values are whole numbers in the unit the name says.
pub const METERS: &[(&str, Measure)] = &[
    ("weir_requests", |r| r.requests as f64),
    ("weir_cpu_ms", |r| r.cpu_seconds * 1e3),
    ("weir_storage_mb_hours", |r| r.byte_hours / 1e6),
    ("weir_transfer_out_mb", |r| r.bytes_out as f64 / 1e6),
];

/// One meter event, as posted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    pub event_name: String,
    pub tenant: String,
    pub customer: String,
    pub value: u64,
    pub identifier: String,
    /// Unix seconds: the window's last second.
    pub timestamp: i64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub from: Option<String>,
    pub until: String,
    pub events: usize,
    /// Tenants with usage in the period and no Stripe customer: not billed.
    pub unbilled_tenants: Vec<String>,
}

pub struct Stripe {
    pub api_base: String,
    pub secret_key: String,
    pub timeout: Duration,
    /// Tries per event on 429, 5xx and timeouts (backing off between).
    pub attempts: u32,
}

fn setting(lake: &Lake, k: (&str, &str)) -> Result<Option<String>> {
    Ok(lake.meta_store().get_setting(k.0, k.1)?)
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Where billing got to: usage ending before this time has been billed.
pub fn cursor(lake: &Lake) -> Result<Option<DateTime<Utc>>> {
    Ok(setting(lake, CURSOR)?.as_deref().and_then(parse))
}

/// The events of usage ending in `[from, until)`, window by window (an
/// hour at most each), oldest first.
pub async fn plan(
    lake: &Arc<Lake>,
    model: &Model,
    from: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
) -> Result<(Vec<(DateTime<Utc>, Vec<Event>)>, Vec<String>)> {
    let mut filter = col("end").lt(usage::time_lit(until));
    if let Some(f) = from {
        filter = filter.and(col("end").gt_eq(usage::time_lit(f)));
    }
    let rows = usage::select(lake, Some(filter))
        .await
        .map_err(|e| ServerError::Other(e.code(), e.to_string()))?;
    let Some(first) = rows.iter().filter_map(|r| parse(&r.end)).min() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let hour = TimeDelta::hours(1);
    let start = from.unwrap_or_else(|| first.duration_trunc(hour).unwrap_or(first));
    // window end -> (tenant, meter) -> value
    let mut sums: BTreeMap<DateTime<Utc>, BTreeMap<(String, &str), f64>> = BTreeMap::new();
    let mut unbilled = std::collections::BTreeSet::new();
    for r in &rows {
        let Some(end) = parse(&r.end) else { continue };
        let next_hour = end.duration_trunc(hour).unwrap_or(end) + hour;
        let w = next_hour.min(until);
        if model.stripe_customer(&r.tenant).is_none() {
            unbilled.insert(r.tenant.clone());
            continue;
        }
        let by = sums.entry(w).or_default();
        for (name, add) in METERS {
            *by.entry((r.tenant.clone(), name)).or_default() += add(r);
        }
    }
    // The lake's id, so two lakes billed to one Stripe account never
    // share an identifier.
    let id = weir_lineage::costs::account(lake);
    let mut out = Vec::new();
    let mut begin = start;
    for (w, by) in sums {
        let events = by
            .into_iter()
            .filter_map(|((tenant, name), v)| {
                let value = v.round() as u64;
                if value == 0 {
                    return None;
                }
                let customer = model.stripe_customer(&tenant)?.to_string();
                let mut h = Sha256::new();
                for part in [&id, &tenant, name, &begin.to_rfc3339(), &w.to_rfc3339()] {
                    h.update(part.as_bytes());
                    h.update([0]);
                }
                Some(Event {
                    event_name: name.to_string(),
                    tenant,
                    customer,
                    value,
                    identifier: format!("weir_{}", &hex::encode(h.finalize())[..40]),
                    timestamp: w.timestamp() - 1,
                })
            })
            .collect();
        out.push((w, events));
        begin = w;
    }
    Ok((out, unbilled.into_iter().collect()))
}

/// Bills usage up to `until`: posts each window's events, then moves the
/// cursor past it. A period an earlier export left unfinished is
/// finished first, window for window as that export planned it.
pub async fn export(
    lake: &Arc<Lake>,
    model: &Model,
    stripe: &Stripe,
    until: DateTime<Utc>,
) -> Result<Report> {
    let client = reqwest::Client::builder()
        .timeout(stripe.timeout)
        .build()
        .map_err(|e| ServerError::InvalidArgument(format!("Stripe client: {e}")))?;
    let first = cursor(lake)?;
    let mut report = Report {
        from: first.map(usage::timestamp),
        until: usage::timestamp(until),
        events: 0,
        unbilled_tenants: Vec::new(),
    };
    loop {
        let from = cursor(lake)?;
        let pending = setting(lake, PENDING)?.as_deref().and_then(parse);
        let target = match pending {
            Some(p) if from.is_none_or(|f| p > f) => p,
            _ => until,
        };
        if from.is_some_and(|f| f >= target) {
            break;
        }
        lake.meta_store()
            .put_setting(PENDING.0, PENDING.1, &usage::timestamp(target))?;
        let (windows, unbilled) = plan(lake, model, from, target).await?;
        report.unbilled_tenants.extend(unbilled);
        let mut at = setting(lake, CURSOR)?;
        for (w, events) in &windows {
            for e in events {
                post(&client, stripe, e).await?;
                report.events += 1;
            }
            at = Some(advance(lake, at.as_deref(), *w)?);
        }
        if at.as_deref().and_then(parse) != Some(target) {
            advance(lake, at.as_deref(), target)?;
        }
        if target >= until {
            break;
        }
    }
    report.unbilled_tenants.sort();
    report.unbilled_tenants.dedup();
    Ok(report)
}

fn advance(lake: &Lake, at: Option<&str>, to: DateTime<Utc>) -> Result<String> {
    let stamp = usage::timestamp(to);
    if !lake
        .meta_store()
        .swap_setting(CURSOR.0, CURSOR.1, at, &stamp)?
    {
        return Err(ServerError::Conflict(
            "another billing export moved the cursor meanwhile: run weir billing export again"
                .into(),
        ));
    }
    Ok(stamp)
}

/// Posts one event, retrying what Stripe asks to retry.
async fn post(client: &reqwest::Client, stripe: &Stripe, e: &Event) -> Result<()> {
    let url = format!(
        "{}/v1/billing/meter_events",
        stripe.api_base.trim_end_matches('/')
    );
    let form = [
        ("event_name", e.event_name.clone()),
        ("payload[stripe_customer_id]", e.customer.clone()),
        ("payload[value]", e.value.to_string()),
        ("identifier", e.identifier.clone()),
        ("timestamp", e.timestamp.to_string()),
    ];
    let mut wait = Duration::from_millis(250);
    let mut last = String::new();
    for attempt in 1..=stripe.attempts.max(1) {
        let sent = client
            .post(&url)
            .bearer_auth(&stripe.secret_key)
            .header("Idempotency-Key", &e.identifier)
            .form(&form)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let body = r.text().await.unwrap_or_default();
                let message = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or(body);
                last = format!("{status}: {message}");
                if status.as_u16() != 429 && !status.is_server_error() {
                    return Err(ServerError::InvalidArgument(format!(
                        "Stripe refused meter event {} ({} for {}): {last}",
                        e.identifier, e.event_name, e.customer
                    )));
                }
                if let Some(s) = retry_after {
                    wait = Duration::from_secs(s.min(60));
                }
            }
            Err(err) => last = err.to_string(),
        }
        tracing::warn!(attempt, identifier = %e.identifier, error = %last, "Stripe: retrying");
        if attempt < stripe.attempts {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    }
    Err(ServerError::Other(
        weir_core::ErrorCode::Unavailable,
        format!(
            "Stripe did not take meter event {} after {} tries: {last}; run weir billing export again (nothing is billed twice)",
            e.identifier, stripe.attempts
        ),
    ))
}
