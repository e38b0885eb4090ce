//! `GET /products`: inventory's products, read through gRPC.

use axum::{
    Json,
    extract::State,
    http::HeaderValue,
    response::{IntoResponse, Response},
};

use super::{AppState, EVENT_SEQ, docs, error::Result, schema::Product as ProductSchema};
use crate::error::Error;

/// `[{"id":1,"name":"Laptop","stockQuantity":10}, …]`; 503 when inventory
/// cannot answer. `Event-Seq` is the newest `/topic/products` event
/// published before inventory was asked (absent until this replica's stock
/// relay has reached inventory): replaying from it may repeat a change the
/// list already shows, never miss one.
#[utoipa::path(
    get, path = "/products", tag = "products", operation_id = "listProducts",
    summary = "List products and their stock",
    description = "Read from inventory-service over gRPC.",
    responses(
        (status = 200, description = "Every product, with its stock.", body = [ProductSchema],
            headers(("Event-Seq" = i64, description = "The newest `/topic/products` event \
                relayed before inventory was asked (absent until the stock relay has reached \
                inventory): subscribe with `from-seq` set to it to miss no change."))),
        (status = 503, response = docs::Unavailable),
    )
)]
pub(super) async fn list(State(app): State<AppState>) -> Result<Response> {
    let seq = app.products.last();
    let products = app.inventory.products().await.map_err(|e| {
        tracing::warn!(error = %e, "cannot list products");
        Error::InventoryUnavailable
    })?;
    let mut response = Json(products).into_response();
    if let Some(seq) = seq {
        response
            .headers_mut()
            .insert(EVENT_SEQ, HeaderValue::from(seq));
    }
    Ok(response)
}
