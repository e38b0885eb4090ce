//! Traces across gRPC: the server side's root span per call (a tower
//! layer for tonic's server), and the client side's `traceparent` in the
//! call's metadata.

use std::task::{Context, Poll};

use opentelemetry::propagation::Injector;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing::{Instrument, Span, field, instrument::Instrumented};

use super::{TRACE_TARGET, extract, start_trace};

/// Adds the current trace's `traceparent` (and `tracestate`) to an
/// outgoing call's metadata.
pub fn inject(metadata: &mut MetadataMap) {
    super::context::inject(&mut Metadata(metadata));
}

/// Adds the current trace's `traceparent` only, no `tracestate`: for a call
/// made for a batch of requests, which must not carry one caller's state
/// (its vendors' data, its size) into the others' call.
pub fn inject_traceparent(metadata: &mut MetadataMap) {
    super::context::inject_traceparent(&mut Metadata(metadata));
}

struct Metadata<'a>(&'a mut MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` says nothing: not worth its bytes.
        if value.is_empty() {
            return;
        }
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// Runs every call but health checks and reflection in a root span named
/// by its method, continuing the caller's trace.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Traced { inner }
    }
}

/// [`TraceLayer`]'s service.
#[derive(Clone, Debug)]
pub struct Traced<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Traced<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = span(&request);
        crate::access_log::offer_span(&request, &span);
        let call = span.in_scope(|| self.inner.call(request));
        call.instrument(span)
    }
}

fn span<B>(request: &http::Request<B>) -> Span {
    let path = request.uri().path();
    if path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
        return Span::none();
    }
    if !super::exporting() {
        // Only what the log lines need (see `http::Traced`).
        return start_trace(
            extract(request.headers()),
            |trace| tracing::info_span!(target: TRACE_TARGET, "rpc", trace_id = trace.map(field::display)),
        );
    }
    // `/package.Service/Method`
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    start_trace(extract(request.headers()), |trace| {
        tracing::info_span!(
            target: TRACE_TARGET,
            "rpc",
            otel.name = path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            trace_id = trace.map(field::display),
        )
    })
}
