//! `weir serve`: the lake over HTTP (the lakeFS REST API, the S3 gateway,
//! SQL, lineage, decisions) to the access keys of `weir auth`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use weir_server::{AppState, KeyStore, ServeOptions};

use crate::Ctx;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8000", value_name = "ADDR")]
    listen: SocketAddr,
    /// Accept requests without an access key (as the user "anonymous")
    #[arg(long)]
    allow_anonymous: bool,
    /// Largest request body, in MiB
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    max_body_mib: usize,
    /// Longest a request may take, in seconds
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout_secs: u64,
    /// Do not meter usage (requests, queries, stored bytes) into the
    /// system repository's `usage` table
    #[arg(long)]
    no_usage: bool,
    /// Append counted usage to the `usage` table this often: what a crash
    /// of the server can lose at most
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    usage_flush_secs: u64,
    /// Write MLflow tracking changes to their Delta tables (one commit)
    /// this often; they are journaled when logged, so a crash loses none
    #[arg(long, default_value_t = 1, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    mlflow_flush_secs: u64,
    /// Sample each repository's stored bytes this often (one server of a
    /// shared lake does it)
    #[arg(long, default_value_t = 3600, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    storage_sample_secs: u64,
    /// Look at the lake's triggers (weir schedule) this often and fire the
    /// due ones; 0: this server fires none (run weir scheduler elsewhere)
    #[arg(long, default_value_t = 10, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=3600))]
    schedule_secs: u64,
    /// Print the OpenAPI document of the HTTP API and exit
    #[arg(long)]
    openapi: bool,
}

pub async fn serve(ctx: &Ctx, a: ServeArgs) -> anyhow::Result<ExitCode> {
    if a.openapi {
        println!(
            "{}",
            serde_json::to_string_pretty(&weir_server::openapi::document())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let lake = ctx.open_lake()?;
    let keys = Arc::new(KeyStore::for_lake(&lake, &ctx.config.lake)?);
    if !a.allow_anonymous && keys.list()?.is_empty() {
        anyhow::bail!(
            "no access keys yet: create one with `weir auth create-key --lake {}` (or pass --allow-anonymous)",
            ctx.config.lake.display()
        );
    }
    let state = AppState::new(
        lake,
        keys,
        ServeOptions {
            allow_anonymous: a.allow_anonymous,
            max_body: a.max_body_mib.saturating_mul(1 << 20),
            timeout: Duration::from_secs(a.timeout_secs),
            usage: !a.no_usage,
            usage_flush: Duration::from_secs(a.usage_flush_secs),
            storage_sample: Duration::from_secs(a.storage_sample_secs),
            alerts: ctx.config.alerts.clone(),
            mlflow_flush: Duration::from_secs(a.mlflow_flush_secs),
        },
    )?;
    if a.schedule_secs > 0 {
        super::schedule::spawn_in_server(
            state.lake.clone(),
            Duration::from_secs(a.schedule_secs),
            &ctx.config.alerts,
            state.mlflow.clone(),
        );
    }
    let listener = tokio::net::TcpListener::bind(a.listen).await?;
    let addr = listener.local_addr()?;
    eprintln!(
        "weir serve: lake {} on http://{addr}\n  lakeFS API, SQL, lineage: http://{addr}/api/v1\n  S3 gateway:               http://{addr} (bucket = repository, key = REF/PATH)\n  decisions:                http://{addr}/recommend_qty, /voi\n  MLflow tracking:          http://{addr} (mlflow.set_tracking_uri)\nCtrl-C stops",
        ctx.config.lake.display()
    );
    weir_server::serve(listener, state, async {
        // Ctrl-C at a terminal, SIGTERM from a service manager or container.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
