//! Branches and tags on PostgreSQL: each change with its audit record in
//! one transaction under the lake's lock.

use super::{PgMeta, append_audit, own};
use crate::audit::AuditDraft;
use crate::error::{Result, StoreError};

impl PgMeta {
    pub(super) fn list_refs(
        &self,
        table: &'static str,
        repo: &str,
    ) -> Result<Vec<(String, String)>> {
        let repo = own(repo);
        self.pool.run(move |c| {
            let sql = match table {
                "branches" => "SELECT name, commit_id FROM branches WHERE repo = $1 ORDER BY name",
                _ => "SELECT name, commit_id FROM tags WHERE repo = $1 ORDER BY name",
            };
            Ok(c.query(sql, &[&repo])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
    }

    pub(super) fn get_ref(
        &self,
        table: &'static str,
        repo: &str,
        name: &str,
    ) -> Result<Option<String>> {
        let (repo, name) = (own(repo), own(name));
        self.pool.run(move |c| {
            let sql = match table {
                "branches" => "SELECT commit_id FROM branches WHERE repo = $1 AND name = $2",
                _ => "SELECT commit_id FROM tags WHERE repo = $1 AND name = $2",
            };
            Ok(c.query_opt(sql, &[&repo, &name])?.map(|r| r.get(0)))
        })
    }

    pub(super) fn create_ref(
        &self,
        table: &'static str,
        kind: &'static str,
        repo: &str,
        name: &str,
        commit: &str,
        audit: &AuditDraft,
    ) -> Result<()> {
        let (repo, name, commit, audit) = (own(repo), own(name), own(commit), audit.clone());
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let sql = match table {
                "branches" => "INSERT INTO branches VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                _ => "INSERT INTO tags VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            };
            if tx.execute(sql, &[&repo, &name, &commit])? == 0 {
                return Err(StoreError::AlreadyExists { kind, name });
            }
            append_audit(&mut tx, &audit, None, Some(&commit))?;
            tx.commit()?;
            Ok(())
        })
    }

    pub(super) fn delete_ref(
        &self,
        table: &'static str,
        repo: &str,
        name: &str,
        audit: &AuditDraft,
    ) -> Result<bool> {
        let (repo, name, audit) = (own(repo), own(name), audit.clone());
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            let sql = match table {
                "branches" => {
                    "DELETE FROM branches WHERE repo = $1 AND name = $2 RETURNING commit_id"
                }
                _ => "DELETE FROM tags WHERE repo = $1 AND name = $2 RETURNING commit_id",
            };
            let Some(before) = tx.query_opt(sql, &[&repo, &name])? else {
                return Ok(false);
            };
            let before: String = before.get(0);
            if table == "branches" {
                tx.execute(
                    "DELETE FROM staging WHERE repo = $1 AND branch = $2",
                    &[&repo, &name],
                )?;
            }
            append_audit(&mut tx, &audit, Some(&before), None)?;
            tx.commit()?;
            Ok(true)
        })
    }
}
