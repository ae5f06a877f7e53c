//! MLflow's tracking store and model registry, kept in the lake: each
//! tenant's experiments, runs, params, metrics, tags, registered models,
//! versions and logged models are Delta tables on `main` of its tracking
//! repository, written through a journal in the lake's metadata (see
//! [`store`]). `weir serve` answers MLflow's REST API from it; pipeline
//! runs record themselves in it as MLflow runs.

pub mod error;
pub mod model;
pub mod store;
pub mod tables;

pub use error::{Result, TrackingError};
pub use store::{Store, Stores, now_ms, record, repo_name};
