//! `/orders`: create, list (paged), get, cancel.

use axum::{
    Json,
    extract::{FromRequestParts, Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
};

use super::{
    AppState, EVENT_SEQ, docs,
    error::{ApiError, Result},
    json::JsonBody,
    schema::{
        CreateOrder, DEFAULT_PAGE, ErrorBody, IdempotencyKeyHeader, MAX_PAGE, Order as OrderSchema,
        OrderIdParam, OrderList, Page,
    },
};
use crate::{
    domain::{IdempotencyKey, NewOrder, Order},
    error::Error,
};

/// `POST /orders`: 200 with the order (CREATED or REJECTED with a reason),
/// 503 when inventory cannot answer. `Idempotency-Key` makes retries safe.
#[utoipa::path(
    post, path = "/orders", tag = "orders", operation_id = "createOrder",
    summary = "Place an order",
    description = "Reserves the stock at inventory and answers the order `CREATED`, or \
        `REJECTED` with a `reason`. Send an `Idempotency-Key` to make retries safe.",
    params(IdempotencyKeyHeader),
    request_body(content = CreateOrder, content_type = "application/json"),
    responses(
        (status = 200, description = "The order: `CREATED` (its stock is reserved) or `REJECTED` \
            with a `reason`. A retry with the same `Idempotency-Key` and body answers the first \
            order as it is now.", body = OrderSchema,
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

fn parse_param(
    name: &'static str,
    value: Option<String>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>> {
    let Some(value) = value else { return Ok(None) };
    match value.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::OutOfRange {
            name,
            min: *range.start(),
            max: *range.end(),
        }),
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
        .map_err(ApiError::InvalidQuery)?;
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
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::InvalidPath(e.body_text()))?;
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(OrderId(id)),
            _ => Err(ApiError::InvalidOrderId(raw)),
        }
    }
}

/// `GET /orders/{id}`.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders", operation_id = "getOrder",
    summary = "Read an order",
    params(OrderIdParam),
    responses(
        (status = 200, description = "The order.", body = OrderSchema),
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
        .ok_or_else(|| Error::OrderNotFound(id).into())
}

/// `POST /orders/{id}/cancel`: 200 CANCELLED with its stock released, 404,
/// or 409 when the order is not CREATED.
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders", operation_id = "cancelOrder",
    summary = "Cancel an order",
    description = "Only a `CREATED` order; its stock is given back exactly once.",
    params(OrderIdParam),
    responses(
        (status = 200, description = "The order, `CANCELLED`; its stock is given back (later, \
            when inventory cannot be reached now).", body = OrderSchema),
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
