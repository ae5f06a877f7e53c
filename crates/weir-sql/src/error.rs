//! Errors of the SQL layer, each with its [`ErrorCode`].

use weir_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(transparent)]
    Store(#[from] weir_store::StoreError),
    #[error(transparent)]
    Tables(#[from] weir_tables::TablesError),
    #[error("{}", .0.find_root())]
    DataFusion(#[from] deltalake::datafusion::error::DataFusionError),
    /// A statement a read-only session refuses to run.
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    InvalidArgument(String),
}

impl SqlError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SqlError::Store(e) => e.code(),
            SqlError::Tables(e) => e.code(),
            // Planning and execution errors are the query's fault.
            SqlError::DataFusion(_) | SqlError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            SqlError::NotAllowed(_) => ErrorCode::NotAllowed,
        }
    }
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;
