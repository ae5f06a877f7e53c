//! PostgreSQL implementation of [`MetaStore`], for lakes shared by several
//! servers and CLIs on several machines.
//!
//! The tables are SQLite's (one schema per lake, so lakes can share a
//! database), with `COLLATE "C"` on every key so paths sort by bytes as the
//! trees do. Every write transaction first takes one transaction-scoped
//! advisory lock of the lake: writes are serialised across every process,
//! as SQLite's `BEGIN IMMEDIATE` serialises them, which is what the
//! compare-and-set of a branch head and the audit chain (each record hashes
//! the previous one) need. Reads take no lock.
//!
//! Nothing is cached but commit records, which never change: a change made
//! through one server is seen by the next request on any other, with no
//! time-to-live and no invalidation to get wrong. The SQLite store's cache
//! exists to avoid a lock per read on a local file; here a read is one
//! round trip whatever is cached, so a stamp to validate a cache would cost
//! what it saves.
//!
//! The `postgres` client blocks and must not run on an async runtime's
//! threads, and the trait is synchronous, so statements run on a small pool
//! of threads that own the connections ([`pool`]); a connection that
//! breaks is replaced on its next use, so a server recovers by itself when
//! the database comes back.

use std::collections::HashMap;
use std::sync::Mutex;

use postgres::Transaction;

use super::{CommitRecord, MetaStore, RepoRecord};
use crate::audit::{AuditDraft, AuditRecord, GENESIS};
use crate::error::{Result, StoreError};

mod pool;
mod refs;
mod schema;
mod staging;
mod uploads;

use pool::Pool;

const CACHED_COMMITS: usize = 4096;

pub struct PgMeta {
    pool: Pool,
    /// Commit records by (repository, id): immutable, so never stale.
    commits: Mutex<HashMap<(String, String), CommitRecord>>,
}

/// Owned copies of arguments, for statements that run on a pool thread.
fn own(s: &str) -> String {
    s.to_string()
}

fn commit_from_row(r: &postgres::Row) -> CommitRecord {
    let parents: String = r.get(1);
    let metadata: String = r.get(6);
    CommitRecord {
        id: r.get(0),
        parents: serde_json::from_str(&parents).unwrap_or_default(),
        metarange: r.get(2),
        message: r.get(3),
        committer: r.get(4),
        created: r.get(5),
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        generation: r.get::<_, i64>(7) as u64,
    }
}

fn key_from_row(r: &postgres::Row) -> super::AccessKeyRecord {
    super::AccessKeyRecord {
        id: r.get(0),
        nonce: r.get(1),
        sealed: r.get(2),
        user: r.get(3),
        created: r.get(4),
    }
}

const COMMIT_COLUMNS: &str =
    "id, parents, metarange, message, committer, created, metadata, generation";

pub(super) fn insert_commit(tx: &mut Transaction<'_>, repo: &str, c: &CommitRecord) -> Result<()> {
    tx.execute(
        "INSERT INTO commits VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        &[
            &repo,
            &c.id,
            &serde_json::to_string(&c.parents).unwrap_or_default(),
            &c.metarange,
            &c.message,
            &c.committer,
            &c.created,
            &serde_json::to_string(&c.metadata).unwrap_or_default(),
            &(c.generation as i64),
        ],
    )?;
    Ok(())
}

/// Appends the record of a change inside the change's own transaction
/// (which holds the lake's lock, so the chain has one order).
pub(super) fn append_audit(
    tx: &mut Transaction<'_>,
    draft: &AuditDraft,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<()> {
    let last = tx.query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?;
    let (seq, prev_hash) = match last {
        Some(r) => (r.get::<_, i64>(0) + 1, r.get::<_, String>(1)),
        None => (1, GENESIS.to_string()),
    };
    let time = chrono::Utc::now().timestamp_micros();
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
        "INSERT INTO audit VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &rec.seq,
            &rec.time,
            &rec.actor,
            &rec.operation,
            &rec.repo,
            &rec.reference,
            &rec.before,
            &rec.after,
            &rec.detail,
            &rec.prev_hash,
            &rec.hash,
        ],
    )?;
    Ok(())
}

