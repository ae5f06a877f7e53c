//! `weir usage`: the usage table summed by tenant, surface and operation
//! (or other columns) over a period.

use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use deltalake::datafusion::functions_aggregate::expr_fn::{max, sum};
use deltalake::datafusion::prelude::{Expr, SessionContext, col, lit};
use weir_core::names::SYSTEM_REPO;
use weir_lineage::usage::USAGE_TABLE;
use weir_tables::TableRef;

use super::tables::{SqlFormat, render};
use crate::Ctx;
use crate::output::Format;

#[derive(Args)]
pub struct UsageArgs {
    /// Only this tenant
    #[arg(long)]
    tenant: Option<String>,
    /// From this time (YYYY-MM-DD or RFC 3339, UTC; default: the beginning)
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Until this time, exclusive (YYYY-MM-DD or RFC 3339, UTC; default: now)
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Sum by these columns, comma-separated: tenant, user, surface,
    /// operation, repository, resource_id, day
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "tenant,surface,operation"
    )]
    by: Vec<String>,
}

const GROUPS: &[&str] = &[
    "tenant",
    "user",
    "surface",
    "operation",
    "repository",
    "resource_id",
    "day",
];

/// `2026-12-01` (midnight UTC) or an RFC 3339 time.
pub(crate) fn parse_time(flag: &str, s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            weir_store::StoreError::InvalidArgument(format!(
                "--{flag} {s}: expected a date (2026-12-01) or an RFC 3339 time (2026-12-01T08:00:00Z)"
            ))
            .into()
        })
}

/// The rows of the usage table within the period, for one tenant or all.
pub(crate) async fn usage_frame(
    ctx: &Ctx,
    tenant: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> anyhow::Result<Option<deltalake::datafusion::dataframe::DataFrame>> {
    let (from, to) = (
        from.map(|s| parse_time("from", s)).transpose()?,
        to.map(|s| parse_time("to", s)).transpose()?,
    );
    let lake = ctx.open_lake()?;
    let Ok(repo) = lake.repo(SYSTEM_REPO) else {
        return Ok(None);
    };
    let Some(table) = TableRef::new(&repo, "main", USAGE_TABLE)?.load().await? else {
        return Ok(None);
    };
    let session = SessionContext::new();
    let mut df = session.read_table(table.table_provider().await?)?;
    if let Some(t) = tenant {
        df = df.filter(col("tenant").eq(lit(t)))?;
    }
    // A row counts in the period its end falls in.
    if let Some(f) = from {
        df = df.filter(col("end").gt_eq(weir_lineage::usage::time_lit(f)))?;
    }
    if let Some(t) = to {
        df = df.filter(col("end").lt(weir_lineage::usage::time_lit(t)))?;
    }
    Ok(Some(df))
}

pub async fn usage(ctx: &Ctx, a: UsageArgs) -> anyhow::Result<ExitCode> {
    for b in &a.by {
        if !GROUPS.contains(&b.as_str()) {
            return Err(weir_store::StoreError::InvalidArgument(format!(
                "--by {b}: sum by one of {}",
                GROUPS.join(", ")
            ))
            .into());
        }
    }
    let Some(df) =
        usage_frame(ctx, a.tenant.as_deref(), a.from.as_deref(), a.to.as_deref()).await?
    else {
        if ctx.format == Format::Json {
            println!("[]");
        } else {
            println!(
                "No usage recorded yet: weir serve meters requests and queries, weir run its stages."
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let groups: Vec<Expr> = a
        .by
        .iter()
        .map(|b| match b.as_str() {
            "day" => deltalake::datafusion::functions::expr_fn::date_trunc(lit("day"), col("end"))
                .alias("day"),
            other => col(other),
        })
        .collect();
    let measures = [
        "requests",
        "errors",
        "bytes_in",
        "bytes_out",
        "rows",
        "cpu_seconds",
        "wall_seconds",
        "byte_hours",
    ];
    let mut sums: Vec<Expr> = measures.iter().map(|m| sum(col(*m)).alias(*m)).collect();
    sums.push(max(col("stored_bytes")).alias("stored_bytes_max"));
    let sort: Vec<_> =
        a.by.iter()
            .map(|b| col(b.as_str()).sort(true, true))
            .collect();
    let batches = df.aggregate(groups, sums)?.sort(sort)?.collect().await?;
    let format = match ctx.format {
        Format::Json => SqlFormat::Json,
        Format::Text => SqlFormat::Table,
    };
    render(&batches, format, None)?;
    Ok(ExitCode::SUCCESS)
}
