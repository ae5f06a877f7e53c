//! Building a new tree from a base tree plus sorted changes.
//!
//! Cost is proportional to the ranges the changes touch: a base range is
//! reused by id when the builder is at a cut point, the range holds no change
//! and it ends at a cut point itself. Because cut points depend only on
//! content, the result is exactly the tree a from-scratch build of the same
//! entries would give, so equal contents always get equal ids.

use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use object_store::{ObjectStoreExt, PutPayload};

use crate::entry::Entry;
use crate::error::Result;
use crate::tree::{Hash, RangeEncoder, RangeInfo, Trees, is_cut, range_path};

/// One change to a path: `Some` writes the entry, `None` deletes the path.
pub type Change = (String, Option<Entry>);

/// Encodes entries into ranges and writes them in the background, a
/// bounded number at a time.
struct Builder<'a> {
    trees: &'a Trees,
    ns: &'a str,
    cur: RangeEncoder,
    out: Vec<RangeInfo>,
    pending: FuturesUnordered<BoxFuture<'static, Result<()>>>,
    written: usize,
}

impl Builder<'_> {
    async fn push(&mut self, key: &str, entry: &Entry) -> Result<()> {
        self.cur.push(key, entry);
        if is_cut(key, self.cur.count()) {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.cur.is_empty() {
            return Ok(());
        }
        let (bytes, info) = self.cur.finish();
        let data = self.trees.data.clone();
        let path = range_path(self.ns, &info.id);
        self.out.push(info);
        self.pending.push(Box::pin(async move {
            data.put(&path, PutPayload::from(bytes)).await?;
            Ok(())
        }));
        self.written += 1;
        while self.pending.len() >= 8 {
            if let Some(r) = self.pending.next().await {
                r?;
            }
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<(Vec<RangeInfo>, usize)> {
        self.flush().await?;
        while let Some(r) = self.pending.next().await {
            r?;
        }
        Ok((self.out, self.written))
    }
}

/// Statistics of one build, for progress and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct BuildStats {
    pub ranges_written: usize,
    pub ranges_reused: usize,
}

/// Applies `changes` (sorted by path, unique) to the tree `base` and writes
/// the new tree. Deleting an absent path is a no-op.
pub async fn apply_changes(
    trees: &Arc<Trees>,
    ns: &str,
    base: &Hash,
    changes: &[Change],
) -> Result<(Hash, BuildStats)> {
    debug_assert!(changes.windows(2).all(|w| w[0].0 < w[1].0));
    let meta = trees.metarange(ns, base).await?;
    let mut b = Builder {
        trees,
        ns,
        cur: RangeEncoder::new(),
        out: Vec::new(),
        pending: FuturesUnordered::new(),
        written: 0,
    };
    let mut reused = 0;
    let mut ci = 0;
    let n_ranges = meta.ranges.len();
    for (ri, info) in meta.ranges.iter().enumerate() {
        while ci < changes.len() && changes[ci].0 < info.first {
            if let (k, Some(e)) = &changes[ci] {
                b.push(k, e).await?;
            }
            ci += 1;
        }
        let touched = ci < changes.len() && changes[ci].0 <= info.last;
        let closed =
            is_cut(&info.last, info.count as usize) || (ri + 1 == n_ranges && ci == changes.len());
        if b.cur.is_empty() && !touched && closed {
            b.out.push(info.clone());
            reused += 1;
            continue;
        }
        let range = trees.range(ns, &info.id).await?;
        for (k, e) in &range.entries {
            while ci < changes.len() && changes[ci].0 < *k {
                if let (ck, Some(ce)) = &changes[ci] {
                    b.push(ck, ce).await?;
                }
                ci += 1;
            }
            if ci < changes.len() && changes[ci].0 == *k {
                match &changes[ci].1 {
                    // Same bytes, type and metadata: keep the committed entry
                    // so rewriting identical content is not a change.
                    Some(ce) if ce.identity() == e.identity() => b.push(k, e).await?,
                    Some(ce) => b.push(k, ce).await?,
                    None => {}
                }
                ci += 1;
            } else {
                b.push(k, e).await?;
            }
        }
    }
    for (k, e) in &changes[ci..] {
        if let Some(e) = e {
            b.push(k, e).await?;
        }
    }
    let (ranges, written) = b.finish().await?;
    let id = trees.write_metarange(ns, ranges).await?;
    Ok((
        id,
        BuildStats {
            ranges_written: written,
            ranges_reused: reused,
        },
    ))
}
