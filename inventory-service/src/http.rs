//! REST on 8081: the original `GET /inventory/products`, plus `/health`.

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};

use crate::{domain::Product, error::Result, store::Store};

/// The REST routes.
pub(crate) fn router(store: Store) -> Router {
    Router::new()
        .route("/inventory/products", get(products))
        .route("/health", get(health))
        .method_not_allowed_fallback(method_not_allowed)
        // A span per request (continuing the caller's trace), not per probe.
        .route_layer(axum::middleware::from_fn_with_state(
            &["/health"][..],
            support::telemetry::http::trace,
        ))
        .fallback(not_found)
        .with_state(store)
}

/// `[{"id":1,"name":"Laptop","stockQuantity":10}, …]`, the original shape.
async fn products(State(store): State<Store>) -> Result<Json<Vec<Product>>> {
    Ok(Json(store.list_products().await?))
}

/// 200 when the database answers, 503 otherwise.
async fn health(State(store): State<Store>) -> impl IntoResponse {
    match store.db().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "UP", "database": "UP"})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "DOWN", "database": "DOWN"})),
            )
        }
    }
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"message": "Not found"})),
    )
}

async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(serde_json::json!({"message": "Method not allowed"})),
    )
}
