//! `weir init` and `weir lake info`: where a lake keeps its metadata and
//! its bytes.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use weir_store::{Lake, LakeSpec};

use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Args)]
pub struct InitArgs {
    /// Where the lake's metadata goes: postgres://USER@HOST:PORT/DATABASE
    /// (with ?schema=NAME to keep several lakes in one database) for a lake
    /// shared by several servers [default: SQLite in the lake directory].
    /// The password comes from PGPASSWORD
    #[arg(long, value_name = "URL")]
    meta: Option<String>,
    /// Where the lake's bytes go: a URL such as s3://BUCKET/PREFIX (S3 or
    /// an S3-compatible server), gs://BUCKET/PREFIX, az://CONTAINER/PREFIX
    /// or file:///DIR [default: the lake directory's data/]. Credentials
    /// come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_ACCOUNT_KEY, ...)
    #[arg(long, value_name = "URL")]
    data: Option<String>,
    /// A setting of the data store, recorded with the lake (endpoint,
    /// region, allow_http, virtual_hosted_style_request, ...; never a
    /// secret)
    #[arg(long = "data-option", value_name = "KEY=VALUE")]
    data_options: Vec<String>,
}

pub async fn init(ctx: &Ctx, a: InitArgs) -> anyhow::Result<ExitCode> {
    let mut data_options = BTreeMap::new();
    for kv in &a.data_options {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            weir_store::StoreError::InvalidArgument(format!(
                "--data-option {kv:?}: write it as KEY=VALUE"
            ))
        })?;
        data_options.insert(k.trim().to_string(), v.to_string());
    }
    let spec = LakeSpec {
        meta: a.meta,
        data: a.data,
        data_options,
    };
    let lake = Lake::init_with(&ctx.config.lake, &spec).await?;
    match ctx.format {
        Format::Json => print_json(&json!({
            "lake": ctx.config.lake,
            "metadata": meta_url(ctx, &spec),
            "data": lake.data_url(),
        })),
        Format::Text => println!(
            "Created an empty lake in {} (metadata: {}, data: {})",
            ctx.config.lake.display(),
            meta_url(ctx, &spec),
            lake.data_url()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the metadata is, as a URL.
fn meta_url(ctx: &Ctx, spec: &LakeSpec) -> String {
    match &spec.meta {
        Some(u) => u.clone(),
        None => format!(
            "sqlite://{}",
            ctx.config.lake.join(weir_store::lake::META_FILE).display()
        ),
    }
}

#[derive(Subcommand)]
pub enum LakeCmd {
    /// Where the lake keeps its metadata and data, and what it holds
    Info,
}

pub async fn lake(ctx: &Ctx, cmd: LakeCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        LakeCmd::Info => {
            let lake = ctx.open_lake()?;
            let spec = LakeSpec::read(&ctx.config.lake)?;
            let repos = lake.list_repos()?;
            let meta = meta_url(ctx, &spec);
            match ctx.format {
                Format::Json => print_json(&json!({
                    "lake": ctx.config.lake,
                    "metadata": meta,
                    "data": lake.data_url(),
                    "data_options": spec.data_options,
                    "data_local": lake.data_is_local(),
                    "repositories": repos.iter().map(|r| &r.name).collect::<Vec<_>>(),
                })),
                Format::Text => {
                    println!("lake          {}", ctx.config.lake.display());
                    println!("metadata      {meta}");
                    println!("data          {}", lake.data_url());
                    for (k, v) in &spec.data_options {
                        println!("  {k:<12}{v}");
                    }
                    let names: Vec<&str> = repos.iter().map(|r| r.name.as_str()).collect();
                    println!("repositories  {}", names.join(", "));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
