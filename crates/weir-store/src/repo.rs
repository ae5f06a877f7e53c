//! A repository: refs, commits, history and diffs.

use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::sync::Arc;

use weir_core::{RefExpr, RefStep, names};

use crate::audit::{self, AuditDraft};
use crate::build::{Change, apply_changes};
use crate::commit::NewCommit;
use crate::diff::{DiffEntry, DiffKind, DiffScope, diff_trees};
use crate::entry::same;
use crate::error::{Result, StoreError};
use crate::lake::{Lake, now_secs};
use crate::meta::{CommitRecord, RepoRecord};
use crate::tree::{Hash, MetaRange};

/// How many staged rows a commit reads per query.
const STAGE_BATCH: usize = 10_000;

#[derive(Clone)]
pub struct Repo {
    pub(crate) lake: Arc<Lake>,
    /// Shared with the metadata cache: a served request clones a pointer,
    /// not five strings.
    pub(crate) rec: Arc<RepoRecord>,
    /// Named in the audit log for changes without a committer of their own.
    actor: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Branch,
    Tag,
    Commit,
}

/// A ref expression resolved to a commit.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub commit: CommitRecord,
    pub kind: RefKind,
    /// Set when reads must see this branch's uncommitted changes.
    pub staging: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub first_parent: bool,
    /// Resume after this commit id (the previous page's last).
    pub after: Option<String>,
    pub amount: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffMode {
    TwoDot,
    ThreeDot,
}

pub(crate) fn parse_hash(s: &str) -> Result<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h)
        .map_err(|_| StoreError::Corrupt(format!("bad tree id {s:?}")))?;
    Ok(h)
}

