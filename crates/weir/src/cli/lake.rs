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
        data: a.data,
        data_options,
    };
    let lake = Lake::init_with(&ctx.config.lake, &spec).await?;
    match ctx.format {
        Format::Json => print_json(&json!({
            "lake": ctx.config.lake,
            "data": lake.data_url(),
        })),
        Format::Text => println!(
            "Created an empty lake in {} (data: {})",
            ctx.config.lake.display(),
            lake.data_url()
        ),
    }
    Ok(ExitCode::SUCCESS)
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
            let meta = ctx.config.lake.join(weir_store::lake::META_FILE);
            match ctx.format {
                Format::Json => print_json(&json!({
                    "lake": ctx.config.lake,
                    "metadata": format!("sqlite://{}", meta.display()),
                    "data": lake.data_url(),
                    "data_options": spec.data_options,
                    "data_local": lake.data_is_local(),
                    "repositories": repos.iter().map(|r| &r.name).collect::<Vec<_>>(),
                })),
                Format::Text => {
                    println!("lake          {}", ctx.config.lake.display());
                    println!("metadata      sqlite://{}", meta.display());
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
