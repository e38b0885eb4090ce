//! The OpenAPI descriptions of the actuator's 503s: their own answer, or
//! the connection cap's JSON error (`crate::http`, on any path), which
//! each service's document registers as `Error`.

use utoipa::{
    ToResponse,
    openapi::{self, ContentBuilder, Ref, RefOr, ResponseBuilder, schema::OneOfBuilder},
};

use crate::openapi::retry_after;

/// A 503 whose body is the `schema` answer or the connection cap's error.
fn either(schema: &str, description: &str) -> openapi::Response {
    let body = OneOfBuilder::new()
        .item(Ref::from_schema_name(schema))
        .item(Ref::from_schema_name("Error"));
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(body)).build(),
        )
        .header("Retry-After", retry_after(false))
        .build()
}

/// `/actuator/health`'s 503.
pub(super) struct HealthDown;

impl<'s> ToResponse<'s> for HealthDown {
    fn response() -> (&'s str, RefOr<openapi::Response>) {
        let response = either(
            "ActuatorHealth",
            "A component is `DOWN` or `OUT_OF_SERVICE` (an `ActuatorHealth`), or too many \
             connections (an `Error`, with `Retry-After`).",
        );
        ("ActuatorHealthDown", response.into())
    }
}

/// `/actuator/health/readiness`'s 503.
pub(super) struct NotReady;

impl<'s> ToResponse<'s> for NotReady {
    fn response() -> (&'s str, RefOr<openapi::Response>) {
        let response = either(
            "ActuatorStatus",
            "`DOWN` or `OUT_OF_SERVICE` (an `ActuatorStatus`), or too many connections (an \
             `Error`, with `Retry-After`).",
        );
        ("ActuatorNotReady", response.into())
    }
}
