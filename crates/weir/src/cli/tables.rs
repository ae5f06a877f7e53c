//! `weir ingest` and `weir sql`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::parser::{DFParser, Statement as DfStatement};
use weir_sql::SqlOptions;
use weir_tables::{IngestOptions, TableRef, WriteMode, ingest_file};

use super::{open_repo, parse_uri};
use crate::Ctx;
use crate::output::{Format, print_json};

#[derive(Args)]
pub struct IngestArgs {
    /// CSV, JSON (array or one object per line) or Parquet file
    file: PathBuf,
    /// weir://REPO/BRANCH/TABLE to write
    uri: String,
    /// append to the table or overwrite it
    #[arg(long, default_value = "append", value_parser = ["append", "overwrite"])]
    mode: String,
    /// File format (default: from the extension)
    #[arg(long, value_parser = ["csv", "json", "parquet"])]
    format: Option<String>,
    /// Stage the write without a lake commit
    #[arg(long)]
    no_commit: bool,
    /// Accept input columns the table does not have yet (added as nullable)
    #[arg(long)]
    allow_new_columns: bool,
    /// Commit message
    #[arg(long, short = 'm')]
    message: Option<String>,
}

pub async fn ingest(ctx: &Ctx, a: IngestArgs) -> anyhow::Result<ExitCode> {
    let uri = parse_uri(&a.uri)?;
    let (lake, repo) = open_repo(ctx, &uri)?;
    let branch = uri.require_ref()?;
    let name = uri.path.trim_end_matches('/');
    if name.is_empty() || name.contains('/') {
        return Err(weir_tables::TablesError::InvalidArgument(format!(
            "{} names no table: use weir://REPO/BRANCH/TABLE",
            a.uri
        ))
        .into());
    }
    let t = TableRef::new(&repo, branch, name)?;
    let opts = IngestOptions {
        format: a.format.as_deref().map(str::parse).transpose()?,
        mode: a.mode.parse::<WriteMode>()?,
        allow_new_columns: a.allow_new_columns,
        commit: !a.no_commit,
        message: a.message,
        committer: ctx.config.committer.clone(),
        progress: Some(Arc::new(crate::progress::Bar::new(true))),
    };
    let r = ingest_file(&t, &a.file, &opts).await?;
    if let Some(commit) = &r.lake_commit {
        let source = std::fs::canonicalize(&a.file).unwrap_or_else(|_| a.file.clone());
        let s = source.display().to_string();
        record_lineage(
            &lake,
            &ctx.config.committer,
            &uri.repo,
            branch,
            &r,
            s,
            commit,
        )
        .await;
    }
    match ctx.format {
        Format::Json => print_json(&serde_json::to_value(&r)?),
        Format::Text => {
            println!(
                "{} {} rows from {} into {} (Delta version {}{})",
                if r.created {
                    "Created table with"
                } else {
                    "Wrote"
                },
                r.rows,
                a.file.display(),
                t.uri(),
                r.version,
                if r.created { ", new table" } else { "" }
            );
            println!("Source SHA-256: {}", r.sha256);
            match &r.lake_commit {
                Some(c) => println!("Commit: {c}"),
                None => println!(
                    "Staged only: run `weir commit weir://{}/{branch} -m ...` to record it",
                    repo.name()
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds the ingest to the lineage graph. The data is committed by now, so
/// a failure here is a warning, not a failed ingest.
pub async fn record_lineage(
    lake: &std::sync::Arc<weir_store::Lake>,
    committer: &str,
    repo: &str,
    branch: &str,
    r: &weir_tables::IngestReport,
    source: String,
    commit: &str,
) {
    let done = async {
        let i = weir_lineage::Ingested {
            repo,
            branch,
            table: &r.table,
            source,
            sha256: &r.sha256,
            rows: r.rows,
            version: r.version,
            commit,
        };
        let tenant = super::run::repo_tenant(lake, repo)?;
        weir_lineage::record_ingest(lake, &i, committer, &tenant).await?;
        anyhow::Ok(())
    };
    if let Err(e) = done.await {
        eprintln!("warning: the ingest is committed but its lineage event was not saved: {e}");
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(Args)]
pub struct SqlArgs {
    /// SQL to run (statements separated by ';'); omit it for an interactive shell
    query: Option<String>,
    /// Default ref for unqualified table names (default: the repository's default branch)
    #[arg(long = "ref", value_name = "REF")]
    reference: Option<String>,
    /// Default repository for unqualified names (needed when the lake has several)
    #[arg(long)]
    repo: Option<String>,
    /// Result format (default: table, or json with --output json)
    #[arg(long, value_enum)]
    format: Option<SqlFormat>,
    /// Write results to this file instead of standard output (required for parquet)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(crate) fn render(
    batches: &[RecordBatch],
    format: SqlFormat,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    use deltalake::arrow;
    if format == SqlFormat::Parquet {
        let (Some(first), Some(p)) = (batches.first(), out) else {
            return Ok(());
        };
        let file = std::fs::File::create(p)?;
        let mut w = deltalake::parquet::arrow::ArrowWriter::try_new(file, first.schema(), None)?;
        for b in batches {
            w.write(b)?;
        }
        w.close()?;
        return Ok(());
    }
    let mut sink: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::stdout().lock()),
    };
    match format {
        SqlFormat::Table => {
            writeln!(
                sink,
                "{}",
                arrow::util::pretty::pretty_format_batches(batches)?
            )?;
        }
        SqlFormat::Csv => {
            let mut w = arrow::csv::Writer::new(&mut sink);
            for b in batches {
                w.write(b)?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut sink);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            drop(w);
            writeln!(sink)?;
        }
        SqlFormat::Parquet => unreachable!("handled above"),
    }
    sink.flush()?;
    Ok(())
}

/// Runs every statement in `sql`, printing each result.
async fn run_sql(
    session: &SessionContext,
    sql: &str,
    format: SqlFormat,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let statements = DFParser::parse_sql(sql).map_err(weir_sql::SqlError::DataFusion)?;
    for st in statements {
        let writes = matches!(&st, DfStatement::Statement(s) if matches!(**s,
            deltalake::datafusion::sql::sqlparser::ast::Statement::Insert(_)
            | deltalake::datafusion::sql::sqlparser::ast::Statement::CreateTable(_)));
        let state = session.state();
        let plan = state
            .statement_to_plan(st)
            .await
            .map_err(weir_sql::SqlError::DataFusion)?;
        let df = session
            .execute_logical_plan(plan)
            .await
            .map_err(weir_sql::SqlError::DataFusion)?;
        let batches = df.collect().await.map_err(weir_sql::SqlError::DataFusion)?;
        if writes {
            eprintln!(
                "Written (uncommitted): record it with `weir commit weir://REPO/BRANCH -m ...`"
            );
        } else {
            render(&batches, format, out)?;
        }
    }
    Ok(())
}

pub async fn sql(ctx: &Ctx, a: SqlArgs) -> anyhow::Result<ExitCode> {
    let lake = ctx.open_lake()?;
    let session = weir_sql::session(
        lake,
        &SqlOptions {
            repo: a.repo.clone(),
            reference: a.reference.clone(),
        },
    )?;
    let format = a.format.unwrap_or(match ctx.format {
        Format::Json => SqlFormat::Json,
        Format::Text => SqlFormat::Table,
    });
    if format == SqlFormat::Parquet && a.out.is_none() {
        return Err(weir_tables::TablesError::InvalidArgument(
            "--format parquet needs --out FILE".into(),
        )
        .into());
    }
    match &a.query {
        Some(q) => {
            run_sql(&session, q, format, a.out.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        None => shell(&session, format).await,
    }
}

/// The interactive shell: statements end with ';', history is kept in
/// ~/.weir_history, `\q` quits.
async fn shell(session: &SessionContext, format: SqlFormat) -> anyhow::Result<ExitCode> {
    let mut rl = rustyline::DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".weir_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!("weir SQL shell: end statements with ';', \\q to quit. Tables: repository.ref.table");
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() { "weir> " } else { "  ... " };
        match rl.readline(prompt) {
            Ok(line) => {
                let t = line.trim();
                if buf.is_empty() && (t == "\\q" || t == "exit" || t == "quit") {
                    break;
                }
                buf.push_str(&line);
                buf.push('\n');
                if t.ends_with(';') {
                    let _ = rl.add_history_entry(buf.trim());
                    if let Err(e) = run_sql(session, &buf, format, None).await {
                        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
                    }
                    buf.clear();
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => buf.clear(),
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(ExitCode::SUCCESS)
}
