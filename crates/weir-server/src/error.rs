//! Errors of the server, each with its [`ErrorCode`]; a response carries the
//! status [`ErrorCode::http_status`] gives and lakeFS's error body,
//! `{"message": ...}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weir_core::ErrorCode;
use weir_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but a policy does not allow it.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("range not satisfiable: {0}")]
    RangeNotSatisfiable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("key store: {0}")]
    Keys(String),
    /// Over the tenant's quota: the message, and the seconds to wait.
    #[error("{0}")]
    OverQuota(String, u64),
    /// The request ran past the server's time limit.
    #[error("{0}")]
    Timeout(String),
    /// An error of another weir crate (lineage, SQL, forecasting), with
    /// that crate's code.
    #[error("{1}")]
    Other(ErrorCode, String),
}

impl From<crate::authz::model::ModelError> for ServerError {
    fn from(e: crate::authz::model::ModelError) -> Self {
        use crate::authz::model::ModelError as M;
        match e {
            M::NotFound(m) => ServerError::NotFound(m),
            M::Exists(m) => ServerError::Conflict(m),
            M::Invalid(m) => ServerError::InvalidArgument(m),
        }
    }
}

impl From<weir_lineage::LineageError> for ServerError {
    fn from(e: weir_lineage::LineageError) -> Self {
        ServerError::Other(e.code(), e.to_string())
    }
}

impl From<weir_sql::SqlError> for ServerError {
    fn from(e: weir_sql::SqlError) -> Self {
        ServerError::Other(e.code(), e.to_string())
    }
}

impl From<weir_forecast::ForecastError> for ServerError {
    fn from(e: weir_forecast::ForecastError) -> Self {
        ServerError::Other(e.code(), e.to_string())
    }
}

impl ServerError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServerError::Store(e) => e.code(),
            ServerError::InvalidArgument(_)
            | ServerError::RangeNotSatisfiable(_)
            | ServerError::TooLarge(_)
            | ServerError::UnsupportedMediaType(_) => ErrorCode::InvalidArgument,
            ServerError::NotFound(_) => ErrorCode::NotFound,
            ServerError::OverQuota(..) => ErrorCode::OverQuota,
            ServerError::Unauthorized(_) | ServerError::Forbidden(_) => ErrorCode::NotAllowed,
            ServerError::Conflict(_) => ErrorCode::Conflict,
            ServerError::PreconditionFailed(_) => ErrorCode::PreconditionFailed,
            // A request this slow waited on storage or a long query.
            ServerError::Keys(_) | ServerError::Timeout(_) => ErrorCode::Storage,
            ServerError::Other(c, _) => *c,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            // The statuses that HTTP has and the error codes do not.
            ServerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServerError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ServerError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ServerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            // As lakeFS answers for an object garbage collection removed.
            ServerError::Store(StoreError::Collected(_)) => StatusCode::GONE,
            e => StatusCode::from_u16(e.code().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl From<rusqlite::Error> for ServerError {
    fn from(e: rusqlite::Error) -> Self {
        ServerError::Keys(e.to_string())
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = match &self {
            ServerError::OverQuota(_, secs) => Some(*secs),
            _ => None,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut r = (
            status,
            axum::Json(serde_json::json!({ "message": self.to_string() })),
        )
            .into_response();
        if let Some(secs) = retry {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"weir\""),
            );
        }
        r
    }
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;

/// A JSON body that lakeFS's API declares optional (a merge's, say): an
/// absent or empty body is the default value. axum's `Option<Json<T>>`
/// refuses an empty body sent with a JSON content type, as the lakeFS SDK
/// sends it.
pub struct OptionalJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = ServerError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ServerError> {
        let body = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| ServerError::InvalidArgument(e.body_text()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        serde_json::from_slice(&body)
            .map(OptionalJson)
            .map_err(|e| {
                ServerError::InvalidArgument(format!("the body is not the JSON expected: {e}"))
            })
    }
}
