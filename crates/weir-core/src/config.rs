//! One typed configuration, built once in `main` and passed down.
//!
//! Precedence: built-in defaults < the config file < `WEIR_*` environment
//! variables < command-line flags (applied by the binary). The environment is
//! passed in as an iterator, never read from a global, so tests stay
//! isolated.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Lake directory (metadata database and, by default, the data).
    pub lake: PathBuf,
    /// Name recorded as committer.
    pub committer: String,
    /// `tracing` filter for logs on stderr.
    pub log: String,
    /// Where usage is billed (`weir billing`).
    pub billing: Billing,
    /// How triggers' webhooks are called (`weir schedule add --notify`).
    pub alerts: Alerts,
}

/// Webhook alerts of triggers.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// Signs each body (`X-Weir-Signature: sha256=HMAC`); best set
    /// through `WEIR_WEBHOOK_SECRET`, not a file. Unsigned without it.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Tries per alert before it is recorded as a dead letter.
    #[serde(default = "default_alert_attempts")]
    pub attempts: u32,
    /// The wait after the first failed try; it doubles after each.
    #[serde(default = "default_alert_backoff")]
    pub backoff_ms: u64,
    /// How long one try may take.
    #[serde(default = "default_alert_timeout")]
    pub timeout_secs: u64,
}

fn default_alert_attempts() -> u32 {
    4
}

fn default_alert_backoff() -> u64 {
    1000
}

fn default_alert_timeout() -> u64 {
    10
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            webhook_secret: None,
            attempts: default_alert_attempts(),
            backoff_ms: default_alert_backoff(),
            timeout_secs: default_alert_timeout(),
        }
    }
}

/// The secret is never printed.
impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "(set)"),
            )
            .field("attempts", &self.attempts)
            .field("backoff_ms", &self.backoff_ms)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Stripe, for `weir billing export`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Billing {
    /// Stripe's API (a test server's URL in tests).
    #[serde(default = "default_stripe_base")]
    pub stripe_api_base: String,
    /// `sk_...`; best set through `WEIR_STRIPE_SECRET_KEY`, not a file.
    #[serde(default)]
    pub stripe_secret_key: Option<String>,
    /// How long one request to Stripe may take.
    #[serde(default = "default_stripe_timeout")]
    pub stripe_timeout_secs: u64,
}

fn default_stripe_base() -> String {
    "https://api.stripe.com".into()
}

fn default_stripe_timeout() -> u64 {
    30
}

impl Default for Billing {
    fn default() -> Self {
        Billing {
            stripe_api_base: default_stripe_base(),
            stripe_secret_key: None,
            stripe_timeout_secs: default_stripe_timeout(),
        }
    }
}

/// The secret key is never printed.
impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing")
            .field("stripe_api_base", &self.stripe_api_base)
            .field(
                "stripe_secret_key",
                &self.stripe_secret_key.as_ref().map(|_| "(set)"),
            )
            .field("stripe_timeout_secs", &self.stripe_timeout_secs)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lake: PathBuf::from("./lake"),
            committer: "weir".to_string(),
            log: "warn".to_string(),
            billing: Billing::default(),
            alerts: Alerts::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    lake: Option<PathBuf>,
    committer: Option<String>,
    log: Option<String>,
    billing: Option<Billing>,
    alerts: Option<Alerts>,
}

impl Config {
    /// Builds the configuration from an optional TOML file and the process
    /// environment (pass `std::env::vars()`).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, CoreError> {
        let mut cfg = Config::default();
        let env: Vec<(String, String)> = env.into_iter().collect();
        if let Some((_, user)) = env.iter().find(|(k, _)| k == "USER") {
            cfg.committer = user.clone();
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CoreError::Config(format!("cannot read {}: {e}", path.display())))?;
            let f: FileConfig = toml::from_str(&text)
                .map_err(|e| CoreError::Config(format!("{}: {e}", path.display())))?;
            if let Some(v) = f.lake {
                cfg.lake = v;
            }
            if let Some(v) = f.committer {
                cfg.committer = v;
            }
            if let Some(v) = f.log {
                cfg.log = v;
            }
            if let Some(v) = f.billing {
                cfg.billing = v;
            }
            if let Some(v) = f.alerts {
                cfg.alerts = v;
            }
        }
        for (k, v) in env {
            match k.as_str() {
                "WEIR_LAKE" => cfg.lake = PathBuf::from(v),
                "WEIR_COMMITTER" => cfg.committer = v,
                "WEIR_LOG" => cfg.log = v,
                "WEIR_STRIPE_API_BASE" => cfg.billing.stripe_api_base = v,
                "WEIR_STRIPE_SECRET_KEY" => cfg.billing.stripe_secret_key = Some(v),
                "WEIR_STRIPE_TIMEOUT_SECS" => cfg.billing.stripe_timeout_secs = number(&k, &v)?,
                "WEIR_WEBHOOK_SECRET" => cfg.alerts.webhook_secret = Some(v),
                "WEIR_ALERT_ATTEMPTS" => cfg.alerts.attempts = number(&k, &v)?,
                "WEIR_ALERT_BACKOFF_MS" => cfg.alerts.backoff_ms = number(&k, &v)?,
                _ => {}
            }
        }
        if cfg.committer.trim().is_empty() {
            return Err(CoreError::Config("committer must not be empty".into()));
        }
        Ok(cfg)
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, CoreError> {
    value
        .parse()
        .map_err(|_| CoreError::Config(format!("{key}={value}: not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_defaults_file_env() {
        let dir = std::env::temp_dir().join(format!("weir-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("weir.toml");
        std::fs::write(&file, "lake = \"/from/file\"\ncommitter = \"ann\"\n").unwrap();
        let cfg = Config::load(Some(&file), vec![]).unwrap();
        assert_eq!(cfg.lake, PathBuf::from("/from/file"));
        assert_eq!(cfg.committer, "ann");
        let cfg = Config::load(
            Some(&file),
            vec![("WEIR_LAKE".to_string(), "/from/env".to_string())],
        )
        .unwrap();
        assert_eq!(cfg.lake, PathBuf::from("/from/env"));
        assert_eq!(cfg.committer, "ann");
        std::fs::write(&file, "lake = 3\n").unwrap();
        assert!(Config::load(Some(&file), vec![]).is_err());
        std::fs::write(&file, "bogus = 1\n").unwrap();
        assert!(Config::load(Some(&file), vec![]).is_err());
        assert_eq!(Config::load(None, vec![]).unwrap(), Config::default());
    }
}
