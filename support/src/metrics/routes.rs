//! `GET /metrics` and `GET /actuator/prometheus`, with their OpenAPI
//! descriptions, for any router whose state gives the service's
//! [`Metrics`]: one pair of handlers for both services.

use axum::{
    extract::{FromRef, State},
    http::HeaderMap,
    response::Response,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Metrics;

/// The answer of a scrape, as both paths document it.
const SCRAPED: &str = "Every metric: OpenMetrics 1.0.0 text (`application/openmetrics-text; \
    version=1.0.0; charset=utf-8`) when `Accept` prefers `application/openmetrics-text`, else \
    the Prometheus text format 0.0.4 (`text/plain; version=0.0.4; charset=utf-8`).";

/// Both scrape paths (tag `health`).
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Metrics: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(metrics))
        .routes(routes!(prometheus))
}

/// Every metric, in the format `Accept` prefers.
#[utoipa::path(
    get, path = "/metrics", tag = "health", operation_id = "metrics",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = SCRAPED, content(
            (String = "text/plain"),
            (String = "application/openmetrics-text"),
        )),
        (status = 503, response = inline(crate::openapi::Busy)),
    )
)]
async fn metrics(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    metrics.scrape(&headers).await
}

/// `/metrics` where Spring Boot Actuator serves it.
#[utoipa::path(
    get, path = "/actuator/prometheus", tag = "health", operation_id = "prometheus",
    summary = "Prometheus metrics (Spring Boot Actuator's path)",
    responses(
        (status = 200, description = SCRAPED, content(
            (String = "text/plain"),
            (String = "application/openmetrics-text"),
        )),
        (status = 503, response = inline(crate::openapi::Busy)),
    )
)]
async fn prometheus(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    metrics.scrape(&headers).await
}
