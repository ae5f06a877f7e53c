//! Errors of the tables layer, each with its [`ErrorCode`].

use weir_core::{CoreError, ErrorCode};
use weir_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(
        "invalid table name {0:?}: use letters, digits and '_', starting with a letter or '_' (at most 128)"
    )]
    InvalidName(String),
    #[error("no table {table} at {reference}")]
    NotATable { table: String, reference: String },
    #[error("{0}")]
    NotAllowed(String),
    #[error(
        "column {column}: the table has type {table_type}, the input has {input_type}; change the input or write to a new table"
    )]
    TypeChange {
        column: String,
        table_type: String,
        input_type: String,
    },
    #[error(
        "column {column} is not in the table; pass --allow-new-columns to add it (it must be nullable)"
    )]
    NewColumn { column: String },
    #[error("{file}: {message}")]
    BadInput { file: String, message: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("delta: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("{0}")]
    DataFusion(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("{0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl TablesError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TablesError::Store(e) => e.code(),
            TablesError::Core(e) => e.code(),
            TablesError::InvalidName(_)
            | TablesError::TypeChange { .. }
            | TablesError::NewColumn { .. }
            | TablesError::BadInput { .. }
            | TablesError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            TablesError::NotATable { .. } => ErrorCode::NotFound,
            TablesError::NotAllowed(_) => ErrorCode::NotAllowed,
            TablesError::Delta(e) => delta_code(e),
            TablesError::DataFusion(_) | TablesError::Arrow(_) => ErrorCode::InvalidArgument,
            TablesError::Io(_) => ErrorCode::Storage,
        }
    }
}

fn delta_code(e: &deltalake::DeltaTableError) -> ErrorCode {
    use deltalake::DeltaTableError as D;
    match e {
        D::NotATable(_) => ErrorCode::NotFound,
        D::VersionAlreadyExists(_) | D::Transaction { .. } => ErrorCode::Conflict,
        D::SchemaMismatch { .. } | D::InvalidData { .. } | D::Generic(_) => {
            ErrorCode::InvalidArgument
        }
        _ => ErrorCode::Storage,
    }
}

pub type Result<T, E = TablesError> = std::result::Result<T, E>;
