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
}

impl SqlError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SqlError::Store(e) => e.code(),
            SqlError::Tables(e) => e.code(),
            // Planning and execution errors are the query's fault.
            SqlError::DataFusion(_) => ErrorCode::InvalidArgument,
        }
    }
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;
