//! order-service's own metrics (orders, batches, live connections,
//! releases awaiting), beside the shared ones of `support::metrics`, in
//! one registry per service instance, served at `GET /metrics` and
//! `GET /actuator/prometheus`. Labels come from closed sets (statuses,
//! reasons, stages).

use std::sync::Arc;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use support::db::Db;

use crate::domain::{Status, reason};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrderLabels {
    status: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

/// Batch-size buckets: 1, 2, 4, … 512 orders.
fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

/// Every metric of the service: the shared ones (HTTP, gRPC, process,
/// database, event logs; see `support::metrics`) and the service's own,
/// under `order_service_`. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    shared: support::metrics::Metrics,
    own: Arc<Own>,
}

#[derive(Debug)]
struct Own {
    orders: Family<OrderLabels, Counter>,
    live_connections: Gauge,
    awaiting_release: Gauge,
    batch_size: Family<StageLabels, Histogram, fn() -> Histogram>,
}

impl Own {
    fn register(registry: &mut Registry) -> Self {
        let orders = Family::<OrderLabels, Counter>::default();
        registry.register(
            "orders",
            "Orders settled since start, by final status and reason (none unless rejected)",
            orders.clone(),
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
            orders,
            live_connections,
            awaiting_release,
            batch_size,
        }
    }
}

impl Metrics {
    /// The metrics of a service whose database is `db`.
    pub(crate) fn new(db: &Db) -> Self {
        let mut builder = support::metrics::Metrics::builder(db);
        let own = Own::register(builder.registry().sub_registry_with_prefix("order_service"));
        Self {
            shared: builder.build(),
            own: Arc::new(own),
        }
    }

    /// The shared families, for the HTTP middleware, the gRPC server and
    /// client, and the scrape.
    pub(crate) fn shared(&self) -> &support::metrics::Metrics {
        &self.shared
    }

    /// Records an order reaching a final status, for `reason` (a rejection's).
    pub(crate) fn order_settled(&self, status: Status, reason: Option<&str>) {
        self.own
            .orders
            .get_or_create(&OrderLabels {
                status: status.as_str(),
                reason: reason_label(reason),
            })
            .inc();
    }

    /// Counts one open STOMP connection for as long as the guard lives.
    ///
    /// A guard rather than a decrement after the session: a WebSocket's
    /// session is dropped, not run to its end, when the socket closes.
    pub(crate) fn open_connection(&self) -> OpenConnection {
        self.own.live_connections.inc();
        OpenConnection(self.own.live_connections.clone())
    }

    /// Sets the number of orders awaiting a release (from the database, so
    /// every replica reports the same number).
    pub(crate) fn awaiting_release(&self, orders: i64) {
        self.own.awaiting_release.set(orders);
    }

    /// Records one batch of the write path's `stage` and its size.
    pub(crate) fn batch(&self, stage: &'static str, size: usize) {
        self.own
            .batch_size
            .get_or_create(&StageLabels { stage })
            .observe(size as f64);
    }
}

/// A rejection's reason as a label: the closed set of `domain::reason`,
/// in snake case; `none` without one; `other` for a text this version
/// does not know (none is stored that it did not write). Also the
/// `reason` of an order's outcome log line, so logs and metrics agree.
pub(crate) fn reason_label(reason: Option<&str>) -> &'static str {
    match reason {
        None => "none",
        Some(reason::INSUFFICIENT_STOCK) => "insufficient_stock",
        Some(reason::UNKNOWN_PRODUCT) => "unknown_product",
        Some(reason::INVENTORY_UNAVAILABLE) => "inventory_unavailable",
        Some(reason::INTERRUPTED) => "interrupted",
        Some(_) => support::metrics::OTHER,
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
