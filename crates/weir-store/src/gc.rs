//! Garbage collection of object bytes, with lakeFS's retention rules.
//!
//! A commit is live when it is a branch head or a tag, or when it is in a
//! branch's history and younger than that branch's retention (the rule's
//! days for the branch, else the default). Bytes are kept when a live
//! commit's tree, a staging area or a multipart upload in progress names
//! them, or when they were written within the grace period (a write in
//! flight has its bytes before its entry is staged). Everything else under
//! the repository's data prefix is garbage. Trees and commit records are
//! never collected: history stays whole and verifiable, and an expired
//! commit's objects read as collected.
//!
//! Memory stays flat in the number of objects: the marks and the garbage
//! are kept in a temporary SQLite file, the data store is listed as a
//! stream. Before deleting, staging areas, uploads and the commits made
//! since the run began are marked again, so an object staged or committed
//! during the run is never deleted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::meta::CommitRecord;
use crate::repo::{Repo, parse_hash};
use crate::verify::Progress;

const RULES: &str = "gc_rules";
const LAST_RUN: &str = "gc_last_run";

/// Retention by branch, as lakeFS's garbage-collection rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcRules {
    pub default_retention_days: u32,
    #[serde(default)]
    pub branches: Vec<BranchRetention>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchRetention {
    pub branch_id: String,
    pub retention_days: u32,
}

impl Default for GcRules {
    /// lakeFS's example rule: three weeks.
    fn default() -> Self {
        GcRules {
            default_retention_days: 21,
            branches: Vec::new(),
        }
    }
}

impl GcRules {
    fn days(&self, branch: &str) -> u32 {
        self.branches
            .iter()
            .find(|b| b.branch_id == branch)
            .map_or(self.default_retention_days, |b| b.retention_days)
    }
}

#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Objects written more recently than this are kept whatever names them.
    pub grace: Duration,
    /// Plan only: report what would go, delete nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: Duration::from_secs(6 * 3600),
            dry_run: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub repository: String,
    pub dry_run: bool,
    pub rules: Option<GcRules>,
    pub commits: u64,
    pub expired_commits: u64,
    /// Distinct objects named by live commits, staging and uploads.
    pub live_objects: u64,
    /// Objects found in the data store under the repository.
    pub stored_objects: u64,
    pub stored_bytes: u64,
    /// Unnamed but younger than the grace period.
    pub recent_objects: u64,
    pub garbage_objects: u64,
    pub garbage_bytes: u64,
    pub deleted_objects: u64,
    pub deleted_bytes: u64,
    /// Garbage named again by a write made during the run, so kept.
    pub rescued_objects: u64,
}

/// What the last collection decided, kept so `verify` can tell collected
/// bytes from lost ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LastRun {
    /// When it began, microseconds since the Unix epoch.
    pub started_us: i64,
    pub rules: GcRules,
}

/// The live commits: heads, tags, and each branch's history within its
/// retention counted back from `now` (seconds).
pub(crate) fn live_commits(
    commits: &HashMap<String, CommitRecord>,
    branches: &[(String, String)],
    tags: &[(String, String)],
    rules: &GcRules,
    now: i64,
) -> HashSet<String> {
    let mut live: HashSet<String> = tags.iter().map(|(_, c)| c.clone()).collect();
    for (branch, head) in branches {
        let cutoff = now - i64::from(rules.days(branch)) * 86_400;
        live.insert(head.clone());
        let mut seen = HashSet::new();
        let mut stack = vec![head.clone()];
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(c) = commits.get(&id) else { continue };
            if c.created >= cutoff {
                live.insert(id);
            }
            stack.extend(c.parents.iter().cloned());
        }
    }
    live
}

/// A temporary on-disk set of addresses, removed when dropped.
struct Marks {
    db: rusqlite::Connection,
    path: std::path::PathBuf,
}

impl Drop for Marks {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

impl Marks {
    fn new() -> Result<Marks> {
        let path =
            std::env::temp_dir().join(format!("weir-gc-{}.db", uuid::Uuid::new_v4().simple()));
        let db = rusqlite::Connection::open(&path)?;
        db.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE live (address TEXT PRIMARY KEY) WITHOUT ROWID;
             CREATE TABLE garbage (address TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;",
        )?;
        Ok(Marks { db, path })
    }

    fn mark(&mut self, addresses: &[String]) -> Result<()> {
        let tx = self.db.transaction()?;
        {
            let mut st = tx.prepare_cached("INSERT OR IGNORE INTO live VALUES (?1)")?;
            for a in addresses {
                st.execute([a])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn count(&self, table: &str) -> Result<u64> {
        Ok(self
            .db
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }
}

impl Repo {
    /// The repository's rules, `None` when never set.
    pub fn gc_rules(&self) -> Result<Option<GcRules>> {
        self.lake
            .meta
            .get_setting(&self.rec.name, RULES)?
            .map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("garbage-collection rules: {e}")))
            })
            .transpose()
    }

