//! `verify`'s table check: at every branch head and tag, each Delta table's
//! log and data files agree. Every file the latest version reads is in the
//! tree, and every Parquet file under the table is named by some version
//! of its log: a file no version names holds rows that are lost to every
//! reader (what a merge by object that kept one side's log left behind).

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
                self.verify_table(&name, root, t, problems).await?;
            }
        }
        Ok(())
    }

    async fn verify_table(
        &self,
        reference: &str,
        root: &str,
        t: &Table,
        problems: &mut Vec<String>,
    ) -> Result<()> {
        let table = table_name(root);
        // A log that starts after version 0 keeps its early history in a
        // checkpoint, which this check does not read.
        let Some((&last, _)) = t.commits.last_key_value() else {
            return Ok(());
        };
        if !t.commits.contains_key(&0) {
            return Ok(());
        }
        let mut active: BTreeMap<String, u64> = BTreeMap::new();
        let mut named: HashSet<String> = HashSet::new();
        for v in 0..=last {
            let Some(entry) = t.commits.get(&v) else {
                problems.push(format!(
                    "table {table} at {reference}: log version {v} is missing (the log goes to {last})"
                ));
                return Ok(());
            };
            let what = format!("table {table} at {reference}, version {v}");
            let c = match self.read_entry(entry, None).await {
                Ok(bytes) => match Commit::parse(&bytes, &what) {
                    Ok(c) => c,
                    Err(e) => {
                        problems.push(e.to_string());
                        return Ok(());
                    }
                },
                // Unreadable bytes are the object check's to report.
                Err(_) => return Ok(()),
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
        let mut orphans: Vec<&String> = t
            .files
            .iter()
            .filter(|f| !f.starts_with(LOG_DIR) && f.ends_with(".parquet") && !named.contains(*f))
            .collect();
        orphans.sort();
        for f in orphans {
            problems.push(format!(
                "table {table} at {reference}: data file {f} is named by no version of the log: its rows are lost to every reader"
            ));
        }
        Ok(())
    }
}
