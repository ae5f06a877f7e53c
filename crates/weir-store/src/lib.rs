//! weir's versioned object store: lakeFS semantics with a Merkle tree.
//!
//! - A [`Lake`] holds repositories; a [`Repo`] has branches, tags and
//!   commits. Objects live at random immutable addresses in any
//!   `object_store` backend; their metadata in committed trees
//!   ([`tree`]: content-addressed ranges and metaranges) and per-branch
//!   staging areas in the [`meta::MetaStore`] (SQLite by default).
//! - Commit, diff and merge cost grows with the change, not the lake: shared
//!   ranges are reused or skipped by id.
//! - [`RepoStore`] presents a repository as an `ObjectStore` with keys
//!   `REF/PATH`, so Delta, Parquet and DataFusion run on any ref.

pub mod audit;
pub mod backend;
mod blob_cache;
pub mod build;
mod codec;
pub mod commit;
mod delta_log;
pub mod diff;
pub mod entry;
pub mod error;
pub mod gc;
pub mod lake;
pub mod merge;
pub mod meta;
pub mod multipart;
pub mod objects;
mod pick;
pub mod repo;
mod table_merge;
pub mod tree;
pub mod upload;
pub mod verify;
mod verify_tables;
pub mod view;

pub use audit::{AuditDraft, AuditRecord};
pub use diff::{DiffEntry, DiffKind, DiffScope};
pub use entry::Entry;
pub use error::{Result, StoreError};
pub use lake::{Lake, LakeSpec};
pub use merge::{MergeOptions, Strategy};
pub use meta::{CommitRecord, Cond, RepoRecord, Upload, UploadRecord};
pub use objects::{ListItem, PutOptions};
pub use repo::{DiffMode, LogOptions, RefKind, Repo, Resolved};
pub use verify::{NoProgress, Progress, VerifyReport};
pub use view::{RefStore, RepoStore};
