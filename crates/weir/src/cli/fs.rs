//! `weir fs upload|cat|ls|rm|stat`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use futures::StreamExt;
use object_store::PutPayload;
use serde_json::json;
use weir_store::{Entry, ListItem, PutOptions, Repo, StoreError};

use super::{open_repo, parse_uri};
use crate::Ctx;
use crate::output::{Format, human_bytes, list_json, print_json, stats_json, time};
use weir_store::Progress;

/// Files above this size are streamed in parts instead of read whole.
const STREAM_ABOVE: u64 = 32 * 1024 * 1024;
const PART: usize = 8 * 1024 * 1024;

#[derive(Subcommand)]
pub enum FsCmd {
    /// Upload a local file (or directory with --recursive) to a branch
    Upload {
        /// weir://REPO/BRANCH/PATH (a trailing / keeps the file name)
        uri: String,
        /// Local file or directory
        #[arg(long, short = 's')]
        source: PathBuf,
        /// Upload every file under the directory
        #[arg(long, short = 'r')]
        recursive: bool,
        /// Content type (default: guessed from the file extension)
        #[arg(long)]
        content_type: Option<String>,
    },
    /// Print an object's bytes
    Cat {
        /// weir://REPO/REF/PATH
        uri: String,
    },
    /// List objects and common prefixes
    Ls {
        /// weir://REPO/REF[/PREFIX]
        uri: String,
        /// List every object below the prefix, not just one level
        #[arg(long, short = 'r')]
        recursive: bool,
        /// Stop after this many entries
        #[arg(long)]
        amount: Option<usize>,
        /// Start after this path
        #[arg(long)]
        after: Option<String>,
    },
    /// Delete an object (or every object under a prefix with --recursive)
    Rm {
        /// weir://REPO/BRANCH/PATH
        uri: String,
        #[arg(long, short = 'r')]
        recursive: bool,
    },
    /// Show an object's metadata
    Stat {
        /// weir://REPO/REF/PATH
        uri: String,
    },
}

pub fn guess_content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("csv") => "text/csv",
        Some("tsv") => "text/tab-separated-values",
        Some("json") => "application/json",
        Some("txt" | "md" | "tsf") => "text/plain",
        Some("toml") => "application/toml",
        Some("yaml" | "yml") => "application/yaml",
        Some("sql") => "application/sql",
        Some("parquet") => "application/vnd.apache.parquet",
        _ => weir_store::entry::DEFAULT_CONTENT_TYPE,
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

fn rel_key(base: &Path, file: &Path) -> anyhow::Result<String> {
    let rel = file.strip_prefix(base)?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Ok(parts.join("/"))
}

/// Writes one local file's bytes into the repository's data store.
pub async fn write_file(
    repo: &Repo,
    branch: &str,
    key: &str,
    file: &Path,
    ct: &str,
) -> anyhow::Result<Option<Entry>> {
    let size = std::fs::metadata(file)?.len();
    if size > STREAM_ABOVE {
        use object_store::ObjectStoreExt;
        use tokio::io::AsyncReadExt;
        let store = repo.ref_store(branch);
        let mut up = store
            .put_multipart(&object_store::path::Path::from(key))
            .await?;
        let mut f = tokio::fs::File::open(file).await?;
        loop {
            let mut buf = vec![0u8; PART];
            let mut n = 0;
            while n < PART {
                let r = f.read(&mut buf[n..]).await?;
                if r == 0 {
                    break;
                }
                n += r;
            }
            if n == 0 {
                break;
            }
            buf.truncate(n);
            up.put_part(PutPayload::from(buf)).await?;
        }
        up.complete().await?;
        return Ok(None);
    }
    let bytes = tokio::fs::read(file).await?;
    let opts = PutOptions {
        content_type: Some(ct.to_string()),
        ..Default::default()
    };
    Ok(Some(repo.write_data(PutPayload::from(bytes), &opts).await?))
}

