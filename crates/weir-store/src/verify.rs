//! `verify`: recompute every hash the lake's integrity rests on.
//!
//! Commit ids are recomputed from their fields, metaranges and ranges from
//! their bytes, and (optionally) every object's bytes against its SHA-256.
//! Each problem is reported with what is wrong and where; verification goes
//! on after a problem so one run lists them all.
//!
//! Delta tables at every branch and tag are checked for a log and data
//! files that disagree ([`crate::verify_tables`]).
//!
//! The audit log is checked with the history it vouches for: its hash
//! chain, every commit's recorded chain head, a record for every audited
//! commit, and every ref where its latest record says it is.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::audit::{AuditRecord, GENESIS, HEAD_KEY, check_chain};
use crate::commit::commit_id;
use crate::error::{Result, StoreError};
use crate::meta::CommitRecord;
use crate::repo::{Repo, parse_hash};
use crate::tree::is_cut;

/// Progress reporting for long operations; the CLI draws bars with it.
pub trait Progress: Send + Sync {
    fn start(&self, _what: &str, _total: u64) {}
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
}

pub struct NoProgress;
impl Progress for NoProgress {}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub repository: String,
    pub commits: u64,
    pub audit_records: u64,
    pub refs: u64,
    pub metaranges: u64,
    pub ranges: u64,
    pub objects: u64,
    pub bytes: u64,
    /// Objects of expired commits that garbage collection removed by rule.
    pub collected: u64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn soft<T>(
    r: Result<T>,
    problems: &mut Vec<String>,
    what: impl FnOnce() -> String,
) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::Corrupt(msg)) => {
            problems.push(format!("{}: {msg}", what()));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Repo {
    /// Addresses the last garbage collection had to keep: the trees of the
    /// commits live by its rules and time, and the staging areas.
    async fn live_addresses(
        &self,
        commits: &[CommitRecord],
        last: &crate::gc::LastRun,
    ) -> Result<HashSet<String>> {
        let by_id: HashMap<String, CommitRecord> =
            commits.iter().map(|c| (c.id.clone(), c.clone())).collect();
        let branches = self.lake.meta.list_branches(&self.rec.name)?;
        let tags = self.lake.meta.list_tags(&self.rec.name)?;
        let live = crate::gc::live_commits(
            &by_id,
            &branches,
            &tags,
            &last.rules,
            last.started_us / 1_000_000,
        );
        let mut out = HashSet::new();
        let mut seen = HashSet::new();
        for c in commits {
            // Commits made after the run were live for it whatever their age.
            if !live.contains(&c.id) && c.created * 1_000_000 < last.started_us {
                continue;
            }
            if !seen.insert(c.metarange.clone()) {
                continue;
            }
            let Ok(h) = parse_hash(&c.metarange) else {
                continue;
            };
            let Ok(meta) = self.lake.trees.metarange(self.ns(), &h).await else {
                continue;
            };
            for info in &meta.ranges {
                if let Ok(range) = self.lake.trees.range(self.ns(), &info.id).await {
                    out.extend(range.entries.iter().map(|(_, e)| e.address.clone()));
                }
            }
        }
        for (branch, _) in &branches {
            let rows = self
                .lake
                .meta
                .staged_scan(&self.rec.name, branch, "", usize::MAX >> 1)?;
            out.extend(rows.into_iter().filter_map(|r| r.entry.map(|e| e.address)));
        }
        Ok(out)
    }

    /// The audit checks that concern this repository (the chain itself is
    /// checked here too: one broken link concerns every repository).
    fn verify_audit(&self, commits: &[CommitRecord], rep: &mut VerifyReport) -> Result<()> {
        let chain = self.lake.meta.audit_scan(0, usize::MAX >> 1)?;
        rep.audit_records = chain.len() as u64;
        if let Some(p) = check_chain(&chain) {
            rep.problems.push(p);
        }
        let seq_of_hash: HashMap<&str, i64> =
            chain.iter().map(|r| (r.hash.as_str(), r.seq)).collect();
        // Records since this repository was (last) created.
        let born = chain
            .iter()
            .rev()
            .find(|r| r.repo == self.rec.name && r.operation == "repo_create")
            .map_or(0, |r| r.seq);
        let mine: Vec<&AuditRecord> = chain
            .iter()
            .filter(|r| r.repo == self.rec.name && r.seq >= born)
            .collect();
        let mut record_of_commit: HashMap<&str, i64> = HashMap::new();
        for r in &mine {
            if matches!(
                r.operation.as_str(),
                "commit" | "merge" | "revert" | "cherry_pick" | "repo_create"
            ) && let Some(a) = &r.after
            {
                record_of_commit.entry(a.as_str()).or_insert(r.seq);
            }
        }
        for c in commits {
            let Some(head) = c.metadata.get(HEAD_KEY) else {
                continue;
            };
            let anchored = head == GENESIS || seq_of_hash.contains_key(head.as_str());
            if !anchored {
                rep.problems.push(format!(
                    "commit {}: the audit chain head it recorded ({head}) is not in the audit log; the log was rewritten",
                    c.id
                ));
            }
            match record_of_commit.get(c.id.as_str()) {
                None => rep.problems.push(format!(
                    "commit {}: no audit record made it; it was added outside weir",
                    c.id
                )),
                Some(own) => {
                    if let Some(h) = seq_of_hash.get(head.as_str())
                        && h >= own
                    {
                        rep.problems.push(format!(
                            "commit {}: its audit record ({own}) comes before the chain head it recorded",
                            c.id
                        ));
                    }
                }
            }
        }
        for (table, refs) in [
            ("branch", self.lake.meta.list_branches(&self.rec.name)?),
            ("tag", self.lake.meta.list_tags(&self.rec.name)?),
        ] {
            for (name, commit) in refs {
                // Branch and tag names never coexist, so the last record
                // naming the ref is its last change.
                let last = mine.iter().rev().find(|r| r.reference == name);
                if let Some(r) = last
                    && r.after.as_deref() != Some(commit.as_str())
                {
                    rep.problems.push(format!(
                        "{table} {name}: points at {commit}, but the audit log's last change of it (record {}) left it at {}; the ref was moved outside weir",
                        r.seq,
                        r.after.as_deref().unwrap_or("nothing (deleted)")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Verifies the repository's history, trees and (with `objects`) data.
    pub async fn verify(&self, objects: bool, progress: &dyn Progress) -> Result<VerifyReport> {
        let mut rep = VerifyReport {
            repository: self.rec.name.clone(),
            ..Default::default()
        };
        let commits = self.lake.meta.all_commits(&self.rec.name)?;
        let ids: HashSet<&str> = commits.iter().map(|c| c.id.as_str()).collect();
        self.verify_audit(&commits, &mut rep)?;
        let mut trees = Vec::new();
        for c in &commits {
            rep.commits += 1;
            let recomputed = commit_id(c);
            if recomputed != c.id {
                rep.problems.push(format!(
                    "commit {}: its content hashes to {recomputed}; the commit was modified",
                    c.id
                ));
            }
            for p in &c.parents {
                if !ids.contains(p.as_str()) {
                    rep.problems
                        .push(format!("commit {}: parent {p} is missing", c.id));
                }
            }
            trees.push((c.id.clone(), c.metarange.clone()));
        }
        for (kind, refs) in [
            ("branch", self.lake.meta.list_branches(&self.rec.name)?),
            ("tag", self.lake.meta.list_tags(&self.rec.name)?),
        ] {
            for (name, commit) in refs {
                rep.refs += 1;
                if !ids.contains(commit.as_str()) {
                    rep.problems
                        .push(format!("{kind} {name}: points at missing commit {commit}"));
                }
            }
        }
        let mut seen_meta = HashSet::new();
        let mut seen_range = HashSet::new();
        let mut addresses = Vec::new();
        let mut seen_addr = HashSet::new();
        progress.start("trees", trees.len() as u64);
        for (commit, mr) in trees {
            progress.inc(1);
            if !seen_meta.insert(mr.clone()) {
                continue;
            }
            rep.metaranges += 1;
            let id = match parse_hash(&mr) {
                Ok(h) => h,
                Err(_) => {
                    rep.problems
                        .push(format!("commit {commit}: tree id {mr:?} is malformed"));
                    continue;
                }
            };
            let Some(meta) = soft(
                self.lake.trees.metarange(self.ns(), &id).await,
                &mut rep.problems,
                || format!("commit {commit}"),
            )?
            else {
                continue;
            };
            let mut prev_last: Option<String> = None;
            for (i, info) in meta.ranges.iter().enumerate() {
                if !seen_range.insert(info.id) {
                    prev_last = Some(info.last.clone());
                    continue;
                }
                rep.ranges += 1;
                let Some(range) = soft(
                    self.lake.trees.range(self.ns(), &info.id).await,
                    &mut rep.problems,
                    || format!("commit {commit}"),
                )?
                else {
                    continue;
                };
                let rid = hex::encode(info.id);
                let e = &range.entries;
                let sorted = e.windows(2).all(|w| w[0].0 < w[1].0);
                let bounds = e.first().map(|x| &x.0) == Some(&info.first)
                    && e.last().map(|x| &x.0) == Some(&info.last)
                    && e.len() == info.count as usize;
                let ordered = prev_last.as_ref().is_none_or(|p| p < &info.first);
                let cut = i + 1 == meta.ranges.len() || is_cut(&info.last, e.len());
                if !(sorted && bounds && ordered && cut) {
                    rep.problems.push(format!(
                        "range {rid}: entries are out of order or disagree with the metarange"
                    ));
                }
                prev_last = Some(info.last.clone());
                for (_, entry) in e.iter() {
                    if seen_addr.insert(entry.address.clone()) {
                        addresses.push(entry.clone());
                    }
                }
            }
        }
        for (branch, _) in self.lake.meta.list_branches(&self.rec.name)? {
            let rows = self
                .lake
                .meta
                .staged_scan(&self.rec.name, &branch, "", usize::MAX >> 1)?;
            for r in rows.into_iter().filter_map(|r| r.entry) {
                if seen_addr.insert(r.address.clone()) {
                    addresses.push(r);
                }
            }
        }
        progress.finish();
        self.verify_tables(&mut rep.problems).await?;
        // After a garbage collection, the bytes of commits past retention
        // are gone by rule, not lost: only the live ones must be there.
        let live = match self.gc_last_run()? {
            Some(last) => Some(self.live_addresses(&commits, &last).await?),
            None => None,
        };
        if objects {
            let total: u64 = addresses.iter().map(|e| e.size).sum();
            progress.start("objects", total);
            for entry in &addresses {
                rep.objects += 1;
                // Around the cache of a remote store: what is stored counts.
                match self.fetch_range(entry, 0..entry.size).await {
                    Ok(bytes) => {
                        rep.bytes += bytes.len() as u64;
                        if bytes.len() as u64 != entry.size
                            || crate::codec::sha256(&bytes) != entry.checksum
                        {
                            rep.problems.push(format!(
                                "object at {}: its bytes do not match the recorded SHA-256 {}",
                                entry.address,
                                entry.checksum_hex()
                            ));
                        }
                    }
                    Err(StoreError::Corrupt(_) | StoreError::Collected(_))
                        if live.as_ref().is_some_and(|l| !l.contains(&entry.address)) =>
                    {
                        rep.collected += 1;
                    }
                    // Collected although something live names it: lost.
                    Err(StoreError::Collected(_)) => rep.problems.push(format!(
                        "object at {}: its bytes are missing though a live commit or staging area names them",
                        entry.address
                    )),
                    Err(StoreError::Corrupt(msg)) => rep.problems.push(msg),
                    Err(e) => return Err(e),
                }
                progress.inc(entry.size);
            }
            progress.finish();
        } else {
            rep.objects = addresses.len() as u64;
        }
        Ok(rep)
    }
}
