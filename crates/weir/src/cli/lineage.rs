//! `weir lineage`: where a table or a column comes from, or what it feeds.

use std::process::ExitCode;

use clap::Args;
use weir_lineage::{Direction, Query};

use super::parse_uri;
use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Args)]
pub struct LineageArgs {
    /// weir://REPO/REF/TABLE: the table, and the ref whose history decides
    /// which runs count (lineage as of that ref)
    table: String,
    /// Follow one column instead of the whole table
    #[arg(long, short = 'c')]
    column: Option<String>,
    /// What the table is made from (the default)
    #[arg(long, conflicts_with = "downstream")]
    upstream: bool,
    /// What is made from the table
    #[arg(long)]
    downstream: bool,
    /// How many hops to follow
    #[arg(long, default_value_t = 5)]
    depth: usize,
}

fn node(ns: &str, name: &str, col: &Option<String>, repo_ns: &str) -> String {
    let table = if ns == repo_ns {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    };
    match col {
        Some(c) => format!("{table}.{c}"),
        None => table,
    }
}

pub async fn lineage(ctx: &Ctx, a: LineageArgs) -> anyhow::Result<ExitCode> {
    let uri = parse_uri(&a.table)?;
    let reference = uri.require_ref()?.to_string();
    let table = uri.path.trim_end_matches('/').to_string();
    if table.is_empty() || table.contains('/') {
        return Err(weir_lineage::LineageError::InvalidArgument(format!(
            "{} names no table: use weir://REPO/REF/TABLE",
            a.table
        ))
        .into());
    }
    weir_tables::validate_table_name(&table)?;
    if a.depth == 0 {
        return Err(weir_lineage::LineageError::InvalidArgument(
            "--depth must be at least 1".into(),
        )
        .into());
    }
    let lake = ctx.open_lake()?;
    let direction = if a.downstream {
        Direction::Downstream
    } else {
        Direction::Upstream
    };
    let q = Query {
        repo: uri.repo.clone(),
        reference: Some(reference.clone()),
        table: table.clone(),
        column: a.column.clone(),
        direction,
        depth: a.depth,
        tenant: Some(super::run::repo_tenant(&lake, &uri.repo)?),
    };
    let (edges, producer) = weir_lineage::query_with_producer(&lake, &q).await?;
    match ctx.format {
        Format::Json => print_json(&serde_json::to_value(&edges)?),
        Format::Text => {
            let what = match &a.column {
                Some(c) => format!("{table}.{c}"),
                None => table.clone(),
            };
            let dir = if a.downstream {
                "downstream"
            } else {
                "upstream"
            };
            let made = producer.as_ref().map(|p| {
                format!(
                    "{table} was last written by {} at {}",
                    p.job,
                    p.event_time
                        .get(..19)
                        .unwrap_or(&p.event_time)
                        .replace('T', " ")
                )
            });
            if edges.is_empty() {
                match (&made, a.downstream) {
                    (Some(m), false) => println!(
                        "No upstream lineage for {what} as of {reference}: {m}, which records no inputs."
                    ),
                    _ => println!(
                        "No {dir} lineage for {what} as of {reference}: no recorded run, ingest or commit {} it.",
                        if a.downstream { "reads" } else { "wrote" }
                    ),
                }
                return Ok(ExitCode::SUCCESS);
            }
            println!("{dir} of {what} in {} as of {reference}:", uri.repo);
            if let (Some(m), false) = (&made, a.downstream) {
                println!("  ({m})");
            }
            let ns = weir_lineage::namespace(&uri.repo);
            for e in &edges {
                let from = node(&e.from_namespace, &e.from_name, &e.from_column, &ns);
                let to = node(&e.to_namespace, &e.to_name, &e.to_column, &ns);
                let line = if a.downstream {
                    format!("{from} -> {to}")
                } else {
                    format!("{to} <- {from}")
                };
                let via = if e.transformation.is_empty() {
                    String::new()
                } else {
                    format!(", {}", e.transformation.to_lowercase())
                };
                let when = e.event_time.get(..19).unwrap_or(&e.event_time);
                println!(
                    "  {}{line}   ({}{via}, {})",
                    "  ".repeat(e.depth.saturating_sub(1)),
                    e.job,
                    when.replace('T', " ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
