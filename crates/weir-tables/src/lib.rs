//! Delta tables on weir refs.
//!
//! A table named `sales` lives at `sales/` in a ref (`sales/_delta_log/..`
//! plus Parquet files): exactly where delta-rs puts
//! `lakefs://repo/branch/sales`. Tables are reached through the
//! repository's `ObjectStore` view with URLs `weir://REPO/REF/TABLE`, so
//! reading any branch, tag or commit is plain deltalake, and writes land in
//! the branch's staging area until a lake commit records them.

pub mod delta;
pub mod error;
pub mod history;
pub mod ingest;
mod recording;
pub mod system;
pub mod write;

pub use delta::{TableRef, list_tables, open_table, validate_table_name};
pub use error::{Result, TablesError};
pub use history::{TableVersion, table_diff, table_history};
pub use ingest::{IngestFormat, IngestOptions, IngestReport, ingest_file};
pub use system::{append_rows, read_rows, system_repo};
pub use write::{CommitSpec, WriteMode, WriteOptions, WriteOutcome, delete_where, write_stream};
