//! Multipart uploads in progress, in the same database as the refs: an
//! upload outlives the server that began it, and its parts are recorded
//! in transactions like every other change, so a part written by one
//! request and a completion running in another cannot lose each other.

use rusqlite::{OptionalExtension, params};

use super::SqliteMeta;
use crate::entry::Entry;
use crate::error::Result;
use crate::meta::{Upload, UploadRecord};

/// Added after the first lakes were made: created on open as well.
pub(super) const UPLOAD_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS uploads (
    repo TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, branch TEXT NOT NULL,
    path TEXT NOT NULL, content_type TEXT, metadata TEXT NOT NULL, initiated INTEGER NOT NULL,
    PRIMARY KEY (repo, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (repo, key, id);
CREATE TABLE IF NOT EXISTS upload_parts (
    repo TEXT NOT NULL, upload TEXT NOT NULL, part INTEGER NOT NULL, entry BLOB NOT NULL,
    PRIMARY KEY (repo, upload, part)) WITHOUT ROWID;
"#;

const COLUMNS: &str = "repo, id, key, branch, path, content_type, metadata, initiated";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRecord> {
    let metadata: String = r.get(6)?;
    Ok(UploadRecord {
        repo: r.get(0)?,
        id: r.get(1)?,
        key: r.get(2)?,
        branch: r.get(3)?,
        path: r.get(4)?,
        content_type: r.get(5)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        initiated: r.get(7)?,
    })
}

fn get(c: &rusqlite::Connection, repo: &str, id: &str) -> Result<Option<UploadRecord>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE repo = ?1 AND id = ?2"
    ))?
    .query_row([repo, id], record)
    .optional()?)
}

fn parts(
    c: &rusqlite::Connection,
    repo: &str,
    id: &str,
    after: i32,
    limit: usize,
) -> Result<Vec<(i32, Entry)>> {
    let mut st = c.prepare_cached(
        "SELECT part, entry FROM upload_parts WHERE repo = ?1 AND upload = ?2 AND part > ?3
         ORDER BY part LIMIT ?4",
    )?;
    let rows = st
        .query_map(
            params![repo, id, after, limit.min(i64::MAX as usize) as i64],
            |r| Ok((r.get::<_, i32>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(n, b)| Ok((n, Entry::from_blob(&b)?)))
        .collect()
}

impl SqliteMeta {
    pub(super) fn upload_create(&self, u: &UploadRecord) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                &format!("INSERT INTO uploads ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    u.repo,
                    u.id,
                    u.key,
                    u.branch,
                    u.path,
                    u.content_type,
                    serde_json::to_string(&u.metadata).unwrap(),
                    u.initiated
                ],
            )?;
            Ok(())
        })
    }

    pub(super) fn upload_get(&self, repo: &str, id: &str) -> Result<Option<UploadRecord>> {
        self.read(|c| get(c, repo, id))
    }

    pub(super) fn upload_put_part(
        &self,
        repo: &str,
        id: &str,
        n: i32,
        part: &Entry,
    ) -> Result<Option<Option<Entry>>> {
        self.write(|tx| {
            if get(tx, repo, id)?.is_none() {
                return Ok(None);
            }
            let old: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT entry FROM upload_parts WHERE repo = ?1 AND upload = ?2 AND part = ?3",
                    params![repo, id, n],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT OR REPLACE INTO upload_parts VALUES (?1, ?2, ?3, ?4)",
                params![repo, id, n, part.to_blob()],
            )?;
            Ok(Some(old.map(|b| Entry::from_blob(&b)).transpose()?))
        })
    }

    pub(super) fn upload_part_page(
        &self,
        repo: &str,
        id: &str,
        after: i32,
        limit: usize,
    ) -> Result<Vec<(i32, Entry)>> {
        self.read(|c| parts(c, repo, id, after, limit))
    }

    pub(super) fn upload_list(
        &self,
        repo: &str,
        prefix: &str,
        after: (&str, Option<&str>),
        limit: usize,
    ) -> Result<Vec<UploadRecord>> {
        self.read(|c| {
            // The prefix is matched in Rust: LIKE would need its wildcards
            // escaped, and GLOB is case-sensitive but has wildcards too.
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM uploads WHERE repo = ?1 AND key >= ?2
                 AND (key > ?3 OR (key = ?3 AND ?4 IS NOT NULL AND id > ?4)) ORDER BY key, id"
            ))?;
            let mut out = Vec::new();
            let mut rows = st.query(params![repo, prefix, after.0, after.1])?;
            while out.len() < limit
                && let Some(r) = rows.next()?
            {
                let u = record(r)?;
                if !u.key.starts_with(prefix) {
                    break;
                }
                out.push(u);
            }
            Ok(out)
        })
    }

    pub(super) fn upload_take(
        &self,
        repo: &str,
        id: &str,
        accept: &mut dyn FnMut(&Upload) -> bool,
    ) -> Result<Option<Upload>> {
        self.write(|tx| {
            let Some(record) = get(tx, repo, id)? else {
                return Ok(None);
            };
            let u = Upload {
                record,
                parts: parts(tx, repo, id, 0, usize::MAX)?.into_iter().collect(),
            };
            if !accept(&u) {
                return Ok(None);
            }
            tx.execute(
                "DELETE FROM upload_parts WHERE repo = ?1 AND upload = ?2",
                [repo, id],
            )?;
            tx.execute(
                "DELETE FROM uploads WHERE repo = ?1 AND id = ?2",
                [repo, id],
            )?;
            Ok(Some(u))
        })
    }
}
