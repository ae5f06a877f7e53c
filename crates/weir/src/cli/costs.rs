//! `weir costs`: usage priced by the lake's price sheet, summed, or
//! written whole in the columns of FinOps FOCUS 1.0; `weir costs prices`
//! shows or sets the sheet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use weir_lineage::costs::{self, Prices};
use weir_lineage::usage::time_lit;

use super::tables::{SqlFormat, render};
use super::usage::parse_time;
use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CostsArgs {
    #[command(subcommand)]
    prices: Option<CostsCmd>,
    /// Only this tenant
    #[arg(long)]
    tenant: Option<String>,
    /// Only this pipeline run (its stages) or query (its x-request-id)
    #[arg(long, value_name = "ID")]
    resource: Option<String>,
    /// From this time (YYYY-MM-DD or RFC 3339, UTC)
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Until this time, exclusive (YYYY-MM-DD or RFC 3339, UTC)
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Sum by these, comma-separated: tenant, service, sku, resource,
    /// surface, operation, user, day
    #[arg(long, value_delimiter = ',', default_value = "tenant,sku")]
    by: Vec<String>,
    /// Write every charge in FOCUS's columns to FILE.csv or FILE.parquet
    #[arg(long, value_name = "FILE")]
    focus: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum CostsCmd {
    /// Show the lake's price sheet, or set some of its prices
    Prices {
        /// ISO 4217 currency of the prices
        #[arg(long)]
        currency: Option<String>,
        /// Per CPU second of queries and pipeline stages
        #[arg(long)]
        cpu_second: Option<f64>,
        /// Per gigabyte stored for a month
        #[arg(long)]
        gb_month_stored: Option<f64>,
        /// Per gigabyte answered
        #[arg(long)]
        gb_transferred: Option<f64>,
        /// Per million requests
        #[arg(long)]
        million_requests: Option<f64>,
    },
}

const GROUPS: &[(&str, &str)] = &[
    ("tenant", "\"SubAccountId\""),
    ("service", "\"ServiceCategory\""),
    ("sku", "\"SkuId\""),
    ("resource", "\"ResourceId\""),
    ("surface", "\"x_Surface\""),
    ("operation", "\"x_Operation\""),
    ("user", "\"x_User\""),
    (
        "day",
        "date_trunc('day', CAST(\"ChargePeriodEnd\" AS TIMESTAMP))",
    ),
];

pub async fn costs(ctx: &Ctx, a: CostsArgs) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    if let Some(CostsCmd::Prices {
        currency,
        cpu_second,
        gb_month_stored,
        gb_transferred,
        million_requests,
    }) = a.prices
    {
        let mut p: Prices = costs::prices(&lake)?;
        let changed = currency.is_some()
            || cpu_second.is_some()
            || gb_month_stored.is_some()
            || gb_transferred.is_some()
            || million_requests.is_some();
        p.currency = currency.unwrap_or(p.currency);
        p.cpu_second = cpu_second.unwrap_or(p.cpu_second);
        p.gb_month_stored = gb_month_stored.unwrap_or(p.gb_month_stored);
        p.gb_transferred = gb_transferred.unwrap_or(p.gb_transferred);
        p.million_requests = million_requests.unwrap_or(p.million_requests);
        if changed {
            costs::set_prices(&lake, &p)?;
        }
        match ctx.format {
            Format::Json => print_json(&serde_json::to_value(&p)?),
            Format::Text => println!(
                "{} per CPU second {}, per GB-month stored {}, per GB transferred {}, per million requests {}",
                p.currency, p.cpu_second, p.gb_month_stored, p.gb_transferred, p.million_requests
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let groups: Vec<&str> =
        a.by.iter()
            .map(|b| {
                GROUPS
                    .iter()
                    .find(|(n, _)| n == b)
                    .map(|(_, e)| *e)
                    .ok_or_else(|| {
                        weir_store::StoreError::InvalidArgument(format!(
                            "--by {b}: sum by one of {}",
                            GROUPS
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
    let mut filter = lit(true);
    if let Some(t) = &a.tenant {
        filter = filter.and(col("tenant").eq(lit(t.as_str())));
    }
    if let Some(r) = &a.resource {
        filter = filter.and(col("resource_id").eq(lit(r.as_str())));
    }
    if let Some(f) = &a.from {
        filter = filter.and(col("end").gt_eq(time_lit(parse_time("from", f)?)));
    }
    if let Some(t) = &a.to {
        filter = filter.and(col("end").lt(time_lit(parse_time("to", t)?)));
    }
    let rows = weir_lineage::usage::select(&lake, Some(filter)).await?;
    let prices = costs::prices(&lake)?;
    let charges = costs::charges(&rows, &prices, &costs::account(&lake));
    let batch = costs::batch(&charges)?;
    if let Some(path) = &a.focus {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => SqlFormat::Csv,
            Some("parquet") => SqlFormat::Parquet,
            _ => {
                return Err(weir_store::StoreError::InvalidArgument(format!(
                    "--focus {}: name a .csv or .parquet file",
                    path.display()
                ))
                .into());
            }
        };
        render(std::slice::from_ref(&batch), format, Some(path))?;
        let total: f64 = charges.iter().map(|c| c.billed_cost).sum();
        eprintln!(
            "{} charges, {total:.6} {} in all, written to {}",
            charges.len(),
            prices.currency,
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let session = SessionContext::new();
    session.register_table(
        "costs",
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?),
    )?;
    let named: Vec<String> =
        a.by.iter()
            .zip(&groups)
            .map(|(n, e)| format!("{e} AS {n}"))
            .collect();
    let keys: Vec<String> = (1..=groups.len()).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {}, \"ConsumedUnit\" AS unit, sum(\"ConsumedQuantity\") AS quantity, \
         sum(\"BilledCost\") AS cost, first_value(\"BillingCurrency\") AS currency \
         FROM costs GROUP BY {}, \"ConsumedUnit\" ORDER BY {}",
        named.join(", "),
        keys.join(", "),
        keys.join(", ")
    );
    let batches = session.sql(&sql).await?.collect().await?;
    let format = match ctx.format {
        Format::Json => SqlFormat::Json,
        Format::Text => SqlFormat::Table,
    };
    render(&batches, format, None)?;
    Ok(ExitCode::SUCCESS)
}
