//! The REST API on 8080 (plus the page and `/ws-orders`, merged in
//! `lib.rs`). One router, one shared state, one error type
//! ([`error::ApiError`]: the flow's errors and HTTP's own) that every
//! handler returns, and the wire types with their OpenAPI schemas in
//! [`schema`], so that the handlers read as logic.

mod cross_site;
mod docs;
mod error;
mod health;
mod json;
mod orders;
mod page;
mod products;
mod schema;

pub(crate) use health::inventory_component;

use std::path::Path;

use axum::{
    Extension, Router,
    extract::{FromRef, Request},
    middleware,
    response::{IntoResponse, Response},
    routing::any,
};
use tower::ServiceBuilder;
use utoipa_axum::{router::OpenApiRouter, routes};

use support::{actuator::Actuator, telemetry::http as trace};

use live::AllowedOrigins;

use crate::{
    events::StockEvents, flow::Flow, inventory::Inventory, metrics::Metrics, store::Store,
};

/// The response header of `GET /orders` and `GET /products` that says how
/// far into its topic's event log the answer is (the `seq` of the newest
/// event it reflects): a client subscribes with `from-seq` set to it and
/// misses nothing in between.
pub(crate) const EVENT_SEQ: &str = "event-seq";

/// What every handler can reach. Writes go through the order flow; reads
/// go straight to where the data lives.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    /// Places and cancels orders.
    pub flow: Flow,
    /// Reads orders and their log's position.
    pub orders: Store,
    /// Reads products (and answers readiness).
    pub inventory: Inventory,
    /// The position of `/topic/products`.
    pub products: StockEvents,
    /// Metrics registry.
    pub metrics: Metrics,
    /// `/actuator/health` and `/actuator/info`.
    pub actuator: Actuator,
}

impl FromRef<AppState> for Actuator {
    fn from_ref(state: &AppState) -> Self {
        state.actuator.clone()
    }
}

impl FromRef<AppState> for support::metrics::Metrics {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.shared().clone()
    }
}

/// Every REST route, each registered with its OpenAPI description (its
/// handler's `#[utoipa::path]`): the one list of routes, so none can be
/// served undocumented.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::base())
        .routes(routes!(orders::create, orders::list))
        .routes(routes!(orders::get))
        .routes(routes!(orders::cancel))
        .routes(routes!(products::list))
        .routes(routes!(health::health))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .merge(support::metrics::routes())
        .merge(support::actuator::routes())
        .routes(routes!(docs::openapi))
        .routes(routes!(docs::api_docs))
}

/// REST routes with CORS, a trace span per request and request metrics,
/// Swagger UI, the page's files for every other path, and JSON errors for
/// unknown routes and methods (completed into Spring's error body by
/// `support::error_body::complete`, which `lib.rs` puts around this router
/// and `/ws-orders`).
pub(crate) fn router(state: AppState, origins: AllowedOrigins, frontend_dir: &Path) -> Router {
    let page = page::Page::new(frontend_dir);
    let (routes, mut doc) = routes().split_for_parts();
    trace::document(&mut doc, trace::OPERATIONS);
    // Each `layer`/`route_layer` call boxes every route once more, and
    // every request clones its route's boxes: hence one call per group.
    routes
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(
            ServiceBuilder::new()
                // Outside CORS, so a refused preflight is part of the trace.
                .layer(trace::TraceLayer::new(trace::OPERATIONS))
                // On the routes only: tower-http answers every OPTIONS as a
                // preflight, and an unknown path must stay a 404.
                .layer(cross_site::cors(origins.clone()))
                .layer(Extension(docs::Document::new(&doc))),
        )
        // Swagger UI: outside the document, the spans and CORS (springdoc
        // leaves it out of the document too).
        .merge(support::swagger_ui::routes())
        .fallback(any(move |request: Request| page.clone().serve(request)))
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    state.metrics.shared().clone(),
                    support::metrics::http::track,
                ))
                .layer(middleware::from_fn_with_state(origins, cross_site::guard)),
        )
        .with_state(state)
}

async fn method_not_allowed() -> Response {
    error::ApiError::MethodNotAllowed.into_response()
}
