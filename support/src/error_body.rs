//! Spring Boot's error body, for every JSON error of both services:
//! `{"timestamp","status","error","path","message"}` (Spring's
//! `DefaultErrorAttributes`, with `message` always included), so clients
//! written against the original read the same fields.
//!
//! Handlers, extractors and fallbacks answer with just a status and a
//! message ([`answer`]); one middleware ([`complete`]), the outermost
//! layer of each service's router, turns every JSON error passing through
//! it into the whole body. Doing it on the way out, rather than having each
//! error type find the request's path, is what makes a missing field
//! impossible: an error type needs no request context, errors made by code
//! we do not own (the `live` crate's connection cap) are completed too, and
//! a new error path cannot forget. It costs a successful response nothing
//! (its body is never touched) and an error one a parse of a few bytes.
//!
//! The answers the socket writes itself, before a request reaches the
//! router (the connection cap, hyper's refusals of a malformed head), are
//! built with [`ErrorBody::new`] directly: the same fields, with an empty
//! `path`, as no request line was read.

use std::time::SystemTime;

use axum::{
    Json,
    body::{Body, to_bytes},
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body::Body as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[cfg(test)]
mod tests;

/// Largest error body completed. Ours are a message of a few dozen bytes;
/// anything bigger is not one of them and passes through as it is.
const MAX_ERROR_BODY: u64 = 16 * 1024;

/// The body of every JSON error answer (the `Error` schema of both
/// services' OpenAPI documents).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// When the error happened: RFC 3339, UTC, milliseconds (like an
    /// order's `createdAt`).
    #[schema(format = DateTime, example = "2026-11-25T03:58:48.925Z")]
    pub timestamp: String,
    /// The HTTP status code, as in the status line.
    #[schema(minimum = 400, maximum = 599, example = 404)]
    pub status: u16,
    /// The status' reason phrase.
    #[schema(example = "Not Found")]
    pub error: String,
    /// The request's path, without the query; empty when the connection
    /// was refused before its request was read.
    #[schema(example = "/orders/42")]
    pub path: String,
    /// What went wrong, for people.
    #[schema(example = "Order 42 not found")]
    pub message: String,
}

impl ErrorBody {
    /// The body for an error with `status`, on `path`, now.
    pub fn new(status: StatusCode, path: &str, message: impl Into<String>) -> Self {
        Self {
            timestamp: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            status: status.as_u16(),
            error: status.canonical_reason().unwrap_or("Unknown").to_owned(),
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// The body as JSON bytes, followed by a newline (for socket-level
    /// answers, which are read with curl and in logs).
    pub fn to_line(&self) -> String {
        // Strings and integers only: serialising cannot fail.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }
}

/// What a handler answers an error with: the status and `{"message"}`;
/// [`complete`] adds the rest on the way out.
pub fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(Message {
            message: message.into(),
        }),
    )
        .into_response()
}

/// An answer before [`complete`]: only the message. Any other body,
/// complete already or shaped otherwise (health's `{"status":"DOWN"}`), is
/// not ours to rewrite.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    message: String,
}

/// Middleware (`axum::middleware::from_fn(complete)`, outermost): every
/// JSON error answer with a `message` gets Spring's other fields; every
/// other answer passes untouched, its body unread.
pub async fn complete(request: Request, next: Next) -> Response {
    // A `Uri` clone shares its bytes: no copy of the path per request.
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || !is_json(response.headers().get(header::CONTENT_TYPE))
        || response
            .body()
            .size_hint()
            .exact()
            .is_none_or(|n| n > MAX_ERROR_BODY)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ERROR_BODY as usize).await else {
        // A body that fails to read is not one of ours; nothing to send.
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(Message { message }) = serde_json::from_slice(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let body = ErrorBody::new(status, uri.path(), message);
    // Strings and integers only: serialising cannot fail.
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// `application/json`, with or without parameters.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}
