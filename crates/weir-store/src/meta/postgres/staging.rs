//! The staging area, branch moves and multipart uploads on PostgreSQL,
//! with the same contracts as SQLite's: a commit removes exactly the staged
//! rows it read (path and version), a conditional write is decided in the
//! transaction that makes it, an upload's parts cannot change between a
//! completion's check and its removal.

use super::{PgMeta, append_audit, insert_commit, own};
use crate::audit::AuditDraft;
use crate::entry::Entry;
use crate::error::{Result, StoreError};
use crate::meta::{CommitRecord, Cond, StageOutcome, StagedRow};

fn random_version() -> i64 {
    (uuid::Uuid::new_v4().as_u128() as i64) & i64::MAX
}

fn staged(path: String, version: i64, entry: Option<Vec<u8>>) -> Result<StagedRow> {
    Ok(StagedRow {
        path,
        version,
        entry: entry.map(|b| Entry::from_blob(&b)).transpose()?,
    })
}

impl PgMeta {
    pub(super) fn staged_row(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
    ) -> Result<Option<StagedRow>> {
        let (repo, branch, path) = (own(repo), own(branch), own(path));
        self.pool.run(move |c| {
            c.query_opt(
                "SELECT path, version, entry FROM staging WHERE repo = $1 AND branch = $2 AND path = $3",
                &[&repo, &branch, &path],
            )?
            .map(|r| staged(r.get(0), r.get(1), r.get(2)))
            .transpose()
        })
    }

    pub(super) fn lookup(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
    ) -> Result<Option<(String, Option<StagedRow>)>> {
        let (repo, branch, path) = (own(repo), own(branch), own(path));
        self.pool.run(move |c| {
            let Some(r) = c.query_opt(
                "SELECT b.commit_id, s.version, s.entry, s.path IS NOT NULL FROM branches b
                 LEFT JOIN staging s ON s.repo = b.repo AND s.branch = b.name AND s.path = $3
                 WHERE b.repo = $1 AND b.name = $2",
                &[&repo, &branch, &path],
            )?
            else {
                return Ok(None);
            };
            let row = if r.get::<_, bool>(3) {
                Some(staged(
                    path,
                    r.get::<_, Option<i64>>(1).unwrap_or(0),
                    r.get(2),
                )?)
            } else {
                None
            };
            Ok(Some((r.get(0), row)))
        })
    }