/// Refuses a metadata URL that could not be used (wrong scheme, a
/// password in it, a bad schema name) without connecting.
pub fn check_url(url: &str) -> Result<()> {
    pool::Target::parse(url).map(|_| ())
}

impl PgMeta {
    pub(super) fn connect(url: &str) -> Result<PgMeta> {
        Ok(PgMeta {
            pool: Pool::new(url)?,
            commits: Mutex::new(HashMap::new()),
        })
    }
}

impl MetaStore for PgMeta {
    fn create_repo(
        &self,
        repo: &RepoRecord,
        initial: &CommitRecord,
        audit: &AuditDraft,
    ) -> Result<()> {
        let (repo, initial, audit) = (repo.clone(), initial.clone(), audit.clone());
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let n = tx.execute(
                "INSERT INTO repos VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &repo.name,
                    &repo.namespace,
                    &repo.default_branch,
                    &repo.storage_namespace,
                    &repo.created,
                ],
            )?;
            if n == 0 {
                return Err(StoreError::AlreadyExists {
                    kind: "repository",
                    name: repo.name.clone(),
                });
            }
            insert_commit(&mut tx, &repo.name, &initial)?;
            tx.execute(
                "INSERT INTO branches VALUES ($1, $2, $3)",
                &[&repo.name, &repo.default_branch, &initial.id],
            )?;
            append_audit(&mut tx, &audit, None, Some(&initial.id))?;
            tx.commit()?;
            Ok(())
        })
    }

    fn get_repo(&self, name: &str) -> Result<Option<std::sync::Arc<RepoRecord>>> {
        let name = own(name);
        self.pool.run(move |c| {
            Ok(c.query_opt(
                "SELECT name, namespace, default_branch, storage_namespace, created FROM repos WHERE name = $1",
                &[&name],
            )?
            .map(|r| {
                std::sync::Arc::new(RepoRecord {
                    name: r.get(0),
                    namespace: r.get(1),
                    default_branch: r.get(2),
                    storage_namespace: r.get(3),
                    created: r.get(4),
                })
            }))
        })
    }

    fn list_repos(&self) -> Result<Vec<RepoRecord>> {
        self.pool.run(|c| {
            Ok(c.query(
                "SELECT name, namespace, default_branch, storage_namespace, created FROM repos ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| RepoRecord {
                name: r.get(0),
                namespace: r.get(1),
                default_branch: r.get(2),
                storage_namespace: r.get(3),
                created: r.get(4),
            })
            .collect())
        })
    }

    fn delete_repo(&self, name: &str, audit: &AuditDraft) -> Result<bool> {
        self.commits.lock().unwrap().retain(|(r, _), _| r != name);
        let (name, audit) = (own(name), audit.clone());
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let n = tx.execute("DELETE FROM repos WHERE name = $1", &[&name])?;
            for t in [
                "DELETE FROM commits WHERE repo = $1",
                "DELETE FROM branches WHERE repo = $1",
                "DELETE FROM tags WHERE repo = $1",
                "DELETE FROM staging WHERE repo = $1",
                "DELETE FROM uploads WHERE repo = $1",
                "DELETE FROM upload_parts WHERE repo = $1",
                "DELETE FROM settings WHERE repo = $1",
            ] {
                tx.execute(t, &[&name])?;
            }
            if n > 0 {
                append_audit(&mut tx, &audit, None, None)?;
            }
            tx.commit()?;
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
        let (r, i) = key.clone();
        let found = self.pool.run(move |c| {
            Ok(c.query_opt(
                "SELECT id, parents, metarange, message, committer, created, metadata, generation FROM commits WHERE repo = $1 AND id = $2",
                &[&r, &i],
            )?
            .map(|row| commit_from_row(&row)))
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
        let (repo, prefix) = (own(repo), own(prefix));
        let end = format!("{prefix}g");
        let limit = limit.min(i64::MAX as usize) as i64;
        self.pool.run(move |c| {
            Ok(c.query(
                "SELECT id FROM commits WHERE repo = $1 AND id >= $2 AND id < $3 ORDER BY id LIMIT $4",
                &[&repo, &prefix, &end, &limit],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn all_commits(&self, repo: &str) -> Result<Vec<CommitRecord>> {
        let repo = own(repo);
        self.pool.run(move |c| {
            let sql = format!(
                "SELECT {COMMIT_COLUMNS} FROM commits WHERE repo = $1 ORDER BY generation, id"
            );
            Ok(c.query_dyn(&sql, &[&repo])?
                .iter()
                .map(commit_from_row)
                .collect())
        })
    }

    fn staged_get(&self, repo: &str, branch: &str, path: &str) -> Result<Option<super::StagedRow>> {
        self.staged_row(repo, branch, path)
    }

    fn branch_lookup(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
    ) -> Result<Option<(String, Option<super::StagedRow>)>> {
        self.lookup(repo, branch, path)
    }

    fn staged_scan(
        &self,
        repo: &str,
        branch: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<super::StagedRow>> {
        self.scan(repo, branch, from, limit)
    }

    fn staged_count(&self, repo: &str, branch: &str) -> Result<u64> {
        self.count(repo, branch)
    }

    fn stage(
        &self,
        repo: &str,
        branch: &str,
        rows: &[(String, Option<crate::entry::Entry>)],
    ) -> Result<()> {
        self.upsert(repo, branch, rows)
    }

    fn stage_if(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        entry: Option<&crate::entry::Entry>,
        expected_head: &str,
        committed: Option<&crate::entry::Entry>,
        cond: &super::Cond,
    ) -> Result<super::StageOutcome> {
        self.upsert_if(repo, branch, path, entry, expected_head, committed, cond)
    }

    fn unstage(&self, repo: &str, branch: &str, paths: &[String]) -> Result<()> {
        self.remove(repo, branch, paths)
    }

    fn reset_staging(
        &self,
        repo: &str,
        branch: &str,
        prefix: &str,
        audit: &AuditDraft,
    ) -> Result<u64> {
        self.reset(repo, branch, prefix, audit)
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
        self.advance(repo, branch, expected_head, commit, consumed, audit)
    }

    fn create_upload(&self, upload: &super::UploadRecord) -> Result<()> {
        self.upload_create(upload)
    }

    fn get_upload(&self, repo: &str, id: &str) -> Result<Option<super::UploadRecord>> {
        self.upload_get(repo, id)
    }

    fn put_upload_part(
        &self,
        repo: &str,
        id: &str,
        n: i32,
        part: &crate::entry::Entry,
    ) -> Result<Option<Option<crate::entry::Entry>>> {
        self.upload_put_part(repo, id, n, part)
    }

    fn upload_parts(
        &self,
        repo: &str,
        id: &str,
        after: i32,
        limit: usize,
    ) -> Result<Vec<(i32, crate::entry::Entry)>> {
        self.upload_part_page(repo, id, after, limit)
    }

    fn list_uploads(
        &self,
        repo: &str,
        prefix: &str,
        after: (&str, Option<&str>),
        limit: usize,
    ) -> Result<Vec<super::UploadRecord>> {
        self.upload_list(repo, prefix, after, limit)
    }

    fn take_upload(
        &self,
        repo: &str,
        id: &str,
        accept: &mut dyn FnMut(&super::Upload) -> bool,
    ) -> Result<Option<super::Upload>> {
        self.upload_take(repo, id, accept)
    }

    fn get_setting(&self, repo: &str, key: &str) -> Result<Option<String>> {
        let (repo, key) = (own(repo), own(key));
        self.pool.run(move |c| {
            Ok(c.query_opt(
                "SELECT value FROM settings WHERE repo = $1 AND key = $2",
                &[&repo, &key],
            )?
            .map(|r| r.get(0)))
        })
    }

    fn put_setting(&self, repo: &str, key: &str, value: &str) -> Result<()> {
        let (repo, key, value) = (own(repo), own(key), own(value));
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            tx.execute(
                "INSERT INTO settings VALUES ($1, $2, $3) ON CONFLICT (repo, key) DO UPDATE SET value = $3",
                &[&repo, &key, &value],
            )?;
            tx.commit()?;
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
        let (repo, key, value) = (own(repo), own(key), own(value));
        let expected = expected.map(own);
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let now: Option<String> = tx
                .query_opt(
                    "SELECT value FROM settings WHERE repo = $1 AND key = $2",
                    &[&repo, &key],
                )?
                .map(|r| r.get(0));
            if now != expected {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO settings VALUES ($1, $2, $3) ON CONFLICT (repo, key) DO UPDATE SET value = $3",
                &[&repo, &key, &value],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn list_settings(&self, repo: &str, prefix: &str) -> Result<Vec<(String, String)>> {
        let (repo, prefix) = (own(repo), own(prefix));
        self.pool.run(move |c| {
            Ok(c.query(
                "SELECT key, value FROM settings WHERE repo = $1 \
                 AND substr(key, 1, length($2)) = $2 ORDER BY key",
                &[&repo, &prefix],
            )?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn delete_setting(&self, repo: &str, key: &str, expected: &str) -> Result<bool> {
        let (repo, key, expected) = (own(repo), own(key), own(expected));
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let n = tx.execute(
                "DELETE FROM settings WHERE repo = $1 AND key = $2 AND value = $3",
                &[&repo, &key, &expected],
            )?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn keeps_access_keys(&self) -> bool {
        true
    }

    fn put_access_key(&self, k: &super::AccessKeyRecord) -> Result<()> {
        let k = k.clone();
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let n = tx.execute(
                "INSERT INTO access_keys VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&k.id, &k.nonce, &k.sealed, &k.user, &k.created],
            )?;
            if n == 0 {
                return Err(StoreError::AlreadyExists {
                    kind: "access key",
                    name: k.id,
                });
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn get_access_key(&self, id: &str) -> Result<Option<super::AccessKeyRecord>> {
        let id = own(id);
        self.pool.run(move |c| {
            Ok(c.query_opt(
                "SELECT id, nonce, sealed, username, created FROM access_keys WHERE id = $1",
                &[&id],
            )?
            .map(|r| key_from_row(&r)))
        })
    }

    fn list_access_keys(&self) -> Result<Vec<super::AccessKeyRecord>> {
        self.pool.run(|c| {
            Ok(c.query(
                "SELECT id, nonce, sealed, username, created FROM access_keys ORDER BY created, id",
                &[],
            )?
            .iter()
            .map(key_from_row)
            .collect())
        })
    }

    fn delete_access_key(&self, id: &str) -> Result<bool> {
        let id = own(id);
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let n = tx.execute("DELETE FROM access_keys WHERE id = $1", &[&id])?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    fn audit_head(&self) -> Result<String> {
        self.pool.run(|c| {
            Ok(
                c.query_opt("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?
                    .map(|r| r.get(0))
                    .unwrap_or_else(|| GENESIS.to_string()),
            )
        })
    }

    fn audit_scan(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.pool.run(move |c| {
            Ok(c.query(
                "SELECT seq, time, actor, operation, repo, ref, before, after, detail, prev_hash, hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit],
            )?
            .iter()
            .map(|r| AuditRecord {
                seq: r.get(0),
                time: r.get(1),
                actor: r.get(2),
                operation: r.get(3),
                repo: r.get(4),
                reference: r.get(5),
                before: r.get(6),
                after: r.get(7),
                detail: r.get(8),
                prev_hash: r.get(9),
                hash: r.get(10),
            })
            .collect())
        })
    }
}
