use weir_core::ErrorCode;

/// Everything a kernel can refuse. All of these are the caller's input, so
/// they map to `invalid_argument`; the message names the accepted values.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ForecastError {
    #[error("unknown model '{0}'; accepted: {models}", models = crate::MODEL_NAMES.join(", "))]
    UnknownModel(String),
    #[error("{what}: {why}")]
    BadArgument { what: &'static str, why: String },
    #[error("{model} needs at least {needed} observations, the series has {got}")]
    TooShort {
        model: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("{0}")]
    NotApplicable(String),
}

impl ForecastError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidArgument
    }

    pub(crate) fn arg(what: &'static str, why: impl Into<String>) -> Self {
        ForecastError::BadArgument {
            what,
            why: why.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ForecastError>;
