//! Merging a Delta table that both sides of a merge changed.
//!
//! A merge by object would find both sides' `_delta_log/N.json` for the
//! same N and call it a conflict, and a strategy would keep one side's
//! log while the other side's data files stayed in the tree, unreferenced
//! (rows silently lost). Instead the source's commits since the merge base
//! are replayed on top of the destination's log as new versions, as a
//! Delta writer retrying a transaction would, under Delta's conflict rules
//! for concurrent transactions at `WriteSerializable` isolation:
//!
//! - blind appends commute with everything: both sides' rows end up in the
//!   table (an append lands after an overwrite on the other side, as it
//!   would had it committed second);
//! - both sides rewriting rows (DELETE, UPDATE, MERGE, overwrite: any
//!   removal that changes data) conflict, since each read rows the other
//!   changed; so do two rewrites of one file (two compactions of it, say);
//! - both sides changing the protocol, the metadata (schema, properties),
//!   or the same application transaction conflict; a schema change on one
//!   side is accepted only if the other side's new files fit it (columns
//!   added as nullable, nothing removed or retyped, same partitioning).
//!
//! A table that cannot merge fails the merge naming the table and both
//! operations; with a strategy, the winning side's table is taken whole, so
//! a log never disagrees with its data files.

use serde_json::{Value, json};

use crate::build::Change;
use crate::delta_log::{
    Commit, LOG_DIR, commit_path, commit_version, same_metadata, schema_extends, table_name,
    table_root,
};
use crate::diff::DiffEntry;
use crate::entry::{Entry, same};
use crate::error::Result;
use crate::merge::Strategy;
use crate::meta::CommitRecord;
use crate::objects::PutOptions;
use crate::repo::{Repo, parse_hash};

/// What merging the tables both sides changed gives: the changes to apply
/// under their roots, and the tables that could not merge.
#[derive(Debug, Default)]
pub(crate) struct TablesMerged {
    /// Roots (`sales/`) of the tables handled here; their paths are left
    /// out of the merge by object.
    pub roots: Vec<String>,
    pub apply: Vec<Change>,
    pub conflicts: Vec<String>,
}

impl TablesMerged {
    pub fn owns(&self, path: &str) -> bool {
        self.roots.iter().any(|r| path.starts_with(r.as_str()))
    }
}

/// The roots of tables whose log changed in `changes`.
fn log_roots(changes: &[DiffEntry]) -> Vec<&str> {
    let mut roots: Vec<&str> = changes.iter().filter_map(|c| table_root(&c.path)).collect();
    roots.sort_unstable();
    roots.dedup();
    roots
}

type Ids = fn(&Commit) -> &std::collections::BTreeSet<String>;

fn app_ids(c: &Commit) -> &std::collections::BTreeSet<String> {
    &c.app_ids
}

fn domains(c: &Commit) -> &std::collections::BTreeSet<String> {
    &c.domains
}

/// One side's changes to one table.
struct Side<'a> {
    label: &'a str,
    commits: Vec<(u64, Commit)>,
    changes: Vec<&'a DiffEntry>,
}

impl Side<'_> {
    fn ops(&self, pick: impl Fn(&Commit) -> bool) -> String {
        let mut ops: Vec<&str> = Vec::new();
        for (_, c) in &self.commits {
            if pick(c) && !ops.contains(&c.operation.as_str()) {
                ops.push(&c.operation);
            }
        }
        if ops.is_empty() {
            ops.push("a commit");
        }
        format!("{} on {}", ops.join(", "), self.label)
    }

    fn any(&self, f: impl Fn(&Commit) -> bool) -> bool {
        self.commits.iter().any(|(_, c)| f(c))
    }

    fn metadata(&self) -> Option<&Value> {
        self.commits
            .iter()
            .rev()
            .find_map(|(_, c)| c.metadata.as_ref())
    }

    fn protocol(&self) -> Option<&Value> {
        self.commits
            .iter()
            .rev()
            .find_map(|(_, c)| c.protocol.as_ref())
    }
}

