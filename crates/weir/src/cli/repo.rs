//! `weir repo`, `weir branch`, `weir tag`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{open_repo, parse_uri};
use crate::Ctx;
use crate::output::{Format, print_json, ref_json, repo_json, time};

#[derive(Subcommand)]
pub enum RepoCmd {
    /// Create a repository with a default branch and an initial commit
    Create {
        /// weir://REPO (or just REPO)
        repo: String,
        /// Storage namespace as lakeFS clients give it (recorded; weir picks the physical place)
        storage_namespace: Option<String>,
        /// Name of the default branch
        #[arg(long, short = 'd', default_value = "main")]
        default_branch: String,
    },
    /// List repositories
    List,
    /// Delete a repository with all its history and data
    Delete {
        /// weir://REPO
        repo: String,
        /// Do not ask for confirmation (required when not on a terminal)
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

pub async fn repo(ctx: &Ctx, cmd: RepoCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RepoCmd::Create {
            repo,
            storage_namespace,
            default_branch,
        } => {
            let uri = parse_uri(&repo)?;
            let lake = ctx.open_lake()?;
            let r = lake
                .create_repo(
                    &uri.repo,
                    &default_branch,
                    storage_namespace.as_deref(),
                    &ctx.config.committer,
                )
                .await?;
            match ctx.format {
                Format::Json => print_json(&repo_json(r.record())),
                Format::Text => println!(
                    "Repository: weir://{}\nDefault branch: {}",
                    r.name(),
                    r.record().default_branch
                ),
            }
        }
        RepoCmd::List => {
            let lake = ctx.open_lake()?;
            let repos = lake.list_repos()?;
            match ctx.format {
                Format::Json => print_json(&json!({
                    "results": repos.iter().map(repo_json).collect::<Vec<_>>(),
                    "pagination": { "has_more": false, "next_offset": "", "results": repos.len(), "max_per_page": 1000 }
                })),
                Format::Text => {
                    for r in &repos {
                        println!(
                            "{:<24} {:<12} {}",
                            r.name,
                            r.default_branch,
                            time(r.created)
                        );
                    }
                }
            }
        }
        RepoCmd::Delete { repo, yes } => {
            let uri = parse_uri(&repo)?;
            if !yes {
                return Err(weir_store::StoreError::InvalidArgument(format!(
                    "deleting weir://{} removes all its history and data; pass --yes to confirm",
                    uri.repo
                ))
                .into());
            }
            let lake = ctx.open_lake()?;
            lake.delete_repo(&uri.repo, lake.actor()).await?;
            if ctx.format == Format::Text {
                println!("Deleted repository weir://{}", uri.repo);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum BranchCmd {
    /// Create a branch from any ref
    Create {
        /// weir://REPO/BRANCH to create
        branch: String,
        /// weir://REPO/REF to branch from
        #[arg(long, short = 's')]
        source: String,
    },
    /// List branches
    List {
        /// weir://REPO
        repo: String,
    },
    /// Show a branch's head and uncommitted change count
    Show {
        /// weir://REPO/BRANCH
        branch: String,
    },
    /// Delete a branch (and its uncommitted changes)
    Delete {
        /// weir://REPO/BRANCH
        branch: String,
    },
    /// Discard uncommitted changes (all, or under the URI's path)
    Reset {
        /// weir://REPO/BRANCH[/PREFIX]
        branch: String,
    },
    /// Undo a commit on a branch with a new commit
    Revert {
        /// weir://REPO/BRANCH
        branch: String,
        /// The commit to revert (any ref)
        commit: String,
        /// For a merge commit: the parent (1-based) whose side to keep
        #[arg(long, short = 'm', default_value_t = 0)]
        parent_number: u32,
    },
    /// Apply a commit's changes (from another branch, say) to a branch as
    /// a new commit with its message
    CherryPick {
        /// weir://REPO/BRANCH
        branch: String,
        /// The commit to apply (any ref)
        commit: String,
        /// For a merge commit: the parent (1-based) to compare it with
        #[arg(long, short = 'm', default_value_t = 0)]
        parent_number: u32,
    },
}

pub async fn branch(ctx: &Ctx, cmd: BranchCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BranchCmd::Create { branch, source } => {
            let uri = parse_uri(&branch)?;
            let src = parse_uri(&source)?;
            if src.repo != uri.repo {
                return Err(weir_store::StoreError::InvalidArgument(format!(
                    "source {source} is in another repository than {branch}"
                ))
                .into());
            }
            let (_, repo) = open_repo(ctx, &uri)?;
            let name = uri.require_ref()?;
            let c = repo.create_branch(name, src.require_ref()?)?;
            match ctx.format {
                Format::Json => print_json(&ref_json(name, &c.id)),
                Format::Text => println!("Created branch {name} at {}", c.id),
            }
        }
        BranchCmd::List { repo } => {
            let uri = parse_uri(&repo)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let branches = repo.list_branches()?;
            match ctx.format {
                Format::Json => print_json(&json!({
                    "results": branches.iter().map(|(n, c)| ref_json(n, c)).collect::<Vec<_>>(),
                    "pagination": { "has_more": false, "next_offset": "", "results": branches.len(), "max_per_page": 1000 }
                })),
                Format::Text => {
                    for (n, c) in &branches {
                        println!("{n:<24} {c}");
                    }
                }
            }
        }
        BranchCmd::Show { branch } => {
            let uri = parse_uri(&branch)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let name = uri.require_ref()?;
            let head = repo.branch_head(name)?;
            let changes = repo
                .diff_uncommitted(name, &weir_store::DiffScope::all())
                .await?
                .len();
            match ctx.format {
                Format::Json => print_json(
                    &json!({ "id": name, "commit_id": head, "uncommitted_changes": changes }),
                ),
                Format::Text => {
                    println!("Branch {name}\nCommit {head}\nUncommitted changes: {changes}")
                }
            }
        }
        BranchCmd::Delete { branch } => {
            let uri = parse_uri(&branch)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let name = uri.require_ref()?;
            repo.delete_branch(name)?;
            if ctx.format == Format::Text {
                println!("Deleted branch {name}");
            }
        }
        BranchCmd::Reset { branch } => {
            let uri = parse_uri(&branch)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let name = uri.require_ref()?;
            let n = repo.reset_branch(name, &uri.path)?;
            match ctx.format {
                Format::Json => print_json(&json!({ "discarded": n })),
                Format::Text => println!("Discarded {n} uncommitted change(s) on {name}"),
            }
        }
        BranchCmd::Revert {
            branch,
            commit,
            parent_number,
        } => replay(ctx, &branch, &commit, parent_number, false).await?,
        BranchCmd::CherryPick {
            branch,
            commit,
            parent_number,
        } => replay(ctx, &branch, &commit, parent_number, true).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `branch revert` and `branch cherry-pick`: one commit undone or applied.
async fn replay(
    ctx: &Ctx,
    branch: &str,
    commit: &str,
    parent_number: u32,
    pick: bool,
) -> anyhow::Result<()> {
    let uri = parse_uri(branch)?;
    let (_, repo) = open_repo(ctx, &uri)?;
    let name = uri.require_ref()?;
    let target = match parse_uri(commit) {
        Ok(u) if u.reference.is_some() => u.reference.unwrap(),
        _ => commit.to_string(),
    };
    let committer = &ctx.config.committer;
    let (c, done) = if pick {
        let c = repo
            .cherry_pick(name, &target, parent_number, committer)
            .await?;
        (c, "Cherry-picked")
    } else {
        let c = repo.revert(name, &target, parent_number, committer).await?;
        (c, "Reverted")
    };
    match ctx.format {
        Format::Json => print_json(&crate::output::commit_json(&c)),
        Format::Text => println!("{done} {target} on {name}: commit {}", c.id),
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum TagCmd {
    /// Create a tag pointing at a ref's commit
    Create {
        /// weir://REPO/TAG to create
        tag: String,
        /// The ref to tag (weir://REPO/REF or REF)
        reference: String,
    },
    /// List tags
    List {
        /// weir://REPO
        repo: String,
    },
    /// Delete a tag
    Delete {
        /// weir://REPO/TAG
        tag: String,
    },
}

pub async fn tag(ctx: &Ctx, cmd: TagCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        TagCmd::Create { tag, reference } => {
            let uri = parse_uri(&tag)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let name = uri.require_ref()?;
            let target = match parse_uri(&reference) {
                Ok(u) if u.reference.is_some() => u.reference.unwrap(),
                _ => reference.clone(),
            };
            let c = repo.create_tag(name, &target)?;
            match ctx.format {
                Format::Json => print_json(&ref_json(name, &c.id)),
                Format::Text => println!("Created tag {name} at {}", c.id),
            }
        }
        TagCmd::List { repo } => {
            let uri = parse_uri(&repo)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let tags = repo.list_tags()?;
            match ctx.format {
                Format::Json => print_json(&json!({
                    "results": tags.iter().map(|(n, c)| ref_json(n, c)).collect::<Vec<_>>(),
                    "pagination": { "has_more": false, "next_offset": "", "results": tags.len(), "max_per_page": 1000 }
                })),
                Format::Text => {
                    for (n, c) in &tags {
                        println!("{n:<24} {c}");
                    }
                }
            }
        }
        TagCmd::Delete { tag } => {
            let uri = parse_uri(&tag)?;
            let (_, repo) = open_repo(ctx, &uri)?;
            let name = uri.require_ref()?;
            repo.delete_tag(name)?;
            if ctx.format == Format::Text {
                println!("Deleted tag {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
