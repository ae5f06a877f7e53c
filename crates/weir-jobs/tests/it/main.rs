//! Pipeline runs against a real lake in a temporary directory.

mod features;
mod lineage;
mod merges;
mod runs;
mod schedule;
mod tracking;
