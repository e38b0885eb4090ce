//! The REST API's error: the flow's [`Error`] plus what only HTTP can go
//! wrong (bodies, queries, paths, methods, origins), mapped to a status
//! and a message here, in one place (`support::error_body` turns them into
//! Spring's error body on the way out). Each message is written once, in
//! its `Display`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use support::error_body;

use super::json::MAX_BODY;
use crate::error::Error;

#[cfg(test)]
mod tests;

/// Everything a REST request can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// What the flow or the store refused or failed with.
    #[error(transparent)]
    Flow(#[from] Error),
    /// The body is not JSON of the expected shape (400).
    #[error("Invalid JSON body: {0}")]
    InvalidJson(serde_json::Error),
    /// The body could not be read: broken chunked encoding and the like (400).
    #[error("Malformed request body: {0}")]
    MalformedBody(axum::Error),
    /// The query string does not parse (400).
    #[error("Invalid query: {0}")]
    InvalidQuery(serde_urlencoded::de::Error),
    /// A query parameter out of its range (400).
    #[error("{name} must be an integer from {min} to {max}")]
    OutOfRange {
        /// The parameter.
        name: &'static str,
        /// Smallest accepted.
        min: i64,
        /// Largest accepted.
        max: i64,
    },
    /// A path segment that is not UTF-8 (400).
    #[error("Invalid order id: {0}")]
    InvalidPath(String),
    /// An `{id}` that is not a positive integer (400).
    #[error("Order id must be a positive integer, not {0:?}")]
    InvalidOrderId(String),
    /// A preflight from an origin that is not allowed (403).
    #[error("Invalid CORS request")]
    PreflightRefused,
    /// A write from an origin that is not allowed (403).
    #[error("Cross-site request from an origin that is not allowed")]
    CrossSite,
    /// No such route or file (404).
    #[error("Not found")]
    NoRoute,
    /// The route exists, the method does not (405).
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// The body did not arrive within the body timeout (408).
    #[error("Request body not received in time")]
    BodyTimeout,
    /// The body is over [`MAX_BODY`] (413).
    #[error("Request body must be at most {} bytes", MAX_BODY)]
    BodyTooLarge,
    /// The body is not declared JSON (415).
    #[error("Content-Type must be application/json")]
    NotJson,
    /// One of the page's own files could not be read (500).
    #[error("cannot read the file")]
    UnreadableFile,
}

/// Result with the REST API's error.
pub(crate) type Result<T, E = ApiError> = std::result::Result<T, E>;

impl From<crate::domain::Invalid> for ApiError {
    fn from(e: crate::domain::Invalid) -> Self {
        Self::Flow(e.into())
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Flow(e) => flow_status(e),
            ApiError::InvalidJson(_)
            | ApiError::MalformedBody(_)
            | ApiError::InvalidQuery(_)
            | ApiError::OutOfRange { .. }
            | ApiError::InvalidPath(_)
            | ApiError::InvalidOrderId(_) => StatusCode::BAD_REQUEST,
            ApiError::PreflightRefused | ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UnreadableFile => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client reads.
    fn public_message(&self) -> String {
        match self {
            ApiError::Flow(e) => e.public_message(),
            // Logged where it happened, with the I/O error.
            ApiError::UnreadableFile => "Internal error".into(),
            other => other.to_string(),
        }
    }
}

/// The status of each of the flow's errors.
fn flow_status(e: &Error) -> StatusCode {
    match e.cause() {
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::OrderNotFound(_) => StatusCode::NOT_FOUND,
        Error::NotCancellable { .. } | Error::KeyInFlight => StatusCode::CONFLICT,
        Error::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        Error::InventoryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        e if e.is_database_outage() => StatusCode::SERVICE_UNAVAILABLE,
        Error::Database(_) | Error::Internal(_) | Error::Batch(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = error_body::answer(status, self.public_message());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(
            status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            // The rest of the body is left unread, so the connection cannot
            // carry another request: saying so keeps a keep-alive client
            // from sending its next request into a closing socket.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
