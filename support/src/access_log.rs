//! The access log (`ACCESS_LOG=true`, off by default): one INFO line per
//! HTTP request and per gRPC call, under the target [`TARGET`], as Tomcat's
//! access log is to a Spring Boot service.
//!
//! Each line is written when the response has been sent: its body's last
//! frame handed to the connection, or the body dropped unfinished (the
//! client went away); a WebSocket upgrade when its `101` is sent; a
//! request whose client left before the answer when the handler is
//! dropped, with status `499` (nginx's; gRPC: `Cancelled`). Fields:
//! - HTTP: `method`, `route` (the matched route template, absent when no
//!   route matched), `path` (at most [`MAX_LOGGED_PATH`] characters, control
//!   characters escaped; never the query, which may carry what a log should
//!   not), `status`;
//! - gRPC: `rpc` (the call's path, `/package.Service/Method`, bounded the
//!   same way), `grpc_status` (from the trailers, or the headers of a
//!   trailers-only answer; `OK`, `NotFound`, …, as gRPC's own tools name
//!   them), `status` (the HTTP status);
//! - both: `duration_ms` (from the request reaching the service to that
//!   moment, in ms with µs precision), `bytes` (of the response body, as
//!   sent), `client` (the client's address, see [`crate::http::Client`]),
//!   and `trace_id` (the request's trace, as on every other line of the
//!   request: the line is logged in the request's root span; a request
//!   without one, such as a health check, has none).
//!
//! With `LOG_FORMAT=json` each line is one JSON object with those fields at
//! the top level. `RUST_LOG` filters them like any other target
//! (`RUST_LOG=warn,access=info` keeps the access log and quietens the rest).
//!
//! Off, nothing is installed: no layer, no work per request. On, what a line
//! costs is measured in `docs/operations.md`.

mod body;
mod line;

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use axum::{Router, body::Body};
use http::{Request, Response, StatusCode};
use tracing::Span;

use body::Counted;
use line::{Head, Line};

/// The target of every access log line.
pub const TARGET: &str = "access";

/// The most characters of a request's path a line carries: a client
/// chooses the path, and its length up to the header limit (kilobytes) is
/// not worth a log line's; a route template or RPC name is far shorter.
pub const MAX_LOGGED_PATH: usize = 256;

/// Whether the access log is written (flattened into each service's
/// configuration).
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct AccessLog {
    /// One INFO line per HTTP request and gRPC call (target `access`):
    /// method, route or RPC, status, duration, bytes, client, trace_id.
    /// `ACCESS_LOG=true` (or `1`, `yes`, `on`), or the flag `--access-log`.
    #[arg(long, env = "ACCESS_LOG")]
    pub access_log: bool,
}

impl AccessLog {
    /// `router` with an access log line per HTTP request, if on; else
    /// `router` as it is.
    pub fn http(self, router: Router) -> Router {
        self.install(router, Protocol::Http)
    }

    /// `router` (a gRPC server's) with an access log line per call, if on.
    pub(crate) fn grpc(self, router: Router) -> Router {
        self.install(router, Protocol::Grpc)
    }

    fn install(self, router: Router, protocol: Protocol) -> Router {
        if !self.access_log {
            return router;
        }
        // `Router::layer` wraps each route (and the fallbacks), so the
        // request the layer sees already names its matched route.
        router.layer(AccessLogLayer { protocol })
    }
}

/// What a port serves, which decides a line's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Http,
    Grpc,
}

/// The request's root span, handed from the trace layer inside (which
/// creates it once the request reaches its route) to the access log
/// outside, which logs the line in it after the span's future is done.
/// An extension of the request only while the access log is on.
#[derive(Clone, Debug, Default)]
pub(crate) struct SpanSlot(Arc<OnceLock<Span>>);

impl SpanSlot {
    /// The span handed over, if any.
    fn span(&self) -> Span {
        self.0.get().cloned().unwrap_or_else(Span::none)
    }
}

/// Hands `span` to the access log, if it is on for `request`. Called by
/// the trace layers where they create a request's root span.
pub(crate) fn offer_span<B>(request: &Request<B>, span: &Span) {
    if let Some(slot) = request.extensions().get::<SpanSlot>() {
        let _ = slot.0.set(span.clone());
    }
}

#[derive(Clone, Copy, Debug)]
struct AccessLogLayer {
    protocol: Protocol,
}

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLogged<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLogged {
            inner,
            protocol: self.protocol,
        }
    }
}

/// [`AccessLogLayer`]'s service.
#[derive(Clone, Debug)]
struct AccessLogged<S> {
    inner: S,
    protocol: Protocol,
}

impl<S, B> tower::Service<Request<B>> for AccessLogged<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let slot = SpanSlot::default();
        request.extensions_mut().insert(slot.clone());
        let head = Head::of(&request, self.protocol);
        Logged {
            inner: self.inner.call(request),
            pending: Some((head, slot, started)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future: the line is made once the head of the response
    /// is known, and written when its body is done; if the future is
    /// dropped first (the client went away while the handler ran), the line
    /// says so with nginx's `499`.
    struct Logged<F> {
        #[pin]
        inner: F,
        pending: Option<(Head, SpanSlot, Instant)>,
    }

    impl<F> PinnedDrop for Logged<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some((head, slot, started)) = this.project().pending.take() {
                Line::unanswered(head, slot.span(), started).write();
            }
        }
    }
}

impl<F, E> Future for Logged<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // An error (none, for axum's routes, which are infallible) has no
        // response to log.
        let response = std::task::ready!(this.inner.poll(cx))?;
        let Some((head, slot, started)) = this.pending.take() else {
            return Poll::Ready(Ok(response));
        };
        let line = Line::new(head, slot.span(), started, &response);
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // The connection is handed over: the request is done.
            line.write();
            return Poll::Ready(Ok(response));
        }
        Poll::Ready(Ok(response.map(|body| Body::new(Counted::new(body, line)))))
    }
}

#[cfg(test)]
mod tests;
