//! `/orders`: create, list (paged), get, cancel.

use axum::{
    Json,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{AppState, EVENT_SEQ, json::JsonBody};
use crate::{
    domain::{IdempotencyKey, NewOrder, Order},
    error::{Error, Result},
};

/// Page size when `limit` is not given.
pub(super) const DEFAULT_PAGE: i64 = 100;
/// Largest page; bounds the work and memory of one request.
pub(super) const MAX_PAGE: i64 = 1000;

/// The request body, as the original: `{"product":"Laptop","quantity":2}`.
/// Fields are optional here so that a missing one gets a precise message.
#[derive(Deserialize)]
pub(super) struct CreateOrder {
    product: Option<String>,
    quantity: Option<i64>,
}

/// `POST /orders`: 200 with the order (CREATED or REJECTED with a reason),
/// 503 when inventory cannot answer. `Idempotency-Key` makes retries safe.
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

#[derive(Deserialize)]
struct Page {
    limit: Option<String>,
    before: Option<String>,
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

fn parse_id(raw: &str) -> Result<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        Error::BadRequest(format!("Order id must be a positive integer, not {raw:?}"))
    })
}

/// `GET /orders/{id}`.
pub(super) async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Order>> {
    let id = parse_id(&id)?;
    app.orders
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("Order {id} not found")))
}

/// `POST /orders/{id}/cancel`: 200 CANCELLED with its stock released, 404,
/// or 409 when the order is not CREATED.
pub(super) async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Order>> {
    let id = parse_id(&id)?;
    Ok(Json(app.flow.cancel(id).await?))
}
