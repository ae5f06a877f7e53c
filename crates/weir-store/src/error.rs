//! Errors of the versioned store. Every variant maps to one
//! [`weir_core::ErrorCode`]; the binary and the HTTP API turn that code into
//! an exit code or a status.

use weir_core::{CoreError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Invalid(#[from] CoreError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("no lake at {path}: {hint}")]
    NotALake { path: String, hint: String },
    #[error("{kind} not found: {name}")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} already exists: {name}")]
    AlreadyExists { kind: &'static str, name: String },
    #[error("ref {expr:?} is ambiguous: it matches {matches}")]
    AmbiguousRef { expr: String, matches: String },
    #[error("{0}")]
    NotAllowed(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("merge conflict on {count} object(s): {paths}{more}; retry with --strategy source-wins or dest-wins", more = if *count > 5 { ", ..." } else { "" })]
    MergeConflict { count: usize, paths: String },
    /// Delta tables both sides changed in ways that do not commute.
    #[error(
        "merge conflict: {0}; merge one side first and redo the other, or retry with --strategy source-wins or dest-wins to take one side's table whole"
    )]
    TableConflict(String),
    #[error("no changes: {0}")]
    NoChanges(String),
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("corrupt lake: {0}")]
    Corrupt(String),
    /// An object version whose bytes garbage collection deleted by rule.
    #[error("{0}")]
    Collected(String),
    #[error("metadata database: {0}")]
    Meta(#[from] rusqlite::Error),
    #[error("object storage: {0}")]
    Storage(#[from] object_store::Error),
    /// The PostgreSQL metadata store refused or failed a statement.
    #[error("metadata database: {0}")]
    Postgres(String),
    /// The metadata database cannot be reached (down, refused, timed out).
    #[error("metadata database unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Invalid(e) => e.code(),
            StoreError::InvalidArgument(_) | StoreError::AmbiguousRef { .. } => {
                ErrorCode::InvalidArgument
            }
            StoreError::NotALake { .. } => ErrorCode::NotALake,
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::AlreadyExists { .. } => ErrorCode::AlreadyExists,
            StoreError::NotAllowed(_) => ErrorCode::NotAllowed,
            StoreError::Conflict(_)
            | StoreError::MergeConflict { .. }
            | StoreError::TableConflict(_) => ErrorCode::Conflict,
            // lakeFS answers "no changes" with a 400 as well.
            StoreError::NoChanges(_) => ErrorCode::InvalidArgument,
            StoreError::PreconditionFailed(_) => ErrorCode::PreconditionFailed,
            StoreError::Corrupt(_) => ErrorCode::Corrupt,
            StoreError::Collected(_) => ErrorCode::NotFound,
            StoreError::Meta(_)
            | StoreError::Storage(_)
            | StoreError::Io(_)
            | StoreError::Postgres(_) => ErrorCode::Storage,
            StoreError::Unavailable(_) => ErrorCode::Unavailable,
        }
    }

    pub(crate) fn not_found(kind: &'static str, name: impl Into<String>) -> StoreError {
        StoreError::NotFound {
            kind,
            name: name.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