impl Repo {
    pub(crate) fn new(lake: Arc<Lake>, rec: Arc<RepoRecord>, actor: &str) -> Repo {
        Repo {
            lake,
            rec,
            actor: actor.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.rec.name
    }

    /// The lake's data store, where every entry's bytes are at its
    /// `address` (readers that resolved a path once can read from here).
    pub fn data_store(&self) -> Arc<dyn object_store::ObjectStore> {
        self.lake.data_store()
    }

    /// This repository with changes attributed to `actor` in the audit log
    /// (a server acting for an authenticated user).
    pub fn as_actor(&self, actor: &str) -> Repo {
        Repo {
            actor: actor.to_string(),
            ..self.clone()
        }
    }

    pub(crate) fn audit(&self, operation: &'static str, reference: &str) -> AuditDraft {
        AuditDraft::new(&self.actor, operation, &self.rec.name, reference)
    }

    /// The audit chain head, recorded in every new commit's metadata.
    pub(crate) fn audit_head(&self) -> Result<String> {
        self.lake.meta.audit_head()
    }

    pub fn record(&self) -> &RepoRecord {
        &self.rec
    }

    pub(crate) fn ns(&self) -> &str {
        &self.rec.namespace
    }

    pub fn commit_record(&self, id: &str) -> Result<CommitRecord> {
        Ok((*self.commit_arc(id)?).clone())
    }

    /// The commit record, shared: a served read needs only its tree hash,
    /// and copying the record (message, parents, metadata) per request was
    /// measurable.
    pub(crate) fn commit_arc(&self, id: &str) -> Result<Arc<CommitRecord>> {
        if let Some(c) = self
            .lake
            .commits
            .lock()
            .unwrap()
            .get(&self.rec.name)
            .and_then(|m| m.get(id))
        {
            return Ok(c.clone());
        }
        let c = Arc::new(
            self.lake
                .meta
                .get_commit(&self.rec.name, id)?
                .ok_or_else(|| StoreError::not_found("commit", id))?,
        );
        let mut cache = self.lake.commits.lock().unwrap();
        let m = cache.entry(self.rec.name.clone()).or_default();
        if m.len() >= 4096 {
            m.clear();
        }
        m.insert(id.to_string(), c.clone());
        Ok(c)
    }

    pub async fn metarange(&self, c: &CommitRecord) -> Result<Arc<MetaRange>> {
        self.lake
            .trees
            .metarange(self.ns(), &parse_hash(&c.metarange)?)
            .await
    }

    // ---- refs -------------------------------------------------------------

    /// The commit id `expr` names. A plain branch or tag name is one cached
    /// metadata read, without the commit record.
    pub fn resolve_id(&self, expr: &str) -> Result<String> {
        let plain = !expr.is_empty()
            && expr
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain {
            let meta = &self.lake.meta;
            if let Some(c) = meta.get_branch(&self.rec.name, expr)? {
                return Ok(c);
            }
            if let Some(c) = meta.get_tag(&self.rec.name, expr)? {
                return Ok(c);
            }
        }
        Ok(self.resolve(expr)?.commit.id)
    }

    /// Resolves a ref expression: branch, tag, commit id or unique prefix,
    /// with `@`, `~N` and `^N`.
    pub fn resolve(&self, expr: &str) -> Result<Resolved> {
        let r = RefExpr::parse(expr)?;
        let meta = &self.lake.meta;
        let repo = &self.rec.name;
        let (mut commit_id, kind) = if let Some(c) = meta.get_branch(repo, &r.base)? {
            (c, RefKind::Branch)
        } else if let Some(c) = meta.get_tag(repo, &r.base)? {
            (c, RefKind::Tag)
        } else if r.base.len() >= 6 && r.base.chars().all(|c| c.is_ascii_hexdigit()) {
            let base = r.base.to_ascii_lowercase();
            let found = meta.commits_with_prefix(repo, &base, 2)?;
            match found.as_slice() {
                [one] => (one.clone(), RefKind::Commit),
                [] => return Err(StoreError::not_found("ref", expr)),
                many => {
                    return Err(StoreError::AmbiguousRef {
                        expr: expr.to_string(),
                        matches: many.join(", "),
                    });
                }
            }
        } else {
            return Err(StoreError::not_found("ref", expr));
        };
        for step in &r.steps {
            let (n, first_only) = match *step {
                RefStep::Ancestor(n) => (n, true),
                RefStep::Parent(n) => (n, false),
            };
            if first_only {
                for _ in 0..n {
                    let c = self.commit_record(&commit_id)?;
                    commit_id = c.parents.first().cloned().ok_or_else(|| {
                        StoreError::not_found("ref", format!("{expr} (history is shorter)"))
                    })?;
                }
            } else if n > 0 {
                let c = self.commit_record(&commit_id)?;
                commit_id = c.parents.get(n as usize - 1).cloned().ok_or_else(|| {
                    StoreError::not_found("ref", format!("{expr} (commit has no parent {n})"))
                })?;
            }
        }
        let staging = (kind == RefKind::Branch && r.is_plain()).then(|| r.base.clone());
        Ok(Resolved {
            commit: self.commit_record(&commit_id)?,
            kind: if r.steps.is_empty() {
                kind
            } else {
                RefKind::Commit
            },
            staging,
        })
    }

    /// The head commit id of a branch (which must exist).
    pub fn branch_head(&self, branch: &str) -> Result<String> {
        names::validate_branch(branch)?;
        self.lake
            .meta
            .get_branch(&self.rec.name, branch)?
            .ok_or_else(|| StoreError::not_found("branch", branch))
    }

    pub fn create_branch(&self, name: &str, source: &str) -> Result<CommitRecord> {
        names::validate_branch(name)?;
        if self.lake.meta.get_tag(&self.rec.name, name)?.is_some() {
            return Err(StoreError::AlreadyExists {
                kind: "tag with that name",
                name: name.to_string(),
            });
        }
        let src = self.resolve(source)?;
        let audit = self
            .audit("branch_create", name)
            .detail(serde_json::json!({"source": source}));
        self.lake
            .meta
            .create_branch(&self.rec.name, name, &src.commit.id, &audit)?;
        Ok(src.commit)
    }

    pub fn list_branches(&self) -> Result<Vec<(String, String)>> {
        self.lake.meta.list_branches(&self.rec.name)
    }

    pub fn delete_branch(&self, name: &str) -> Result<()> {
        names::validate_branch(name)?;
        if name == self.rec.default_branch {
            return Err(StoreError::NotAllowed(format!(
                "{name} is the default branch of {}; it cannot be deleted",
                self.rec.name
            )));
        }
        let audit = self.audit("branch_delete", name);
        if !self.lake.meta.delete_branch(&self.rec.name, name, &audit)? {
            return Err(StoreError::not_found("branch", name));
        }
        Ok(())
    }

    /// Discards uncommitted changes under `prefix` (all when empty).
    pub fn reset_branch(&self, name: &str, prefix: &str) -> Result<u64> {
        self.branch_head(name)?;
        names::validate_prefix(prefix)?;
        let audit = self
            .audit("branch_reset", name)
            .detail(serde_json::json!({"prefix": prefix}));
        self.lake
            .meta
            .reset_staging(&self.rec.name, name, prefix, &audit)
    }

    pub fn create_tag(&self, name: &str, target: &str) -> Result<CommitRecord> {
        names::validate_tag(name)?;
        if self.lake.meta.get_branch(&self.rec.name, name)?.is_some() {
            return Err(StoreError::AlreadyExists {
                kind: "branch with that name",
                name: name.to_string(),
            });
        }
        let c = self.resolve(target)?.commit;
        let audit = self
            .audit("tag_create", name)
            .detail(serde_json::json!({"target": target}));
        self.lake
            .meta
            .create_tag(&self.rec.name, name, &c.id, &audit)?;
        Ok(c)
    }

    pub fn list_tags(&self) -> Result<Vec<(String, String)>> {
        self.lake.meta.list_tags(&self.rec.name)
    }

    pub fn delete_tag(&self, name: &str) -> Result<()> {
        names::validate_tag(name)?;
        let audit = self.audit("tag_delete", name);
        if !self.lake.meta.delete_tag(&self.rec.name, name, &audit)? {
            return Err(StoreError::not_found("tag", name));
        }
        Ok(())
    }

    // ---- commits ------------------------------------------------------------

    /// Commits the branch's staging area. Concurrent writes that land while
    /// the commit is being built stay staged; concurrent commits to the same
    /// branch are retried and then fail with a conflict.
    pub async fn commit(
        &self,
        branch: &str,
        message: &str,
        committer: &str,
        metadata: BTreeMap<String, String>,
        allow_empty: bool,
    ) -> Result<CommitRecord> {
        self.commit_prefix(branch, "", message, committer, metadata, allow_empty)
            .await
    }

    /// Commits only the staged changes under `prefix` (all of them for
    /// ""); others stay staged. Writers that share a branch (a table
    /// write, pipeline stages running side by side) each commit their own
    /// table without sweeping in another's half-written files.
    pub async fn commit_prefix(
        &self,
        branch: &str,
        prefix: &str,
        message: &str,
        committer: &str,
        metadata: BTreeMap<String, String>,
        allow_empty: bool,
    ) -> Result<CommitRecord> {
        if message.trim().is_empty() {
            return Err(StoreError::InvalidArgument(
                "a commit needs a message (-m)".into(),
            ));
        }
        for attempt in 0..8 {
            let started = std::time::Instant::now();
            let head_id = self.branch_head(branch)?;
            let head = self.commit_record(&head_id)?;
            let mut changes: Vec<Change> = Vec::new();
            let mut consumed = Vec::new();
            let mut from = prefix.to_string();
            'scan: loop {
                let rows =
                    self.lake
                        .meta
                        .staged_scan(&self.rec.name, branch, &from, STAGE_BATCH)?;
                let full = rows.len() == STAGE_BATCH;
                for r in rows {
                    if !r.path.starts_with(prefix) {
                        break 'scan;
                    }
                    from = format!("{}\0", r.path);
                    consumed.push((r.path.clone(), r.version));
                    changes.push((r.path, r.entry));
                }
                if !full {
                    break;
                }
            }
            let scanned = started.elapsed();
            let base = parse_hash(&head.metarange)?;
            let (tree, stats) = apply_changes(&self.lake.trees, self.ns(), &base, &changes).await?;
            let built = started.elapsed();
            if tree == base && !allow_empty {
                if !consumed.is_empty() {
                    // The staged rows equal what is committed: drop them.
                    let audit = self
                        .audit("unstage_unchanged", branch)
                        .detail(serde_json::json!({"rows": consumed.len()}));
                    self.lake.meta.advance_branch(
                        &self.rec.name,
                        branch,
                        &head_id,
                        &head,
                        Some(&consumed),
                        &audit,
                    )?;
                }
                let under = if prefix.is_empty() {
                    String::new()
                } else {
                    format!(" under {prefix}")
                };
                return Err(StoreError::NoChanges(format!(
                    "branch {branch} has no uncommitted changes{under}"
                )));
            }
            let mut metadata = metadata.clone();
            metadata.insert(audit::HEAD_KEY.into(), self.audit_head()?);
            let commit = NewCommit {
                parents: vec![head_id.clone()],
                metarange: hex::encode(tree),
                message,
                committer,
                created: now_secs(),
                metadata,
                generation: head.generation + 1,
            }
            .seal();
            let audit = AuditDraft::new(committer, "commit", &self.rec.name, branch).detail(
                serde_json::json!({"message": message, "prefix": prefix, "changes": changes.len()}),
            );
            if self.lake.meta.advance_branch(
                &self.rec.name,
                branch,
                &head_id,
                &commit,
                Some(&consumed),
                &audit,
            )? {
                tracing::debug!(
                    branch,
                    attempt,
                    changes = changes.len(),
                    ranges_written = stats.ranges_written,
                    ranges_reused = stats.ranges_reused,
                    scan_ms = scanned.as_secs_f64() * 1e3,
                    build_ms = (built - scanned).as_secs_f64() * 1e3,
                    total_ms = started.elapsed().as_secs_f64() * 1e3,
                    "commit"
                );
                return Ok(commit);
            }
        }
        Err(StoreError::Conflict(format!(
            "branch {branch} kept moving while committing; retry"
        )))
    }

