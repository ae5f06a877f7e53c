//! Object operations on a repository: put, get, stat, list, delete, copy.
//!
//! Bytes are written first, to a fresh random address, and only then is the
//! entry staged: a crash in between leaves unreachable bytes, never an entry
//! without data.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult, ObjectStoreExt, PutPayload};
use serde::Serialize;
use weir_core::names;

use crate::diff::prefix_end;
use crate::entry::{DEFAULT_CONTENT_TYPE, Entry};
use crate::error::{Result, StoreError};
use crate::meta::{Cond, StageOutcome, StagedRow};
use crate::repo::{Repo, Resolved, parse_hash};
use crate::tree::TreeIter;

/// Options of a write.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Conditional write; `None` overwrites.
    pub cond: Option<Cond>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "path_type", rename_all = "snake_case")]
pub enum ListItem {
    Object { path: String, entry: Entry },
    CommonPrefix { path: String },
}

impl ListItem {
    pub fn path(&self) -> &str {
        match self {
            ListItem::Object { path, .. } | ListItem::CommonPrefix { path } => path,
        }
    }
}

/// Reads up to this size are served in one piece (see `read_small`).
const SMALL_READ: u64 = 1 << 20;

/// Reads this small from a local lake are made on the calling thread: the
/// bytes are almost always in the page cache, where a read costs a few
/// microseconds and a trip to the blocking pool two context switches
/// (most of the time of a small GET under load). A cold read of this size
/// holds a worker for well under a millisecond.
const INLINE_READ: u64 = 64 << 10;

fn read_inline(file: &std::path::Path, r: Range<u64>) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; (r.end - r.start) as usize];
    std::fs::File::open(file)?.read_exact_at(&mut buf, r.start)?;
    Ok(Bytes::from(buf))
}

/// A requested range within an object of `size` bytes (all of it if none).
fn clamp(range: Option<Range<u64>>, size: u64) -> Range<u64> {
    let r = range.unwrap_or(0..size);
    let end = r.end.min(size);
    r.start.min(end)..end
}

pub(crate) fn new_address(ns: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{ns}/data/{}/{}", &id[..2], &id[2..])
}

/// The digests of bytes as they are written: weir's SHA-256 identity and
/// the MD5 S3 clients check a transfer with.
pub(crate) struct Digests {
    sha: sha2::Sha256,
    md5: md5::Md5,
    pub size: u64,
}

