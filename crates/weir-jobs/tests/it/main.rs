//! Pipeline runs against a real lake in a temporary directory.

mod lineage;
mod runs;
