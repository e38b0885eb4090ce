//! Serving an OpenAPI document: both services publish theirs at
//! `/openapi.json` and `/v3/api-docs`.

use axum::{
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::openapi::OpenApi;

/// The finished document as served, serialised once at start-up. Cheap to
/// clone (handlers get it from a request extension).
#[derive(Clone, Debug)]
pub struct Document(Bytes);

impl Document {
    /// Serialises `doc`.
    pub fn new(doc: &OpenApi) -> Self {
        // Maps with string keys and plain values: serialising cannot fail.
        Self(Bytes::from(
            doc.to_json().expect("an OpenAPI document serialises"),
        ))
    }
}

impl IntoResponse for Document {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}
