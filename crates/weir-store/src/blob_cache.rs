//! Small objects of a lake in object storage, kept in memory.
//!
//! A local lake reads small objects straight from the page cache; over S3
//! each read is a round trip of a millisecond or more, and the same small
//! objects (Delta logs, checkpoints' footers, lineage and run records) are
//! read again by every query. Bytes at an address never change (addresses
//! are random and never reused), so a cached copy is never stale and needs
//! no invalidation; the cache is bounded in bytes and forgets the oldest
//! first. `verify` reads around it, so it checks what is stored.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// Objects up to this size are kept.
pub(crate) const MAX_OBJECT: u64 = 256 << 10;
/// At most this many bytes are kept in all.
const CAPACITY: usize = 64 << 20;

#[derive(Default)]
pub(crate) struct BlobCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    blobs: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: usize,
}

impl BlobCache {
    pub fn get(&self, address: &str) -> Option<Bytes> {
        self.inner.lock().ok()?.blobs.get(address).cloned()
    }

    pub fn put(&self, address: &str, bytes: Bytes) {
        if bytes.len() as u64 > MAX_OBJECT {
            return;
        }
        let Ok(mut c) = self.inner.lock() else {
            return;
        };
        if c.blobs.contains_key(address) {
            return;
        }
        while c.bytes + bytes.len() > CAPACITY {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some(b) = c.blobs.remove(&old) {
                c.bytes -= b.len();
            }
        }
        c.bytes += bytes.len();
        c.order.push_back(address.to_string());
        c.blobs.insert(address.to_string(), bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_small_objects_within_its_bound() {
        let c = BlobCache::default();
        c.put("a", Bytes::from_static(b"hello"));
        assert_eq!(c.get("a").as_deref(), Some(&b"hello"[..]));
        c.put("big", Bytes::from(vec![0u8; (MAX_OBJECT + 1) as usize]));
        assert!(c.get("big").is_none());
        for i in 0..(CAPACITY / MAX_OBJECT as usize + 8) {
            c.put(
                &format!("o{i}"),
                Bytes::from(vec![1u8; MAX_OBJECT as usize]),
            );
        }
        assert!(c.get("a").is_none(), "the oldest went first");
        assert!(c.inner.lock().unwrap().bytes <= CAPACITY);
    }
}
