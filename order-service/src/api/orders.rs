//! `/orders`: create, list (paged), get, cancel.

use axum::{
    Json,
    extract::{FromRequestParts, Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
};
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

use super::{AppState, EVENT_SEQ, docs, json::JsonBody};
use crate::{
    domain::{IdempotencyKey, NewOrder, Order, schema},
    error::{Error, ErrorBody, Result},
};

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
    #[schema(schema_with = schema::product, required = true)]
    product: Option<String>,
    /// Units to order.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(schema_with = schema::quantity, required = true)]
    quantity: Option<i64>,
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

/// `POST /orders`: 200 with the order (CREATED or REJECTED with a reason),
/// 503 when inventory cannot answer. `Idempotency-Key` makes retries safe.
#[utoipa::path(
    post, path = "/orders", tag = "orders", operation_id = "createOrder",
    summary = "Place an order",
    description = "Reserves the stock at inventory and answers the order `CREATED`, or \
        `REJECTED` with a `reason`. Send an `Idempotency-Key` to make retries safe.",
    params(IdempotencyKey),
    request_body(content = CreateOrder, content_type = "application/json"),
    responses(
        (status = 200, description = "The order: `CREATED` (its stock is reserved) or `REJECTED` \
            with a `reason`. A retry with the same `Idempotency-Key` and body answers the first \
            order as it is now.", body = Order,
            links(
                ("GetOrder" = (operation_id = "getOrder", parameters(("id" = "$response.body#/id")),
                    description = "The order, read back.")),
                ("CancelOrder" = (operation_id = "cancelOrder", parameters(("id" = "$response.body#/id")),
                    description = "Cancels the order (when `CREATED`).")),
            )),
        (status = 400, description = "Malformed JSON or wrong types, a missing or invalid \
            `product` or `quantity`, or a malformed `Idempotency-Key`; nothing was written.", body = ErrorBody),
        (status = 403, response = docs::Forbidden),
        (status = 408, response = docs::RequestTimeout),
        (status = 409, description = "A request with this `Idempotency-Key` is still being processed.", body = ErrorBody),
        (status = 413, response = docs::PayloadTooLarge),
        (status = 415, response = docs::UnsupportedMediaType),
        (status = 422, description = "This `Idempotency-Key` was used for a different request.", body = ErrorBody),
        (status = 500, response = docs::InternalError),
        (status = 503, response = docs::Unavailable),
    )
)]
pub(super) async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateOrder>,
) -> Result<Json<Order>> {
    let idempotency = headers
        .get("idempotency-key")
        .map(|v| IdempotencyKey::parse(v.to_str().unwrap_or("\u{0}")))
        .transpose()?;
    let new = NewOrder::parse(body.product, body.quantity)?;
    Ok(Json(app.flow.place(new, idempotency).await?))
}

/// The query of `GET /orders`, read as text so that a bad value gets our
/// message; the contract says what is accepted.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Page {
    /// Orders per page.
    #[param(schema_with = limit_schema)]
    limit: Option<String>,
    /// Continue below this order id (from the `Link` header of the previous page).
    #[param(schema_with = id_schema)]
    before: Option<String>,
}

/// `limit`: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
fn limit_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(MAX_PAGE))
        .default(Some(DEFAULT_PAGE.into()))
        .build()
}

/// An order id as [`OrderId`] and `before` accept it: a positive int64.
fn id_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .build()
}

/// The 200 of `GET /orders`: a page of orders and its headers.
struct OrderList;

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

