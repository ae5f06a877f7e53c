//! Error codes shared by every crate.
//!
//! Each crate has its own `thiserror` enum; every variant reports one
//! [`ErrorCode`]. This file is the single place where a code becomes an HTTP
//! status or a process exit code, so the CLI and the HTTP API always agree on
//! what kind of failure happened.

use std::fmt;

/// The kind of a failure, independent of where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The caller sent something malformed: a bad name, path, URI or option.
    InvalidArgument,
    /// A repository, ref, object or table that does not exist.
    NotFound,
    /// Creating something that already exists.
    AlreadyExists,
    /// A concurrent change or a merge conflict; retrying may succeed.
    Conflict,
    /// A conditional operation whose condition did not hold.
    PreconditionFailed,
    /// The operation is valid but not allowed here (writing to a tag, say).
    NotAllowed,
    /// The lake directory is missing or is not a weir lake.
    NotALake,
    /// Stored data does not match its hash: tampering or corruption.
    Corrupt,
    /// The underlying storage failed.
    Storage,
    /// A backend the lake needs (its PostgreSQL metadata, say) cannot be
    /// reached now; retrying later may succeed.
    Unavailable,
    /// Over a tenant's quota (requests per second, queries at once);
    /// retrying after a while succeeds.
    OverQuota,
    /// A check ran and found problems: a failed quality gate, a failed
    /// verification. Not misuse, so it has its own exit code (1).
    CheckFailed,
    /// A bug in weir.
    Internal,
}

impl ErrorCode {
    /// Stable, machine-readable name (used in JSON error bodies).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::NotALake => "not_a_lake",
            ErrorCode::Corrupt => "corrupt",
            ErrorCode::Storage => "storage",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::OverQuota => "over_quota",
            ErrorCode::CheckFailed => "check_failed",
            ErrorCode::Internal => "internal",
        }
    }

    /// HTTP status for the REST API (lakeFS uses the same mapping).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidArgument => 400,
            ErrorCode::NotAllowed => 403,
            ErrorCode::NotFound | ErrorCode::NotALake => 404,
            ErrorCode::AlreadyExists | ErrorCode::Conflict => 409,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::CheckFailed => 422,
            ErrorCode::Corrupt | ErrorCode::Storage | ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
            ErrorCode::OverQuota => 429,
        }
    }

    /// Process exit code for the CLI. 1 means "a check found problems"
    /// (`weir verify`, failed gates) so scripts can tell it from misuse.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorCode::InvalidArgument => 2,
            ErrorCode::NotFound => 3,
            ErrorCode::AlreadyExists => 4,
            ErrorCode::Conflict => 5,
            ErrorCode::PreconditionFailed => 6,
            ErrorCode::NotAllowed => 7,
            ErrorCode::NotALake => 8,
            ErrorCode::Corrupt => 9,
            ErrorCode::Storage => 10,
            ErrorCode::Unavailable => 11,
            ErrorCode::OverQuota => 12,
            ErrorCode::CheckFailed => 1,
            ErrorCode::Internal => 70,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of this crate: all of them are bad input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    #[error("invalid {kind} name {name:?}: {rule}")]
    InvalidName {
        kind: &'static str,
        name: String,
        rule: &'static str,
    },
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("invalid ref expression {expr:?}: {reason}")]
    InvalidRef { expr: String, reason: String },
    #[error("invalid URI {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl CoreError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidArgument
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_distinct_exit_code() {
        let all = [
            ErrorCode::InvalidArgument,
            ErrorCode::NotFound,
            ErrorCode::AlreadyExists,
            ErrorCode::Conflict,
            ErrorCode::PreconditionFailed,
            ErrorCode::NotAllowed,
            ErrorCode::NotALake,
            ErrorCode::Corrupt,
            ErrorCode::Storage,
            ErrorCode::Unavailable,
            ErrorCode::OverQuota,
            ErrorCode::Internal,
        ];
        let mut seen = std::collections::HashSet::new();
        seen.insert(ErrorCode::CheckFailed.exit_code());
        for c in all {
            assert!(seen.insert(c.exit_code()), "{c} reuses an exit code");
            assert_ne!(c.exit_code(), 0);
        }
        assert_eq!(ErrorCode::CheckFailed.exit_code(), 1);
        assert_eq!(ErrorCode::Conflict.http_status(), 409);
        assert_eq!(ErrorCode::NotFound.http_status(), 404);
    }
}
