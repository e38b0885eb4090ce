//! The OpenAPI 3.1 document of the REST API, served at `/openapi.json` and
//! `/v3/api-docs` (where Spring's springdoc serves it, so its users' tools
//! find it). Operations are described on their handlers and registered
//! together with their routes in `super::routes`, so no route is served
//! without its description; this module adds what is shared: the title,
//! the description, the error responses and the headers.

use axum::Extension;
use utoipa::{
    ToResponse,
    openapi::{self, ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, RefOr, Tag},
};

use super::schema::ErrorBody;

/// What the document says about the whole API.
const DESCRIPTION: &str = "\
Orders, placed and cancelled over REST; their stock is reserved at inventory-service.

Every error is JSON, Spring Boot's error body (`timestamp`, `status`, `error`, `path`, \
`message`), whatever the path or method: other methods on these paths answer 405 (with \
`Allow`), unknown paths 404 (every other path serves the page's files). Every 503 carries `Retry-After`. A refused browser origin gets 403 on \
every `POST` (see `ALLOWED_ORIGINS`).

Swagger UI shows this document at `/swagger-ui/index.html`.

Live changes are not REST: STOMP 1.2 over WebSocket (`ws://host:8080/ws-orders`) or \
SockJS (`http://host:8080/ws-orders`), topics `/topic/orders` and `/topic/products`. \
Subscribe with the header `from-seq` set to a list's `Event-Seq` to miss no change \
between the list and the subscription.";

/// The document before its operations: title, version, description, tags
/// and the shared components.
pub(super) fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("order-service REST API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .license(Some(
            openapi::info::LicenseBuilder::new()
                .name(env!("CARGO_PKG_LICENSE"))
                .identifier(Some(env!("CARGO_PKG_LICENSE")))
                .build(),
        ))
        .build();
    let components = ComponentsBuilder::new()
        .schema_from::<ErrorBody>()
        .response_from::<Forbidden>()
        .response_from::<RequestTimeout>()
        .response_from::<PayloadTooLarge>()
        .response_from::<UnsupportedMediaType>()
        .response_from::<InternalError>()
        .response_from::<Unavailable>()
        .build();
    let tags = [
        ("orders", "Place, list, read and cancel orders."),
        ("products", "Inventory's products and their stock."),
        ("health", "Liveness, readiness and metrics."),
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

/// Declares reusable error responses (`#/components/responses/<Name>`).
macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident => $description:expr;)*) => {$(
        $(#[$doc])*
        pub(super) struct $name;

        impl<'s> ToResponse<'s> for $name {
            fn response() -> (&'s str, RefOr<openapi::Response>) {
                (stringify!($name), error($description).build().into())
            }
        }
    )*};
}

error_responses! {
    /// The cross-site guard (`cross_site.rs`).
    Forbidden => "A browser origin that is not allowed (or `Sec-Fetch-Site: cross-site` \
        without `Origin`); nothing was done.";
    /// `json::JsonBody`'s body timeout.
    RequestTimeout => "The request body did not arrive within `HTTP_BODY_TIMEOUT_MS`; the \
        connection closes.";
    /// `json::MAX_BODY`.
    PayloadTooLarge => &format!(
        "The request body is over {} bytes; the connection closes.",
        super::json::MAX_BODY
    );
    /// `json::JsonBody`'s content-type check.
    UnsupportedMediaType => "`Content-Type` is not `application/json` (or `*/*+json`).";
    /// A failed query or a broken invariant; details are in the log only.
    InternalError => "An internal failure; the message is generic.";
}

/// 503 from the error type (inventory or the database cannot be reached),
/// or from the connection cap (`support::http`), any operation.
pub(super) struct Unavailable;

impl<'s> ToResponse<'s> for Unavailable {
    fn response() -> (&'s str, RefOr<openapi::Response>) {
        let response = error(
            "Inventory or the database cannot be reached, or the service has too many \
             connections; retry after `Retry-After` seconds.",
        )
        .header("Retry-After", retry_after(true))
        .build();
        ("Unavailable", response.into())
    }
}

pub(super) use support::openapi::{Document, error, header, retry_after};

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
