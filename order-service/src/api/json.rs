//! A JSON body extractor whose every failure is a JSON `{"message"}` with
//! the right status (axum's own `Json` answers in plain text): 415 unless
//! the content type is JSON, 413 over the size limit, 408 for a body that
//! does not arrive in time, 400 for a malformed body (broken chunked
//! encoding), malformed JSON or wrong types.
//!
//! Requiring `Content-Type: application/json` is also what keeps other
//! sites from placing orders: a browser sends a cross-site POST without a
//! preflight only with a "simple" content type (form, text) or none.

use axum::{
    body::to_bytes,
    extract::{FromRequest, Request},
    http::header,
};
use serde::de::DeserializeOwned;
use support::http::BodyTimeout;

use super::error::ApiError;

/// Largest request body accepted: an order is a few dozen bytes.
pub(super) const MAX_BODY: usize = 16 * 1024;

/// A deserialized JSON body.
pub(super) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let headers = request.headers();
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|ct| ct.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::NotJson);
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(ApiError::BodyTooLarge);
        }
        let bytes = to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(body_error)?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(ApiError::InvalidJson)
    }
}

/// What went wrong reading a body: too large, too slow, or malformed.
fn body_error(e: axum::Error) -> ApiError {
    if BodyTimeout::caused(&e) {
        return ApiError::BodyTimeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return ApiError::BodyTooLarge;
        }
        source = s.source();
    }
    ApiError::MalformedBody(e)
}
