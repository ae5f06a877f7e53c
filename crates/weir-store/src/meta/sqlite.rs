//! SQLite implementation of [`MetaStore`], the embedded default.
//!
//! WAL mode lets readers proceed during a write and makes the file safe for
//! several processes at once (a CLI beside `weir serve`). Writes use
//! `BEGIN IMMEDIATE` so conditional checks and the write that depends on them
//! are one atomic step across processes. `synchronous = NORMAL` in WAL mode
//! survives a killed process at any point; only an OS crash can drop the
//! last transactions, never corrupt the file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::hot::Hot;
use super::{
    CommitRecord, Cond, MetaStore, RepoRecord, StageOutcome, StagedRow, Upload, UploadRecord,
};
use crate::audit::{AuditDraft, AuditRecord, GENESIS};
use crate::entry::Entry;
use crate::error::{Result, StoreError};

mod uploads;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS lake (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (
    name TEXT PRIMARY KEY, namespace TEXT NOT NULL, default_branch TEXT NOT NULL,
    storage_namespace TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS commits (
    repo TEXT NOT NULL, id TEXT NOT NULL, parents TEXT NOT NULL, metarange TEXT NOT NULL,
    message TEXT NOT NULL, committer TEXT NOT NULL, created INTEGER NOT NULL,
    metadata TEXT NOT NULL, generation INTEGER NOT NULL,
    PRIMARY KEY (repo, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS branches (
    repo TEXT NOT NULL, name TEXT NOT NULL, commit_id TEXT NOT NULL,
    PRIMARY KEY (repo, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL, name TEXT NOT NULL, commit_id TEXT NOT NULL,
    PRIMARY KEY (repo, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staging (
    repo TEXT NOT NULL, branch TEXT NOT NULL, path TEXT NOT NULL,
    version INTEGER NOT NULL, entry BLOB,
    PRIMARY KEY (repo, branch, path)) WITHOUT ROWID;
"#;

/// Added after the first lakes were made: created on open as well.
const SETTINGS_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS settings (
    repo TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (repo, key)) WITHOUT ROWID;
"#;

/// Added after the first lakes were made: created on open as well.
const AUDIT_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,
    operation TEXT NOT NULL, repo TEXT NOT NULL, ref TEXT NOT NULL,
    before TEXT, after TEXT, detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
"#;

/// Appends the record of a change inside the change's own transaction.
fn append_audit(
    tx: &rusqlite::Transaction<'_>,
    draft: &AuditDraft,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<()> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let mut rec = AuditRecord {
        seq,
        time,
        actor: draft.actor.clone(),
        operation: draft.operation.to_string(),
        repo: draft.repo.clone(),
        reference: draft.reference.clone(),
        before: before.map(str::to_string),
        after: after.map(str::to_string),
        detail: draft.detail.clone(),
        prev_hash,
        hash: String::new(),
    };
    rec.hash = rec.compute_hash();
    tx.execute(
        "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            rec.seq,
            rec.time,
            rec.actor,
            rec.operation,
            rec.repo,
            rec.reference,
            rec.before,
            rec.after,
            rec.detail,
            rec.prev_hash,
            rec.hash
        ],
    )?;
    Ok(())
}

pub const FORMAT_VERSION: &str = "1";

pub struct SqliteMeta {
    /// The connection for writes (and reads that must see them in the same
    /// transaction).
    conn: Mutex<Connection>,
    /// Connections for the hot single-row reads (refs, commits, staged
    /// entries), opened on first use. WAL lets them read while the writer
    /// writes, so a server's concurrent requests do not queue on one mutex.
    readers: Vec<Mutex<Option<Connection>>>,
    next_reader: std::sync::atomic::AtomicUsize,
    path: std::path::PathBuf,
    /// Commit records by (repository, id). A commit never changes, so the
    /// cache needs no invalidation beyond a deleted repository; it saves a
    /// query on every ref resolution (each read of a served object).
    commits: Mutex<HashMap<(String, String), CommitRecord>>,
    /// Heads and repository records while the database is unchanged.
    hot: Hot,
}

const CACHED_COMMITS: usize = 4096;
/// Reader connections per process.
const READERS: usize = 4;

fn random_version() -> i64 {
    (uuid::Uuid::new_v4().as_u128() as i64) & i64::MAX
}

fn commit_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CommitRecord> {
    let parents: String = row.get(1)?;
    let metadata: String = row.get(6)?;
    Ok(CommitRecord {
        id: row.get(0)?,
        parents: serde_json::from_str(&parents).unwrap_or_default(),
        metarange: row.get(2)?,
        message: row.get(3)?,
        committer: row.get(4)?,
        created: row.get(5)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        generation: row.get::<_, i64>(7)? as u64,
    })
}

fn insert_commit(tx: &rusqlite::Transaction<'_>, repo: &str, c: &CommitRecord) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO commits VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            repo,
            c.id,
            serde_json::to_string(&c.parents).unwrap(),
            c.metarange,
            c.message,
            c.committer,
            c.created,
            serde_json::to_string(&c.metadata).unwrap(),
            c.generation as i64
        ],
    )?;
    Ok(())
}

fn staged_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, Option<Vec<u8>>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn to_staged(r: (String, i64, Option<Vec<u8>>)) -> Result<StagedRow> {
    Ok(StagedRow {
        path: r.0,
        version: r.1,
        entry: r.2.map(|b| Entry::from_blob(&b)).transpose()?,
    })
}

impl SqliteMeta {
    /// Creates the database (and schema) at `path`.
    pub fn create(path: &Path) -> Result<SqliteMeta> {
        let m = SqliteMeta::connect(path)?;
        {
            let c = m.conn.lock().unwrap();
            c.execute_batch(SCHEMA)?;
            c.execute_batch(AUDIT_SCHEMA)?;
            c.execute_batch(uploads::UPLOAD_SCHEMA)?;
            c.execute_batch(SETTINGS_SCHEMA)?;
            c.execute(
                "INSERT OR IGNORE INTO lake VALUES ('format', ?1)",
                [FORMAT_VERSION],
            )?;
        }
        Ok(m)
    }

    /// Opens an existing database and checks its format version.
    pub fn open(path: &Path) -> Result<SqliteMeta> {
        let m = SqliteMeta::connect(path)?;
        let v: Option<String> = {
            let c = m.conn.lock().unwrap();
            c.query_row("SELECT value FROM lake WHERE key = 'format'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|_| StoreError::NotALake {
                path: path.display().to_string(),
                hint: "the metadata database is not a weir lake".into(),
            })?
        };
        match v.as_deref() {
            Some(FORMAT_VERSION) => {
                m.with(|c| {
                    c.execute_batch(AUDIT_SCHEMA)?;
                    c.execute_batch(SETTINGS_SCHEMA)?;
                    Ok(c.execute_batch(uploads::UPLOAD_SCHEMA)?)
                })?;
                Ok(m)
            }
            other => Err(StoreError::NotALake {
                path: path.display().to_string(),
                hint: format!(
                    "unsupported lake format {other:?} (this weir reads {FORMAT_VERSION})"
                ),
            }),
        }
    }

    fn connect(path: &Path) -> Result<SqliteMeta> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteMeta {
            conn: Mutex::new(conn),
            readers: (0..READERS).map(|_| Mutex::new(None)).collect(),
            next_reader: Default::default(),
            path: path.to_path_buf(),
            commits: Mutex::new(HashMap::new()),
            hot: Hot::new(path),
        })
    }

    /// Runs a read on a free reader connection (the next one, waiting, if
    /// all are busy).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        use std::sync::atomic::Ordering;
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        let mut slot = (0..n)
            .find_map(|i| self.readers[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.readers[start % n]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            });
        if slot.is_none() {
            // Read-write flags (only reads are run on it): a read-only
            // connection cannot recover a WAL left by a crashed writer.
            let c = Connection::open_with_flags(
                &self.path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(Duration::from_secs(30))?;
            c.set_prepared_statement_cache_capacity(32);
            *slot = Some(c);
        }
        f(slot.as_ref().expect("a reader connection"))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    }

    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn branch_lookup_uncached(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
    ) -> Result<Option<(String, Option<StagedRow>)>> {
        let row = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT b.commit_id, s.version, s.entry, s.path IS NOT NULL FROM branches b
                 LEFT JOIN staging s ON s.repo = b.repo AND s.branch = b.name AND s.path = ?3
                 WHERE b.repo = ?1 AND b.name = ?2",
            )?;
            Ok(st
                .query_row([repo, branch, path], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                        r.get::<_, bool>(3)?,
                    ))
                })
                .optional()?)
        })?;
        let Some((head, version, entry, staged)) = row else {
            return Ok(None);
        };
        let staged = if staged {
            Some(to_staged((path.to_string(), version.unwrap_or(0), entry))?)
        } else {
            None
        };
        Ok(Some((head, staged)))
    }

    fn list_refs(&self, table: &str, repo: &str) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT name, commit_id FROM {table} WHERE repo = ?1 ORDER BY name"
            ))?;
            let rows = st
                .query_map([repo], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn get_ref(&self, table: &'static str, repo: &str, name: &str) -> Result<Option<String>> {
        self.hot.reference(table, repo, name, || {
            self.read(|c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT commit_id FROM {table} WHERE repo = ?1 AND name = ?2"
                ))?;
                Ok(st.query_row([repo, name], |r| r.get(0)).optional()?)
            })
        })
    }

    fn create_ref(
        &self,
        table: &str,
        kind: &'static str,
        repo: &str,
        name: &str,
        commit: &str,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                &format!("INSERT OR IGNORE INTO {table} VALUES (?1, ?2, ?3)"),
                [repo, name, commit],
            )?;
            if n == 0 {
                return Err(StoreError::AlreadyExists {
                    kind,
                    name: name.to_string(),
                });
            }
            append_audit(tx, audit, None, Some(commit))
        })
    }

    /// Deletes a branch or tag; returns whether it existed.
    fn delete_ref(&self, table: &str, repo: &str, name: &str, audit: &AuditDraft) -> Result<bool> {
        self.write(|tx| {
            let before: Option<String> = tx
                .query_row(
                    &format!("SELECT commit_id FROM {table} WHERE repo = ?1 AND name = ?2"),
                    [repo, name],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(before) = before else {
                return Ok(false);
            };
            tx.execute(
                &format!("DELETE FROM {table} WHERE repo = ?1 AND name = ?2"),
                [repo, name],
            )?;
            if table == "branches" {
                tx.execute(
                    "DELETE FROM staging WHERE repo = ?1 AND branch = ?2",
                    [repo, name],
                )?;
            }
            append_audit(tx, audit, Some(&before), None)?;
            Ok(true)
        })
    }
}

