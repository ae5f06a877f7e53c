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
    /// The ETag S3 would give these bytes: the MD5 of a single-part
    /// upload, or the MD5 of the parts' MD5s and `-N` for a multipart
    /// one, so S3 clients can check a transfer. Kept beside the entry and
    /// not part of its [`identity`](Entry::identity): the same bytes
    /// uploaded in parts or whole are the same object. `None` for entries
    /// written before weir kept it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// Where an entry's S3 ETag travels in the encoding: as a metadata pair
/// whose key no header or user can give (a NUL byte), so entries encoded
/// before it existed decode unchanged and carry none.
const ETAG_KEY: &str = "\0s3-etag";

fn hex_ser<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

impl Entry {
    pub fn checksum_hex(&self) -> String {
        hex::encode(self.checksum)
    }

    /// The S3 ETag: the MD5 form when known, else the SHA-256.
    pub fn s3_etag(&self) -> String {
        self.etag.clone().unwrap_or_else(|| self.checksum_hex())
    }

    /// Whether a client's ETag names this version: its SHA-256 (weir's own
    /// ETag) or its S3 ETag.
    pub fn etag_matches(&self, tag: &str) -> bool {
        self.etag.as_deref() == Some(tag) || self.checksum_hex() == tag
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
        e.u32((self.metadata.len() + usize::from(self.etag.is_some())) as u32);
        for (k, v) in &self.metadata {
            e.str(k);
            e.str(v);
        }
        if let Some(t) = &self.etag {
            e.str(ETAG_KEY);
            e.str(t);
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
        let mut etag = None;
        for _ in 0..n {
            let k = d.str()?;
            let v = d.str()?;
            if k == ETAG_KEY {
                etag = Some(v);
            } else {
                metadata.insert(k, v);
            }
        }
        Ok(Entry {
            address,
            size,
            checksum,
            mtime_us,
            content_type,
            metadata,
            etag,
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
