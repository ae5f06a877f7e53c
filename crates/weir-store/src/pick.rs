//! Revert and cherry-pick: one commit's changes, undone or applied again on
//! a branch as a new commit whose only parent is the branch's head.
//!
//! Both take the commit's difference from one of its parents (for a merge
//! commit, `parent` says which, 1-based, as git's `-m`), and conflict
//! where the branch no longer holds the state the change starts from.
//! Cost follows the size of that one commit's change.

use std::collections::BTreeMap;

use crate::audit::AuditDraft;
use crate::build::apply_changes;
use crate::commit::NewCommit;
use crate::entry::same;
use crate::error::{Result, StoreError};
use crate::lake::now_secs;
use crate::merge::conflict_error;
use crate::meta::CommitRecord;
use crate::repo::{Repo, parse_hash};

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Revert,
    CherryPick,
}

impl Repo {
    /// Undoes the changes of commit `target` on `branch` with a new commit.
    /// For a merge commit, `parent` (1-based) names the side to keep.
    pub async fn revert(
        &self,
        branch: &str,
        target: &str,
        parent: u32,
        committer: &str,
    ) -> Result<CommitRecord> {
        self.replay_commit(branch, target, parent, committer, Direction::Revert)
            .await
    }

    /// Applies the changes of commit `target` (from another branch, say)
    /// to `branch` with a new commit carrying its message and metadata.
    /// For a merge commit, `parent` (1-based) names the side it is compared
    /// with.
    pub async fn cherry_pick(
        &self,
        branch: &str,
        target: &str,
        parent: u32,
        committer: &str,
    ) -> Result<CommitRecord> {
        self.replay_commit(branch, target, parent, committer, Direction::CherryPick)
            .await
    }

    async fn replay_commit(
        &self,
        branch: &str,
        target: &str,
        parent: u32,
        committer: &str,
        dir: Direction,
    ) -> Result<CommitRecord> {
        let verb = match dir {
            Direction::Revert => "revert",
            Direction::CherryPick => "cherry-pick",
        };
        let c = self.resolve(target)?.commit;
        let head_id = self.branch_head(branch)?;
        self.require_clean(branch)?;
        let head = self.commit_record(&head_id)?;
        let parent_id = match (c.parents.len(), parent) {
            (0, _) => {
                return Err(StoreError::InvalidArgument(format!(
                    "{target} is the initial commit; there is nothing to {verb}"
                )));
            }
            (1, 0 | 1) => c.parents[0].clone(),
            (n, 0) => {
                return Err(StoreError::InvalidArgument(format!(
                    "{target} is a merge of {n} parents; pass --parent-number 1..{n}"
                )));
            }
            (n, p) if p as usize > n => {
                return Err(StoreError::InvalidArgument(format!(
                    "{target} has {n} parent(s), not {p}"
                )));
            }
            (_, p) => c.parents[p as usize - 1].clone(),
        };
        let p = self.commit_record(&parent_id)?;
        let changes = self.tree_diff(&p, &c).await?;
        let head_tree = parse_hash(&head.metarange)?;
        let mut apply = Vec::with_capacity(changes.len());
        let mut conflicts = Vec::new();
        for ch in changes {
            let now = self
                .lake
                .trees
                .lookup(self.ns(), &head_tree, &ch.path)
                .await?;
            let (from, to) = match dir {
                Direction::Revert => (ch.right, ch.left),
                Direction::CherryPick => (ch.left, ch.right),
            };
            // A cherry-pick whose change the branch already has applies
            // the rest; a revert of a change no longer there conflicts.
            if dir == Direction::CherryPick && same(now.as_ref(), to.as_ref()) {
                continue;
            }
            if !same(now.as_ref(), from.as_ref()) {
                conflicts.push(ch.path.clone());
            }
            apply.push((ch.path, to));
        }
        if !conflicts.is_empty() {
            return Err(conflict_error(&conflicts));
        }
        let (tree, _) = apply_changes(&self.lake.trees, self.ns(), &head_tree, &apply).await?;
        if tree == head_tree {
            return Err(StoreError::NoChanges(format!(
                "{verb} of {target} changes nothing on {branch}"
            )));
        }
        let mut metadata = BTreeMap::new();
        let message = match dir {
            Direction::Revert => {
                metadata.insert(".weir.revert".into(), c.id.clone());
                format!("Revert {}", c.id)
            }
            Direction::CherryPick => {
                metadata.extend(
                    c.metadata
                        .iter()
                        .filter(|(k, _)| !k.starts_with(".weir."))
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
                metadata.insert(".weir.cherry_pick".into(), c.id.clone());
                c.message.clone()
            }
        };
        metadata.insert(crate::audit::HEAD_KEY.into(), self.audit_head()?);
        let commit = NewCommit {
            parents: vec![head.id.clone()],
            metarange: hex::encode(tree),
            message: &message,
            committer,
            created: now_secs(),
            metadata,
            generation: head.generation + 1,
        }
        .seal();
        let (operation, key) = match dir {
            Direction::Revert => ("revert", "reverted"),
            Direction::CherryPick => ("cherry_pick", "picked"),
        };
        let audit = AuditDraft::new(committer, operation, &self.rec.name, branch)
            .detail(serde_json::json!({key: c.id, "parent": parent}));
        if !self.lake.meta.advance_branch(
            &self.rec.name,
            branch,
            &head.id,
            &commit,
            None,
            &audit,
        )? {
            return Err(StoreError::Conflict(format!(
                "branch {branch} moved during the {verb}; retry"
            )));
        }
        Ok(commit)
    }
}
