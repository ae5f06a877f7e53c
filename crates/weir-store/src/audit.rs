//! The audit log: one record per change of a ref or repository (commit,
//! merge, revert, reset, branch and tag create or delete, repository create
//! or delete), appended in the same metadata transaction as the change
//! itself, so no change exists without its record. Each record's hash
//! covers the previous record's hash; every commit carries the chain head
//! of its time in its metadata (`.weir.audit.head`), and commit ids are
//! hashes of their metadata: the commit graph pins the chain and the chain
//! names every commit, so neither can be rewritten without the other
//! showing it.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The metadata key a commit records the audit chain head under.
pub const HEAD_KEY: &str = ".weir.audit.head";
/// `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller says about a change; the metadata store fills in the ref
/// values before and after, the time and the chain.
#[derive(Debug, Clone, Default)]
pub struct AuditDraft {
    pub actor: String,
    pub operation: &'static str,
    pub repo: String,
    /// The branch or tag changed (empty for repository operations).
    pub reference: String,
    /// JSON object with operation details (message, source, metadata).
    pub detail: String,
}

impl AuditDraft {
    pub fn new(actor: &str, operation: &'static str, repo: &str, reference: &str) -> AuditDraft {
        AuditDraft {
            actor: actor.to_string(),
            operation,
            repo: repo.to_string(),
            reference: reference.to_string(),
            detail: "{}".into(),
        }
    }

    pub fn detail(mut self, v: serde_json::Value) -> AuditDraft {
        self.detail = v.to_string();
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub time: i64,
    pub actor: String,
    pub operation: String,
    pub repo: String,
    #[serde(rename = "ref")]
    pub reference: String,
    /// Commit the ref pointed at before (None: it did not exist).
    pub before: Option<String>,
    /// Commit it points at after (None: deleted).
    pub after: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// SHA-256 over every field but `hash`, length-prefixed so no two
    /// records share a preimage.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        };
        field(&self.seq.to_string());
        field(&self.time.to_string());
        field(&self.actor);
        field(&self.operation);
        field(&self.repo);
        field(&self.reference);
        field(self.before.as_deref().unwrap_or("\u{0}"));
        field(self.after.as_deref().unwrap_or("\u{0}"));
        field(&self.detail);
        field(&self.prev_hash);
        hex::encode(h.finalize())
    }
}

/// The first problem in a chain, or None: hashes, links and sequence.
pub fn check_chain(records: &[AuditRecord]) -> Option<String> {
    let mut prev = GENESIS.to_string();
    for (seq, r) in (1i64..).zip(records) {
        if r.seq != seq {
            return Some(format!(
                "audit record {seq} is missing (the next is {})",
                r.seq
            ));
        }
        if r.prev_hash != prev {
            return Some(format!(
                "audit record {} does not link to the record before it",
                r.seq
            ));
        }
        if r.compute_hash() != r.hash {
            return Some(format!(
                "audit record {} ({} {} {}) was modified: its hash does not match its content",
                r.seq, r.operation, r.repo, r.reference
            ));
        }
        prev = r.hash.clone();
    }
    None
}
