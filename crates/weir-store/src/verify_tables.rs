//! `verify`'s table check: at every branch head and tag, each Delta table's
//! log and data files agree. Every file the latest version reads is in the
//! tree, and every Parquet file under the table that the table's log names
//! at some ref, or in the ref's recent history, is named by a version of
//! its log at every ref that holds it: a file a log named once and the
//! ref's log does not now holds rows lost to that ref's readers (what a
//! merge by object that kept one side's log left behind). A file no log
//! ever named is what a writer killed between its data file and its log
//! entry leaves (as Delta's own writers do): no rows were ever added, so
//! it is not a problem.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::delta_log::{Commit, LOG_DIR, commit_version, relative_file, table_name, table_root};
use crate::entry::Entry;
use crate::error::Result;
use crate::repo::{Repo, parse_hash};

#[derive(Default)]
struct Table {
    commits: BTreeMap<u64, Entry>,
    /// Paths under the table root, relative to it.
    files: HashSet<String>,
}

impl Repo {
    /// Problems with the tables of every branch head and tag.
    pub(crate) async fn verify_tables(&self, problems: &mut Vec<String>) -> Result<()> {
        let mut refs = self.lake.meta.list_branches(&self.rec.name)?;
        refs.extend(self.lake.meta.list_tags(&self.rec.name)?);
        let mut seen = HashSet::new();
        // Files a log names, at any ref, by table; and each ref's files
        // that its own log does not name.
        let mut named_anywhere: HashMap<String, HashSet<String>> = HashMap::new();
        let mut unnamed: Vec<(String, String, String)> = Vec::new();
        for (name, commit) in refs {
            let Ok(c) = self.commit_record(&commit) else {
                continue; // reported by the history check
            };
            if !seen.insert(c.metarange.clone()) || parse_hash(&c.metarange).is_err() {
                continue;
            }
            let Ok(meta) = self.metarange(&c).await else {
                continue; // reported by the tree check
            };
            let mut it = self.lake.trees.iter(self.ns(), meta);
            let mut tables: HashMap<String, Table> = HashMap::new();
            let mut others: Vec<String> = Vec::new();
            // A tree file that fails its hash is the tree check's to
            // report; a tree read in part is not checked.
            let mut broken = false;
            while let Some((path, entry)) = match it.next().await {
                Ok(next) => next,
                Err(crate::error::StoreError::Corrupt(_)) => {
                    broken = true;
                    None
                }
                Err(e) => return Err(e),
            } {
                match table_root(&path) {
                    Some(root) => {
                        let t = tables.entry(root.to_string()).or_default();
                        if let Some(v) = commit_version(root, &path) {
                            t.commits.insert(v, entry);
                        }
                        t.files.insert(path[root.len()..].to_string());
                    }
                    None => others.push(path),
                }
            }
            if broken {
                continue;
            }
            // A data file may sort before its table's log (`0001.parquet` <
            // `_delta_log/`), so files are assigned once every root is known.
            for path in others {
                if let Some(root) = tables
                    .keys()
                    .filter(|r| path.starts_with(r.as_str()))
                    .max_by_key(|r| r.len())
                    .cloned()
                {
                    let t = tables.get_mut(&root).expect("a known root");
                    t.files.insert(path[root.len()..].to_string());
                }
            }
            for (root, t) in &tables {
                let Some(named) = self.verify_table(&name, root, t, problems).await? else {
                    continue;
                };
                for f in t.files.iter().filter(|f| {
                    !f.starts_with(LOG_DIR) && f.ends_with(".parquet") && !named.contains(*f)
                }) {
                    unnamed.push((root.clone(), name.clone(), f.clone()));
                }
                named_anywhere
                    .entry(root.clone())
                    .or_default()
                    .extend(named);
            }
        }
        unnamed.sort();
        let mut logs = HashMap::new();
        let mut history: HashMap<(String, String), HashSet<String>> = HashMap::new();
        for (root, reference, f) in &unnamed {
            let key = (root.clone(), reference.clone());
            if !history.contains_key(&key) {
                let named = self.named_in_history(reference, root, &mut logs).await?;
                history.insert(key.clone(), named);
            }
            if history[&key].contains(f) {
                named_anywhere
                    .entry(root.clone())
                    .or_default()
                    .insert(f.clone());
            }
        }
        for (root, reference, f) in unnamed {
            if named_anywhere.get(&root).is_some_and(|n| n.contains(&f)) {
                problems.push(format!(
                    "table {} at {reference}: data file {f} is named by no version of the log here but was by one before (at another ref or earlier in this one): its rows are lost to this ref's readers",
                    table_name(&root)
                ));
            }
        }
        Ok(())
    }

