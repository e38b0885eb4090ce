//! What the order flow tells the world: every order change on
//! `/topic/orders`, every stock change on `/topic/products`.
//!
//! The flow only knows the [`Publish`] trait; the STOMP broker implements it.
//! Publishing never waits: the broker hands events to each connection's own
//! bounded queue, so a slow browser never slows an order down.

use std::sync::Arc;

use bytes::Bytes;

use crate::domain::Order;

mod pg_bus;

pub(crate) use pg_bus::PgBus;

/// Topic of order changes (created, rejected, cancelled).
pub(crate) const ORDERS_TOPIC: &str = "/topic/orders";
/// Topic of stock changes.
pub(crate) const PRODUCTS_TOPIC: &str = "/topic/products";

/// Something that delivers a JSON body to a destination's subscribers
/// without blocking.
pub(crate) trait Publish: Send + Sync + 'static {
    /// Delivers `body` to every subscriber of `destination`.
    fn publish(&self, destination: &str, body: Bytes);
}

/// The flow's handle for announcing changes. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Events {
    sink: Arc<dyn Publish>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    /// Publishes through `sink`.
    pub(crate) fn new(sink: Arc<dyn Publish>) -> Self {
        Self { sink }
    }

    /// Announces an order's new state; the body is the Order JSON of REST.
    pub(crate) fn order_changed(&self, order: &Order) {
        match serde_json::to_vec(order) {
            Ok(json) => self.sink.publish(ORDERS_TOPIC, Bytes::from(json)),
            Err(e) => tracing::error!(error = %e, "cannot encode order event"),
        }
    }

    /// Announces a product's new stock: `{"name":…,"stockQuantity":…}`.
    pub(crate) fn stock_changed(&self, name: &str, stock: i32) {
        let body = serde_json::json!({ "name": name, "stockQuantity": stock });
        self.sink
            .publish(PRODUCTS_TOPIC, Bytes::from(body.to_string()));
    }
}
