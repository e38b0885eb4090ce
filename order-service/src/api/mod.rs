//! The REST API on 8080 (plus the page and `/ws-orders`, merged in
//! `lib.rs`). One router, one shared state, one error type
//! ([`crate::error::Error`]) that every handler returns.

mod health;
mod json;
mod orders;
mod products;

use std::{path::Path, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    services::ServeDir,
};

use crate::{error::Error, flow::Flow, metrics::Metrics, origins::AllowedOrigins};

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The order flow (and through it the store and the inventory client).
    pub flow: Flow,
    /// Metrics registry.
    pub metrics: Metrics,
}

/// REST routes with CORS and request metrics, the page at `/`, and JSON
/// errors for unknown routes and methods.
pub fn router(state: AppState, origins: AllowedOrigins, frontend_dir: &Path) -> Router {
    let page = ServeDir::new(frontend_dir)
        .append_index_html_on_directories(true)
        .not_found_service(axum::routing::any(not_found));
    Router::new()
        .route("/orders", post(orders::create).get(orders::list))
        .route("/orders/{id}", get(orders::get))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/products", get(products::list))
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback_service(page)
        .layer(cors(origins.clone()))
        .layer(middleware::from_fn_with_state(
            origins,
            no_cors_for_strangers,
        ))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), track))
        .with_state(state)
}

/// CORS for the configured origins and the page's own; requests without
/// `Origin` (curl, servers) need none.
fn cors(origins: AllowedOrigins) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, parts| {
                origins.allows_origin(origin, parts.headers.get(header::HOST))
            },
        ))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::LINK, header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(3600))
}

/// tower-http's CORS layer adds its method and header lists even when it
/// refuses the origin; a refused origin should learn nothing, so strip them.
async fn no_cors_for_strangers(
    State(origins): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = origins.allows(request.headers());
    let mut response = next.run(request).await;
    if !allowed {
        let headers = response.headers_mut();
        let cors: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            headers.remove(name);
        }
    }
    response
}

/// Records every request's route template, status and latency.
async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.http_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn not_found() -> Response {
    Error::NotFound("Not found".into()).into_response()
}

async fn method_not_allowed() -> Response {
    let body = axum::Json(serde_json::json!({ "message": "Method not allowed" }));
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}
