//! The crate's one error type, converted to a gRPC status and to an HTTP
//! response in one place each. Clients get a clear message; the log gets the
//! source chain of internal failures.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// Everything an inventory operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (empty product, quantity < 1, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// The named product does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with recorded state (a reservation key reused
    /// for another request, a restock beyond the int32 stock range).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// An impossible state (a corrupt row).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Logs internal failures (clients only see a generic message for them).
    fn log(&self) {
        if matches!(self, Error::Database(_) | Error::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        e.log();
        match e {
            Error::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            Error::NotFound(m) => tonic::Status::not_found(m),
            Error::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            Error::Database(sqlx::Error::PoolTimedOut) => {
                tonic::Status::unavailable("database busy, retry later")
            }
            Error::Database(_) | Error::Internal(_) => tonic::Status::internal("internal error"),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let (status, message) = match self {
            Error::InvalidArgument(m) => (StatusCode::BAD_REQUEST, m),
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Error::FailedPrecondition(m) => (StatusCode::CONFLICT, m),
            Error::Database(sqlx::Error::PoolTimedOut) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database busy, retry later".into(),
            ),
            Error::Database(_) | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        };
        (status, Json(serde_json::json!({ "message": message }))).into_response()
    }
}
