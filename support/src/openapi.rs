//! Serving an OpenAPI document (both services publish theirs at
//! `/openapi.json` and `/v3/api-docs`), and the pieces both documents
//! describe alike: JSON error answers and `Retry-After`.

use axum::{
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    ToResponse,
    openapi::{
        self as oa, ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
        extensions::Extensions,
        header::{Header, HeaderBuilder},
        schema::{ObjectBuilder, Type},
    },
};

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

/// A JSON error answer (the `Error` schema, `crate::error_body::ErrorBody`,
/// which each document registers).
pub fn error(description: impl Into<String>) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build(),
    )
}

/// A response header; `required` when every such response carries it.
pub fn header(schema: Type, description: &str, required: bool) -> Header {
    let mut header = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(schema)))
        .description(Some(description))
        .build();
    if required {
        // OpenAPI's Header Object has `required`; utoipa's has no field for
        // it, but its extensions serialise flattened into the object.
        header
            .extensions
            .get_or_insert_with(Extensions::default)
            .insert("required".into(), true.into());
    }
    header
}

/// `Retry-After` in seconds, as both services' errors and `crate::http`'s
/// connection cap send it.
pub fn retry_after(required: bool) -> Header {
    header(Type::Integer, "Seconds to wait before retrying.", required)
}

/// The connection cap's 503, for the paths that have no 503 of their own
/// (used `inline`, so its name is never seen).
pub(crate) struct Busy;

impl<'s> ToResponse<'s> for Busy {
    fn response() -> (&'s str, RefOr<oa::Response>) {
        let response = error("Too many connections; retry after `Retry-After` seconds.")
            .header("Retry-After", retry_after(true))
            .build();
        ("Busy", response.into())
    }
}
