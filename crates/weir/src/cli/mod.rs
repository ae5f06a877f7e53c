//! One module per group of verbs.

pub mod auth;
pub mod billing;
pub mod costs;
pub mod fs;
pub mod gc;
pub mod generate;
pub mod history;
pub mod lake;
pub mod lineage;
pub mod repo;
pub mod run;
pub mod schedule;
pub mod serve;
pub mod tables;
pub mod usage;

use std::sync::Arc;

use weir_core::WeirUri;
use weir_store::{Lake, Repo};

use crate::Ctx;

/// Parses a `weir://` URI (a bare repository name is accepted where only a
/// repository is needed).
pub fn parse_uri(s: &str) -> anyhow::Result<WeirUri> {
    if !s.contains("://") && weir_core::names::validate_repo(s).is_ok() {
        return Ok(WeirUri {
            repo: s.to_string(),
            reference: None,
            path: String::new(),
        });
    }
    Ok(WeirUri::parse(s)?)
}

/// Opens the lake and the repository a URI names.
pub fn open_repo(ctx: &Ctx, uri: &WeirUri) -> anyhow::Result<(Arc<Lake>, Repo)> {
    let lake = ctx.open_lake()?;
    let repo = lake.repo(&uri.repo)?;
    Ok((lake, repo))
}
