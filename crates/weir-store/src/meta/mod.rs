//! The metadata store: repositories, refs, the commit index and the staging
//! area. It is a trait with two implementations: the embedded SQLite store
//! (one lake directory, shared safely by a CLI and a server) and a
//! PostgreSQL store for many servers on many machines.
//!
//! Every method is one short transaction. Multi-step operations (commit,
//! merge) do their slow work outside and finish with a compare-and-set on
//! the branch head, so the store never holds a lock while writing data.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::audit::{AuditDraft, AuditRecord};
use crate::entry::Entry;
use crate::error::Result;

mod hot;
pub mod postgres;
pub mod sqlite;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoRecord {
    pub name: String,
    /// Where this repository's objects and tree files live in the data store.
    pub namespace: String,
    pub default_branch: String,
    /// The storage namespace a client asked for (recorded, as lakeFS shows it).
    pub storage_namespace: String,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitRecord {
    pub id: String,
    pub parents: Vec<String>,
    pub metarange: String,
    pub message: String,
    pub committer: String,
    /// Seconds since the Unix epoch.
    pub created: i64,
    pub metadata: BTreeMap<String, String>,
    pub generation: u64,
}

/// One row of a branch's staging area; `entry: None` is a tombstone.
#[derive(Debug, Clone)]
pub struct StagedRow {
    pub path: String,
    /// Random per write, so a commit removes exactly the rows it read and a
    /// write that races with the commit stays staged.
    pub version: i64,
    pub entry: Option<Entry>,
}

/// The condition of a conditional write (`PutMode::Create` / `Update`).
#[derive(Debug, Clone)]
pub enum Cond {
    /// The path must not exist (put-if-absent).
    Absent,
    /// The current version's checksum (hex) must equal this.
    Matches(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutcome {
    Staged,
    /// The branch head moved since the caller read the committed entry.
    HeadMoved,
    /// `Cond::Absent` failed.
    Exists,
    /// `Cond::Matches` failed (or the path is absent).
    Mismatch,
}

/// An S3 multipart upload in progress. Kept in the metadata store, not in
/// a server's memory, so that it survives a restart and any server of the
/// lake can take the next part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
    pub repo: String,
    /// The key the client names the upload by (`REF/PATH` on the gateway).
    pub key: String,
    pub branch: String,
    pub path: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Microseconds since the Unix epoch.
    pub initiated: i64,
}

/// An upload with the parts written so far, by part number.
#[derive(Debug, Clone)]
pub struct Upload {
    pub record: UploadRecord,
    pub parts: BTreeMap<i32, Entry>,
}

/// An access key of `weir serve`, its secret sealed by the server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub id: String,
    pub nonce: Vec<u8>,
    pub sealed: Vec<u8>,
    pub user: String,
    /// Seconds since the Unix epoch.
    pub created: i64,
}

/// Every method that changes a ref or a repository takes the audit draft
/// of that change and appends its record in the same transaction.
pub trait MetaStore: Send + Sync + 'static {
    fn create_repo(
        &self,
        repo: &RepoRecord,
        initial: &CommitRecord,
        audit: &AuditDraft,
    ) -> Result<()>;
    fn get_repo(&self, name: &str) -> Result<Option<std::sync::Arc<RepoRecord>>>;
    fn list_repos(&self) -> Result<Vec<RepoRecord>>;
    fn delete_repo(&self, name: &str, audit: &AuditDraft) -> Result<bool>;

    /// The branch's head commit id.
    fn get_branch(&self, repo: &str, name: &str) -> Result<Option<String>>;
    fn list_branches(&self, repo: &str) -> Result<Vec<(String, String)>>;
    fn create_branch(&self, repo: &str, name: &str, commit: &str, audit: &AuditDraft)
    -> Result<()>;
    /// Deletes the branch and its staging area.
    fn delete_branch(&self, repo: &str, name: &str, audit: &AuditDraft) -> Result<bool>;

    fn get_tag(&self, repo: &str, name: &str) -> Result<Option<String>>;
    fn list_tags(&self, repo: &str) -> Result<Vec<(String, String)>>;
    fn create_tag(&self, repo: &str, name: &str, commit: &str, audit: &AuditDraft) -> Result<()>;
    fn delete_tag(&self, repo: &str, name: &str, audit: &AuditDraft) -> Result<bool>;

    fn get_commit(&self, repo: &str, id: &str) -> Result<Option<CommitRecord>>;
    /// Commit ids starting with `prefix`, at most `limit`.
    fn commits_with_prefix(&self, repo: &str, prefix: &str, limit: usize) -> Result<Vec<String>>;
    /// Every commit of the repository (for verification).
    fn all_commits(&self, repo: &str) -> Result<Vec<CommitRecord>>;