    /// The data files some version of `root`'s log named in the last
    /// commits of `reference` (log files read once each, by address).
    async fn named_in_history(
        &self,
        reference: &str,
        root: &str,
        logs: &mut HashMap<String, Vec<String>>,
    ) -> Result<HashSet<String>> {
        const HISTORY: usize = 1000;
        let opts = crate::repo::LogOptions {
            first_parent: false,
            after: None,
            amount: HISTORY,
        };
        let mut named = HashSet::new();
        let Ok((commits, _)) = self.log(reference, &opts) else {
            return Ok(named);
        };
        for c in commits {
            let prefix = format!("{root}{LOG_DIR}");
            let Ok((items, _)) = self
                .list_objects(&c.id, &prefix, false, None, 1_000_000)
                .await
            else {
                continue;
            };
            for item in items {
                let crate::ListItem::Object { path, entry } = item else {
                    continue;
                };
                if !path.ends_with(".json") {
                    continue;
                }
                if !logs.contains_key(&entry.address) {
                    let files = match self.read_entry(&entry, None).await {
                        Ok(bytes) => Commit::parse(&bytes, &path)
                            .map(|c| {
                                c.added
                                    .iter()
                                    .chain(&c.removed)
                                    .filter_map(|p| relative_file(p))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        Err(_) => Vec::new(),
                    };
                    logs.insert(entry.address.clone(), files);
                }
                named.extend(logs[&entry.address].iter().cloned());
            }
        }
        Ok(named)
    }

    async fn verify_table(
        &self,
        reference: &str,
        root: &str,
        t: &Table,
        problems: &mut Vec<String>,
    ) -> Result<Option<HashSet<String>>> {
        let table = table_name(root);
        // A log that starts after version 0 keeps its early history in a
        // checkpoint, which this check does not read.
        let Some((&last, _)) = t.commits.last_key_value() else {
            return Ok(None);
        };
        if !t.commits.contains_key(&0) {
            return Ok(None);
        }
        let mut active: BTreeMap<String, u64> = BTreeMap::new();
        let mut named: HashSet<String> = HashSet::new();
        for v in 0..=last {
            let Some(entry) = t.commits.get(&v) else {
                problems.push(format!(
                    "table {table} at {reference}: log version {v} is missing (the log goes to {last})"
                ));
                return Ok(None);
            };
            let what = format!("table {table} at {reference}, version {v}");
            let c = match self.read_entry(entry, None).await {
                Ok(bytes) => match Commit::parse(&bytes, &what) {
                    Ok(c) => c,
                    Err(e) => {
                        problems.push(e.to_string());
                        return Ok(None);
                    }
                },
                // Unreadable bytes are the object check's to report.
                Err(_) => return Ok(None),
            };
            for f in c.removed.iter().filter_map(|p| relative_file(p)) {
                active.remove(&f);
                named.insert(f);
            }
            for f in c.added.iter().filter_map(|p| relative_file(p)) {
                active.insert(f.clone(), v);
                named.insert(f);
            }
            named.extend(c.cdc.iter().filter_map(|p| relative_file(p)));
        }
        for (f, v) in &active {
            if !t.files.contains(f) {
                problems.push(format!(
                    "table {table} at {reference}: data file {f} (added in version {v}) is not in the tree"
                ));
            }
        }
        Ok(Some(named))
    }
}
