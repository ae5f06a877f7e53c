//! `weir`: the command-line interface.
//!
//! Verbs mirror lakectl (same words, same argument order, `weir://` or
//! `lakefs://` URIs). Every failure prints one line on stderr and exits with
//! the code of its kind (see `weir_core::ErrorCode::exit_code`).

mod builtin;
mod cli;
mod output;
mod progress;
mod quickstart;
mod quickstart_pipeline;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use weir_core::Config;

use crate::output::Format;

// A server answers tens of thousands of small requests a second and the
// query engine allocates a batch's buffers per operator: glibc's malloc was
// a fifth of `weir serve`'s CPU under load (perf), mimalloc's thread-local
// free lists take most of that away.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ABOUT: &str = "weir: a versioned data lake for forecasting and audit";

const LONG_ABOUT: &str = "weir: a versioned data lake for forecasting and audit.

Every object lives in a repository with git-like branches, tags and commits
(lakeFS semantics). Commit ids are SHA-256 hashes over the whole tree of
objects, so any change to stored bytes or history is detectable with
`weir verify`.

Start with `weir quickstart`, which builds a lake in ./lake from the datasets
shipped with weir and walks through branch, commit, diff and merge.

Addresses are URIs: weir://REPO/REF/PATH (lakefs:// works too). A REF is a
branch, a tag, a commit id (or unique prefix of at least 6 characters), and
may end in ~N (N-th first-parent ancestor), ^N (N-th parent) or @ (a branch
without its uncommitted changes).";

#[derive(Parser)]
#[command(name = "weir", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// Lake directory [env: WEIR_LAKE] [default: ./lake]
    #[arg(long, global = true, value_name = "DIR")]
    lake: Option<PathBuf>,
    /// Output format: text for people, json for scripts
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// Configuration file (TOML: lake, committer, log, [billing], [alerts]) [env: WEIR_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new, empty lake (its data beside it, or in object storage
    /// with --data s3://...)
    Init(cli::lake::InitArgs),
    /// Show where the lake keeps its metadata and data
    #[command(subcommand)]
    Lake(cli::lake::LakeCmd),
    /// Retention rules, and deleting the bytes nothing live names
    #[command(subcommand)]
    Gc(cli::gc::GcCmd),
    /// Build a demo lake from the shipped datasets and walk through weir
    Quickstart(quickstart::Args),
    /// Create, list and delete repositories
    #[command(subcommand)]
    Repo(cli::repo::RepoCmd),
    /// Create, list, delete, reset and revert branches
    #[command(subcommand)]
    Branch(cli::repo::BranchCmd),
    /// Create, list and delete tags
    #[command(subcommand)]
    Tag(cli::repo::TagCmd),
    /// Commit a branch's uncommitted changes
    Commit(cli::history::CommitArgs),
    /// Show the commit history of a ref
    Log(cli::history::LogArgs),
    /// Show changed objects: uncommitted on a branch, or between two refs
    Diff(cli::history::DiffArgs),
    /// Merge a ref into a branch
    Merge(cli::history::MergeArgs),
    /// Upload, read, list, stat and remove objects
    #[command(subcommand)]
    Fs(cli::fs::FsCmd),
    /// Recompute the hashes of commits, trees, objects and the audit chain; exit 1 on any mismatch
    Verify(cli::history::VerifyArgs),
    /// Load a CSV, JSON or Parquet file into a Delta table on a branch
    Ingest(cli::tables::IngestArgs),
    /// Run SQL over any ref (repository.ref.table), or open a SQL shell
    Sql(cli::tables::SqlArgs),
    /// Run a pipeline of SQL stages on a run branch; merge when every gate passes
    Run(cli::run::RunArgs),
    /// List pipeline runs, or show the stages of one run
    Runs(cli::run::RunsArgs),
    /// Run a recorded run's stages again at their pinned inputs and compare the outputs
    Reproduce(cli::run::ReproduceArgs),
    /// Triggers that start pipeline runs by themselves: a timetable, new commits, a query
    #[command(subcommand)]
    Schedule(cli::schedule::ScheduleCmd),
    /// Fire the lake's triggers as they come due (weir serve does this too)
    Scheduler(cli::schedule::SchedulerArgs),
    /// Show where a table or column comes from (or what it feeds), as of a ref
    Lineage(cli::lineage::LineageArgs),
    /// Show the hash-chained audit log of changes to refs and repositories
    Audit(cli::history::AuditArgs),
    /// Write synthetic data with known anomalies and drift (for tests and demos)
    #[command(subcommand)]
    Generate(cli::generate::GenerateCmd),
    /// Serve the lake over HTTP: the lakeFS REST API, for lakeFS clients
    Serve(cli::serve::ServeArgs),
    /// Access keys of `weir serve`, and tenants, users, groups and policies
    #[command(subcommand)]
    Auth(cli::auth::AuthCmd),
    /// What each tenant used (requests, queries, stages, stored bytes) over a period
    Usage(cli::usage::UsageArgs),
    /// What usage costs by the lake's price sheet, summed or as FinOps FOCUS rows
    Costs(cli::costs::CostsArgs),
    /// Bill tenants' usage through Stripe meter events
    #[command(subcommand)]
    Billing(cli::billing::BillingCmd),
}

