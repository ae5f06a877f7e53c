//! `weir billing`: tenants' usage billed through Stripe meter events.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use weir_server::ServerError;
use weir_server::authz::Authz;
use weir_server::billing::{self, METERS, Stripe};

use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Subcommand)]
pub enum BillingCmd {
    /// Bill a tenant's usage to a Stripe customer (cus_...); "" stops billing it
    Customer { tenant: String, customer: String },
    /// Post the usage not billed yet as Stripe meter events, then move the
    /// lake's billing cursor (run it on a schedule: nothing is billed twice)
    Export {
        /// Bill usage that ended before this time (YYYY-MM-DD or RFC 3339;
        /// default: now less --settle-secs)
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Leave the last seconds out, for servers to flush their counts
        /// (weir serve --usage-flush-secs, 10 by default)
        #[arg(long, default_value_t = 300, value_name = "SECONDS",
              value_parser = clap::value_parser!(u64).range(0..=35 * 86_400))]
        settle_secs: u64,
        /// Tries per event when Stripe answers 429 or 5xx or times out
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=20))]
        attempts: u32,
    },
    /// Where billing got to, the tenants' customers, and what is not billed yet
    Status,
}

pub async fn billing(ctx: &Ctx, cmd: BillingCmd) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    let authz = Authz::open(lake.meta_store(), &[])?;
    let json = ctx.format == Format::Json;
    match cmd {
        BillingCmd::Customer { tenant, customer } => {
            let customer = customer.trim().to_string();
            if !customer.is_empty() && !customer.starts_with("cus_") {
                return Err(ServerError::InvalidArgument(format!(
                    "{customer}: a Stripe customer id starts with cus_"
                ))
                .into());
            }
            authz.update(|m| {
                let t = m
                    .tenants
                    .get_mut(&tenant)
                    .ok_or_else(|| ServerError::NotFound(format!("no tenant '{tenant}'")))?;
                t.stripe_customer = (!customer.is_empty()).then(|| customer.clone());
                Ok(())
            })?;
            if json {
                print_json(&serde_json::json!({"tenant": tenant, "stripe_customer": customer}));
            } else if customer.is_empty() {
                println!("{tenant}'s usage is no longer billed");
            } else {
                println!("{tenant}'s usage is billed to {customer}");
            }
        }
        BillingCmd::Export {
            until,
            settle_secs,
            attempts,
        } => {
            let now = chrono::Utc::now();
            let until = match until {
                Some(t) => super::usage::parse_time("until", &t)?,
                None => now - chrono::Duration::seconds(settle_secs as i64),
            };
            if until > now {
                return Err(ServerError::InvalidArgument(format!(
                    "--until {}: usage after now is not known yet",
                    weir_lineage::usage::timestamp(until)
                ))
                .into());
            }
            let Some(secret_key) = ctx.config.billing.stripe_secret_key.clone() else {
                return Err(ServerError::InvalidArgument(
                    "no Stripe key: set WEIR_STRIPE_SECRET_KEY (or [billing] stripe_secret_key in the config file)".into(),
                )
                .into());
            };
            let stripe = Stripe {
                api_base: ctx.config.billing.stripe_api_base.clone(),
                secret_key,
                timeout: Duration::from_secs(ctx.config.billing.stripe_timeout_secs),
                attempts,
            };
            let r = billing::export(&lake, &*authz.model()?, &stripe, until).await?;
            if json {
                print_json(&serde_json::to_value(&r)?);
            } else {
                println!(
                    "Billed usage from {} until {}: {} meter events posted to {}",
                    r.from.as_deref().unwrap_or("the beginning"),
                    r.until,
                    r.events,
                    stripe.api_base
                );
                if !r.unbilled_tenants.is_empty() {
                    println!(
                        "Not billed (no Stripe customer: weir billing customer TENANT cus_...): {}",
                        r.unbilled_tenants.join(", ")
                    );
                }
            }
        }
        BillingCmd::Status => {
            let model = authz.model()?;
            let cursor = billing::cursor(&lake)?;
            let now = chrono::Utc::now();
            let (windows, unbilled) = billing::plan(&lake, &model, cursor, now).await?;
            let mut due: std::collections::BTreeMap<(String, String), u64> = Default::default();
            for e in windows.iter().flat_map(|(_, ev)| ev) {
                *due.entry((e.tenant.clone(), e.event_name.clone()))
                    .or_default() += e.value;
            }
            let customers: Vec<_> = model
                .tenants
                .iter()
                .map(|(t, v)| (t.clone(), v.stripe_customer.clone()))
                .collect();
            if json {
                print_json(&serde_json::json!({
                    "cursor": cursor.map(weir_lineage::usage::timestamp),
                    "customers": customers.iter().map(|(t, c)| serde_json::json!({"tenant": t, "stripe_customer": c})).collect::<Vec<_>>(),
                    "not_billed_yet": due.iter().map(|((t, m), v)| serde_json::json!({"tenant": t, "event_name": m, "value": v})).collect::<Vec<_>>(),
                    "tenants_without_customer": unbilled,
                    "meters": METERS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                }));
            } else {
                println!(
                    "Billed until: {}",
                    cursor.map_or("nothing billed yet".into(), weir_lineage::usage::timestamp)
                );
                for (t, c) in &customers {
                    println!(
                        "  {t}: {}",
                        c.as_deref().unwrap_or("no Stripe customer (not billed)")
                    );
                }
                if due.is_empty() {
                    println!("Nothing to bill since.");
                } else {
                    println!("To bill since (until now):");
                    for ((t, m), v) in &due {
                        println!("  {t:<16} {m:<24} {v}");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
