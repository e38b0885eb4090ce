//! The publish hub behind `/topic/…`: one bounded broadcast channel.
//!
//! Publishing is O(1) for the caller whatever the number of subscribers:
//! the event goes into the channel once, and every session takes it
//! from there, filters by its own subscriptions and encodes its own MESSAGE.
//! A session that falls more than [`CAPACITY`] events behind is a slow
//! consumer and is dropped (see `session`), so nobody else ever waits.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::events::Publish;

/// Events a session may fall behind before it is dropped as a slow consumer:
/// minutes of normal traffic, a few MiB of `Arc`s at most.
pub(crate) const CAPACITY: usize = 4096;

/// One published event.
#[derive(Debug)]
pub(crate) struct Event {
    /// `/topic/orders`, `/topic/products`.
    pub destination: String,
    /// JSON.
    pub body: Bytes,
}

/// Fan-out hub. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Broker {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Broker {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Broker {
    /// A receiver of every event published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

impl Publish for Broker {
    fn publish(&self, destination: &str, body: Bytes) {
        // An error only means that nobody is connected.
        let _ = self.tx.send(Arc::new(Event {
            destination: destination.to_owned(),
            body,
        }));
    }
}
