//! `GET /products`: inventory's products, read through gRPC.

use axum::{Json, extract::State};

use super::AppState;
use crate::{
    error::{Error, Result},
    inventory::Product,
};

/// `[{"id":1,"name":"Laptop","stockQuantity":10}, …]`; 503 when inventory
/// cannot answer.
pub(super) async fn list(State(app): State<AppState>) -> Result<Json<Vec<Product>>> {
    app.inventory.products().await.map(Json).map_err(|e| {
        tracing::warn!(error = %e, "cannot list products");
        Error::InventoryUnavailable
    })
}
