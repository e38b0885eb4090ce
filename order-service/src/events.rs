//! What the world hears: every order change on `/topic/orders`, every
//! stock change on `/topic/products`, each with its place (`seq`) in a log.
//!
//! Order changes come from the order log (see `support::event_log`): the
//! database appends them in the transaction of each change, and one relay
//! per process publishes them in order to this process's clients, woken by
//! its own commits and, on PostgreSQL, by every replica's `NOTIFY`. Stock
//! changes come from inventory's log through `WatchStock` (the stock relay)
//! and are kept here in a bounded window for clients that resume.
//!
//! Both are published through `live`'s [`Publish`](live::Publish) (the
//! broker implements it), which never waits: the broker hands events to
//! each connection's own bounded queue, so a slow browser never slows
//! anything down. A client that resumes (`SUBSCRIBE` with `from-seq`) is
//! served from [`EventSources`], `live`'s [`History`] of both topics.

use bytes::Bytes;
use futures::future::BoxFuture;
use live::{History, Replay};

use crate::domain::Order;

mod orders;
mod stock;

pub(crate) use orders::OrderEvents;
pub(crate) use stock::StockEvents;

/// Topic of order changes (created, rejected, cancelled).
pub(crate) const ORDERS_TOPIC: &str = "/topic/orders";
/// Topic of stock changes.
pub(crate) const PRODUCTS_TOPIC: &str = "/topic/products";

/// Both event sources: orders from the database, stock from memory.
#[derive(Clone, Debug)]
pub(crate) struct EventSources {
    /// The order log.
    pub orders: OrderEvents,
    /// The window of recent stock changes.
    pub stock: StockEvents,
}

impl History for EventSources {
    fn after(
        &self,
        destination: &str,
        seq: i64,
        limit: usize,
    ) -> BoxFuture<'static, live::Result<Replay>> {
        match destination {
            ORDERS_TOPIC => {
                let orders = self.orders.clone();
                Box::pin(
                    async move { orders.after(seq, limit).await.map_err(live::Error::history) },
                )
            }
            PRODUCTS_TOPIC => {
                let replay = self.stock.after(seq, limit);
                Box::pin(async move { Ok(replay) })
            }
            // Nothing was ever published anywhere else.
            _ => Box::pin(async { Ok(Replay::Events(Vec::new())) }),
        }
    }
}

/// An order as its event's body: the Order JSON of REST.
fn order_json(order: &Order) -> Option<Bytes> {
    match serde_json::to_vec(order) {
        Ok(json) => Some(Bytes::from(json)),
        Err(e) => {
            tracing::error!(error = %e, order = order.id, "cannot encode order event");
            None
        }
    }
}

/// A stock change as its event's body: `{"name":…,"stockQuantity":…}`.
fn stock_json(name: &str, stock: i32) -> Bytes {
    Bytes::from(serde_json::json!({ "name": name, "stockQuantity": stock }).to_string())
}
