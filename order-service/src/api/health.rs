//! Health and metrics.
//! - `/health/live`: the process answers (for restart decisions).
//! - `/health/ready`: the database and inventory both answer (for traffic).
//! - `/health`: both, with the state of each part, 200 unless the database
//!   is down (without inventory, orders fail fast but reads still work).

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use super::AppState;

fn up(ok: bool) -> &'static str {
    if ok { "UP" } else { "DOWN" }
}

async fn probe(app: &AppState) -> (bool, bool) {
    let (db, inventory) = tokio::join!(app.orders.ping(), app.inventory.ping());
    (db, inventory)
}

/// Liveness and readiness in one answer.
pub(super) async fn health(State(app): State<AppState>) -> impl IntoResponse {
    let (db, inventory) = probe(&app).await;
    let status = match (db, inventory) {
        (true, true) => "UP",
        (true, false) => "DEGRADED",
        _ => "DOWN",
    };
    let code = if db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({ "status": status, "database": up(db), "inventory": up(inventory) })),
    )
}

/// 200 while the process serves requests.
pub(super) async fn live() -> impl IntoResponse {
    Json(json!({ "status": "UP" }))
}

/// 200 when the database and inventory answer, 503 otherwise.
pub(super) async fn ready(State(app): State<AppState>) -> impl IntoResponse {
    let (db, inventory) = probe(&app).await;
    let code = if db && inventory {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(
            json!({ "status": up(db && inventory), "database": up(db), "inventory": up(inventory) }),
        ),
    )
}

/// Prometheus text exposition.
pub(super) async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
