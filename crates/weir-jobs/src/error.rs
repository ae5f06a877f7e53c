//! Errors of the pipelines layer, each with its [`ErrorCode`].

use weir_core::{CoreError, ErrorCode};
use weir_sql::SqlError;
use weir_store::StoreError;
use weir_tables::TablesError;

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tables(#[from] TablesError),
    #[error(transparent)]
    Sql(#[from] SqlError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Lineage(#[from] weir_lineage::LineageError),
    #[error("{}", .0.find_root())]
    DataFusion(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("{}", .0)]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    /// The manifest or one of its SQL files is wrong; names the file.
    #[error("{file}: {message}")]
    Manifest { file: String, message: String },
    /// A `--param` that is unknown or does not parse as its declared type.
    #[error("{0}")]
    Param(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// A stage or gate failed; the run stopped and its branch was kept.
    #[error("{message}")]
    RunFailed { code: ErrorCode, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl JobsError {
    pub fn code(&self) -> ErrorCode {
        match self {
            JobsError::Store(e) => e.code(),
            JobsError::Tables(e) => e.code(),
            JobsError::Sql(e) => e.code(),
            JobsError::Core(e) => e.code(),
            JobsError::Lineage(e) => e.code(),
            JobsError::DataFusion(_)
            | JobsError::Arrow(_)
            | JobsError::Manifest { .. }
            | JobsError::Param(_)
            | JobsError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            JobsError::NotFound(_) => ErrorCode::NotFound,
            JobsError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            JobsError::RunFailed { code, .. } => *code,
            JobsError::Io(_) => ErrorCode::Storage,
        }
    }
}

pub type Result<T, E = JobsError> = std::result::Result<T, E>;
