//! An object entry: what a tree or the staging area knows about one path.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use crate::codec::{Dec, Enc, sha256};
use crate::error::Result;

/// Metadata of one object version. The bytes live at `address` in the data
/// store and never change; `checksum` is their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Physical address, relative to the data store root.
    pub address: String,
    pub size: u64,
    #[serde(serialize_with = "hex_ser")]
    pub checksum: [u8; 32],
    /// Modification time, microseconds since the Unix epoch.
    pub mtime_us: i64,
    pub content_type: String,
    pub metadata: BTreeMap<String, String>,
}

fn hex_ser<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

impl Entry {
    pub fn checksum_hex(&self) -> String {
        hex::encode(self.checksum)
    }

    pub fn mtime(&self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.mtime_us)
            .single()
            .unwrap_or_default()
    }

    /// What makes two versions "the same" for diff and merge: the bytes,
    /// their content type and user metadata. The physical address and mtime
    /// are deliberately left out, so re-uploading identical bytes is not a
    /// change.
    pub fn identity(&self) -> [u8; 32] {
        let mut e = Enc::with_capacity(64 + self.content_type.len());
        e.bytes(&self.checksum);
        e.str(&self.content_type);
        e.u32(self.metadata.len() as u32);
        for (k, v) in &self.metadata {
            e.str(k);
            e.str(v);
        }
        sha256(&e.buf)
    }

    pub(crate) fn encode(&self, e: &mut Enc) {
        e.str(&self.address);
        e.u64(self.size);
        e.bytes(&self.checksum);
        e.i64(self.mtime_us);
        e.str(&self.content_type);
        e.u32(self.metadata.len() as u32);
        for (k, v) in &self.metadata {
            e.str(k);
            e.str(v);
        }
    }

    pub(crate) fn decode(d: &mut Dec<'_>) -> Result<Entry> {
        let address = d.str()?;
        let size = d.u64()?;
        let checksum = d.array32()?;
        let mtime_us = d.i64()?;
        let content_type = d.str()?;
        let n = d.u32()?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n {
            let k = d.str()?;
            metadata.insert(k, d.str()?);
        }
        Ok(Entry {
            address,
            size,
            checksum,
            mtime_us,
            content_type,
            metadata,
        })
    }

    pub(crate) fn to_blob(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(128);
        self.encode(&mut e);
        e.buf
    }

    pub(crate) fn from_blob(b: &[u8]) -> Result<Entry> {
        Entry::decode(&mut Dec::new(b, "staged entry"))
    }
}

/// True when two optional versions of a path are the same.
pub(crate) fn same(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.identity() == b.identity(),
        _ => false,
    }
}
