//! `GET /products`: inventory's products, read through gRPC.

use axum::{
    Json,
    extract::State,
    http::HeaderValue,
    response::{IntoResponse, Response},
};

use super::{AppState, EVENT_SEQ};
use crate::error::{Error, Result};

/// `[{"id":1,"name":"Laptop","stockQuantity":10}, …]`; 503 when inventory
/// cannot answer. `Event-Seq` is the newest `/topic/products` event
/// published before inventory was asked (absent until this replica's stock
/// relay has reached inventory): replaying from it may repeat a change the
/// list already shows, never miss one.
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
