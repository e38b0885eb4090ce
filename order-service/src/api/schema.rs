//! The wire types of the REST API and their OpenAPI schemas: what a client
//! sends and reads, as the published document describes it. The domain
//! types (`crate::domain`) carry no OpenAPI code; the schemas of what they
//! validate are made here from their limits, so the published contract
//! cannot drift from the checks, and `tests.rs` holds the JSON the domain
//! serialises to the schema written here.

use serde::{
    Deserialize, Deserializer,
    de::{Error as _, Unexpected},
};
use utoipa::{
    IntoParams, ToResponse, ToSchema,
    openapi::{
        self, ContentBuilder, KnownFormat, Ref, RefOr, Required, ResponseBuilder, SchemaFormat,
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::{ArrayBuilder, Object, ObjectBuilder, Type},
    },
};

use super::docs;
use crate::domain::{MAX_IDEMPOTENCY_KEY, MAX_PRODUCT_NAME, MAX_QUANTITY, reason};

#[cfg(test)]
mod tests;

/// Page size when `limit` is not given.
pub(super) const DEFAULT_PAGE: i64 = 100;
/// Largest page; bounds the work and memory of one request.
pub(super) const MAX_PAGE: i64 = 1000;

/// The request body, as the original: `{"product":"Laptop","quantity":2}`.
/// Fields are optional here so that a missing one gets a precise message;
/// the contract says they are required, as they are.
#[derive(Deserialize, ToSchema)]
#[schema(description = "A new order, as the original took it: \
    `{\"product\":\"Laptop\",\"quantity\":2}`.")]
pub(super) struct CreateOrder {
    /// The product's name at inventory.
    #[schema(schema_with = product, required = true)]
    pub(super) product: Option<String>,
    /// Units to order.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(schema_with = quantity, required = true)]
    pub(super) quantity: Option<i64>,
}

/// A JSON number without a fractional part, as JSON Schema's `integer` is
/// (so `2.0` is 2, as clients that write every number as a float send it).
/// Outside the i64 range it saturates, and `NewOrder::parse` refuses it
/// with its range message.
fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    if n.is_u64() {
        return Ok(Some(i64::MAX));
    }
    match n.as_f64() {
        // A saturating cast: no JSON number is NaN or infinite.
        Some(f) if f.fract() == 0.0 => Ok(Some(f as i64)),
        Some(f) => Err(D::Error::invalid_type(Unexpected::Float(f), &"an integer")),
        None => Err(D::Error::custom("expected an integer")),
    }
}

/// An order as clients see it: `{"id","product","quantity","status"}` as the
/// original, plus `reason` (rejections) and `createdAt` (RFC 3339, UTC).
// The schema of `domain::Order`'s JSON; `tests.rs` holds them together.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // Only its schema is used.
pub(super) struct Order {
    /// Increasing id; pages of `GET /orders` are cut by it.
    #[schema(minimum = 1)]
    id: i64,
    /// Product name.
    #[schema(schema_with = product)]
    product: String,
    /// Units ordered.
    #[schema(schema_with = quantity)]
    quantity: i64,
    /// Where it stands.
    status: Status,
    /// Why it was rejected.
    #[schema(schema_with = rejection_reason)]
    reason: Option<String>,
    /// When it was placed.
    #[schema(value_type = String, format = DateTime)]
    created_at: String,
}

/// Where an order stands.
// The schema of `domain::Status`' JSON.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(dead_code)] // Only its schema is used.
pub(super) enum Status {
    /// Recorded; its reservation is under way.
    Pending,
    /// Stock is reserved for it.
    Created,
    /// Not placed; `reason` says why.
    Rejected,
    /// Cancelled after it was created; its stock was given back.
    Cancelled,
}

/// A product as inventory lists it.
// The schema of `inventory::Product`'s JSON.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)] // Only its schema is used.
pub(super) struct Product {
    /// Inventory's id.
    #[schema(minimum = 1)]
    id: i64,
    /// Name.
    name: String,
    /// Units in stock.
    #[schema(minimum = 0)]
    stock_quantity: i32,
}