impl Digests {
    pub fn new() -> Digests {
        use sha2::Digest;
        Digests {
            sha: sha2::Sha256::new(),
            md5: md5::Md5::new(),
            size: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.sha.update(bytes);
        self.md5.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// (SHA-256, MD5, size)
    pub fn finish(self) -> ([u8; 32], [u8; 16], u64) {
        use sha2::Digest;
        (
            self.sha.finalize().into(),
            self.md5.finalize().into(),
            self.size,
        )
    }

    /// The entry of the bytes just written at `address`.
    pub fn entry(self, address: String, opts: &PutOptions) -> Entry {
        let (checksum, md5, size) = self.finish();
        fresh_entry(address, size, checksum, Some(hex::encode(md5)), opts)
    }
}

/// The entry of bytes just written at `address`.
pub(crate) fn fresh_entry(
    address: String,
    size: u64,
    checksum: [u8; 32],
    etag: Option<String>,
    opts: &PutOptions,
) -> Entry {
    Entry {
        address,
        size,
        checksum,
        mtime_us: chrono::Utc::now().timestamp_micros(),
        content_type: opts
            .content_type
            .clone()
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
        metadata: opts.metadata.clone(),
        etag,
    }
}

impl Repo {
    /// Writes bytes to a fresh physical address and returns their entry
    /// (not yet staged).
    pub async fn write_data(&self, payload: PutPayload, opts: &PutOptions) -> Result<Entry> {
        let mut d = Digests::new();
        for p in payload.iter() {
            d.update(p);
        }
        let address = new_address(self.ns());
        self.lake
            .trees
            .data
            .put(&Path::from(address.as_str()), payload)
            .await?;
        Ok(d.entry(address, opts))
    }

    /// Stages `entry` at `path` on `branch`, honouring a condition.
    pub async fn stage_entry(
        &self,
        branch: &str,
        path: &str,
        entry: Option<Entry>,
        cond: Option<&Cond>,
    ) -> Result<()> {
        names::validate_path(path)?;
        let Some(cond) = cond else {
            return self
                .lake
                .meta
                .stage(&self.rec.name, branch, &[(path.to_string(), entry)]);
        };
        for _ in 0..16 {
            let head = self.commit_record(&self.branch_head(branch)?)?;
            let committed = self
                .lake
                .trees
                .lookup(self.ns(), &parse_hash(&head.metarange)?, path)
                .await?;
            let outcome = self.lake.meta.stage_if(
                &self.rec.name,
                branch,
                path,
                entry.as_ref(),
                &head.id,
                committed.as_ref(),
                cond,
            )?;
            return match outcome {
                StageOutcome::Staged => Ok(()),
                StageOutcome::HeadMoved => continue,
                StageOutcome::Exists => Err(StoreError::AlreadyExists {
                    kind: "object",
                    name: path.to_string(),
                }),
                StageOutcome::Mismatch => Err(StoreError::PreconditionFailed(format!(
                    "{path} does not have the expected version"
                ))),
            };
        }
        Err(StoreError::Conflict(format!(
            "branch {branch} kept moving while writing {path}; retry"
        )))
    }

    /// Stages many entries in one transaction (bulk upload, import, link).
    pub fn stage_many(&self, branch: &str, rows: &[(String, Option<Entry>)]) -> Result<()> {
        for (p, _) in rows {
            names::validate_path(p)?;
        }
        self.lake.meta.stage(&self.rec.name, branch, rows)
    }

    /// Withdraws staged writes of exactly these paths (used to undo a failed
    /// multi-object write).
    pub fn unstage(&self, branch: &str, paths: &[String]) -> Result<()> {
        self.lake.meta.unstage(&self.rec.name, branch, paths)
    }

    pub async fn put_object(
        &self,
        branch: &str,
        path: &str,
        payload: PutPayload,
        opts: &PutOptions,
    ) -> Result<Entry> {
        names::validate_path(path)?;
        self.branch_head(branch)?;
        let entry = self.write_data(payload, opts).await?;
        self.stage_entry(branch, path, Some(entry.clone()), opts.cond.as_ref())
            .await?;
        Ok(entry)
    }

    /// The entry at `path` as seen by a resolved ref (staging included when
    /// the ref is a plain branch).
    pub async fn lookup(&self, r: &Resolved, path: &str) -> Result<Option<Entry>> {
        if let Some(branch) = &r.staging
            && let Some(row) = self.lake.meta.staged_get(&self.rec.name, branch, path)?
        {
            return Ok(row.entry);
        }
        self.lake
            .trees
            .lookup(self.ns(), &parse_hash(&r.commit.metarange)?, path)
            .await
    }

    /// The entry at `path` on any ref expression. A plain branch name takes
    /// one metadata round trip (head and staged row together).
    pub async fn entry_at(&self, reference: &str, path: &str) -> Result<Option<Entry>> {
        let plain = reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if plain
            && let Some((head, staged)) =
                self.lake
                    .meta
                    .branch_lookup(&self.rec.name, reference, path)?
        {
            if let Some(row) = staged {
                return Ok(row.entry);
            }
            let c = self.commit_arc(&head)?;
            return self
                .lake
                .trees
                .lookup(self.ns(), &parse_hash(&c.metarange)?, path)
                .await;
        }
        let r = self.resolve(reference)?;
        self.lookup(&r, path).await
    }

    pub async fn stat(&self, reference: &str, path: &str) -> Result<Entry> {
        names::validate_path(path)?;
        self.entry_at(reference, path)
            .await?
            .ok_or_else(|| StoreError::not_found("object", format!("{reference}/{path}")))
    }

    /// Reads an entry's bytes, optionally a byte range of them.
    pub async fn read_entry(&self, entry: &Entry, range: Option<Range<u64>>) -> Result<Bytes> {
        let r = clamp(range, entry.size);
        if r.end - r.start <= SMALL_READ {
            return self.read_small(entry, r).await;
        }
        Ok(self.open_entry(entry, Some(r)).await?.bytes().await?)
    }

    /// An entry's bytes (or a range of them) as a stream, so a server can
    /// send an object of any size without holding it in memory.
    pub async fn read_entry_stream(
        &self,
        entry: &Entry,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let r = clamp(range, entry.size);
        if r.end - r.start <= SMALL_READ {
            let bytes = self.read_small(entry, r).await?;
            return Ok(futures::stream::once(async move { Ok(bytes) }).boxed());
        }
        let got = self.open_entry(entry, Some(r)).await?;
        Ok(got.into_stream().map_err(StoreError::from).boxed())
    }

    /// One ranged read: on the local store that is a single trip to the
    /// blocking pool (open and read together) where a streamed get takes
    /// two, which is most of the cost of serving a small object.
    async fn read_small(&self, entry: &Entry, r: Range<u64>) -> Result<Bytes> {
        if r.start == r.end {
            return Ok(Bytes::new());
        }
        if r.end - r.start <= INLINE_READ
            && let Some(dir) = &self.lake.local_data
            && entry
                .address
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..")
        {
            let file = dir.join(&entry.address);
            if let Ok(bytes) = read_inline(&file, r.clone()) {
                return Ok(bytes);
            }
        }
        // In object storage a small object is read whole once and kept:
        // later reads of it, or of a part of it, cost no round trip.
        if let Some(cache) = &self.lake.blobs
            && entry.size <= crate::blob_cache::MAX_OBJECT
        {
            let whole = match cache.get(&entry.address) {
                Some(b) => b,
                None => {
                    let b = self.fetch_range(entry, 0..entry.size).await?;
                    cache.put(&entry.address, b.clone());
                    b
                }
            };
            if r.end as usize <= whole.len() {
                return Ok(whole.slice(r.start as usize..r.end as usize));
            }
        }
        self.fetch_range(entry, r).await
    }

    /// Why an entry's bytes are not in the data store: collected by
    /// `weir gc` (its commits were past retention), or lost.
    pub(crate) fn missing(&self, entry: &Entry) -> StoreError {
        match self.gc_last_run() {
            Ok(Some(last)) => StoreError::Collected(format!(
                "the bytes of this version were deleted by weir gc (run at {}): the commits that name it are past the retention rules",
                chrono::DateTime::from_timestamp_micros(last.started_us)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            )),
            _ => StoreError::Corrupt(format!(
                "the bytes of this object are missing at {}",
                entry.address
            )),
        }
    }

    /// One ranged read from the data store, around any cache.
    pub(crate) async fn fetch_range(&self, entry: &Entry, r: Range<u64>) -> Result<Bytes> {
        if r.start == r.end {
            return Ok(Bytes::new());
        }
        let path = Path::from(entry.address.as_str());
        match self.lake.trees.data.get_ranges(&path, &[r]).await {
            Ok(mut v) if v.len() == 1 => Ok(v.remove(0)),
            Ok(_) => Err(StoreError::Corrupt(format!(
                "the data store returned no bytes for {}",
                entry.address
            ))),
            Err(object_store::Error::NotFound { .. }) => Err(self.missing(entry)),
            Err(e) => Err(e.into()),
        }
    }

    async fn open_entry(&self, entry: &Entry, range: Option<Range<u64>>) -> Result<GetResult> {
        let mut opts = GetOptions::default();
        if let Some(r) = range {
            opts.range = Some(GetRange::Bounded(r));
        }
        let path = Path::from(entry.address.as_str());
        match self.lake.trees.data.get_opts(&path, opts).await {
            Ok(r) => Ok(r),
            Err(object_store::Error::NotFound { .. }) => Err(self.missing(entry)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_object(
        &self,
        reference: &str,
        path: &str,
        range: Option<Range<u64>>,
    ) -> Result<(Entry, Bytes)> {
        let entry = self.stat(reference, path).await?;
        if let Some(r) = &range
            && (r.start > r.end || r.end > entry.size)
        {
            return Err(StoreError::InvalidArgument(format!(
                "range {}..{} is outside {path} ({} bytes)",
                r.start, r.end, entry.size
            )));
        }
        let bytes = self.read_entry(&entry, range).await?;
        Ok((entry, bytes))
    }

    /// Deletes `path` on `branch` (a tombstone until committed). Returns
    /// whether it existed.
    pub async fn delete_object(&self, branch: &str, path: &str) -> Result<bool> {
        names::validate_path(path)?;
        self.branch_head(branch)?;
        let r = self.resolve(branch)?;
        if self.lookup(&r, path).await?.is_none() {
            return Ok(false);
        }
        self.lake
            .meta
            .stage(&self.rec.name, branch, &[(path.to_string(), None)])?;
        Ok(true)
    }

    /// Copies an object without copying bytes: addresses are immutable, so
    /// the new entry may point at the same data.
    pub async fn copy_object(
        &self,
        src_ref: &str,
        src_path: &str,
        dst_branch: &str,
        dst_path: &str,
        cond: Option<&Cond>,
    ) -> Result<Entry> {
        let mut entry = self.stat(src_ref, src_path).await?;
        entry.mtime_us = chrono::Utc::now().timestamp_micros();
        self.stage_entry(dst_branch, dst_path, Some(entry.clone()), cond)
            .await?;
        Ok(entry)
    }

    /// Lists objects under `prefix` after `after`; with `delimiter`, paths
    /// with more `/` below the prefix are folded into common prefixes.
    /// Returns the page and whether more follow.
    pub async fn list_objects(
        &self,
        reference: &str,
        prefix: &str,
        delimiter: bool,
        after: Option<&str>,
        amount: usize,
    ) -> Result<(Vec<ListItem>, bool)> {
        names::validate_prefix(prefix)?;
        let r = self.resolve(reference)?;
        let mut it = self.merged(&r).await?;
        let start = match after {
            Some(a) if a >= prefix => format!("{a}\0"),
            _ => prefix.to_string(),
        };
        it.seek(&start).await?;
        let mut out = Vec::new();
        while let Some((k, e)) = it.next().await? {
            if !k.starts_with(prefix) {
                break;
            }
            if out.len() == amount {
                return Ok((out, true));
            }
            let rest = &k[prefix.len()..];
            match rest.find('/').filter(|_| delimiter) {
                Some(i) => {
                    let cp = k[..prefix.len() + i + 1].to_string();
                    it.seek(&prefix_end(&cp)).await?;
                    if after.is_none_or(|a| cp.as_str() > a) {
                        out.push(ListItem::CommonPrefix { path: cp });
                    }
                }
                None => out.push(ListItem::Object { path: k, entry: e }),
            }
        }
        Ok((out, false))
    }

    pub(crate) async fn merged(&self, r: &Resolved) -> Result<Merged> {
        let meta = self.metarange(&r.commit).await?;
        Ok(Merged {
            repo: self.clone(),
            tree: self.lake.trees.iter(self.ns(), meta),
            staging: r.staging.clone(),
            buf: std::collections::VecDeque::new(),
            from: String::new(),
            exhausted: r.staging.is_none(),
        })
    }
}

/// The committed tree with a branch's staging area laid over it, in path
/// order. Tombstones hide committed entries and cost one step each, so
/// listings stay fast however many uncommitted deletes a branch holds.
pub(crate) struct Merged {
    repo: Repo,
    tree: TreeIter,
    staging: Option<String>,
    buf: std::collections::VecDeque<StagedRow>,
    from: String,
    exhausted: bool,
}

impl Merged {
    pub async fn seek(&mut self, key: &str) -> Result<()> {
        self.tree.seek(key).await?;
        self.buf.clear();
        self.from = key.to_string();
        self.exhausted = self.staging.is_none();
        Ok(())
    }

    fn refill(&mut self) -> Result<()> {
        if self.buf.is_empty() && !self.exhausted {
            let branch = self.staging.as_deref().unwrap();
            let rows =
                self.repo
                    .lake
                    .meta
                    .staged_scan(&self.repo.rec.name, branch, &self.from, 512)?;
            self.exhausted = rows.len() < 512;
            if let Some(last) = rows.last() {
                self.from = format!("{}\0", last.path);
            }
            self.buf.extend(rows);
        }
        Ok(())
    }

    pub async fn next(&mut self) -> Result<Option<(String, Entry)>> {
        loop {
            self.refill()?;
            let tree_key = self.tree.peek().await?.map(|(k, _)| k.to_string());
            let staged_first = match (self.buf.front(), &tree_key) {
                (None, None) => return Ok(None),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(s), Some(t)) => s.path.as_str() <= t.as_str(),
            };
            if staged_first {
                let row = self.buf.pop_front().unwrap();
                if tree_key.as_deref() == Some(row.path.as_str()) {
                    self.tree.next().await?;
                }
                match row.entry {
                    Some(e) => return Ok(Some((row.path, e))),
                    None => continue,
                }
            }
            return self.tree.next().await;
        }
    }
}
