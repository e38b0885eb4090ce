//! gRPC calls, on both sides: `grpc_server_handled_total` /
//! `grpc_server_handling_seconds` for what a service answers (a tower
//! layer on its gRPC port, [`GrpcLayer`]), `grpc_client_handled_total` /
//! `grpc_client_handling_seconds` for what it asks of another (the same
//! layer around a client's channel, [`Metered`]). One implementation for
//! both, because both see the same thing: an HTTP/2 request to
//! `/package.Service/Method` and a response whose `grpc-status` arrives in
//! its head (an error answered at once) or in its trailers.
//!
//! A call is counted when its status is known, and timed until then: for
//! a unary call, its answer; for a stream, its end. A call dropped before
//! it has a status (the client went away, or gave up) is `Canceled`.
//! Service and method labels come from the descriptor sets of what is
//! served or called; any other path is `other`, so a client inventing
//! names adds no series.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Instant,
};

use http_body::{Body, Frame, SizeHint};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use prost::Message as _;

use super::{Name, OTHER};
use crate::db::stats::latency_histogram;

/// Which side of a call a family counts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Side {
    /// Calls a service answers.
    Server,
    /// Calls a service makes.
    Client,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    grpc_service: Name,
    grpc_method: Name,
    grpc_code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_service: Name,
    grpc_method: Name,
}

/// One side's families. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Calls {
    handled: Family<CodeLabels, Counter>,
    seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

impl Calls {
    pub(crate) fn register(registry: &mut Registry, side: Side) -> Self {
        let handled = Family::default();
        let seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let (name, help, seconds_name, seconds_help) = match side {
            Side::Server => (
                "grpc_server_handled",
                "gRPC calls answered, by service, method and status code",
                "grpc_server_handling_seconds",
                "Time from a call's arrival to its status (a stream's end), by service and method",
            ),
            Side::Client => (
                "grpc_client_handled",
                "gRPC calls made (each attempt), by service, method and status code",
                "grpc_client_handling_seconds",
                "Time from a call's start to its status, by service and method",
            ),
        };
        registry.register(name, help, handled.clone());
        registry.register(seconds_name, seconds_help, seconds.clone());
        Self { handled, seconds }
    }
}

/// The known methods: path (`/package.Service/Method`) to labels.
#[derive(Debug)]
struct Names {
    methods: HashMap<Box<str>, (Name, Name)>,
    other: Name,
}

impl Names {
    fn of(descriptor_sets: &[&[u8]]) -> Self {
        let mut methods = HashMap::new();
        for set in descriptor_sets {
            let set = match prost_types::FileDescriptorSet::decode(*set) {
                Ok(set) => set,
                Err(e) => {
                    // A build error (the sets are compiled in); its calls
                    // are `other`, which the tests would notice.
                    tracing::error!(error = %e, "cannot decode a descriptor set for gRPC metrics");
                    continue;
                }
            };
            for file in &set.file {
                for service in &file.service {
                    let full = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    let service_name = Name::new(&full);
                    for method in &service.method {
                        methods.insert(
                            format!("/{full}/{}", method.name()).into_boxed_str(),
                            (service_name.clone(), Name::new(method.name())),
                        );
                    }
                }
            }
        }
        Self {
            methods,
            other: Name::new(OTHER),
        }
    }

    fn labels(&self, path: &str) -> (Name, Name) {
        self.methods
            .get(path)
            .cloned()
            .unwrap_or_else(|| (self.other.clone(), self.other.clone()))
    }
}

/// Records the calls of the service it wraps (see the module comment).
#[derive(Clone, Debug)]
pub struct GrpcLayer {
    calls: Calls,
    names: Arc<Names>,
}

impl GrpcLayer {
    pub(crate) fn new(calls: Calls, descriptor_sets: &[&[u8]]) -> Self {
        Self {
            calls,
            names: Arc::new(Names::of(descriptor_sets)),
        }
    }
}

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metered {
            inner,
            layer: self.clone(),
        }
    }
}

/// [`GrpcLayer`]'s service: a gRPC server's router, or a client's channel.
#[derive(Clone, Debug)]
pub struct Metered<S> {
    inner: S,
    layer: GrpcLayer,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Metered<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let (grpc_service, grpc_method) = self.layer.names.labels(request.uri().path());
        let call = Call {
            calls: self.layer.calls.clone(),
            grpc_service,
            grpc_method,
            started: Instant::now(),
        };
        ResponseFuture {
            inner: self.inner.call(request),
            call: Pending(Some(call)),
        }
    }
}

/// A call not yet recorded.
struct Call {
    calls: Calls,
    grpc_service: Name,
    grpc_method: Name,
    started: Instant,
}

/// The call until its status is known; `Canceled` if dropped before.
struct Pending(Option<Call>);

impl Pending {
    fn record(&mut self, grpc_code: &'static str) {
        let Some(call) = self.0.take() else {
            return;
        };
        let method = MethodLabels {
            grpc_service: call.grpc_service,
            grpc_method: call.grpc_method,
        };
        call.calls
            .seconds
            .get_or_create(&method)
            .observe(call.started.elapsed().as_secs_f64());
        call.calls
            .handled
            .get_or_create(&CodeLabels {
                grpc_service: method.grpc_service,
                grpc_method: method.grpc_method,
                grpc_code,
            })
            .inc();
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.record(CANCELED);
    }
}

/// The code of a call given up before its status arrived, as grpc-go's
/// metrics name it.
const CANCELED: &str = "Canceled";

pin_project_lite::pin_project! {
    /// [`Metered`]'s future: the response, its body metered.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Pending,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<MeteredBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answered = ready!(this.inner.poll(cx));
        let mut call = Pending(this.call.0.take());
        match answered {
            Ok(response) => {
                // An answer without a message carries its status in its
                // head ("trailers-only").
                if let Some(code) = grpc_code(response.headers()) {
                    call.record(code);
                }
                Poll::Ready(Ok(response.map(|inner| MeteredBody { inner, call })))
            }
            Err(e) => {
                // Only a client's channel fails here: the call never got
                // an answer.
                call.record(UNAVAILABLE);
                Poll::Ready(Err(e))
            }
        }
    }
}

const UNAVAILABLE: &str = "Unavailable";

pin_project_lite::pin_project! {
    /// A gRPC response body that records its call's status from its
    /// trailers.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        call: Pending,
    }
}

impl<B: Body> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.call.record(grpc_code(trailers).unwrap_or(UNKNOWN));
                }
            }
            // A body that fails or ends without a status: the peer did
            // not finish the call.
            Some(Err(_)) | None => this.call.record(UNKNOWN),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

const UNKNOWN: &str = "Unknown";

/// The `grpc-status` of `headers` as a label (grpc-go's names for the
/// codes), if it has one.
fn grpc_code(headers: &http::HeaderMap) -> Option<&'static str> {
    let status = headers.get("grpc-status")?;
    Some(
        status
            .to_str()
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .and_then(|code| CODES.get(code).copied())
            .unwrap_or(UNKNOWN),
    )
}

/// The status codes by number, as grpc-go (and its Prometheus metrics)
/// spell them.
const CODES: [&str; 17] = [
    "OK",
    CANCELED,
    UNKNOWN,
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    UNAVAILABLE,
    "DataLoss",
    "Unauthenticated",
];

/// What the unit tests reach of this module.
#[cfg(test)]
pub(super) mod tests_only {
    /// [`super::grpc_code`].
    pub(crate) fn code(headers: &http::HeaderMap) -> Option<&'static str> {
        super::grpc_code(headers)
    }
}