impl MetaStore for SqliteMeta {
    fn create_repo(
        &self,
        repo: &RepoRecord,
        initial: &CommitRecord,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO repos VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    repo.name,
                    repo.namespace,
                    repo.default_branch,
                    repo.storage_namespace,
                    repo.created
                ],
            )?;
            if n == 0 {
                return Err(StoreError::AlreadyExists {
                    kind: "repository",
                    name: repo.name.clone(),
                });
            }
            insert_commit(tx, &repo.name, initial)?;
            tx.execute(
                "INSERT INTO branches VALUES (?1, ?2, ?3)",
                [&repo.name, &repo.default_branch, &initial.id],
            )?;
            append_audit(tx, audit, None, Some(&initial.id))
        })
    }

    fn get_repo(&self, name: &str) -> Result<Option<std::sync::Arc<RepoRecord>>> {
        self.hot.repo(name, || self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT name, namespace, default_branch, storage_namespace, created FROM repos WHERE name = ?1",
            )?
            .query_row(
                [name],
                |r| {
                    Ok(RepoRecord {
                        name: r.get(0)?,
                        namespace: r.get(1)?,
                        default_branch: r.get(2)?,
                        storage_namespace: r.get(3)?,
                        created: r.get(4)?,
                    })
                },
            )
            .optional()?
            .map(std::sync::Arc::new))
        }))
    }

    fn list_repos(&self) -> Result<Vec<RepoRecord>> {
        let names: Vec<String> = self.with(|c| {
            let mut st = c.prepare("SELECT name FROM repos ORDER BY name")?;
            Ok(st
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        names
            .iter()
            .filter_map(|n| self.get_repo(n).transpose())
            .map(|r| r.map(|r| (*r).clone()))
            .collect()
    }

    fn delete_repo(&self, name: &str, audit: &AuditDraft) -> Result<bool> {
        self.commits.lock().unwrap().retain(|(r, _), _| r != name);
        self.write(|tx| {
            let n = tx.execute("DELETE FROM repos WHERE name = ?1", [name])?;
            for t in [
                "commits",
                "branches",
                "tags",
                "staging",
                "uploads",
                "upload_parts",
                "settings",
            ] {
                tx.execute(&format!("DELETE FROM {t} WHERE repo = ?1"), [name])?;
            }
            if n > 0 {
                append_audit(tx, audit, None, None)?;
            }
            Ok(n > 0)
        })
    }

    fn get_branch(&self, repo: &str, name: &str) -> Result<Option<String>> {
        self.get_ref("branches", repo, name)
    }

    fn list_branches(&self, repo: &str) -> Result<Vec<(String, String)>> {
        self.list_refs("branches", repo)
    }

    fn create_branch(
        &self,
        repo: &str,
        name: &str,
        commit: &str,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.create_ref("branches", "branch", repo, name, commit, audit)
    }

    fn delete_branch(&self, repo: &str, name: &str, audit: &AuditDraft) -> Result<bool> {
        self.delete_ref("branches", repo, name, audit)
    }

    fn get_tag(&self, repo: &str, name: &str) -> Result<Option<String>> {
        self.get_ref("tags", repo, name)
    }

    fn list_tags(&self, repo: &str) -> Result<Vec<(String, String)>> {
        self.list_refs("tags", repo)
    }

    fn create_tag(&self, repo: &str, name: &str, commit: &str, audit: &AuditDraft) -> Result<()> {
        self.create_ref("tags", "tag", repo, name, commit, audit)
    }

    fn delete_tag(&self, repo: &str, name: &str, audit: &AuditDraft) -> Result<bool> {
        self.delete_ref("tags", repo, name, audit)
    }

    fn get_commit(&self, repo: &str, id: &str) -> Result<Option<CommitRecord>> {
        let key = (repo.to_string(), id.to_string());
        if let Some(c) = self.commits.lock().unwrap().get(&key) {
            return Ok(Some(c.clone()));
        }
        let found = self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, parents, metarange, message, committer, created, metadata, generation
                 FROM commits WHERE repo = ?1 AND id = ?2",
            )?;
            Ok(st.query_row([repo, id], commit_from_row).optional()?)
        })?;
        if let Some(c) = &found {
            let mut cache = self.commits.lock().unwrap();
            if cache.len() >= CACHED_COMMITS {
                cache.clear();
            }
            cache.insert(key, c.clone());
        }
        Ok(found)
    }

    fn commits_with_prefix(&self, repo: &str, prefix: &str, limit: usize) -> Result<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id FROM commits WHERE repo = ?1 AND id >= ?2 AND id < ?3 ORDER BY id LIMIT ?4",
            )?;
            let end = format!("{prefix}g");
            Ok(st
                .query_map(params![repo, prefix, end, limit as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn all_commits(&self, repo: &str) -> Result<Vec<CommitRecord>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, parents, metarange, message, committer, created, metadata, generation
                 FROM commits WHERE repo = ?1 ORDER BY generation, id",
            )?;
            Ok(st
                .query_map([repo], commit_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn staged_get(&self, repo: &str, branch: &str, path: &str) -> Result<Option<StagedRow>> {
        self.hot.staged(repo, branch, path, || {
            let row = self.read(|c| {
                let mut st = c.prepare_cached(
                    "SELECT path, version, entry FROM staging WHERE repo = ?1 AND branch = ?2 AND path = ?3",
                )?;
                Ok(st.query_row([repo, branch, path], staged_from_row).optional()?)
            })?;
            row.map(to_staged).transpose()
        })
    }

    fn staged_scan(
        &self,
        repo: &str,
        branch: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<StagedRow>> {
        let rows = self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT path, version, entry FROM staging
                 WHERE repo = ?1 AND branch = ?2 AND path >= ?3 ORDER BY path LIMIT ?4",
            )?;
            Ok(st
                .query_map(params![repo, branch, from, limit as i64], staged_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        rows.into_iter().map(to_staged).collect()
    }

    fn branch_lookup(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
    ) -> Result<Option<(String, Option<StagedRow>)>> {
        self.hot.lookup(repo, branch, path, || {
            self.branch_lookup_uncached(repo, branch, path)
        })
    }

    fn staged_count(&self, repo: &str, branch: &str) -> Result<u64> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM staging WHERE repo = ?1 AND branch = ?2",
                [repo, branch],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }

    fn stage(&self, repo: &str, branch: &str, rows: &[(String, Option<Entry>)]) -> Result<()> {
        self.write(|tx| {
            let exists: Option<String> = tx
                .query_row(
                    "SELECT commit_id FROM branches WHERE repo = ?1 AND name = ?2",
                    [repo, branch],
                    |r| r.get(0),
                )
                .optional()?;
            if exists.is_none() {
                return Err(StoreError::not_found("branch", branch));
            }
            let mut st =
                tx.prepare_cached("INSERT OR REPLACE INTO staging VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (path, entry) in rows {
                st.execute(params![
                    repo,
                    branch,
                    path,
                    random_version(),
                    entry.as_ref().map(|e| e.to_blob())
                ])?;
            }
            Ok(())
        })
    }

    fn stage_if(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        entry: Option<&Entry>,
        expected_head: &str,
        committed: Option<&Entry>,
        cond: &Cond,
    ) -> Result<StageOutcome> {
        self.write(|tx| {
            let head: Option<String> = tx
                .query_row(
                    "SELECT commit_id FROM branches WHERE repo = ?1 AND name = ?2",
                    [repo, branch],
                    |r| r.get(0),
                )
                .optional()?;
            match head {
                None => return Err(StoreError::not_found("branch", branch)),
                Some(h) if h != expected_head => return Ok(StageOutcome::HeadMoved),
                Some(_) => {}
            }
            let staged: Option<Option<Vec<u8>>> = tx
                .query_row(
                    "SELECT entry FROM staging WHERE repo = ?1 AND branch = ?2 AND path = ?3",
                    [repo, branch, path],
                    |r| r.get(0),
                )
                .optional()?;
            let current = match staged {
                Some(blob) => blob.map(|b| Entry::from_blob(&b)).transpose()?,
                None => committed.cloned(),
            };
            let ok = match cond {
                Cond::Absent => {
                    if current.is_some() {
                        return Ok(StageOutcome::Exists);
                    }
                    true
                }
                Cond::Matches(etag) => current.as_ref().is_some_and(|c| c.etag_matches(etag)),
            };
            if !ok {
                return Ok(StageOutcome::Mismatch);
            }
            tx.execute(
                "INSERT OR REPLACE INTO staging VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    repo,
                    branch,
                    path,
                    random_version(),
                    entry.map(|e| e.to_blob())
                ],
            )?;
            Ok(StageOutcome::Staged)
        })
    }

    fn unstage(&self, repo: &str, branch: &str, paths: &[String]) -> Result<()> {
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "DELETE FROM staging WHERE repo = ?1 AND branch = ?2 AND path = ?3",
            )?;
            for p in paths {
                st.execute([repo, branch, p.as_str()])?;
            }
            Ok(())
        })
    }

    fn reset_staging(
        &self,
        repo: &str,
        branch: &str,
        prefix: &str,
        audit: &AuditDraft,
    ) -> Result<u64> {
        self.write(|tx| {
            let end = crate::diff::prefix_end(prefix);
            let n = if prefix.is_empty() {
                tx.execute(
                    "DELETE FROM staging WHERE repo = ?1 AND branch = ?2",
                    [repo, branch],
                )?
            } else {
                tx.execute(
                    "DELETE FROM staging WHERE repo = ?1 AND branch = ?2 AND path >= ?3 AND path < ?4",
                    [repo, branch, prefix, &end],
                )?
            };
            if n > 0 {
                let head: String = tx.query_row(
                    "SELECT commit_id FROM branches WHERE repo = ?1 AND name = ?2",
                    [repo, branch],
                    |r| r.get(0),
                )?;
                let mut d = audit.clone();
                let mut detail: serde_json::Value =
                    serde_json::from_str(&audit.detail).unwrap_or_default();
                detail["dropped"] = n.into();
                d.detail = detail.to_string();
                append_audit(tx, &d, Some(&head), Some(&head))?;
            }
            Ok(n as u64)
        })
    }

    fn advance_branch(
        &self,
        repo: &str,
        branch: &str,
        expected_head: &str,
        commit: &CommitRecord,
        consumed: Option<&[(String, i64)]>,
        audit: &AuditDraft,
    ) -> Result<bool> {
        self.write(|tx| {
            let head: Option<String> = tx
                .query_row(
                    "SELECT commit_id FROM branches WHERE repo = ?1 AND name = ?2",
                    [repo, branch],
                    |r| r.get(0),
                )
                .optional()?;
            match head {
                None => return Err(StoreError::not_found("branch", branch)),
                Some(h) if h != expected_head => return Ok(false),
                Some(_) => {}
            }
            match consumed {
                Some(rows) => {
                    let mut st = tx.prepare_cached(
                        "DELETE FROM staging WHERE repo = ?1 AND branch = ?2 AND path = ?3 AND version = ?4",
                    )?;
                    for (p, v) in rows {
                        st.execute(params![repo, branch, p, v])?;
                    }
                }
                None => {
                    let dirty: bool = tx.query_row(
                        "SELECT EXISTS(SELECT 1 FROM staging WHERE repo = ?1 AND branch = ?2)",
                        [repo, branch],
                        |r| r.get(0),
                    )?;
                    if dirty {
                        return Err(StoreError::Conflict(format!(
                            "branch {branch} has uncommitted changes; commit or reset them first"
                        )));
                    }
                }
            }
            insert_commit(tx, repo, commit)?;
            tx.execute(
                "UPDATE branches SET commit_id = ?3 WHERE repo = ?1 AND name = ?2",
                [repo, branch, &commit.id],
            )?;
            append_audit(tx, audit, Some(expected_head), Some(&commit.id))?;
            Ok(true)
        })
    }

    fn create_upload(&self, upload: &UploadRecord) -> Result<()> {
        self.upload_create(upload)
    }

    fn get_upload(&self, repo: &str, id: &str) -> Result<Option<UploadRecord>> {
        self.upload_get(repo, id)
    }

    fn put_upload_part(
        &self,
        repo: &str,
        id: &str,
        n: i32,
        part: &Entry,
    ) -> Result<Option<Option<Entry>>> {
        self.upload_put_part(repo, id, n, part)
    }

    fn upload_parts(
        &self,
        repo: &str,
        id: &str,
        after: i32,
        limit: usize,
    ) -> Result<Vec<(i32, Entry)>> {
        self.upload_part_page(repo, id, after, limit)
    }

    fn list_uploads(
        &self,
        repo: &str,
        prefix: &str,
        after: (&str, Option<&str>),
        limit: usize,
    ) -> Result<Vec<UploadRecord>> {
        self.upload_list(repo, prefix, after, limit)
    }

    fn take_upload(
        &self,
        repo: &str,
        id: &str,
        accept: &mut dyn FnMut(&Upload) -> bool,
    ) -> Result<Option<Upload>> {
        self.upload_take(repo, id, accept)
    }

    fn get_setting(&self, repo: &str, key: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM settings WHERE repo = ?1 AND key = ?2")?
                    .query_row([repo, key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn put_setting(&self, repo: &str, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO settings VALUES (?1, ?2, ?3)",
                [repo, key, value],
            )?;
            Ok(())
        })
    }

    fn swap_setting(
        &self,
        repo: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool> {
        self.write(|tx| {
            let now: Option<String> = tx
                .query_row(
                    "SELECT value FROM settings WHERE repo = ?1 AND key = ?2",
                    [repo, key],
                    |r| r.get(0),
                )
                .optional()?;
            if now.as_deref() != expected {
                return Ok(false);
            }
            tx.execute(
                "INSERT OR REPLACE INTO settings VALUES (?1, ?2, ?3)",
                [repo, key, value],
            )?;
            Ok(true)
        })
    }

    fn list_settings(&self, repo: &str, prefix: &str) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT key, value FROM settings WHERE repo = ?1 \
                 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
            )?;
            let rows = st.query_map([repo, prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    fn delete_setting(&self, repo: &str, key: &str, expected: &str) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM settings WHERE repo = ?1 AND key = ?2 AND value = ?3",
                [repo, key, expected],
            )?;
            Ok(n > 0)
        })
    }

    fn audit_head(&self) -> Result<String> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_else(|| GENESIS.to_string()))
        })
    }

    fn audit_scan(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT seq, time, actor, operation, repo, ref, before, after, detail, prev_hash, hash
                 FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            Ok(st
                .query_map(params![after, limit.min(i64::MAX as usize) as i64], |r| {
                    Ok(AuditRecord {
                        seq: r.get(0)?,
                        time: r.get(1)?,
                        actor: r.get(2)?,
                        operation: r.get(3)?,
                        repo: r.get(4)?,
                        reference: r.get(5)?,
                        before: r.get(6)?,
                        after: r.get(7)?,
                        detail: r.get(8)?,
                        prev_hash: r.get(9)?,
                        hash: r.get(10)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
