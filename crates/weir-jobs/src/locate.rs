//! Where a pipeline's manifest is read from: a file on this machine, or a
//! path in the lake (`weir://REPO/REF/pipelines/forecasting/weir.toml`).
//! From the lake every server of a shared lake reads the same files, a
//! trigger added over HTTP names nothing on the server's disk, and the
//! pipeline is versioned with the data: a run reads the manifest and its
//! SQL at one commit of that ref.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use weir_core::uri::WeirUri;
use weir_store::{Lake, ListItem};

use crate::error::{JobsError, Result};
use crate::manifest::Manifest;

/// Files beside a manifest in the lake that are read (at most this many,
/// each at most [`MAX_FILE`] bytes): a pipeline is SQL and YAML text.
const MAX_FILES: usize = 500;
const MAX_FILE: u64 = 1 << 20;

/// True when `pipeline` names a manifest in the lake.
pub fn in_lake(pipeline: &str) -> bool {
    pipeline.starts_with("weir://")
}

impl Manifest {
    /// The manifest `pipeline` names: a file, or `weir://REPO/REF/PATH`
    /// read with the files beside it at the commit REF resolves to now.
    pub async fn locate(lake: &Arc<Lake>, pipeline: &str) -> Result<Manifest> {
        if !in_lake(pipeline) {
            return Manifest::load(Path::new(pipeline));
        }
        let bad = |m: String| JobsError::Manifest {
            file: pipeline.to_string(),
            message: m,
        };
        let uri = WeirUri::parse(pipeline)?;
        let reference = uri.require_ref()?;
        if !uri.path.ends_with(".toml") {
            return Err(bad(
                "name the manifest itself: weir://REPO/REF/PATH/weir.toml".into(),
            ));
        }
        let repo = lake.repo(&uri.repo)?;
        let commit = repo.resolve_id(reference)?;
        let dir = match uri.path.rfind('/') {
            Some(i) => &uri.path[..=i],
            None => "",
        };
        let (items, more) = repo
            .list_objects(&commit, dir, false, None, MAX_FILES)
            .await?;
        if more {
            return Err(bad(format!(
                "more than {MAX_FILES} objects under {dir:?}: keep a pipeline in a folder of its own"
            )));
        }
        let mut files = BTreeMap::new();
        for item in items {
            let ListItem::Object { path, entry } = item else {
                continue;
            };
            let text_like = [".toml", ".sql", ".yaml", ".yml"]
                .iter()
                .any(|e| path.ends_with(e));
            if !text_like || entry.size > MAX_FILE {
                continue;
            }
            let (_, bytes) = repo.get_object(&commit, &path, None).await?;
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| bad(format!("{path} is not UTF-8 text")))?;
            files.insert(path, text);
        }
        let text = files
            .get(&uri.path)
            .ok_or_else(|| bad(format!("no such object at {reference}")))?;
        Manifest::parse(text, Path::new(pipeline), &|rel: &Path| {
            let full = normal(&Path::new(dir).join(rel));
            full.as_ref()
                .and_then(|f| files.get(&f.display().to_string()))
                .cloned()
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such object beside the manifest",
                    )
                })
        })
    }
}

/// `a/b/../c.sql` as `a/c.sql`; None when it climbs out of the repository.
fn normal(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}