    /// Commit history from `reference`, newest first.
    pub fn log(&self, reference: &str, opts: &LogOptions) -> Result<(Vec<CommitRecord>, bool)> {
        let start = self.resolve(reference)?.commit;
        let amount = if opts.amount == 0 { 100 } else { opts.amount };
        let mut heap = BinaryHeap::new();
        let mut seen = HashSet::new();
        seen.insert(start.id.clone());
        heap.push((start.created, start.generation, start.id.clone()));
        let mut out = Vec::new();
        let mut skipping = opts.after.is_some();
        while let Some((_, _, id)) = heap.pop() {
            let c = self.commit_record(&id)?;
            let parents = if opts.first_parent {
                c.parents.iter().take(1).cloned().collect::<Vec<_>>()
            } else {
                c.parents.clone()
            };
            for p in parents {
                if seen.insert(p.clone()) {
                    let pc = self.commit_record(&p)?;
                    heap.push((pc.created, pc.generation, p));
                }
            }
            if skipping {
                skipping = opts.after.as_deref() != Some(c.id.as_str());
                continue;
            }
            if out.len() == amount {
                return Ok((out, true));
            }
            out.push(c);
        }
        Ok((out, false))
    }

    /// The best common ancestor of two commits.
    pub fn merge_base(&self, a: &str, b: &str) -> Result<CommitRecord> {
        const A: u8 = 1;
        const B: u8 = 2;
        let mut flags: std::collections::HashMap<String, u8> = Default::default();
        let mut heap = BinaryHeap::new();
        for (id, f) in [(a, A), (b, B)] {
            let c = self.commit_record(id)?;
            *flags.entry(c.id.clone()).or_default() |= f;
            heap.push((c.generation, c.id));
        }
        let mut popped = HashSet::new();
        while let Some((_, id)) = heap.pop() {
            if !popped.insert(id.clone()) {
                continue;
            }
            let f = flags[&id];
            if f == A | B {
                return self.commit_record(&id);
            }
            for p in self.commit_record(&id)?.parents {
                let e = flags.entry(p.clone()).or_default();
                *e |= f;
                let pc = self.commit_record(&p)?;
                heap.push((pc.generation, p));
            }
        }
        Err(StoreError::NotFound {
            kind: "common ancestor of",
            name: format!("{a} and {b}"),
        })
    }

