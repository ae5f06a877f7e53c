//! Committed trees: ranges and metaranges, content-addressed by SHA-256.
//!
//! A tree is the sorted list of `(path, Entry)` of one commit, cut into
//! ranges where `fnv1a64(path) % RANGE_TARGET == 0` (or after
//! `RANGE_MAX` entries). Because the cut points depend only on content, two
//! trees that share a run of entries share the range files for it, which is
//! what makes commits, diffs and merges cost O(changes). The metarange lists
//! the ranges; its SHA-256 is the tree's id and goes into the commit id, so a
//! commit id vouches for every byte reachable from it.
//!
//! Every file is verified against its name when loaded: a modified range is
//! reported as corruption, never served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::codec::{Dec, Enc, sha256};
use crate::entry::Entry;
use crate::error::{Result, StoreError};

pub type Hash = [u8; 32];

/// Average entries per range (the cut probability is 1 / RANGE_TARGET).
pub const RANGE_TARGET: u64 = 1024;
/// Hard cap, so one range stays small even with unlucky keys.
pub const RANGE_MAX: usize = 8192;

const RANGE_MAGIC: &[u8] = b"WEIR-RANGE-1\n";
const META_MAGIC: &[u8] = b"WEIR-METARANGE-1\n";

pub(crate) fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Whether a range that ends with `key` after `count` entries is complete.
pub(crate) fn is_cut(key: &str, count: usize) -> bool {
    count >= RANGE_MAX || fnv1a64(key).is_multiple_of(RANGE_TARGET)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeInfo {
    pub id: Hash,
    pub first: String,
    pub last: String,
    pub count: u32,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct Range {
    pub entries: Vec<(String, Entry)>,
}

#[derive(Debug)]
pub struct MetaRange {
    pub ranges: Vec<RangeInfo>,
}

impl MetaRange {
    pub fn object_count(&self) -> u64 {
        self.ranges.iter().map(|r| r.count as u64).sum()
    }
}

pub(crate) fn range_path(ns: &str, id: &Hash) -> Path {
    Path::from(format!("{ns}/_weir/ranges/{}", hex::encode(id)))
}

pub(crate) fn metarange_path(ns: &str, id: &Hash) -> Path {
    Path::from(format!("{ns}/_weir/metaranges/{}", hex::encode(id)))
}

/// Encodes a range incrementally, entry by entry, so building a tree never
/// copies entries: only their encoded bytes are kept.
pub(crate) struct RangeEncoder {
    enc: Enc,
    first: String,
    last: String,
    count: u32,
}

impl RangeEncoder {
    pub fn new() -> RangeEncoder {
        let mut enc = Enc::with_capacity(256 * 1024);
        enc.bytes(RANGE_MAGIC);
        enc.u32(0);
        RangeEncoder {
            enc,
            first: String::new(),
            last: String::new(),
            count: 0,
        }
    }

    pub fn push(&mut self, key: &str, entry: &Entry) {
        if self.count == 0 {
            self.first.push_str(key);
        }
        self.last.clear();
        self.last.push_str(key);
        self.count += 1;
        self.enc.str(key);
        entry.encode(&mut self.enc);
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// The encoded bytes and the range's description; resets the encoder.
    pub fn finish(&mut self) -> (Vec<u8>, RangeInfo) {
        let mut done = std::mem::replace(self, RangeEncoder::new());
        let n = RANGE_MAGIC.len();
        done.enc.buf[n..n + 4].copy_from_slice(&done.count.to_le_bytes());
        let bytes = done.enc.buf;
        let info = RangeInfo {
            id: sha256(&bytes),
            first: done.first,
            last: done.last,
            count: done.count,
            bytes: bytes.len() as u64,
        };
        (bytes, info)
    }
}

fn decode_range(b: &[u8]) -> Result<Range> {
    let mut d = Dec::new(b, "range");
    d.expect(RANGE_MAGIC)?;
    let n = d.u32()? as usize;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let k = d.str()?;
        entries.push((k, Entry::decode(&mut d)?));
    }
    if !d.is_empty() {
        return Err(StoreError::Corrupt("range has trailing bytes".into()));
    }
    Ok(Range { entries })
}

pub(crate) fn encode_metarange(ranges: &[RangeInfo]) -> Vec<u8> {
    let mut e = Enc::with_capacity(ranges.len() * 128 + 32);
    e.bytes(META_MAGIC);
    e.u32(ranges.len() as u32);
    for r in ranges {
        e.bytes(&r.id);
        e.str(&r.first);
        e.str(&r.last);
        e.u32(r.count);
        e.u64(r.bytes);
    }
    e.buf
}

fn decode_metarange(b: &[u8]) -> Result<MetaRange> {
    let mut d = Dec::new(b, "metarange");
    d.expect(META_MAGIC)?;
    let n = d.u32()? as usize;
    let mut ranges = Vec::with_capacity(n);
    for _ in 0..n {
        ranges.push(RangeInfo {
            id: d.array32()?,
            first: d.str()?,
            last: d.str()?,
            count: d.u32()?,
            bytes: d.u64()?,
        });
    }
    Ok(MetaRange { ranges })
}

/// A small cache keyed by content hash; content addressing means entries
/// never go stale, only out of memory.
struct Cache<T> {
    /// Entries with the tick of their last use, and the current tick.
    map: Mutex<(Slots<T>, u64)>,
    cap: usize,
}

type Slots<T> = HashMap<Hash, (Arc<T>, u64)>;

impl<T> Cache<T> {
    fn new(cap: usize) -> Self {
        Cache {
            map: Mutex::new((HashMap::new(), 0)),
            cap,
        }
    }
    fn get(&self, id: &Hash) -> Option<Arc<T>> {
        let mut g = self.map.lock().unwrap();
        g.1 += 1;
        let tick = g.1;
        g.0.get_mut(id).map(|(v, t)| {
            *t = tick;
            v.clone()
        })
    }
    fn put(&self, id: Hash, v: Arc<T>) {
        let mut g = self.map.lock().unwrap();
        g.1 += 1;
        let tick = g.1;
        if g.0.len() >= self.cap
            && let Some(old) = g.0.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k)
        {
            g.0.remove(&old);
        }
        g.0.insert(id, (v, tick));
    }
}

/// Reads and writes tree files in the data store.
pub struct Trees {
    pub(crate) data: Arc<dyn ObjectStore>,
    ranges: Cache<Range>,
    metas: Cache<MetaRange>,
}

impl Trees {
    pub fn new(data: Arc<dyn ObjectStore>) -> Trees {
        Trees {
            data,
            ranges: Cache::new(512),
            metas: Cache::new(64),
        }
    }

    async fn fetch_verified(&self, path: &Path, id: &Hash, what: &str) -> Result<Bytes> {
        let bytes = match self.data.get(path).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::Corrupt(format!(
                    "{what} {} is missing",
                    hex::encode(id)
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if &sha256(&bytes) != id {
            return Err(StoreError::Corrupt(format!(
                "{what} {} does not match its hash",
                hex::encode(id)
            )));
        }
        Ok(bytes)
    }

    pub async fn metarange(&self, ns: &str, id: &Hash) -> Result<Arc<MetaRange>> {
        if let Some(m) = self.metas.get(id) {
            return Ok(m);
        }
        let bytes = self
            .fetch_verified(&metarange_path(ns, id), id, "metarange")
            .await?;
        let m = Arc::new(decode_metarange(&bytes)?);
        self.metas.put(*id, m.clone());
        Ok(m)
    }

    pub async fn range(&self, ns: &str, id: &Hash) -> Result<Arc<Range>> {
        if let Some(r) = self.ranges.get(id) {
            return Ok(r);
        }
        let bytes = self
            .fetch_verified(&range_path(ns, id), id, "range")
            .await?;
        let r = Arc::new(decode_range(&bytes)?);
        self.ranges.put(*id, r.clone());
        Ok(r)
    }

    pub async fn write_metarange(&self, ns: &str, ranges: Vec<RangeInfo>) -> Result<Hash> {
        let bytes = encode_metarange(&ranges);
        let id = sha256(&bytes);
        self.data
            .put(&metarange_path(ns, &id), PutPayload::from(bytes))
            .await?;
        self.metas.put(id, Arc::new(MetaRange { ranges }));
        Ok(id)
    }

    /// The entry at `key` in the tree `mr`, if any.
    pub async fn lookup(&self, ns: &str, mr: &Hash, key: &str) -> Result<Option<Entry>> {
        let meta = self.metarange(ns, mr).await?;
        let i = meta.ranges.partition_point(|r| r.last.as_str() < key);
        let Some(info) = meta.ranges.get(i) else {
            return Ok(None);
        };
        if info.first.as_str() > key {
            return Ok(None);
        }
        let range = self.range(ns, &info.id).await?;
        Ok(range
            .entries
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|j| range.entries[j].1.clone()))
    }

    pub fn iter(self: &Arc<Self>, ns: &str, meta: Arc<MetaRange>) -> TreeIter {
        TreeIter {
            trees: self.clone(),
            ns: ns.to_string(),
            ranges: meta.ranges.clone(),
            ri: 0,
            cur: None,
            pos: 0,
        }
    }

    /// Iterates only the given ranges (used by diff to skip shared ones).
    pub(crate) fn iter_ranges(self: &Arc<Self>, ns: &str, ranges: Vec<RangeInfo>) -> TreeIter {
        TreeIter {
            trees: self.clone(),
            ns: ns.to_string(),
            ranges,
            ri: 0,
            cur: None,
            pos: 0,
        }
    }
}

/// Ordered iteration over a list of ranges, loading each on demand.
pub struct TreeIter {
    trees: Arc<Trees>,
    ns: String,
    ranges: Vec<RangeInfo>,
    ri: usize,
    cur: Option<Arc<Range>>,
    pos: usize,
}

impl TreeIter {
    /// Positions the iterator at the first key `>= key`.
    pub async fn seek(&mut self, key: &str) -> Result<()> {
        self.ri = self.ranges.partition_point(|r| r.last.as_str() < key);
        self.cur = None;
        self.pos = 0;
        if self.ri < self.ranges.len() {
            let r = self.trees.range(&self.ns, &self.ranges[self.ri].id).await?;
            self.pos = r.entries.partition_point(|(k, _)| k.as_str() < key);
            self.cur = Some(r);
        }
        Ok(())
    }

    /// The next entry without consuming it.
    pub async fn peek(&mut self) -> Result<Option<(&str, &Entry)>> {
        loop {
            match &self.cur {
                Some(r) if self.pos < r.entries.len() => break,
                Some(_) => {
                    self.cur = None;
                    self.ri += 1;
                    self.pos = 0;
                }
                None => {
                    if self.ri >= self.ranges.len() {
                        return Ok(None);
                    }
                    self.cur = Some(self.trees.range(&self.ns, &self.ranges[self.ri].id).await?);
                }
            }
        }
        let (k, e) = &self.cur.as_ref().unwrap().entries[self.pos];
        Ok(Some((k.as_str(), e)))
    }

    pub async fn next(&mut self) -> Result<Option<(String, Entry)>> {
        let item = self.peek().await?.map(|(k, e)| (k.to_string(), e.clone()));
        if item.is_some() {
            self.pos += 1;
        }
        Ok(item)
    }
}
