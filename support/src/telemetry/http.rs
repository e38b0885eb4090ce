//! The root span of an HTTP request: named by its route (`POST /orders`),
//! continuing the `traceparent` it came with.

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use tracing::{Instrument, field};
use utoipa::openapi::{
    OpenApi, Required,
    path::{ParameterBuilder, ParameterIn},
    schema::{ObjectBuilder, Type},
};

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
    if !super::exporting() {
        // Only what the log lines need: every field is copied into each
        // span's log record, for every request.
        let span = tracing::info_span!(target: TRACE_TARGET, "request", trace_id = field::Empty);
        start_trace(&span, super::extract(request.headers()));
        return next.run(request).instrument(span).await;
    }
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

/// Adds the optional `traceparent` request header to every operation of
/// `doc` that [`trace`] continues (all but the `untraced` paths).
pub fn document(doc: &mut OpenApi, untraced: Untraced) {
    for (path, item) in doc.paths.paths.iter_mut() {
        if untraced.contains(&path.as_str()) {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .parameters
                .get_or_insert_with(Vec::new)
                .push(traceparent().into());
        }
    }
}

/// W3C Trace Context's header. No pattern: a malformed one is ignored (a
/// trace is started), as the recommendation says, not refused.
fn traceparent() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("traceparent")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "W3C Trace Context (`00-<trace-id>-<parent-id>-<flags>`): the request continues \
             that trace (its `tracestate` is kept), and the trace id is in every log line of \
             the request and in the live event of the change it makes. Without one, or with \
             a malformed one, a trace is started.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}
