//! REST on 8081: the original `GET /inventory/products`, plus `/health`,
//! `/health/live` and `/health/ready` (`probes`), Spring Boot Actuator's
//! `/actuator/health…` and `/actuator/info` (`support::actuator`), the
//! metrics (`/metrics`, `/actuator/prometheus`), this API's OpenAPI document
//! (`/openapi.json`, `/v3/api-docs`) and Swagger UI showing it
//! (`/swagger-ui/index.html`).

mod docs;
mod probes;

use axum::{
    Extension, Json, Router,
    extract::{FromRef, State},
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use support::actuator::Actuator;
use support::metrics::Metrics;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{domain::Product, error::Result, store::Store};

/// Every REST route, each registered with its OpenAPI description (its
/// handler's `#[utoipa::path]`): the one list of routes, so none can be
/// served undocumented.
fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::with_openapi(docs::base())
        .routes(routes!(products))
        .routes(routes!(health))
        .routes(routes!(probes::live))
        .routes(routes!(probes::ready))
        .merge(support::actuator::routes())
        .merge(support::metrics::routes())
        .routes(routes!(docs::openapi))
        .routes(routes!(docs::api_docs))
}

/// What the REST handlers reach.
#[derive(Clone, Debug, FromRef)]
struct HttpState {
    /// Products and the database.
    store: Store,
    /// Health and info.
    actuator: Actuator,
    /// The scrapes' registry.
    metrics: Metrics,
}

/// The REST routes with request metrics, Swagger UI, and JSON errors
/// (Spring's body) for unknown paths and methods.
pub(crate) fn router(store: Store, actuator: Actuator, metrics: Metrics) -> Router {
    let (routes, mut doc) = routes().split_for_parts();
    support::telemetry::http::document(&mut doc, support::telemetry::http::OPERATIONS);
    routes
        .method_not_allowed_fallback(method_not_allowed)
        // One call, so each route is boxed (and cloned per request) once.
        .route_layer(
            tower::ServiceBuilder::new()
                // A span per request (continuing the caller's trace), not
                // per probe or fetch of the document.
                .layer(support::telemetry::http::TraceLayer::new(
                    support::telemetry::http::OPERATIONS,
                ))
                .layer(Extension(docs::Document::new(&doc))),
        )
        // Swagger UI: outside the document and the spans (springdoc leaves
        // it out of the document too).
        .merge(support::swagger_ui::routes())
        .fallback(not_found)
        // Every JSON error gets Spring's fields.
        .layer(middleware::from_fn(support::error_body::complete))
        // Outermost: every request is counted, whatever answered it.
        .layer(middleware::from_fn_with_state(
            metrics.clone(),
            support::metrics::http::track,
        ))
        .with_state(HttpState {
            store,
            actuator,
            metrics,
        })
}

/// `[{"id":1,"name":"Laptop","stockQuantity":10}, …]`, the original shape.
#[utoipa::path(
    get, path = "/inventory/products", tag = "products", operation_id = "listProducts",
    summary = "List products and their stock",
    responses(
        (status = 200, description = "Every product, by id.", body = [Product]),
        (status = 500, response = docs::InternalError),
        (status = 503, response = docs::Unavailable),
    )
)]
async fn products(State(store): State<Store>) -> Result<Json<Vec<Product>>> {
    Ok(Json(store.list_products().await?))
}

/// `UP` or `DOWN`.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum HealthState {
    /// Answers.
    Up,
    /// Does not answer, or refuses writes (disk full, I/O error).
    Down,
}

impl HealthState {
    fn from(ok: bool) -> Self {
        if ok { Self::Up } else { Self::Down }
    }
}

/// The service and its database.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// The service as a whole: its database's state (on `/health/ready`,
    /// `DOWN` while the service is stopping too).
    status: HealthState,
    /// The inventory database.
    database: HealthState,
}

/// 200 when the database answers and takes writes, 503 otherwise.
#[utoipa::path(
    get, path = "/health", tag = "health", operation_id = "health",
    summary = "Readiness: the database answers and takes writes",
    responses(
        (status = 200, description = "The database answers and takes writes.", body = Health),
        (status = 503, response = inline(docs::NotReady)),
    )
)]
async fn health(State(store): State<Store>) -> impl IntoResponse {
    // A failed ping is logged by the database handle (once per interval);
    // a full disk shows only in writes, which the handle watches.
    let up = store.db().ping().await.is_ok() && store.db().writable();
    let (code, state) = if up {
        (StatusCode::OK, HealthState::Up)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, HealthState::Down)
    };
    let body = Health {
        status: state,
        database: state,
    };
    (code, Json(body))
}

async fn not_found() -> Response {
    support::error_body::answer(StatusCode::NOT_FOUND, "Not found")
}

async fn method_not_allowed() -> Response {
    support::error_body::answer(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}
