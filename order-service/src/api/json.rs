//! A JSON body extractor whose every failure is a JSON `{"message"}` with
//! the right status (axum's own `Json` answers in plain text): 415 for a
//! non-JSON content type, 413 over the size limit, 400 for malformed JSON or
//! wrong types.

use axum::{
    body::to_bytes,
    extract::{FromRequest, Request},
    http::header,
};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Largest request body accepted: an order is a few dozen bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// A deserialized JSON body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Error> {
        let headers = request.headers();
        if let Some(ct) = headers.get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(Error::UnsupportedMediaType(
                    "Content-Type must be application/json".into(),
                ));
            }
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_large =
            || Error::PayloadTooLarge(format!("Request body must be at most {MAX_BODY} bytes"));
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_large());
        }
        let bytes = to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|_| too_large())?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::BadRequest(format!("Invalid JSON body: {e}")))
    }
}
