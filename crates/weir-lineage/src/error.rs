//! Errors of the lineage layer, each with its [`ErrorCode`].

use weir_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error(transparent)]
    Store(#[from] weir_store::StoreError),
    #[error(transparent)]
    Tables(#[from] weir_tables::TablesError),
    #[error("{}", .0.find_root())]
    DataFusion(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("{0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("delta: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    /// An OpenLineage event that lacks what every event must have.
    #[error("invalid OpenLineage event: {0}")]
    InvalidEvent(String),
    #[error("{0}")]
    InvalidArgument(String),
}

impl LineageError {
    pub fn code(&self) -> ErrorCode {
        match self {
            LineageError::Store(e) => e.code(),
            LineageError::Tables(e) => e.code(),
            LineageError::DataFusion(_)
            | LineageError::InvalidEvent(_)
            | LineageError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            LineageError::Arrow(_) | LineageError::Delta(_) => ErrorCode::Storage,
        }
    }
}

pub type Result<T, E = LineageError> = std::result::Result<T, E>;