    /// Objects that differ between two refs (committed state).
    pub async fn diff(
        &self,
        left: &str,
        right: &str,
        mode: DiffMode,
        scope: &DiffScope,
    ) -> Result<Vec<DiffEntry>> {
        let l = self.resolve(left)?.commit;
        let r = self.resolve(right)?.commit;
        let l = match mode {
            DiffMode::TwoDot => l,
            DiffMode::ThreeDot => self.merge_base(&l.id, &r.id)?,
        };
        diff_trees(
            &self.lake.trees,
            self.ns(),
            &parse_hash(&l.metarange)?,
            &parse_hash(&r.metarange)?,
            scope,
        )
        .await
    }

    /// A branch's uncommitted changes against its head.
    pub async fn diff_uncommitted(
        &self,
        branch: &str,
        scope: &DiffScope,
    ) -> Result<Vec<DiffEntry>> {
        let head = self.commit_record(&self.branch_head(branch)?)?;
        let tree = parse_hash(&head.metarange)?;
        let limit = scope.limit.unwrap_or(usize::MAX);
        let mut from = match &scope.after {
            Some(a) if a.as_str() >= scope.prefix.as_str() => format!("{a}\0"),
            _ => scope.prefix.clone(),
        };
        let mut out = Vec::new();
        'outer: loop {
            let rows = self
                .lake
                .meta
                .staged_scan(&self.rec.name, branch, &from, 1000)?;
            let full = rows.len() == 1000;
            for row in rows {
                if !row.path.starts_with(&scope.prefix) {
                    break 'outer;
                }
                from = format!("{}\0", row.path);
                let old = self.lake.trees.lookup(self.ns(), &tree, &row.path).await?;
                if same(old.as_ref(), row.entry.as_ref()) {
                    continue;
                }
                let kind = match (&old, &row.entry) {
                    (None, _) => DiffKind::Added,
                    (Some(_), None) => DiffKind::Removed,
                    (Some(_), Some(_)) => DiffKind::Changed,
                };
                out.push(DiffEntry {
                    path: row.path,
                    kind,
                    left: old,
                    right: row.entry,
                });
                if out.len() >= limit {
                    break 'outer;
                }
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }
}