/// Everything a command needs: the resolved configuration and output format.
pub struct Ctx {
    pub config: Config,
    pub format: Format,
}

impl Ctx {
    pub fn open_lake(&self) -> anyhow::Result<std::sync::Arc<weir_store::Lake>> {
        Ok(std::sync::Arc::new(
            weir_store::Lake::open(&self.config.lake)?.with_actor(&self.config.committer),
        ))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_file = cli
        .config
        .clone()
        .or_else(|| std::env::var_os("WEIR_CONFIG").map(PathBuf::from));
    let mut config = match Config::load(config_file.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => return fail(&anyhow::Error::from(e)),
    };
    if let Some(lake) = &cli.lake {
        config.lake = lake.clone();
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs sent to a file or a
        // collector stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let ctx = Ctx {
        config,
        format: cli.output,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&e.into()),
    };
    match rt.block_on(run(ctx, cli.command)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

async fn run(ctx: Ctx, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init(a) => cli::lake::init(&ctx, a).await,
        Command::Lake(c) => cli::lake::lake(&ctx, c).await,
        Command::Gc(c) => cli::gc::gc(&ctx, c).await,
        Command::Quickstart(a) => quickstart::run(&ctx, a).await,
        Command::Repo(c) => cli::repo::repo(&ctx, c).await,
        Command::Branch(c) => cli::repo::branch(&ctx, c).await,
        Command::Tag(c) => cli::repo::tag(&ctx, c).await,
        Command::Commit(a) => cli::history::commit(&ctx, a).await,
        Command::Log(a) => cli::history::log(&ctx, a).await,
        Command::Diff(a) => cli::history::diff(&ctx, a).await,
        Command::Merge(a) => cli::history::merge(&ctx, a).await,
        Command::Fs(c) => cli::fs::fs(&ctx, c).await,
        Command::Verify(a) => cli::history::verify(&ctx, a).await,
        Command::Ingest(a) => cli::tables::ingest(&ctx, a).await,
        Command::Sql(a) => cli::tables::sql(&ctx, a).await,
        Command::Run(a) => cli::run::run(&ctx, a).await,
        Command::Runs(a) => cli::run::runs(&ctx, a).await,
        Command::Reproduce(a) => cli::run::reproduce(&ctx, a).await,
        Command::Schedule(c) => cli::schedule::schedule(&ctx, c).await,
        Command::Scheduler(a) => cli::schedule::run_scheduler(&ctx, a).await,
        Command::Lineage(a) => cli::lineage::lineage(&ctx, a).await,
        Command::Audit(a) => cli::history::audit(&ctx, a).await,
        Command::Generate(c) => cli::generate::generate(&ctx, c).await,
        Command::Serve(a) => cli::serve::serve(&ctx, a).await,
        Command::Auth(c) => cli::auth::auth(&ctx, c).await,
        Command::Usage(a) => cli::usage::usage(&ctx, a).await,
        Command::Billing(c) => cli::billing::billing(&ctx, c).await,
        Command::Costs(a) => cli::costs::costs(&ctx, a).await,
    }
}

/// Prints the error as one line and maps its kind to the exit code.
fn fail(e: &anyhow::Error) -> ExitCode {
    let code = if let Some(s) = e.downcast_ref::<weir_store::StoreError>() {
        s.code()
    } else if let Some(t) = e.downcast_ref::<weir_tables::TablesError>() {
        t.code()
    } else if let Some(q) = e.downcast_ref::<weir_sql::SqlError>() {
        q.code()
    } else if let Some(j) = e.downcast_ref::<weir_jobs::JobsError>() {
        j.code()
    } else if let Some(l) = e.downcast_ref::<weir_lineage::LineageError>() {
        l.code()
    } else if let Some(s) = e.downcast_ref::<weir_server::ServerError>() {
        s.code()
    } else if let Some(c) = e.downcast_ref::<weir_core::CoreError>() {
        c.code()
    } else if e.downcast_ref::<std::io::Error>().is_some() {
        weir_core::ErrorCode::Storage
    } else {
        weir_core::ErrorCode::Internal
    };
    // The top-level message only: our errors already name their cause, and
    // DataFusion's chain repeats itself.
    let msg = format!("{e}").replace('\n', " ");
    eprintln!("error: {msg}");
    ExitCode::from(code.exit_code() as u8)
}
