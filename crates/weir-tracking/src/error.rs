//! Errors of the tracking store, each with its [`ErrorCode`].

use weir_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error(transparent)]
    Store(#[from] weir_store::StoreError),
    #[error(transparent)]
    Tables(#[from] weir_tables::TablesError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// Another process serves the tenant's store.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    /// A journal row or table that does not decode.
    #[error("{0}")]
    Corrupt(String),
    /// Building or reading a table's batches failed.
    #[error("tracking tables: {0}")]
    Internal(String),
}

impl TrackingError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TrackingError::Store(e) => e.code(),
            TrackingError::Tables(e) => e.code(),
            TrackingError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            TrackingError::NotFound(_) => ErrorCode::NotFound,
            TrackingError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            TrackingError::Unavailable(_) => ErrorCode::Unavailable,
            TrackingError::Conflict(_) => ErrorCode::Conflict,
            TrackingError::Corrupt(_) => ErrorCode::Corrupt,
            TrackingError::Internal(_) => ErrorCode::Internal,
        }
    }
}

pub type Result<T, E = TrackingError> = std::result::Result<T, E>;