pub async fn fs(ctx: &Ctx, cmd: FsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        FsCmd::Upload {
            uri,
            source,
            recursive,
            content_type,
        } => upload(ctx, &uri, &source, recursive, content_type).await,
        FsCmd::Cat { uri } => {
            let uri = parse_uri(&uri)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let (_, bytes) = repo
                .get_object(uri.require_ref()?, uri.require_path()?, None)
                .await?;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        FsCmd::Stat { uri } => {
            let uri = parse_uri(&uri)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let path = uri.require_path()?;
            let e = repo.stat(uri.require_ref()?, path).await?;
            match ctx.format {
                Format::Json => print_json(&stats_json(path, &e)),
                Format::Text => {
                    println!("Path: {path}");
                    println!("Modified Time: {}", time(e.mtime_us / 1_000_000));
                    println!("Size: {} bytes", e.size);
                    println!("Human Size: {}", human_bytes(e.size));
                    println!("Physical Address: {}", e.address);
                    println!("Checksum (SHA-256): {}", e.checksum_hex());
                    println!("Content-Type: {}", e.content_type);
                    for (k, v) in &e.metadata {
                        println!("Metadata: {k} = {v}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FsCmd::Ls {
            uri,
            recursive,
            amount,
            after,
        } => {
            let uri = parse_uri(&uri)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let r = uri.require_ref()?;
            let prefix = if uri.path.is_empty() || uri.path.ends_with('/') {
                uri.path.clone()
            } else {
                format!("{}/", uri.path)
            };
            let limit = amount.unwrap_or(usize::MAX);
            let mut items = Vec::new();
            let mut cursor = after;
            loop {
                let page = (limit - items.len()).min(1000);
                let (mut got, more) = repo
                    .list_objects(r, &prefix, !recursive, cursor.as_deref(), page)
                    .await?;
                cursor = got.last().map(|i| i.path().to_string());
                items.append(&mut got);
                if !more || items.len() >= limit {
                    break;
                }
            }
            match ctx.format {
                Format::Json => print_json(&json!({
                    "results": list_json(&items),
                    "pagination": { "has_more": false, "next_offset": "", "results": items.len(), "max_per_page": 1000 }
                })),
                Format::Text => {
                    for i in &items {
                        match i {
                            ListItem::Object { path, entry } => println!(
                                "object          {}  {:>10}  {path}",
                                time(entry.mtime_us / 1_000_000),
                                human_bytes(entry.size)
                            ),
                            ListItem::CommonPrefix { path } => {
                                println!("common_prefix   {:>35}  {path}", "")
                            }
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FsCmd::Rm { uri, recursive } => {
            let uri = parse_uri(&uri)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let branch = uri.require_ref()?;
            repo.branch_head(branch)?;
            let removed = if recursive {
                let mut paths = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let (items, more) = repo
                        .list_objects(branch, &uri.path, false, cursor.as_deref(), 1000)
                        .await?;
                    cursor = items.last().map(|i| i.path().to_string());
                    paths.extend(items.into_iter().map(|i| (i.path().to_string(), None)));
                    if !more {
                        break;
                    }
                }
                repo.stage_many(branch, &paths)?;
                paths.len()
            } else {
                let path = uri.require_path()?;
                if !repo.delete_object(branch, path).await? {
                    return Err(StoreError::NotFound {
                        kind: "object",
                        name: format!("{branch}/{path}"),
                    }
                    .into());
                }
                1
            };
            match ctx.format {
                Format::Json => print_json(&json!({ "deleted": removed })),
                Format::Text => println!("Deleted {removed} object(s) (uncommitted)"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn upload(
    ctx: &Ctx,
    uri: &str,
    source: &Path,
    recursive: bool,
    content_type: Option<String>,
) -> anyhow::Result<ExitCode> {
    let uri = parse_uri(uri)?;
    let (_, repo) = open_repo(ctx, &uri)?;
    let branch = uri.require_ref()?.to_string();
    repo.branch_head(&branch)?;
    let meta = std::fs::metadata(source).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot read {}: {e}", source.display()))
    })?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    if recursive {
        if !meta.is_dir() {
            return Err(StoreError::InvalidArgument(format!(
                "{} is not a directory (drop --recursive to upload a file)",
                source.display()
            ))
            .into());
        }
        let mut found = Vec::new();
        walk(source, &mut found)?;
        let base = if uri.path.is_empty() || uri.path.ends_with('/') {
            uri.path.clone()
        } else {
            format!("{}/", uri.path)
        };
        for f in found {
            let key = format!("{base}{}", rel_key(source, &f)?);
            weir_core::names::validate_path(&key)?;
            files.push((key, f));
        }
    } else {
        if meta.is_dir() {
            return Err(StoreError::InvalidArgument(format!(
                "{} is a directory (use --recursive)",
                source.display()
            ))
            .into());
        }
        let key = if uri.path.is_empty() || uri.path.ends_with('/') {
            let name = source
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            format!("{}{name}", uri.path)
        } else {
            uri.path.clone()
        };
        weir_core::names::validate_path(&key)?;
        files.push((key, source.to_path_buf()));
    }
    let bar = crate::progress::Bar::new(false);
    bar.start("upload", files.len() as u64);
    let total = files.len();
    let mut bytes = 0u64;
    let mut batch = Vec::new();
    let mut stream = futures::stream::iter(files.into_iter().map(|(key, f)| {
        let repo = repo.clone();
        let branch = branch.clone();
        let ct = content_type
            .clone()
            .unwrap_or_else(|| guess_content_type(&f).to_string());
        async move {
            let e = write_file(&repo, &branch, &key, &f, &ct).await?;
            anyhow::Ok((key, e))
        }
    }))
    .buffer_unordered(8);
    while let Some(r) = stream.next().await {
        let (key, entry) = r?;
        bar.inc(1);
        if let Some(e) = entry {
            bytes += e.size;
            batch.push((key, Some(e)));
        }
        if batch.len() >= 1000 {
            repo.stage_many(&branch, &batch)?;
            batch.clear();
        }
    }
    repo.stage_many(&branch, &batch)?;
    bar.finish();
    match ctx.format {
        Format::Json => print_json(&json!({ "uploaded": total, "bytes": bytes })),
        Format::Text => println!(
            "Uploaded {total} object(s) to weir://{}/{branch}/{} (uncommitted)",
            repo.name(),
            uri.path
        ),
    }
    Ok(ExitCode::SUCCESS)
}
