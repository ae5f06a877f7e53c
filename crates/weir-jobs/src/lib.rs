//! Pipelines of SQL stages on weir.
//!
//! A pipeline is a TOML manifest ([`Manifest`]) naming stages; each stage is
//! a SQL query whose result is written to one Delta table. A run
//! ([`run`]) creates a run branch from the target, executes the stages in
//! dependency order (independent ones at the same time), commits each
//! output with metadata naming the run, stage, SQL hash and the input
//! commits it read, checks the quality gates, and merges into the target
//! only when every stage and gate passed. Stages whose SQL, parameters and
//! inputs are unchanged since a successful run are skipped. Every run
//! leaves records in the `runs` table of the system repository, with the
//! SQL and parameter values each stage ran, so [`reproduce`] can run it
//! again at its pinned inputs and compare.

pub mod error;
pub mod features;
mod lineage;
pub mod locate;
pub mod manifest;
pub mod params;
pub mod plan;
pub mod records;
pub mod reproduce;
pub mod runner;
pub mod schedule;
mod stage;
pub mod tracking;

pub use error::{JobsError, Result};
pub use features::FeatureRegistry;
pub use manifest::{Manifest, OutputMode};
pub use params::{Param, Params, parse_assignment};
pub use records::{RunRecord, TablePin};
pub use reproduce::{ReproduceReport, StageCheck, reproduce};
pub use runner::{RunOptions, RunReport, StageReport, StageStatus, run};
pub use stage::process_cpu_seconds;