    pub(super) fn scan(
        &self,
        repo: &str,
        branch: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<StagedRow>> {
        // PostgreSQL text holds no NUL, and callers resume after a path
        // with `path + "\0"`: for paths without NUL, `>= p\0…` is `> p`.
        let (from, strict) = match from.find('\0') {
            Some(i) => (&from[..i], true),
            None => (from, false),
        };
        let (repo, branch, from) = (own(repo), own(branch), own(from));
        let limit = limit.min(i64::MAX as usize) as i64;
        self.pool.run(move |c| {
            let sql = if strict {
                "SELECT path, version, entry FROM staging WHERE repo = $1 AND branch = $2 AND path > $3 ORDER BY path LIMIT $4"
            } else {
                "SELECT path, version, entry FROM staging WHERE repo = $1 AND branch = $2 AND path >= $3 ORDER BY path LIMIT $4"
            };
            c.query(sql, &[&repo, &branch, &from, &limit])?
            .into_iter()
            .map(|r| staged(r.get(0), r.get(1), r.get(2)))
            .collect()
        })
    }

    pub(super) fn count(&self, repo: &str, branch: &str) -> Result<u64> {
        let (repo, branch) = (own(repo), own(branch));
        self.pool.run(move |c| {
            let r = c.query_one(
                "SELECT count(*) FROM staging WHERE repo = $1 AND branch = $2",
                &[&repo, &branch],
            )?;
            Ok(r.get::<_, i64>(0) as u64)
        })
    }

    pub(super) fn upsert(
        &self,
        repo: &str,
        branch: &str,
        rows: &[(String, Option<Entry>)],
    ) -> Result<()> {
        let (repo, branch) = (own(repo), own(branch));
        let rows: Vec<(String, Option<Vec<u8>>)> = rows
            .iter()
            .map(|(p, e)| (p.clone(), e.as_ref().map(Entry::to_blob)))
            .collect();
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            if tx
                .query_opt(
                    "SELECT 1 FROM branches WHERE repo = $1 AND name = $2",
                    &[&repo, &branch],
                )?
                .is_none()
            {
                return Err(StoreError::not_found("branch", branch));
            }
            // Many rows in one statement each batch: a round trip per row
            // would make a bulk upload as slow as the network.
            for chunk in rows.chunks(1000) {
                let paths: Vec<&str> = chunk.iter().map(|(p, _)| p.as_str()).collect();
                let versions: Vec<i64> = chunk.iter().map(|_| random_version()).collect();
                let entries: Vec<Option<&[u8]>> = chunk.iter().map(|(_, e)| e.as_deref()).collect();
                tx.execute(
                    "INSERT INTO staging (repo, branch, path, version, entry)
                     SELECT $1, $2, * FROM unnest($3::text[], $4::bigint[], $5::bytea[])
                     ON CONFLICT (repo, branch, path) DO UPDATE SET version = excluded.version, entry = excluded.entry",
                    &[&repo, &branch, &paths, &versions, &entries],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn upsert_if(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        entry: Option<&Entry>,
        expected_head: &str,
        committed: Option<&Entry>,
        cond: &Cond,
    ) -> Result<StageOutcome> {
        let (repo, branch, path, head) = (own(repo), own(branch), own(path), own(expected_head));
        let (entry, committed, cond) =
            (entry.map(Entry::to_blob), committed.cloned(), cond.clone());
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            match tx.query_opt(
                "SELECT commit_id FROM branches WHERE repo = $1 AND name = $2",
                &[&repo, &branch],
            )? {
                None => return Err(StoreError::not_found("branch", branch)),
                Some(r) if r.get::<_, String>(0) != head => return Ok(StageOutcome::HeadMoved),
                Some(_) => {}
            }
            let current = match tx.query_opt(
                "SELECT entry FROM staging WHERE repo = $1 AND branch = $2 AND path = $3",
                &[&repo, &branch, &path],
            )? {
                Some(r) => r
                    .get::<_, Option<Vec<u8>>>(0)
                    .map(|b| Entry::from_blob(&b))
                    .transpose()?,
                None => committed,
            };
            let ok = match &cond {
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
                "INSERT INTO staging VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (repo, branch, path) DO UPDATE SET version = excluded.version, entry = excluded.entry",
                &[&repo, &branch, &path, &random_version(), &entry],
            )?;
            tx.commit()?;
            Ok(StageOutcome::Staged)
        })
    }

    pub(super) fn remove(&self, repo: &str, branch: &str, paths: &[String]) -> Result<()> {
        let (repo, branch, paths) = (own(repo), own(branch), paths.to_vec());
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            tx.execute(
                "DELETE FROM staging WHERE repo = $1 AND branch = $2 AND path = ANY($3)",
                &[&repo, &branch, &paths],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub(super) fn reset(
        &self,
        repo: &str,
        branch: &str,
        prefix: &str,
        audit: &AuditDraft,
    ) -> Result<u64> {
        let (repo, branch, prefix, audit) = (own(repo), own(branch), own(prefix), audit.clone());
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let end = crate::diff::prefix_end(&prefix);
            let n = if prefix.is_empty() {
                tx.execute(
                    "DELETE FROM staging WHERE repo = $1 AND branch = $2",
                    &[&repo, &branch],
                )?
            } else {
                tx.execute(
                    "DELETE FROM staging WHERE repo = $1 AND branch = $2 AND path >= $3 AND path < $4",
                    &[&repo, &branch, &prefix, &end],
                )?
            };
            if n > 0 {
                let head: String = tx
                    .query_one(
                        "SELECT commit_id FROM branches WHERE repo = $1 AND name = $2",
                        &[&repo, &branch],
                    )?
                    .get(0);
                let mut d = audit.clone();
                let mut detail: serde_json::Value =
                    serde_json::from_str(&audit.detail).unwrap_or_default();
                detail["dropped"] = n.into();
                d.detail = detail.to_string();
                append_audit(&mut tx, &d, Some(&head), Some(&head))?;
            }
            tx.commit()?;
            Ok(n)
        })
    }

    pub(super) fn advance(
        &self,
        repo: &str,
        branch: &str,
        expected_head: &str,
        commit: &CommitRecord,
        consumed: Option<&[(String, i64)]>,
        audit: &AuditDraft,
    ) -> Result<bool> {
        let (repo, branch, head) = (own(repo), own(branch), own(expected_head));
        let (commit, audit) = (commit.clone(), audit.clone());
        let consumed: Option<Vec<(String, i64)>> = consumed.map(<[_]>::to_vec);
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            match tx.query_opt(
                "SELECT commit_id FROM branches WHERE repo = $1 AND name = $2",
                &[&repo, &branch],
            )? {
                None => return Err(StoreError::not_found("branch", branch)),
                Some(r) if r.get::<_, String>(0) != head => return Ok(false),
                Some(_) => {}
            }
            match &consumed {
                Some(rows) => {
                    for chunk in rows.chunks(1000) {
                        let paths: Vec<&str> = chunk.iter().map(|(p, _)| p.as_str()).collect();
                        let versions: Vec<i64> = chunk.iter().map(|(_, v)| *v).collect();
                        tx.execute(
                            "DELETE FROM staging s USING unnest($3::text[], $4::bigint[]) AS d(path, version)
                             WHERE s.repo = $1 AND s.branch = $2 AND s.path = d.path AND s.version = d.version",
                            &[&repo, &branch, &paths, &versions],
                        )?;
                    }
                }
                None => {
                    if tx
                        .query_opt(
                            "SELECT 1 FROM staging WHERE repo = $1 AND branch = $2 LIMIT 1",
                            &[&repo, &branch],
                        )?
                        .is_some()
                    {
                        return Err(StoreError::Conflict(format!(
                            "branch {branch} has uncommitted changes; commit or reset them first"
                        )));
                    }
                }
            }
            insert_commit(&mut tx, &repo, &commit)?;
            tx.execute(
                "UPDATE branches SET commit_id = $3 WHERE repo = $1 AND name = $2",
                &[&repo, &branch, &commit.id],
            )?;
            append_audit(&mut tx, &audit, Some(&head), Some(&commit.id))?;
            tx.commit()?;
            Ok(true)
        })
    }
}
