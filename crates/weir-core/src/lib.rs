//! Shared vocabulary of weir: validated names, ref expressions, `weir://`
//! URIs, the error codes every crate maps its errors onto, and the typed
//! configuration.
//!
//! This crate has no heavy dependencies so that every other crate, including
//! the pure numeric ones, can use it.

pub mod config;
pub mod error;
pub mod names;
pub mod refexpr;
pub mod uri;

pub use config::Config;
pub use error::{CoreError, ErrorCode};
pub use refexpr::{RefExpr, RefStep};
pub use uri::WeirUri;
