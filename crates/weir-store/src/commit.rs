//! Commit ids: the SHA-256 of a commit's canonical encoding.
//!
//! Unlike lakeFS, the generation is hashed too, so every field weir shows
//! about a commit is covered by its id.

use std::collections::BTreeMap;

use crate::codec::{Enc, sha256};
use crate::meta::CommitRecord;

const COMMIT_MAGIC: &str = "weir-commit:v1";

pub struct NewCommit<'a> {
    pub parents: Vec<String>,
    pub metarange: String,
    pub message: &'a str,
    pub committer: &'a str,
    pub created: i64,
    pub metadata: BTreeMap<String, String>,
    pub generation: u64,
}

pub fn commit_id(c: &CommitRecord) -> String {
    let mut e = Enc::with_capacity(256);
    e.str(COMMIT_MAGIC);
    e.u32(c.parents.len() as u32);
    for p in &c.parents {
        e.str(p);
    }
    e.str(&c.metarange);
    e.str(&c.message);
    e.str(&c.committer);
    e.i64(c.created);
    e.u32(c.metadata.len() as u32);
    for (k, v) in &c.metadata {
        e.str(k);
        e.str(v);
    }
    e.u64(c.generation);
    hex::encode(sha256(&e.buf))
}

impl NewCommit<'_> {
    pub fn seal(self) -> CommitRecord {
        let mut c = CommitRecord {
            id: String::new(),
            parents: self.parents,
            metarange: self.metarange,
            message: self.message.to_string(),
            committer: self.committer.to_string(),
            created: self.created,
            metadata: self.metadata,
            generation: self.generation,
        };
        c.id = commit_id(&c);
        c
    }
}
