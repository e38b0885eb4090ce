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
//! Publishing never waits: the broker hands events to each connection's
//! own bounded queue, so a slow browser never slows anything down. A client
//! that resumes (`SUBSCRIBE` with `from-seq`) is served from [`History`].

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::{domain::Order, error::Result};

mod orders;
mod products;

pub(crate) use orders::OrderLog;
pub(crate) use products::ProductLog;

/// Topic of order changes (created, rejected, cancelled).
pub(crate) const ORDERS_TOPIC: &str = "/topic/orders";
/// Topic of stock changes.
pub(crate) const PRODUCTS_TOPIC: &str = "/topic/products";

/// Something that delivers a JSON body to a destination's subscribers
/// without blocking.
pub(crate) trait Publish: Send + Sync + 'static {
    /// Delivers `body` to every subscriber of `destination`; `seq` is its
    /// place in the destination's log (`None` for a stock snapshot's
    /// values, which are state rather than logged changes), `trace_id` the
    /// trace of the request that caused it, if known.
    fn publish_traced(
        &self,
        destination: &'static str,
        seq: Option<i64>,
        body: Bytes,
        trace_id: Option<String>,
    );

    /// [`Publish::publish_traced`] of an event no request caused.
    fn publish(&self, destination: &'static str, seq: Option<i64>, body: Bytes) {
        self.publish_traced(destination, seq, body, None);
    }
}

/// One retained event of a log, as a resuming client is sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Logged {
    /// Its place in the log.
    pub seq: i64,
    /// JSON.
    pub body: Bytes,
    /// The trace of the request that caused it, if known.
    pub trace_id: Option<String>,
}

impl Logged {
    /// An event no request caused.
    pub(crate) fn untraced(seq: i64, body: Bytes) -> Self {
        Self {
            seq,
            body,
            trace_id: None,
        }
    }
}

/// The retained events of a destination after some seq.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// The events that follow, in order (at most the limit asked for;
    /// fewer means the end of what is retained was reached).
    Events(Vec<Logged>),
    /// The log no longer reaches back that far (or the seq is not one it
    /// ever handed out): the client must reload.
    Resync,
}

/// Where resuming clients are served from.
pub(crate) trait History: Send + Sync + 'static {
    /// What `destination` published after `seq`, at most `limit` events.
    fn after(
        &self,
        destination: &str,
        seq: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Replay>>;
}

/// Both logs: orders from the database, products from memory.
#[derive(Clone, Debug)]
pub(crate) struct Logs {
    /// The order log.
    pub orders: OrderLog,
    /// The window of recent stock changes.
    pub products: ProductLog,
}

impl History for Logs {
    fn after(
        &self,
        destination: &str,
        seq: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Replay>> {
        match destination {
            ORDERS_TOPIC => {
                let orders = self.orders.clone();
                Box::pin(async move { orders.after(seq, limit).await })
            }
            PRODUCTS_TOPIC => {
                let replay = self.products.after(seq, limit);
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
