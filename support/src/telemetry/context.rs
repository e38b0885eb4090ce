//! The trace a span belongs to, continued from a W3C `traceparent` and
//! handed on to the calls it makes.
//!
//! With an exporter, OpenTelemetry's layer keeps every span's context and
//! this reads it. Without one there is no such layer (it would cost every
//! span some work for nothing): a request's root span gets a context of its
//! own in its extensions, and every span inside it is taken to be part of
//! the nearest such root. Enough to hand the trace on and to put its id in
//! every log line, and nothing is built per inner span.

use std::borrow::Cow;

use http::HeaderMap;
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{IdGenerator, RandomIdGenerator},
};
use tracing::{Span, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Registry, registry::LookupSpan};

use super::{exporting, tracestate};

/// A root span's trace context, when nothing exports (see the module doc).
#[derive(Clone, Debug)]
struct Root(SpanContext);

/// The remote parent that `headers` name in `traceparent` (and
/// `tracestate`, cut to W3C's limits: see [`tracestate`]), if they carry a
/// valid one. `baggage` is neither read nor handed on.
pub fn extract(headers: &HeaderMap) -> Option<SpanContext> {
    let combined = combined_tracestate(headers);
    let capped = combined.as_deref().map(tracestate::cap);
    let cx = TraceContextPropagator::new().extract(&Headers {
        headers,
        tracestate: capped.as_deref(),
    });
    let parent = cx.span().span_context().clone();
    parent.is_valid().then_some(parent)
}

/// Every `tracestate` header of a request as one list (W3C allows several,
/// to be read as if joined by commas).
fn combined_tracestate(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    let mut values = headers
        .get_all(TRACESTATE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    Some(match values.next() {
        None => Cow::Borrowed(first),
        Some(second) => {
            let mut all = [first, second].join(",");
            for value in values {
                all.push(',');
                all.push_str(value);
            }
            Cow::Owned(all)
        }
    })
}

/// A root span that continues the trace of `parent`, or starts a trace:
/// `make` creates it from its trace id (`None` when that is known only
/// once the span exists, as with an exporter), as a span with a `trace_id`
/// field; that field ends up holding the id either way.
///
/// Without an exporter the id is known first, so the span is created with
/// it: recording it afterwards would make every log layer format the
/// span's fields a second time, on every request.
pub fn start_trace(
    parent: Option<SpanContext>,
    make: impl FnOnce(Option<TraceId>) -> Span,
) -> Span {
    if exporting() {
        let span = make(None);
        if let Some(parent) = parent {
            // Fails only for a span that was entered already: a bug here.
            let _ = span.set_parent(Context::new().with_remote_span_context(parent));
        }
        let trace = span.context().span().span_context().trace_id();
        if trace != TraceId::INVALID {
            span.record("trace_id", field::display(trace));
        }
        return span;
    }
    let ids = RandomIdGenerator::default();
    let cx = match parent {
        Some(p) => SpanContext::new(
            p.trace_id(),
            ids.new_span_id(),
            p.trace_flags(),
            false,
            p.trace_state().clone(),
        ),
        // Nothing records this trace: not sampled, as W3C has it.
        None => SpanContext::new(
            ids.new_trace_id(),
            ids.new_span_id(),
            TraceFlags::default(),
            false,
            TraceState::NONE,
        ),
    };
    let span = make(Some(cx.trace_id()));
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        registry.span(id)?.extensions_mut().replace(Root(cx));
        Some(())
    });
    span
}

/// The trace context of the current span, to hand on to a call: its own
/// (exporting), or its root's (not exporting). `None` outside any trace.
pub fn current() -> Option<SpanContext> {
    let span = Span::current();
    let cx = if exporting() {
        span.context().span().span_context().clone()
    } else {
        span.with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            registry
                .span(id)?
                .scope()
                .find_map(|s| s.extensions().get::<Root>().map(|r| r.0.clone()))
        })
        .flatten()?
    };
    cx.is_valid().then_some(cx)
}

/// The current trace's id as 32 hex digits (what log lines and live
/// events carry), if the current span is part of one.
pub fn trace_id() -> Option<String> {
    current().map(|cx| cx.trace_id().to_string())
}

/// Writes the `traceparent` (and `tracestate`) that hand the current
/// trace on, with the current span as the parent, into `carrier`.
pub(super) fn inject(carrier: &mut dyn Injector) {
    if let Some(cx) = current() {
        TraceContextPropagator::new()
            .inject_context(&Context::new().with_remote_span_context(cx), carrier);
    }
}

/// [`inject`] without `tracestate`: for a call made on behalf of several
/// requests (a batch), whose `tracestate` belongs to each caller and to
/// none of the others.
pub(super) fn inject_traceparent(carrier: &mut dyn Injector) {
    if let Some(cx) = current() {
        carrier.set(TRACEPARENT, traceparent(&cx));
    }
}

/// The `traceparent` header's name.
const TRACEPARENT: &str = "traceparent";

/// The W3C `traceparent` that hands `cx` on as the parent: version 00, the
/// trace and span ids and the sampled flag, in lower-case hex, as
/// OpenTelemetry's propagator writes it. Written here because the
/// propagator first builds a `Context` around the span context and
/// formats through `fmt`: about 5,000 instructions for 55 bytes, on every
/// call to inventory.
fn traceparent(cx: &SpanContext) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    fn hex(out: &mut String, bytes: &[u8]) {
        for b in bytes {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
    }
    let mut out = String::with_capacity(55);
    out.push_str("00-");
    hex(&mut out, &cx.trace_id().to_bytes());
    out.push('-');
    hex(&mut out, &cx.span_id().to_bytes());
    out.push('-');
    hex(
        &mut out,
        &[(cx.trace_flags() & TraceFlags::SAMPLED).to_u8()],
    );
    out
}

/// The `tracestate` header's name.
const TRACESTATE: &str = "tracestate";

/// A request's headers as OpenTelemetry's propagators read them, with its
/// `tracestate` already combined and cut.
struct Headers<'a> {
    headers: &'a HeaderMap,
    tracestate: Option<&'a str>,
}

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key == TRACESTATE {
            return self.tracestate;
        }
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.headers.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests;