/// The body of every error answer, Spring's (`timestamp`, `status`,
/// `error`, `path`, `message`): the `Error` schema.
pub(crate) use support::error_body::ErrorBody;

/// The optional `Idempotency-Key` request header.
pub(super) struct IdempotencyKeyHeader;

impl IntoParams for IdempotencyKeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes a retry safe: a retry with the same key and body returns the \
                     first answer instead of placing a second order; the same key with \
                     another body is 422, a retry while the first is in flight 409.",
                ))
                .schema(Some(idempotency_key()))
                .build(),
        ]
    }
}

/// The query of `GET /orders`, read as text so that a bad value gets our
/// message; the contract says what is accepted.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Page {
    /// Orders per page.
    #[param(schema_with = limit)]
    pub(super) limit: Option<String>,
    /// Continue below this order id (from the `Link` header of the previous page).
    #[param(schema_with = order_id)]
    pub(super) before: Option<String>,
}

/// The `{id}` path parameter of `/orders/{id}…`.
pub(super) struct OrderIdParam;

impl IntoParams for OrderIdParam {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The order's id."))
                .schema(Some(order_id()))
                .build(),
        ]
    }
}

/// The 200 of `GET /orders`: a page of orders and its headers.
pub(super) struct OrderList;

impl<'s> ToResponse<'s> for OrderList {
    fn response() -> (&'s str, RefOr<openapi::Response>) {
        let page = ArrayBuilder::new().items(Ref::from_schema_name("Order"));
        let response = ResponseBuilder::new()
            .description("Orders, newest first.")
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(page)).build(),
            )
            .header(
                "Event-Seq",
                docs::header(
                    Type::Integer,
                    "The newest `/topic/orders` event this page reflects: subscribe with \
                     `from-seq` set to it to miss no change.",
                    true,
                ),
            )
            .header(
                "Link",
                docs::header(
                    Type::String,
                    "On a full page only: `</orders?before=<last id>&limit=<limit>>; rel=\"next\"`.",
                    false,
                ),
            )
            .build();
        ("OrderList", response.into())
    }
}

/// What `char::is_control` (Unicode category Cc) matches, as a regex
/// class body; both ECMA-262 and Python read it the same way.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// A product name as `NewOrder::parse` accepts it.
fn product() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_PRODUCT_NAME))
        // Not blank, no control character anywhere.
        .pattern(Some(format!(r"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$")))
        .description(Some(format!(
            "At most {MAX_PRODUCT_NAME} bytes of UTF-8 (`maxLength` counts \
             characters, so a name of multi-byte characters is refused sooner), \
             not blank, without control characters."
        )))
        .examples(["Laptop"])
        .build()
}

/// A quantity as `NewOrder::parse` accepts it.
fn quantity() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(MAX_QUANTITY))
        .examples([2])
        .build()
}

/// Every reason a rejection is given.
fn rejection_reason() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([
            reason::INSUFFICIENT_STOCK,
            reason::UNKNOWN_PRODUCT,
            reason::INVENTORY_UNAVAILABLE,
            reason::INTERRUPTED,
        ]))
        .description(Some(
            "Why the order was rejected; only on `REJECTED` orders.",
        ))
        .build()
}

/// An `Idempotency-Key` as `IdempotencyKey::parse` accepts it.
fn idempotency_key() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_IDEMPOTENCY_KEY))
        // `u8::is_ascii_graphic`: `!` to `~`.
        .pattern(Some(r"^[!-~]+$"))
        .examples(["3f2a9c1e-7b7d-4f4e-9d2b-1c0a8e6f5d4c"])
        .build()
}

/// `limit`: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
fn limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(MAX_PAGE))
        .default(Some(DEFAULT_PAGE.into()))
        .build()
}

/// An order id as the `{id}` segment and `before` accept it: a positive int64.
fn order_id() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .build()
}
