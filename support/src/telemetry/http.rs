//! The root span of an HTTP request: named by its route (`POST /orders`),
//! continuing the `traceparent` it came with.

use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use futures::future::{BoxFuture, Either};
use tracing::{Instrument, Span, field, instrument::Instrumented};
use utoipa::openapi::{
    OpenApi, Required,
    path::{ParameterBuilder, ParameterIn},
    schema::{ObjectBuilder, Type},
};

use super::{TRACE_TARGET, start_trace};

/// Routes that get no span: health checks and scrapes, which arrive every
/// few seconds and are nobody's request.
pub type Untraced = &'static [&'static str];

/// The routes both services serve from `support` that get no span: the
/// health probes (`/health*`, `/actuator/health*`), `/actuator/info`, the
/// scrapes and the OpenAPI document.
pub const OPERATIONS: Untraced = &[
    "/health",
    "/health/live",
    "/health/ready",
    "/actuator/health",
    "/actuator/health/liveness",
    "/actuator/health/readiness",
    "/actuator/info",
    "/metrics",
    "/actuator/prometheus",
    "/openapi.json",
    "/v3/api-docs",
];

/// Runs every request but the `untraced` routes in its root span, named
/// by its route and continuing the `traceparent` it came with; records the
/// response status when exporting. A route layer (`Router::route_layer`),
/// so the route is known.
///
/// A tower layer rather than `axum::middleware::from_fn`: that one clones
/// the service it wraps on every request, which is the route's whole stack
/// with the application state in it.
#[derive(Clone, Copy, Debug)]
pub struct TraceLayer {
    untraced: Untraced,
}

impl TraceLayer {
    /// Traces every route but `untraced`.
    pub fn new(untraced: Untraced) -> Self {
        Self { untraced }
    }
}

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Traced {
            inner,
            untraced: self.untraced,
        }
    }
}

/// [`TraceLayer`]'s service.
#[derive(Clone, Debug)]
pub struct Traced<S> {
    inner: S,
    untraced: Untraced,
}

impl<S, B, R> tower::Service<http::Request<B>> for Traced<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        Either<Instrumented<S::Future>, BoxFuture<'static, Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let Some(route) = route.filter(|r| !self.untraced.contains(r)) else {
            return Either::Left(self.inner.call(request).instrument(Span::none()));
        };
        if !super::exporting() {
            // Only what the log lines need: every field is copied into each
            // span's log record, for every request.
            let span = start_trace(super::extract(request.headers()), |trace| {
                tracing::info_span!(
                    target: TRACE_TARGET,
                    "request",
                    trace_id = trace.map(field::display)
                )
            });
            crate::access_log::offer_span(&request, &span);
            return Either::Left(self.inner.call(request).instrument(span));
        }
        let method = request.method().as_str();
        let span = start_trace(super::extract(request.headers()), |trace| {
            tracing::info_span!(
                target: TRACE_TARGET,
                "request",
                otel.name = format!("{method} {route}"),
                otel.kind = "server",
                http.request.method = method,
                http.route = route,
                http.response.status_code = field::Empty,
                otel.status_code = field::Empty,
                trace_id = trace.map(field::display),
            )
        });
        crate::access_log::offer_span(&request, &span);
        let call = self.inner.call(request).instrument(span.clone());
        Either::Right(Box::pin(async move {
            let response = call.await?;
            let status = response.status();
            span.record("http.response.status_code", status.as_u16());
            if status.is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
            Ok(response)
        }))
    }
}

/// Adds the optional `traceparent` request header to every operation of
/// `doc` that [`TraceLayer`] continues (all but the `untraced` paths).
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
