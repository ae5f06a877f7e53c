//! Three-way merge and revert.
//!
//! Both compute the changes to apply as diffs (which skip shared ranges) and
//! build the new tree from the destination's, so their cost follows the size
//! of the changes. Conflicts are per object, as in lakeFS, except inside a
//! Delta table both sides changed, which merges by its log
//! ([`crate::table_merge`]); a strategy resolves all conflicts one way.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::audit::AuditDraft;
use crate::build::{Change, apply_changes};
use crate::commit::NewCommit;
use crate::diff::{DiffEntry, DiffScope, diff_trees};
use crate::entry::same;
use crate::error::{Result, StoreError};
use crate::lake::now_secs;
use crate::meta::CommitRecord;
use crate::repo::{Repo, parse_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Fail on any conflict.
    #[default]
    Fail,
    SourceWins,
    DestWins,
}

impl FromStr for Strategy {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Strategy> {
        match s {
            "" | "default" | "fail" => Ok(Strategy::Fail),
            "source-wins" => Ok(Strategy::SourceWins),
            "dest-wins" => Ok(Strategy::DestWins),
            other => Err(StoreError::InvalidArgument(format!(
                "unknown merge strategy {other:?}: use source-wins or dest-wins"
            ))),
        }
    }
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Fail => "default",
            Strategy::SourceWins => "source-wins",
            Strategy::DestWins => "dest-wins",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    pub strategy: Strategy,
    pub message: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub allow_empty: bool,
    /// One commit on the destination whose only parent is the
    /// destination's head (lakeFS's squash merge; delta-rs merges its
    /// transaction branches so). The source commit is named in metadata.
    pub squash: bool,
}

pub(crate) fn conflict_error(paths: &[String]) -> StoreError {
    StoreError::MergeConflict {
        count: paths.len(),
        paths: paths.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
    }
}

impl Repo {
    pub(crate) async fn tree_diff(
        &self,
        a: &CommitRecord,
        b: &CommitRecord,
    ) -> Result<Vec<DiffEntry>> {
        diff_trees(
            &self.lake.trees,
            self.ns(),
            &parse_hash(&a.metarange)?,
            &parse_hash(&b.metarange)?,
            &DiffScope::all(),
        )
        .await
    }

    pub(crate) fn require_clean(&self, branch: &str) -> Result<()> {
        if self.lake.meta.staged_count(&self.rec.name, branch)? > 0 {
            return Err(StoreError::Conflict(format!(
                "branch {branch} has uncommitted changes; commit or reset them first"
            )));
        }
        Ok(())
    }

    /// Merges the committed state of `source` into branch `dest`.
    pub async fn merge(
        &self,
        source: &str,
        dest: &str,
        committer: &str,
        opts: &MergeOptions,
    ) -> Result<CommitRecord> {
        let src = self.resolve(source)?.commit;
        let dst_id = self.branch_head(dest)?;
        self.require_clean(dest)?;
        let dst = self.commit_record(&dst_id)?;
        let base = self.merge_base(&src.id, &dst.id)?;
        if base.id == src.id && !opts.allow_empty {
            return Err(StoreError::NoChanges(format!(
                "{source} has nothing that {dest} does not already have"
            )));
        }
        let src_changes = self.tree_diff(&base, &src).await?;
        let dst_changes = self.tree_diff(&base, &dst).await?;
        let mut tables = self
            .merge_tables(
                &base,
                source,
                &src,
                dest,
                &src_changes,
                &dst_changes,
                opts.strategy,
            )
            .await?;
        if !tables.conflicts.is_empty() {
            return Err(StoreError::TableConflict(tables.conflicts.join("; ")));
        }
        let mut apply: Vec<Change> = std::mem::take(&mut tables.apply);
        let mut conflicts = Vec::new();
        let mut di = dst_changes.iter().peekable();
        for s in src_changes.iter().filter(|s| !tables.owns(&s.path)) {
            while di.peek().is_some_and(|d| d.path < s.path) {
                di.next();
            }
            let d = di.peek().filter(|d| d.path == s.path);
            match d {
                None => apply.push((s.path.clone(), s.right.clone())),
                Some(d) if same(d.right.as_ref(), s.right.as_ref()) => {}
                Some(_) => match opts.strategy {
                    Strategy::Fail => conflicts.push(s.path.clone()),
                    Strategy::SourceWins => apply.push((s.path.clone(), s.right.clone())),
                    Strategy::DestWins => {}
                },
            }
        }
        if !conflicts.is_empty() {
            return Err(conflict_error(&conflicts));
        }
        apply.sort_by(|a, b| a.0.cmp(&b.0));
        let (tree, _) = apply_changes(
            &self.lake.trees,
            self.ns(),
            &parse_hash(&dst.metarange)?,
            &apply,
        )
        .await?;
        let mut metadata = opts.metadata.clone();
        metadata.insert(".weir.merge.strategy".into(), opts.strategy.as_str().into());
        metadata.insert(".weir.merge.source".into(), source.into());
        metadata.insert(crate::audit::HEAD_KEY.into(), self.audit_head()?);
        let message = opts
            .message
            .clone()
            .unwrap_or_else(|| format!("Merge '{source}' into '{dest}'"));
        let (parents, generation) = if opts.squash {
            metadata.insert(".weir.merge.squashed".into(), src.id.clone());
            (vec![dst.id.clone()], dst.generation + 1)
        } else {
            (
                vec![dst.id.clone(), src.id.clone()],
                dst.generation.max(src.generation) + 1,
            )
        };
        let commit = NewCommit {
            parents,
            metarange: hex::encode(tree),
            message: &message,
            committer,
            created: now_secs(),
            metadata,
            generation,
        }
        .seal();
        let audit = AuditDraft::new(committer, "merge", &self.rec.name, dest).detail(
            serde_json::json!({"source": source, "source_commit": src.id, "strategy": opts.strategy.as_str(), "squash": opts.squash, "message": message}),
        );
        if !self
            .lake
            .meta
            .advance_branch(&self.rec.name, dest, &dst.id, &commit, None, &audit)?
        {
            return Err(StoreError::Conflict(format!(
                "branch {dest} moved during the merge; retry"
            )));
        }
        Ok(commit)
    }
}
