//! S3 multipart uploads in progress on PostgreSQL, recorded like every
//! other change: a part written by one request and a completion running in
//! another (on another server) cannot lose each other.

use super::{PgMeta, own};
use crate::entry::Entry;
use crate::error::{Result, StoreError};
use crate::meta::{Upload, UploadRecord};

fn record(r: &postgres::Row) -> UploadRecord {
    let metadata: String = r.get(6);
    UploadRecord {
        repo: r.get(0),
        id: r.get(1),
        key: r.get(2),
        branch: r.get(3),
        path: r.get(4),
        content_type: r.get(5),
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        initiated: r.get(7),
    }
}

fn parts(
    tx: &mut postgres::Transaction<'_>,
    repo: &str,
    id: &str,
    after: i32,
    limit: i64,
) -> Result<Vec<(i32, Entry)>> {
    tx.query(
        "SELECT part, entry FROM upload_parts WHERE repo = $1 AND upload = $2 AND part > $3 ORDER BY part LIMIT $4",
        &[&repo, &id, &after, &limit],
    )?
    .iter()
    .map(|r| Ok((r.get::<_, i32>(0), Entry::from_blob(&r.get::<_, Vec<u8>>(1))?)))
    .collect()
}

impl PgMeta {
    pub(super) fn upload_create(&self, u: &UploadRecord) -> Result<()> {
        let u = u.clone();
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            tx.execute(
                "INSERT INTO uploads (repo, id, key, branch, path, content_type, metadata, initiated)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &u.repo,
                    &u.id,
                    &u.key,
                    &u.branch,
                    &u.path,
                    &u.content_type,
                    &serde_json::to_string(&u.metadata).unwrap_or_default(),
                    &u.initiated,
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    pub(super) fn upload_get(&self, repo: &str, id: &str) -> Result<Option<UploadRecord>> {
        let (repo, id) = (own(repo), own(id));
        self.pool.run(move |c| {
            Ok(c.query_opt(
                "SELECT repo, id, key, branch, path, content_type, metadata, initiated FROM uploads WHERE repo = $1 AND id = $2",
                &[&repo, &id],
            )?
            .map(|r| record(&r)))
        })
    }

    pub(super) fn upload_put_part(
        &self,
        repo: &str,
        id: &str,
        n: i32,
        part: &Entry,
    ) -> Result<Option<Option<Entry>>> {
        let (repo, id, blob) = (own(repo), own(id), part.to_blob());
        self.pool.run(move |c| {
            let mut tx = c.write()?;
            if tx
                .query_opt(
                    "SELECT 1 FROM uploads WHERE repo = $1 AND id = $2",
                    &[&repo, &id],
                )?
                .is_none()
            {
                return Ok(None);
            }
            let old = tx
                .query_opt(
                    "SELECT entry FROM upload_parts WHERE repo = $1 AND upload = $2 AND part = $3",
                    &[&repo, &id, &n],
                )?
                .map(|r| Entry::from_blob(&r.get::<_, Vec<u8>>(0)))
                .transpose()?;
            tx.execute(
                "INSERT INTO upload_parts VALUES ($1, $2, $3, $4)
                 ON CONFLICT (repo, upload, part) DO UPDATE SET entry = excluded.entry",
                &[&repo, &id, &n, &blob],
            )?;
            tx.commit()?;
            Ok(Some(old))
        })
    }

    pub(super) fn upload_part_page(
        &self,
        repo: &str,
        id: &str,
        after: i32,
        limit: usize,
    ) -> Result<Vec<(i32, Entry)>> {
        let (repo, id) = (own(repo), own(id));
        let limit = limit.min(i64::MAX as usize) as i64;
        self.pool.run(move |c| {
            c.query(
                "SELECT part, entry FROM upload_parts WHERE repo = $1 AND upload = $2 AND part > $3 ORDER BY part LIMIT $4",
                &[&repo, &id, &after, &limit],
            )?
            .iter()
            .map(|r| Ok((r.get::<_, i32>(0), Entry::from_blob(&r.get::<_, Vec<u8>>(1))?)))
            .collect()
        })
    }

    pub(super) fn upload_list(
        &self,
        repo: &str,
        prefix: &str,
        after: (&str, Option<&str>),
        limit: usize,
    ) -> Result<Vec<UploadRecord>> {
        let (repo, prefix) = (own(repo), own(prefix));
        // A marker with a NUL (from a client) sorts as the text before it.
        let cut = |s: &str| s.split('\0').next().unwrap_or_default().to_string();
        let (after_key, after_id) = (cut(after.0), after.1.map(cut));
        let end = crate::diff::prefix_end(&prefix);
        let limit = limit.min(i64::MAX as usize) as i64;
        self.pool.run(move |c| {
            let rows = c.query(
                "SELECT repo, id, key, branch, path, content_type, metadata, initiated FROM uploads
                 WHERE repo = $1 AND key >= $2 AND ($3 = '' OR key < $3)
                 AND (key > $4 OR (key = $4 AND $5::text IS NOT NULL AND id > $5))
                 ORDER BY key, id LIMIT $6",
                &[&repo, &prefix, &end, &after_key, &after_id, &limit],
            )?;
            Ok(rows
                .iter()
                .map(record)
                .filter(|u| u.key.starts_with(&prefix))
                .collect())
        })
    }

    pub(super) fn upload_take(
        &self,
        repo: &str,
        id: &str,
        accept: &mut dyn FnMut(&Upload) -> bool,
    ) -> Result<Option<Upload>> {
        // The check runs on the caller's thread between the read and the
        // removal; the lake's lock is held meanwhile by a transaction the
        // pool thread keeps open for it.
        let (repo, id) = (own(repo), own(id));
        let (to_caller, from_pool) = std::sync::mpsc::sync_channel::<Option<Upload>>(1);
        let (to_pool, from_caller) = std::sync::mpsc::sync_channel::<bool>(1);
        std::thread::scope(|s| {
            let worker = s.spawn(|| {
                self.pool.run(move |c| {
                    let mut tx = c.write()?;
                    let Some(r) = tx.query_opt(
                        "SELECT repo, id, key, branch, path, content_type, metadata, initiated FROM uploads WHERE repo = $1 AND id = $2 FOR UPDATE",
                        &[&repo, &id],
                    )?
                    else {
                        let _ = to_caller.send(None);
                        return Ok(None);
                    };
                    let u = Upload {
                        record: record(&r),
                        parts: parts(&mut tx, &repo, &id, 0, i64::MAX)?.into_iter().collect(),
                    };
                    let _ = to_caller.send(Some(u.clone()));
                    if !from_caller.recv().unwrap_or(false) {
                        return Ok(None);
                    }
                    tx.execute(
                        "DELETE FROM upload_parts WHERE repo = $1 AND upload = $2",
                        &[&repo, &id],
                    )?;
                    tx.execute("DELETE FROM uploads WHERE repo = $1 AND id = $2", &[&repo, &id])?;
                    tx.commit()?;
                    Ok(Some(u))
                })
            });
            let verdict = match from_pool.recv() {
                Ok(Some(u)) => accept(&u),
                _ => false,
            };
            let _ = to_pool.send(verdict);
            worker.join().unwrap_or_else(|_| {
                Err(StoreError::Unavailable(
                    "the metadata thread stopped".into(),
                ))
            })
        })
    }
}
