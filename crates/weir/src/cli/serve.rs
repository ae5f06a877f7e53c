//! `weir serve` and `weir auth`: the lake over HTTP (the lakeFS REST API,
//! the S3 gateway, SQL, lineage, decisions), and the access keys its
//! clients sign in with.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use weir_server::{AppState, KeyStore, ServeOptions};

use crate::Ctx;
use crate::output::Format;

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
    /// Print the OpenAPI document of the HTTP API and exit
    #[arg(long)]
    openapi: bool,
}

#[derive(clap::Subcommand)]
pub enum AuthCmd {
    /// Create an access key (id and secret) for `weir serve`'s clients
    CreateKey {
        /// Who the key is for; recorded as the actor of what it does
        #[arg(long, default_value = "admin")]
        user: String,
    },
    /// List access keys (without their secrets)
    ListKeys,
    /// Delete an access key
    DeleteKey {
        /// The access key id
        access_key_id: String,
    },
}

fn keys(ctx: &Ctx) -> anyhow::Result<KeyStore> {
    // Opening the lake checks it is one before a key file lands there.
    let lake = weir_store::Lake::open(&ctx.config.lake)?;
    Ok(KeyStore::for_lake(&lake, &ctx.config.lake)?)
}

pub async fn auth(ctx: &Ctx, cmd: AuthCmd) -> anyhow::Result<ExitCode> {
    let store = keys(ctx)?;
    match cmd {
        AuthCmd::CreateKey { user } => {
            let k = store.create(&user)?;
            if ctx.format == Format::Json {
                crate::output::print_json(&serde_json::to_value(&k)?);
            } else {
                println!("access_key_id:     {}", k.access_key_id);
                println!("secret_access_key: {}", k.secret_access_key);
                println!("user:              {}", k.user);
                println!(
                    "The secret is shown only now. Use the pair as HTTP basic auth (lakeFS clients: username/password)."
                );
            }
        }
        AuthCmd::ListKeys => {
            let list = store.list()?;
            if ctx.format == Format::Json {
                crate::output::print_json(&serde_json::to_value(&list)?);
            } else {
                for k in list {
                    let at = chrono::DateTime::from_timestamp(k.creation_date, 0)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default();
                    println!("{}  {}  {at}", k.access_key_id, k.user);
                }
            }
        }
        AuthCmd::DeleteKey { access_key_id } => {
            store.delete(&access_key_id)?;
            if ctx.format == Format::Text {
                println!("Deleted access key {access_key_id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
        },
    );
    let listener = tokio::net::TcpListener::bind(a.listen).await?;
    let addr = listener.local_addr()?;
    eprintln!(
        "weir serve: lake {} on http://{addr}\n  lakeFS API, SQL, lineage: http://{addr}/api/v1\n  S3 gateway:               http://{addr} (bucket = repository, key = REF/PATH)\n  decisions:                http://{addr}/recommend_qty, /voi\nCtrl-C stops",
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
