//! Differences between two trees, skipping every range both share.
//!
//! Ranges with equal ids hold identical entries, and a path lives in exactly
//! one range of a tree, so the paths that differ are all inside ranges that
//! only one side has. Diff therefore walks only the unshared ranges: its cost
//! follows the size of the change, not of the lake.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;

use crate::entry::{Entry, same};
use crate::error::Result;
use crate::tree::{Hash, RangeInfo, TreeIter, Trees};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    Added,
    Removed,
    Changed,
}

impl DiffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Added => "added",
            DiffKind::Removed => "removed",
            DiffKind::Changed => "changed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffEntry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: DiffKind,
    #[serde(skip)]
    pub left: Option<Entry>,
    #[serde(skip)]
    pub right: Option<Entry>,
}

impl DiffEntry {
    /// Size of the side that exists now (right, or left for removals).
    pub fn size(&self) -> Option<u64> {
        self.right.as_ref().or(self.left.as_ref()).map(|e| e.size)
    }
}

/// Limits on a diff listing: a key prefix, a resume point and a page size.
#[derive(Debug, Clone, Default)]
pub struct DiffScope {
    pub prefix: String,
    /// Only paths strictly greater than this.
    pub after: Option<String>,
    pub limit: Option<usize>,
}

impl DiffScope {
    pub fn all() -> DiffScope {
        DiffScope::default()
    }

    fn start(&self) -> String {
        match &self.after {
            Some(a) if a.as_str() >= self.prefix.as_str() => format!("{a}\0"),
            _ => self.prefix.clone(),
        }
    }

    /// Whether range `r` can hold paths in scope; `start` and `end` are
    /// [`DiffScope::start`] and the prefix's end, computed once per diff.
    fn keeps_range(&self, r: &RangeInfo, start: &str, end: &str) -> bool {
        r.last.as_str() >= start && (self.prefix.is_empty() || r.first.as_str() < end)
    }
}

/// The smallest string greater than every string starting with `prefix`.
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut s = prefix.to_string();
    while let Some(c) = s.pop() {
        if let Some(n) = char::from_u32(c as u32 + 1) {
            s.push(n);
            return s;
        }
    }
    "\u{10FFFF}".repeat(2)
}

async fn next_in_scope(it: &mut TreeIter, scope: &DiffScope) -> Result<Option<(String, Entry)>> {
    match it.next().await? {
        Some((k, e)) if k.starts_with(&scope.prefix) => Ok(Some((k, e))),
        _ => Ok(None),
    }
}

/// Lists the paths whose entries differ between trees `left` and `right`.
pub async fn diff_trees(
    trees: &Arc<Trees>,
    ns: &str,
    left: &Hash,
    right: &Hash,
    scope: &DiffScope,
) -> Result<Vec<DiffEntry>> {
    let mut out = Vec::new();
    if left == right {
        return Ok(out);
    }
    let lm = trees.metarange(ns, left).await?;
    let rm = trees.metarange(ns, right).await?;
    let lids: HashSet<Hash> = lm.ranges.iter().map(|r| r.id).collect();
    let rids: HashSet<Hash> = rm.ranges.iter().map(|r| r.id).collect();
    let start = scope.start();
    let end = prefix_end(&scope.prefix);
    let only = |m: &[RangeInfo], other: &HashSet<Hash>| -> Vec<RangeInfo> {
        m.iter()
            .filter(|r| !other.contains(&r.id) && scope.keeps_range(r, &start, &end))
            .cloned()
            .collect()
    };
    let mut li = trees.iter_ranges(ns, only(&lm.ranges, &rids));
    let mut ri = trees.iter_ranges(ns, only(&rm.ranges, &lids));
    li.seek(&start).await?;
    ri.seek(&start).await?;
    let mut l = next_in_scope(&mut li, scope).await?;
    let mut r = next_in_scope(&mut ri, scope).await?;
    let limit = scope.limit.unwrap_or(usize::MAX);
    while out.len() < limit {
        let item = match (&l, &r) {
            (None, None) => break,
            (Some((lk, _)), Some((rk, _))) if lk == rk => {
                let (lk, le) = l.take().unwrap();
                let (_, re) = r.take().unwrap();
                l = next_in_scope(&mut li, scope).await?;
                r = next_in_scope(&mut ri, scope).await?;
                if same(Some(&le), Some(&re)) {
                    continue;
                }
                DiffEntry {
                    path: lk,
                    kind: DiffKind::Changed,
                    left: Some(le),
                    right: Some(re),
                }
            }
            (Some((lk, _)), Some((rk, _))) if lk > rk => {
                let (rk, re) = r.take().unwrap();
                r = next_in_scope(&mut ri, scope).await?;
                added(rk, re)
            }
            (Some(_), _) => {
                let (lk, le) = l.take().unwrap();
                l = next_in_scope(&mut li, scope).await?;
                DiffEntry {
                    path: lk,
                    kind: DiffKind::Removed,
                    left: Some(le),
                    right: None,
                }
            }
            (None, Some(_)) => {
                let (rk, re) = r.take().unwrap();
                r = next_in_scope(&mut ri, scope).await?;
                added(rk, re)
            }
        };
        out.push(item);
    }
    Ok(out)
}

fn added(path: String, e: Entry) -> DiffEntry {
    DiffEntry {
        path,
        kind: DiffKind::Added,
        left: None,
        right: Some(e),
    }
}
