//! The OpenAPI 3.1 document of the REST listing, served at `/openapi.json`
//! and `/v3/api-docs` (springdoc's path). Operations are described on their
//! handlers and registered with their routes in `super::routes`; this
//! module adds the title, the description and the shared responses.
//! (order-service has its own: the two documents share no operation.)

use axum::Extension;
use utoipa::{
    ToResponse,
    openapi::{
        self, ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr,
        ResponseBuilder, Tag, info::LicenseBuilder, schema::OneOfBuilder,
    },
};

use support::error_body::ErrorBody;

/// What the document says about the whole API.
const DESCRIPTION: &str = "\
The original's product listing and a health check. Stock changes and reservations are \
gRPC, on port 9091 (`InventoryService`, with server reflection).

Every error is JSON, Spring Boot's error body (`timestamp`, `status`, `error`, `path`, \
`message`): unknown paths answer 404, other methods on these paths 405 (with `Allow`). Every \
503 carries `Retry-After`.

Swagger UI shows this document at `/swagger-ui/index.html`.";

/// The document before its operations.
pub(super) fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("inventory-service REST API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .license(Some(
            LicenseBuilder::new()
                .name(env!("CARGO_PKG_LICENSE"))
                .identifier(Some(env!("CARGO_PKG_LICENSE")))
                .build(),
        ))
        .build();
    let components = ComponentsBuilder::new()
        .schema_from::<ErrorBody>()
        .response_from::<InternalError>()
        .response_from::<Unavailable>()
        .build();
    let tags = [
        ("products", "Products and their stock."),
        ("health", "Liveness and readiness."),
        (
            "actuator",
            "Health and build information as Spring Boot Actuator serves them.",
        ),
        ("docs", "This document."),
    ]
    .map(|(name, description)| {
        let mut tag = Tag::new(name);
        tag.description = Some(description.to_owned());
        tag
    });
    OpenApiBuilder::new()
        .info(info)
        .tags(Some(tags))
        .components(Some(components))
        .build()
}

/// A failed query or a corrupt row.
pub(super) struct InternalError;

impl<'s> ToResponse<'s> for InternalError {
    fn response() -> (&'s str, RefOr<openapi::Response>) {
        let response = error("An internal failure; the message is generic.").build();
        ("InternalError", response.into())
    }
}

/// 503 from the error type (the database cannot be reached) or from the
/// connection cap (`support::http`), any operation.
pub(super) struct Unavailable;

impl<'s> ToResponse<'s> for Unavailable {
    fn response() -> (&'s str, RefOr<openapi::Response>) {
        let response = error(
            "The database cannot be reached, or the service has too many connections; \
             retry after `Retry-After` seconds.",
        )
        .header("Retry-After", retry_after(true))
        .build();
        ("Unavailable", response.into())
    }
}

/// The 503 of `/health` and `/health/ready`: their own answer, or the connection cap's error.
pub(super) struct NotReady;

impl<'s> ToResponse<'s> for NotReady {
    fn response() -> (&'s str, RefOr<openapi::Response>) {
        let body = OneOfBuilder::new()
            .item(Ref::from_schema_name("Health"))
            .item(Ref::from_schema_name("Error"));
        let response = ResponseBuilder::new()
            .description(
                "The database does not answer or refuses writes (a `Health`), or too many \
                 connections (an `Error`, with `Retry-After`).",
            )
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(body)).build(),
            )
            .header("Retry-After", retry_after(false))
            .build();
        ("NotReady", response.into())
    }
}

pub(super) use support::openapi::Document;
use support::openapi::{error, retry_after};

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "docs", operation_id = "openapi",
    summary = "This OpenAPI document",
    responses(
        (status = 200, description = "This document (OpenAPI 3.1).", body = serde_json::Value, content_type = "application/json"),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn openapi(Extension(doc): Extension<Document>) -> Document {
    doc
}

/// This document, where springdoc serves it.
#[utoipa::path(
    get, path = "/v3/api-docs", tag = "docs", operation_id = "apiDocs",
    summary = "This OpenAPI document, at springdoc's path",
    responses(
        (status = 200, description = "The same document as `/openapi.json`.", body = serde_json::Value, content_type = "application/json"),
        (status = 503, response = Unavailable),
    )
)]
pub(super) async fn api_docs(Extension(doc): Extension<Document>) -> Document {
    doc
}
