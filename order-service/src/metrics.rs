//! Prometheus metrics, rendered as text at `GET /metrics`.
//!
//! A registry per service instance (prometheus-client has no global state),
//! so tests can run several servers in one process. Labels come from closed
//! sets (route templates, status names, gRPC codes): a client cannot create
//! new time series by sending odd URLs.

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallErrorLabels {
    method: &'static str,
    code: String,
}

/// Latency buckets from 100 µs to ~1.6 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

/// Batch-size buckets: 1, 2, 4, … 512 orders.
fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

/// Every metric of the service. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    orders: Family<StatusLabels, Counter>,
    inventory_latency: Family<CallLabels, Histogram, fn() -> Histogram>,
    inventory_errors: Family<CallErrorLabels, Counter>,
    live_connections: Gauge,
    awaiting_release: Gauge,
    batch_size: Family<StageLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("order_service");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        let http_latency =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_latency.clone(),
        );
        let orders = Family::<StatusLabels, Counter>::default();
        registry.register(
            "orders",
            "Orders settled since start, by final status",
            orders.clone(),
        );
        let inventory_latency =
            Family::<CallLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "inventory_call_duration_seconds",
            "Latency of gRPC calls to inventory, retries included",
            inventory_latency.clone(),
        );
        let inventory_errors = Family::<CallErrorLabels, Counter>::default();
        registry.register(
            "inventory_call_errors",
            "Failed gRPC calls to inventory by code",
            inventory_errors.clone(),
        );
        let live_connections = Gauge::default();
        registry.register(
            "live_connections",
            "Open STOMP connections (WebSocket and SockJS)",
            live_connections.clone(),
        );
        let awaiting_release = Gauge::default();
        registry.register(
            "orders_awaiting_release",
            "Orders whose stock inventory has yet to confirm released (cancelled, or rejected after an unanswered reservation)",
            awaiting_release.clone(),
        );
        let batch_size = Family::<StageLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            batch_histogram,
        );
        registry.register(
            "batch_size",
            "Orders per batch of the write path, by stage (record, reserve, settle)",
            batch_size.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_latency,
                orders,
                inventory_latency,
                inventory_errors,
                live_connections,
                awaiting_release,
                batch_size,
            }),
        }
    }
}

impl Metrics {
    /// Records one HTTP request. Both labels must come from closed sets
    /// (standard methods; route templates), or a client could create time
    /// series at will.
    pub(crate) fn http_request(
        &self,
        method: &'static str,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let route = route.to_owned();
        self.inner
            .http_latency
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.inner
            .http_requests
            .get_or_create(&HttpLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// Records an order reaching a final status.
    pub(crate) fn order_settled(&self, status: &'static str) {
        self.inner
            .orders
            .get_or_create(&StatusLabels { status })
            .inc();
    }

    /// Records one inventory call; `error` is its gRPC code when it failed.
    pub(crate) fn inventory_call(
        &self,
        method: &'static str,
        elapsed: Duration,
        error: Option<tonic::Code>,
    ) {
        self.inner
            .inventory_latency
            .get_or_create(&CallLabels { method })
            .observe(elapsed.as_secs_f64());
        if let Some(code) = error {
            self.inner
                .inventory_errors
                .get_or_create(&CallErrorLabels {
                    method,
                    code: format!("{code:?}"),
                })
                .inc();
        }
    }

    /// Counts one open STOMP connection for as long as the guard lives.
    ///
    /// A guard rather than a decrement after the session: a WebSocket's
    /// session is dropped, not run to its end, when the socket closes.
    pub(crate) fn open_connection(&self) -> OpenConnection {
        self.inner.live_connections.inc();
        OpenConnection(self.inner.live_connections.clone())
    }

    /// Sets the number of orders awaiting a release (from the database, so
    /// every replica reports the same number).
    pub(crate) fn awaiting_release(&self, orders: i64) {
        self.inner.awaiting_release.set(orders);
    }

    /// Records one batch of the write path's `stage` and its size.
    pub(crate) fn batch(&self, stage: &'static str, size: usize) {
        self.inner
            .batch_size
            .get_or_create(&StageLabels { stage })
            .observe(size as f64);
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.inner.registry);
        out
    }
}

/// One open STOMP connection in `live_connections`; decrements on drop.
#[derive(Debug)]
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