fn parse_param(
    name: &str,
    value: Option<String>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>> {
    let Some(value) = value else { return Ok(None) };
    match value.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(Error::BadRequest(format!(
            "{name} must be an integer from {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

/// `GET /orders?limit=&before=`: newest first. `limit` defaults to
/// [`DEFAULT_PAGE`], at most [`MAX_PAGE`]; `before=<id>` continues below that
/// id. A full page carries `Link: <…?before=…>; rel="next"`. `Event-Seq`
/// is the order log's newest seq, read before the orders: replaying from it
/// may repeat a change the page already shows, never miss one.
#[utoipa::path(
    get, path = "/orders", tag = "orders", operation_id = "listOrders",
    summary = "List orders, newest first",
    description = "A page of at most `limit` orders; a full page has a `Link` header to the \
        next one (`before` = the last id). `Event-Seq` is where to resume `/topic/orders` \
        from: a change the page already shows may be repeated, none is missed.",
    params(Page),
    responses(
        (status = 200, response = inline(OrderList)),
        (status = 400, description = "`limit` or `before` out of range or not an integer, or a malformed query.", body = ErrorBody),
        (status = 500, response = docs::InternalError),
        (status = 503, response = docs::Unavailable),
    )
)]
pub(super) async fn list(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let page: Page = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| Error::BadRequest(format!("Invalid query: {e}")))?;
    let limit = parse_param("limit", page.limit, 1..=MAX_PAGE)?.unwrap_or(DEFAULT_PAGE);
    let before = parse_param("before", page.before, 1..=i64::MAX)?;
    let seq = app.orders.event_bounds().await?.last;
    let orders = app.orders.list(before, limit).await?;
    let next = (orders.len() as i64 == limit)
        .then(|| orders.last().map(|o| o.id))
        .flatten()
        .and_then(|last| {
            HeaderValue::from_str(&format!(
                "</orders?before={last}&limit={limit}>; rel=\"next\""
            ))
            .ok()
        });
    let mut response = Json(orders).into_response();
    let headers = response.headers_mut();
    headers.insert(EVENT_SEQ, HeaderValue::from(seq));
    if let Some(link) = next {
        headers.insert(header::LINK, link);
    }
    Ok(response)
}

/// The `{id}` of `/orders/{id}…`: a positive integer, else a JSON 400
/// (axum's `Path` answers a segment that is not UTF-8 in plain text).
pub(super) struct OrderId(i64);

impl<S: Send + Sync> FromRequestParts<S> for OrderId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::BadRequest(format!("Invalid order id: {}", e.body_text())))?;
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(OrderId)
            .ok_or_else(|| {
                Error::BadRequest(format!("Order id must be a positive integer, not {raw:?}"))
            })
    }
}

impl IntoParams for OrderId {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The order's id."))
                .schema(Some(id_schema()))
                .build(),
        ]
    }
}

/// `GET /orders/{id}`.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders", operation_id = "getOrder",
    summary = "Read an order",
    params(OrderId),
    responses(
        (status = 200, description = "The order.", body = Order),
        (status = 400, description = "The id is not a positive integer.", body = ErrorBody),
        (status = 404, description = "No such order.", body = ErrorBody),
        (status = 500, response = docs::InternalError),
        (status = 503, response = docs::Unavailable),
    )
)]
pub(super) async fn get(State(app): State<AppState>, OrderId(id): OrderId) -> Result<Json<Order>> {
    app.orders
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("Order {id} not found")))
}

/// `POST /orders/{id}/cancel`: 200 CANCELLED with its stock released, 404,
/// or 409 when the order is not CREATED.
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders", operation_id = "cancelOrder",
    summary = "Cancel an order",
    description = "Only a `CREATED` order; its stock is given back exactly once.",
    params(OrderId),
    responses(
        (status = 200, description = "The order, `CANCELLED`; its stock is given back (later, \
            when inventory cannot be reached now).", body = Order),
        (status = 400, description = "The id is not a positive integer.", body = ErrorBody),
        (status = 403, response = docs::Forbidden),
        (status = 404, description = "No such order.", body = ErrorBody),
        (status = 409, description = "The order is not `CREATED`.", body = ErrorBody),
        (status = 500, response = docs::InternalError),
        (status = 503, response = docs::Unavailable),
    )
)]
pub(super) async fn cancel(
    State(app): State<AppState>,
    OrderId(id): OrderId,
) -> Result<Json<Order>> {
    Ok(Json(app.flow.cancel(id).await?))
}