impl Repo {
    /// Merges every table whose log both sides changed since `base`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn merge_tables(
        &self,
        base: &CommitRecord,
        source: &str,
        src: &CommitRecord,
        dest: &str,
        src_changes: &[DiffEntry],
        dst_changes: &[DiffEntry],
        strategy: Strategy,
    ) -> Result<TablesMerged> {
        let mut out = TablesMerged::default();
        let theirs = log_roots(dst_changes);
        for root in log_roots(src_changes) {
            if !theirs.contains(&root) {
                continue;
            }
            let under = |c: &&DiffEntry| c.path.starts_with(root);
            let mut s = Side {
                label: source,
                commits: Vec::new(),
                changes: src_changes.iter().filter(under).collect(),
            };
            let mut d = Side {
                label: dest,
                commits: Vec::new(),
                changes: dst_changes.iter().filter(under).collect(),
            };
            let verdict = match self.read_sides(root, &mut s, &mut d).await? {
                Some(reason) => Err(reason),
                None => self.check(root, base, &s, &d).await?.map_or(Ok(()), Err),
            };
            let name = table_name(root);
            match (verdict, strategy) {
                (Ok(()), _) => out
                    .apply
                    .extend(self.replay(root, source, src, &s, &d).await?),
                (Err(reason), Strategy::Fail) => {
                    out.conflicts.push(format!("table {name}: {reason}"))
                }
                // The winning side's table whole: its version of every
                // path either side changed under the table.
                (Err(_), Strategy::SourceWins) => {
                    for c in &s.changes {
                        out.apply.push((c.path.clone(), c.right.clone()));
                    }
                    for c in &d.changes {
                        if !s.changes.iter().any(|x| x.path == c.path) {
                            out.apply.push((c.path.clone(), c.left.clone()));
                        }
                    }
                }
                (Err(_), Strategy::DestWins) => {}
            }
            out.roots.push(root.to_string());
        }
        Ok(out)
    }

    /// Reads both sides' new commits; a reason when the logs cannot be
    /// replayed at all (a commit file rewritten or deleted, versions that
    /// do not start where the other side's do).
    async fn read_sides<'a>(
        &self,
        root: &str,
        s: &mut Side<'a>,
        d: &mut Side<'a>,
    ) -> Result<Option<String>> {
        for side in [&mut *s, &mut *d] {
            for c in &side.changes {
                let Some(v) = commit_version(root, &c.path) else {
                    continue;
                };
                let Some(entry) = c.right.as_ref().filter(|_| c.left.is_none()) else {
                    return Ok(Some(format!(
                        "its log was rewritten or deleted on {} (version {v})",
                        side.label
                    )));
                };
                let bytes = self.read_entry(entry, None).await?;
                let what = format!("{} at {}", c.path, side.label);
                side.commits.push((v, Commit::parse(&bytes, &what)?));
            }
            side.commits.sort_by_key(|(v, _)| *v);
            let contiguous = side.commits.windows(2).all(|w| w[1].0 == w[0].0 + 1);
            if !contiguous {
                return Ok(Some(format!("its log on {} skips versions", side.label)));
            }
        }
        let first = |x: &Side| x.commits.first().map(|(v, _)| *v);
        if first(s) != first(d) {
            return Ok(Some(format!(
                "the logs do not start from one version ({} on {}, {} on {})",
                first(s).map_or("none".into(), |v| v.to_string()),
                s.label,
                first(d).map_or("none".into(), |v| v.to_string()),
                d.label
            )));
        }
        Ok(None)
    }

    /// Delta's conflict rules between the two sides (module docs).
    async fn check(
        &self,
        root: &str,
        base: &CommitRecord,
        s: &Side<'_>,
        d: &Side<'_>,
    ) -> Result<Option<String>> {
        let both = |what: &str, pick: &dyn Fn(&Commit) -> bool| {
            Some(format!(
                "both sides {what} ({}, {})",
                s.ops(pick),
                d.ops(pick)
            ))
        };
        if let (Some(a), Some(b)) = (s.protocol(), d.protocol())
            && a != b
        {
            return Ok(both("changed its protocol", &|c| c.protocol.is_some()));
        }
        match (s.metadata(), d.metadata()) {
            (Some(a), Some(b)) if !same_metadata(a, b) => {
                return Ok(both("changed its schema or properties", &|c| {
                    c.metadata.is_some()
                }));
            }
            (Some(_), Some(_)) | (None, None) => {}
            (Some(m), None) | (None, Some(m)) => {
                let (changer, other) = if s.metadata().is_some() {
                    (s, d)
                } else {
                    (d, s)
                };
                if other.any(|c| !c.added.is_empty()) {
                    let first = changer.commits.first().map_or(0, |(v, _)| *v);
                    let fits = match self.metadata_before(root, base, first).await? {
                        Some(old) => schema_extends(&old, m),
                        None => false,
                    };
                    if !fits {
                        return Ok(Some(format!(
                            "{} changed its schema in a way the data written by {} does not fit",
                            changer.ops(|c| c.metadata.is_some()),
                            other.ops(|c| !c.added.is_empty())
                        )));
                    }
                }
            }
        }
        let removed = |x: &Side| {
            x.commits
                .iter()
                .flat_map(|(_, c)| c.removed.iter().cloned())
                .collect::<std::collections::BTreeSet<_>>()
        };
        let (rs, rd) = (removed(s), removed(d));
        if let Some(f) = rs.intersection(&rd).next() {
            return Ok(both(&format!("rewrote the data file {f}"), &|c| {
                c.removed.contains(f)
            }));
        }
        if s.any(|c| c.rewrites) && d.any(|c| c.rewrites) {
            return Ok(both(
                "rewrote rows, each reading rows the other changed",
                &|c| c.rewrites,
            ));
        }
        for (what, get) in [
            ("application transaction", app_ids as Ids),
            ("domain", domains as Ids),
        ] {
            for (_, c) in &s.commits {
                if let Some(id) = get(c).iter().find(|id| d.any(|o| get(o).contains(*id))) {
                    return Ok(both(&format!("committed {what} {id:?}"), &|c| {
                        get(c).contains(id)
                    }));
                }
            }
        }
        for c in &s.changes {
            if commit_version(root, &c.path).is_some() || c.path[root.len()..].starts_with(LOG_DIR)
            {
                continue;
            }
            if let Some(o) = d.changes.iter().find(|o| o.path == c.path)
                && !same(o.right.as_ref(), c.right.as_ref())
            {
                return Ok(Some(format!("both sides wrote {}", c.path)));
            }
        }
        Ok(None)
    }

    /// The table's `metaData` as of the version before `first`, from the
    /// merge base's log; `None` when that log is not all in JSON commits.
    async fn metadata_before(
        &self,
        root: &str,
        base: &CommitRecord,
        first: u64,
    ) -> Result<Option<Value>> {
        let tree = parse_hash(&base.metarange)?;
        for v in (0..first).rev() {
            let path = commit_path(root, v);
            let Some(entry) = self.lake.trees.lookup(self.ns(), &tree, &path).await? else {
                return Ok(None);
            };
            let c = Commit::parse(&self.read_entry(&entry, None).await?, &path)?;
            if let Some(m) = c.metadata {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// The source's data files, and its commits as new versions after the
    /// destination's, each naming where it came from. The source's
    /// checkpoints and other log files are left out: they describe
    /// versions whose numbers the destination now uses.
    async fn replay(
        &self,
        root: &str,
        source: &str,
        src: &CommitRecord,
        s: &Side<'_>,
        d: &Side<'_>,
    ) -> Result<Vec<Change>> {
        let mut apply = Vec::new();
        for c in &s.changes {
            let in_log = c.path[root.len()..].starts_with(LOG_DIR);
            let theirs = d.changes.iter().any(|o| o.path == c.path);
            if !in_log && !theirs {
                apply.push((c.path.clone(), c.right.clone()));
            }
        }
        let first = d.commits.last().map_or(0, |(v, _)| v + 1);
        let mut last_ts = d
            .commits
            .iter()
            .rev()
            .find_map(|(_, c)| c.in_commit_timestamp());
        for (next, (v, commit)) in (first..).zip(&s.commits) {
            let mut commit = commit.clone();
            let ts = commit.in_commit_timestamp();
            if let Some(info) = commit.commit_info_mut() {
                info.insert(
                    "weirReplayedFrom".into(),
                    json!({"ref": source, "commit": src.id, "version": v}),
                );
                // Delta requires in-commit timestamps to increase.
                if let Some(t) = ts {
                    let t = last_ts.map_or(t, |p| t.max(p + 1));
                    info.insert("inCommitTimestamp".into(), json!(t));
                    last_ts = Some(t);
                }
            }
            let entry: Entry = self
                .write_data(
                    commit.to_bytes().into(),
                    &PutOptions {
                        content_type: Some("application/json".into()),
                        ..Default::default()
                    },
                )
                .await?;
            apply.push((commit_path(root, next), Some(entry)));
        }
        Ok(apply)
    }
}
