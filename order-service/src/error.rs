//! The crate's one error type, mapped to an HTTP response and to a gRPC
//! status in one place each. Clients see `{"message": "…"}`; internal
//! failures are logged with their source and shown as a generic message.

use std::sync::Arc;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use support::db::is_unavailable;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such order or route (404).
    #[error("{0}")]
    NotFound(String),
    /// The route exists, the method does not (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A cross-site request from an origin that is not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request body did not arrive in time (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// The order's state does not allow it (409), or the same
    /// Idempotency-Key is still being processed.
    #[error("{0}")]
    Conflict(String),
    /// The Idempotency-Key was used for a different request (422).
    #[error("{0}")]
    Unprocessable(String),
    /// Body over the limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Body not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Inventory unreachable or too slow (503).
    #[error("Inventory unavailable")]
    InventoryUnavailable,
    /// Database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
    /// The failure of a whole batch (see `flow::batches`), shared by every
    /// request in it; answered as that failure would be.
    #[error("{0}")]
    Batch(Arc<Error>),
}

/// The body of every error answer: `{"message": "…"}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    /// What went wrong, for people.
    pub message: String,
}

/// Result with this crate's error.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the database cannot serve (unreachable, out of disk): an
    /// outage the database handle has logged already.
    pub(crate) fn is_database_outage(&self) -> bool {
        match self {
            Error::Database(e) => is_unavailable(e),
            Error::Batch(e) => e.is_database_outage(),
            _ => false,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::InventoryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(e) if is_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Batch(e) => e.status(),
        }
    }

    fn grpc_code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            Error::BadRequest(_) | Error::PayloadTooLarge(_) | Error::UnsupportedMediaType(_) => {
                Code::InvalidArgument
            }
            Error::NotFound(_) => Code::NotFound,
            Error::MethodNotAllowed(_) => Code::Unimplemented,
            Error::Forbidden(_) => Code::PermissionDenied,
            Error::RequestTimeout(_) => Code::DeadlineExceeded,
            Error::Conflict(_) | Error::Unprocessable(_) => Code::FailedPrecondition,
            Error::InventoryUnavailable => Code::Unavailable,
            Error::Database(e) if is_unavailable(e) => Code::Unavailable,
            Error::Database(_) | Error::Internal(_) => Code::Internal,
            Error::Batch(e) => e.grpc_code(),
        }
    }

    /// What the client reads; internal details stay in the log. A database
    /// that cannot serve (unreachable, out of disk) is an outage, not a bug:
    /// the database handle logged it where it failed, once per interval
    /// rather than once per request (see `support::db`), so nothing here.
    fn public_message(&self) -> String {
        match self {
            Error::Database(e) if is_unavailable(e) => "Database unavailable, retry later".into(),
            Error::Database(_) | Error::Internal(_) => {
                tracing::error!(error = %self, "request failed");
                "Internal error".into()
            }
            Error::Batch(e) => e.public_message(),
            other => other.to_string(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            message: self.public_message(),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        if matches!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            // The rest of the body is left unread, so the connection cannot
            // carry another request: saying so keeps a keep-alive client
            // from sending its next request into a closing socket.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        tonic::Status::new(e.grpc_code(), e.public_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_503_with_retry_after_and_unavailable() {
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            let response = Error::Database(e).into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        }
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(
            tonic::Status::from(Error::Database(io)).code(),
            tonic::Code::Unavailable
        );
        let bug = Error::Database(sqlx::Error::RowNotFound).into_response();
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
