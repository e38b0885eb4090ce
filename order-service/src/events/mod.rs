//! What the order flow tells the world: every order change on
//! `/topic/orders`, every stock change on `/topic/products`.
//!
//! The flow only knows the [`Publish`] trait; the STOMP broker implements it.
//! Publishing never waits: the broker hands events to each connection's own
//! bounded queue, so a slow browser never slows an order down.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::{domain::Order, inventory::Inventory};

mod pg_bus;

pub use pg_bus::PgBus;

/// Topic of order changes (created, rejected, cancelled).
pub const ORDERS_TOPIC: &str = "/topic/orders";
/// Topic of stock changes.
pub const PRODUCTS_TOPIC: &str = "/topic/products";

/// Longest pause between attempts to reopen inventory's watch stream.
const MAX_WATCH_BACKOFF: Duration = Duration::from_secs(5);

/// Something that delivers a JSON body to a destination's subscribers
/// without blocking.
pub trait Publish: Send + Sync + 'static {
    /// Delivers `body` to every subscriber of `destination`.
    fn publish(&self, destination: &str, body: Bytes);
}

/// The flow's handle for announcing changes. Cheap to clone.
#[derive(Clone)]
pub struct Events {
    sink: Arc<dyn Publish>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    /// Publishes through `sink`.
    pub fn new(sink: Arc<dyn Publish>) -> Self {
        Self { sink }
    }

    /// Announces an order's new state; the body is the Order JSON of REST.
    pub fn order_changed(&self, order: &Order) {
        match serde_json::to_vec(order) {
            Ok(json) => self.sink.publish(ORDERS_TOPIC, Bytes::from(json)),
            Err(e) => tracing::error!(error = %e, "cannot encode order event"),
        }
    }

    /// Announces a product's new stock: `{"name":…,"stockQuantity":…}`.
    pub fn stock_changed(&self, name: &str, stock: i32) {
        let body = serde_json::json!({ "name": name, "stockQuantity": stock });
        self.sink
            .publish(PRODUCTS_TOPIC, Bytes::from(body.to_string()));
    }
}

/// Relays inventory's stock changes to `/topic/products` until shutdown,
/// reopening the watch stream (with back-off) whenever inventory goes away.
/// Changes made by anyone (other order-service replicas, grpcurl) show.
pub async fn relay_stock_changes(
    inventory: Inventory,
    events: Events,
    shutdown: CancellationToken,
) {
    // Last stock published per product, to skip the repeats a reconnect's
    // snapshot brings; versions only compare within one stream.
    let mut published: HashMap<String, i32> = HashMap::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            s = inventory.watch() => s,
        };
        match stream {
            Ok(mut stream) => {
                backoff = Duration::from_millis(100);
                let mut versions: HashMap<String, i64> = HashMap::new();
                loop {
                    let next = tokio::select! {
                        () = shutdown.cancelled() => return,
                        n = stream.message() => n,
                    };
                    let change = match next {
                        Ok(Some(change)) => change,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "stock watch ended");
                            break;
                        }
                    };
                    let seen = versions.entry(change.product.clone()).or_insert(i64::MIN);
                    if change.version <= *seen {
                        continue; // older than what we already relayed
                    }
                    *seen = change.version;
                    if published.get(&change.product) != Some(&change.stock_quantity) {
                        events.stock_changed(&change.product, change.stock_quantity);
                        published.insert(change.product, change.stock_quantity);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot watch inventory stock yet"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_WATCH_BACKOFF);
    }
}