    pub fn set_gc_rules(&self, rules: &GcRules) -> Result<()> {
        for b in &rules.branches {
            weir_core::names::validate_branch(&b.branch_id)?;
        }
        let text =
            serde_json::to_string(rules).map_err(|e| StoreError::InvalidArgument(e.to_string()))?;
        self.lake.meta.put_setting(&self.rec.name, RULES, &text)
    }

    pub(crate) fn gc_last_run(&self) -> Result<Option<LastRun>> {
        Ok(self
            .lake
            .meta
            .get_setting(&self.rec.name, LAST_RUN)?
            .and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Addresses named by these commits' trees, into `marks`.
    async fn mark_trees(
        &self,
        commits: impl Iterator<Item = &CommitRecord>,
        marks: &mut Marks,
        seen_ranges: &mut HashSet<[u8; 32]>,
    ) -> Result<()> {
        let mut seen_meta = HashSet::new();
        for c in commits {
            if !seen_meta.insert(c.metarange.clone()) {
                continue;
            }
            let meta = self
                .lake
                .trees
                .metarange(self.ns(), &parse_hash(&c.metarange)?)
                .await?;
            for info in &meta.ranges {
                if !seen_ranges.insert(info.id) {
                    continue;
                }
                let range = self.lake.trees.range(self.ns(), &info.id).await?;
                let addrs: Vec<String> = range
                    .entries
                    .iter()
                    .map(|(_, e)| e.address.clone())
                    .collect();
                marks.mark(&addrs)?;
            }
        }
        Ok(())
    }

    /// Addresses named by staging areas and uploads in progress.
    fn mark_pending(&self, marks: &mut Marks) -> Result<()> {
        let name = &self.rec.name;
        for (branch, _) in self.lake.meta.list_branches(name)? {
            let mut from = String::new();
            loop {
                let rows = self.lake.meta.staged_scan(name, &branch, &from, 10_000)?;
                let addrs: Vec<String> = rows
                    .iter()
                    .filter_map(|r| r.entry.as_ref().map(|e| e.address.clone()))
                    .collect();
                marks.mark(&addrs)?;
                match rows.last() {
                    Some(r) if rows.len() == 10_000 => from = format!("{}\0", r.path),
                    _ => break,
                }
            }
        }
        let mut after = (String::new(), None::<String>);
        loop {
            let ups =
                self.lake
                    .meta
                    .list_uploads(name, "", (&after.0, after.1.as_deref()), 1000)?;
            for u in &ups {
                let parts = self
                    .lake
                    .meta
                    .upload_parts(name, &u.id, 0, usize::MAX >> 1)?;
                let addrs: Vec<String> = parts.iter().map(|(_, e)| e.address.clone()).collect();
                marks.mark(&addrs)?;
            }
            match ups.last() {
                Some(u) if ups.len() == 1000 => after = (u.key.clone(), Some(u.id.clone())),
                _ => break,
            }
        }
        Ok(())
    }

    /// Plans (with `dry_run`) or runs a garbage collection.
    pub async fn gc(&self, opts: &GcOptions, progress: &dyn Progress) -> Result<GcReport> {
        let started = SystemTime::now();
        let now = chrono::Utc::now();
        let rules = self.gc_rules()?.unwrap_or_default();
        let mut rep = GcReport {
            repository: self.rec.name.clone(),
            dry_run: opts.dry_run,
            rules: Some(rules.clone()),
            ..Default::default()
        };
        let name = &self.rec.name;
        let commits: HashMap<String, CommitRecord> = self
            .lake
            .meta
            .all_commits(name)?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let branches = self.lake.meta.list_branches(name)?;
        let tags = self.lake.meta.list_tags(name)?;
        let live = live_commits(&commits, &branches, &tags, &rules, now.timestamp());
        rep.commits = commits.len() as u64;
        rep.expired_commits = (commits.len() - live.len().min(commits.len())) as u64;

        let mut marks = Marks::new()?;
        let mut seen_ranges = HashSet::new();
        progress.start("marking", live.len() as u64);
        self.mark_trees(
            live.iter().filter_map(|id| commits.get(id)),
            &mut marks,
            &mut seen_ranges,
        )
        .await?;
        progress.finish();
        self.mark_pending(&mut marks)?;
        rep.live_objects = marks.count("live")?;

        // Sweep: every stored object under the repository's data prefix.
        let grace_edge = chrono::DateTime::<chrono::Utc>::from(started - opts.grace);
        let prefix = Path::from(format!("{}/data", self.ns()));
        let data = self.lake.trees.data.clone();
        let mut listing = data.list(Some(&prefix));
        progress.start("sweeping", 0);
        let mut batch: Vec<(String, u64)> = Vec::new();
        loop {
            let next = listing.next().await.transpose()?;
            if let Some(m) = &next {
                rep.stored_objects += 1;
                rep.stored_bytes += m.size;
                progress.inc(1);
                if m.last_modified > grace_edge {
                    rep.recent_objects += 1;
                } else {
                    batch.push((m.location.to_string(), m.size));
                }
            }
            if batch.len() >= 1000 || (next.is_none() && !batch.is_empty()) {
                let tx = marks.db.transaction()?;
                {
                    let mut is_live = tx.prepare_cached("SELECT 1 FROM live WHERE address = ?1")?;
                    let mut add =
                        tx.prepare_cached("INSERT OR IGNORE INTO garbage VALUES (?1, ?2)")?;
                    for (a, size) in batch.drain(..) {
                        if !is_live.exists([&a])? {
                            add.execute(rusqlite::params![a, size as i64])?;
                        }
                    }
                }
                tx.commit()?;
            }
            if next.is_none() {
                break;
            }
        }
        progress.finish();

        // Whatever was named while this ran is live too: staged rows,
        // uploads, and the trees of commits made since the run began.
        let newer: Vec<CommitRecord> = self
            .lake
            .meta
            .all_commits(name)?
            .into_iter()
            .filter(|c| !commits.contains_key(&c.id))
            .collect();
        self.mark_trees(newer.iter(), &mut marks, &mut seen_ranges)
            .await?;
        self.mark_pending(&mut marks)?;
        rep.rescued_objects = marks.db.execute(
            "DELETE FROM garbage WHERE address IN (SELECT address FROM live)",
            [],
        )? as u64;
        rep.garbage_objects = marks.count("garbage")?;
        rep.garbage_bytes =
            marks
                .db
                .query_row("SELECT coalesce(sum(size), 0) FROM garbage", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64;
        if opts.dry_run {
            return Ok(rep);
        }

        // Recorded first: a run stopped halfway has collected some bytes,
        // and verify must know they went by rule.
        let last = LastRun {
            started_us: now.timestamp_micros(),
            rules: rules.clone(),
        };
        self.lake.meta.put_setting(
            name,
            LAST_RUN,
            &serde_json::to_string(&last).unwrap_or_default(),
        )?;
        progress.start("deleting", rep.garbage_objects);
        let mut after = String::new();
        loop {
            let page: Vec<(String, i64)> = {
                let mut st = marks.db.prepare_cached(
                    "SELECT address, size FROM garbage WHERE address > ?1 ORDER BY address LIMIT 1000",
                )?;
                st.query_map([&after], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let Some((last_addr, _)) = page.last() else {
                break;
            };
            after = last_addr.clone();
            let paths: Vec<object_store::Result<Path>> = page
                .iter()
                .map(|(a, _)| Ok(Path::from(a.as_str())))
                .collect();
            let paths = futures::stream::iter(paths).boxed();
            let deleted: Vec<Path> = data
                .delete_stream(paths)
                .or_else(|e| async move {
                    match e {
                        // Gone already (another run): nothing to do.
                        object_store::Error::NotFound { path, .. } => Ok(Path::from(path)),
                        e => Err(e),
                    }
                })
                .try_collect()
                .await?;
            rep.deleted_objects += deleted.len() as u64;
            rep.deleted_bytes += page.iter().map(|(_, s)| *s as u64).sum::<u64>();
            progress.inc(page.len() as u64);
        }
        progress.finish();
        Ok(rep)
    }
}

/// `branch=days` pairs into rules (the CLI's `--branch main=28`).
pub fn parse_branch_days(default_days: u32, pairs: &[String]) -> Result<GcRules> {
    let mut branches: BTreeMap<String, u32> = BTreeMap::new();
    for p in pairs {
        let (b, d) = p.split_once('=').ok_or_else(|| {
            StoreError::InvalidArgument(format!("{p:?}: write it as BRANCH=DAYS"))
        })?;
        let d: u32 = d.trim().parse().map_err(|_| {
            StoreError::InvalidArgument(format!("{p:?}: DAYS must be a whole number"))
        })?;
        weir_core::names::validate_branch(b.trim())?;
        branches.insert(b.trim().to_string(), d);
    }
    Ok(GcRules {
        default_retention_days: default_days,
        branches: branches
            .into_iter()
            .map(|(branch_id, retention_days)| BranchRetention {
                branch_id,
                retention_days,
            })
            .collect(),
    })
}
