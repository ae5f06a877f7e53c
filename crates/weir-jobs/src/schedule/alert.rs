//! Alerts: a firing's outcome posted to a webhook as JSON, signed with
//! HMAC-SHA256 of the body (`X-Weir-Signature: sha256=HEX`, the shape of
//! GitHub's and Stripe's webhook signatures) when the scheduler has a
//! secret, tried again with doubling waits on a network error or a
//! non-2xx answer, and recorded as a dead letter after the last try.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use weir_core::config::Alerts;

/// When a trigger's webhook hears from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyOn {
    /// A run that failed or could not start.
    #[default]
    Failure,
    /// Every firing.
    Always,
}

impl std::str::FromStr for NotifyOn {
    type Err = crate::JobsError;
    fn from_str(s: &str) -> crate::Result<NotifyOn> {
        match s {
            "failure" => Ok(NotifyOn::Failure),
            "always" => Ok(NotifyOn::Always),
            other => Err(crate::JobsError::InvalidArgument(format!(
                "--notify-on {other:?}: failure or always"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub url: String,
    #[serde(default)]
    pub on: NotifyOn,
}

/// How a delivery went.
pub struct Delivery {
    /// `delivered` or `dead-letter`.
    pub status: &'static str,
    pub attempts: u32,
    pub error: Option<String>,
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Posts `body` to `url`, trying up to `alerts.attempts` times.
pub async fn deliver(alerts: &Alerts, url: &str, body: String) -> Delivery {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(alerts.timeout_secs))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Delivery {
                status: "dead-letter",
                attempts: 0,
                error: Some(format!("webhook client: {e}")),
            };
        }
    };
    let signature = alerts.webhook_secret.as_ref().map(|s| {
        format!(
            "sha256={}",
            hex::encode(hmac_sha256(s.as_bytes(), body.as_bytes()))
        )
    });
    let mut wait = Duration::from_millis(alerts.backoff_ms);
    let mut error = None;
    for attempt in 1..=alerts.attempts.max(1) {
        let mut req = client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("weir/", env!("CARGO_PKG_VERSION")))
            .body(body.clone());
        if let Some(sig) = &signature {
            req = req.header("x-weir-signature", sig);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                return Delivery {
                    status: "delivered",
                    attempts: attempt,
                    error: None,
                };
            }
            Ok(r) => error = Some(format!("{url} answered {}", r.status())),
            Err(e) => error = Some(format!("{url}: {e}")),
        }
        if attempt < alerts.attempts {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::warn!(url, "webhook: gave up: {}", error.as_deref().unwrap_or(""));
    Delivery {
        status: "dead-letter",
        attempts: alerts.attempts.max(1),
        error,
    }
}
