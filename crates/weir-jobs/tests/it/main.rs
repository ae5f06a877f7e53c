//! Pipeline runs against a real lake in a temporary directory.

mod runs;
