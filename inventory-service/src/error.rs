//! The crate's one error type, converted to a gRPC status and to an HTTP
//! response (a status and a message, which `support::error_body` makes
//! Spring's error body) in one place each. Clients get a clear message; the log gets the
//! source chain of internal failures.
//!
//! A database that cannot serve (unreachable, out of disk) is UNAVAILABLE /
//! 503: the request may succeed when retried, and an outage is not a bug in
//! this service. The database handle logs outages where they happen, once
//! per interval rather than once per request (see `support::db`); here,
//! ERROR lines are kept for what needs a developer (a failing query, a
//! corrupt row), so no client can produce them.

use axum::{
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use support::{db, error_body};

/// What clients are told while the database cannot be reached.
const UNAVAILABLE: &str = "database unavailable, retry later";
/// Seconds a REST client should wait before retrying a 503: long enough for
/// the pool to reconnect after a restart, short enough not to stall clients.
const RETRY_AFTER_SECS: &str = "1";

/// Everything an inventory operation can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The request is malformed (empty product, quantity < 1, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// A call that needs the configured token without it (see `auth`).
    #[error("{0}")]
    Unauthenticated(String),
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

impl Error {
    /// Whether the request itself was refused (malformed, unknown, in
    /// conflict, unauthenticated), not failed by the service.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::InvalidArgument(_)
                | Self::Unauthenticated(_)
                | Self::NotFound(_)
                | Self::FailedPrecondition(_)
        )
    }
}

/// Result with this crate's error.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the database could not be reached (retry later).
    fn is_unavailable(&self) -> bool {
        matches!(self, Error::Database(e) if db::is_unavailable(e))
    }

    /// Logs server-side failures (clients only see a generic message for
    /// them); outages are logged by the database handle.
    fn log(&self) {
        if !self.is_unavailable() && matches!(self, Error::Database(_) | Error::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        e.log();
        match e {
            Error::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            Error::Unauthenticated(m) => tonic::Status::unauthenticated(m),
            Error::NotFound(m) => tonic::Status::not_found(m),
            Error::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            Error::Database(e) if db::is_unavailable(&e) => tonic::Status::unavailable(UNAVAILABLE),
            Error::Database(_) | Error::Internal(_) => tonic::Status::internal("internal error"),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let (status, message) = match self {
            Error::InvalidArgument(m) => (StatusCode::BAD_REQUEST, m),
            Error::Unauthenticated(m) => (StatusCode::UNAUTHORIZED, m),
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Error::FailedPrecondition(m) => (StatusCode::CONFLICT, m),
            Error::Database(e) if db::is_unavailable(&e) => {
                let mut response = error_body::answer(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
                return response;
            }
            Error::Database(_) | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        };
        error_body::answer(status, message)
    }
}

#[cfg(test)]
mod tests;
