//! The root span of an HTTP request: named by its route (`POST /orders`),
//! continuing the `traceparent` it came with.

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use tracing::{Instrument, field};

use super::{TRACE_TARGET, start_trace};

/// Routes that get no span: health checks and scrapes, which arrive every
/// few seconds and are nobody's request.
pub type Untraced = &'static [&'static str];

/// Middleware (`axum::middleware::from_fn_with_state(untraced, trace)`,
/// as a route layer, so the route is known): runs the request in its root
/// span, records the response status.
pub async fn trace(State(untraced): State<Untraced>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let Some(route) = route.filter(|r| !untraced.contains(&r.as_str())) else {
        return next.run(request).await;
    };
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = field::Empty,
        otel.status_code = field::Empty,
        trace_id = field::Empty,
    );
    start_trace(&span, super::extract(request.headers()));
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}