    fn staged_get(&self, repo: &str, branch: &str, path: &str) -> Result<Option<StagedRow>>;
    /// A branch's head and its staged row for `path`, in one round trip
    /// (the hot path of every read through a branch). `None` when the
    /// branch does not exist.
    fn branch_lookup(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
    ) -> Result<Option<(String, Option<StagedRow>)>>;
    /// Staged rows with `path >= from`, in path order.
    fn staged_scan(
        &self,
        repo: &str,
        branch: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<StagedRow>>;
    fn staged_count(&self, repo: &str, branch: &str) -> Result<u64>;
    /// Upserts rows into a branch's staging area in one transaction.
    fn stage(&self, repo: &str, branch: &str, rows: &[(String, Option<Entry>)]) -> Result<()>;
    /// Stages one row if `cond` holds against the current version: the
    /// staged row if any, else `committed` (read by the caller at
    /// `expected_head`).
    #[allow(clippy::too_many_arguments)]
    fn stage_if(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        entry: Option<&Entry>,
        expected_head: &str,
        committed: Option<&Entry>,
        cond: &Cond,
    ) -> Result<StageOutcome>;
    /// Drops the staged rows of exactly these paths.
    fn unstage(&self, repo: &str, branch: &str, paths: &[String]) -> Result<()>;
    /// Drops staged rows under `prefix` (all when empty); returns how many.
    fn reset_staging(
        &self,
        repo: &str,
        branch: &str,
        prefix: &str,
        audit: &AuditDraft,
    ) -> Result<u64>;
    /// Records `commit` and moves the branch to it if its head is still
    /// `expected_head`. With `consumed`, removes exactly those staged rows
    /// (path, version); without it, requires the staging area to be empty.
    /// Returns false, changing nothing, when the head had moved.
    fn advance_branch(
        &self,
        repo: &str,
        branch: &str,
        expected_head: &str,
        commit: &CommitRecord,
        consumed: Option<&[(String, i64)]>,
        audit: &AuditDraft,
    ) -> Result<bool>;

    fn create_upload(&self, upload: &UploadRecord) -> Result<()>;
    fn get_upload(&self, repo: &str, id: &str) -> Result<Option<UploadRecord>>;
    /// Records part `n` of an upload and returns the part it replaces
    /// (`Ok(None)`, recording nothing, when there is no such upload).
    fn put_upload_part(
        &self,
        repo: &str,
        id: &str,
        n: i32,
        part: &Entry,
    ) -> Result<Option<Option<Entry>>>;
    /// Parts numbered above `after`, in order, at most `limit`.
    fn upload_parts(
        &self,
        repo: &str,
        id: &str,
        after: i32,
        limit: usize,
    ) -> Result<Vec<(i32, Entry)>>;
    /// Uploads whose key starts with `prefix` and whose (key, id) sorts
    /// after `after` (after the key alone when no id is given), in that
    /// order, at most `limit`.
    fn list_uploads(
        &self,
        repo: &str,
        prefix: &str,
        after: (&str, Option<&str>),
        limit: usize,
    ) -> Result<Vec<UploadRecord>>;
    /// Removes the upload and its part records if `accept` agrees, in one
    /// transaction, so no part can change between the check and the
    /// removal. `None` when there is no such upload or `accept` refused.
    fn take_upload(
        &self,
        repo: &str,
        id: &str,
        accept: &mut dyn FnMut(&Upload) -> bool,
    ) -> Result<Option<Upload>>;

    /// A repository's setting (garbage-collection rules and the record of
    /// the last collection), `None` when never set.
    fn get_setting(&self, repo: &str, key: &str) -> Result<Option<String>>;
    fn put_setting(&self, repo: &str, key: &str, value: &str) -> Result<()>;
    /// Sets `key` to `value` only if it is still `expected` (`None`: not
    /// set); whether it was. Repository "" holds the lake's own settings.
    fn swap_setting(
        &self,
        repo: &str,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool>;

    /// The settings whose keys start with `prefix`, in key order.
    fn list_settings(&self, repo: &str, prefix: &str) -> Result<Vec<(String, String)>>;
    /// Deletes `key` only if its value is still `expected`; whether it was.
    fn delete_setting(&self, repo: &str, key: &str, expected: &str) -> Result<bool>;

    /// Whether access keys are kept here, so every server of the lake sees
    /// them (a shared store); otherwise they stay beside the lake.
    fn keeps_access_keys(&self) -> bool {
        false
    }
    fn put_access_key(&self, _key: &AccessKeyRecord) -> Result<()> {
        Err(crate::error::StoreError::NotAllowed(
            "this metadata store keeps no access keys".into(),
        ))
    }
    fn get_access_key(&self, _id: &str) -> Result<Option<AccessKeyRecord>> {
        Ok(None)
    }
    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>> {
        Ok(Vec::new())
    }
    fn delete_access_key(&self, _id: &str) -> Result<bool> {
        Ok(false)
    }

    /// The hash of the newest audit record (`audit::GENESIS` when none).
    fn audit_head(&self) -> Result<String>;
    /// Audit records with `seq > after`, oldest first, at most `limit`.
    fn audit_scan(&self, after: i64, limit: usize) -> Result<Vec<AuditRecord>>;
}
