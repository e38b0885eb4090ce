//! The publish hub behind `/topic/…`: one bounded broadcast channel, and
//! the history a resuming subscription is served from.
//!
//! Publishing is O(1) for the caller whatever the number of subscribers:
//! the event goes into the channel once, and every session takes it
//! from there, filters by its own subscriptions and encodes its own MESSAGE.
//! A session that falls more than [`CAPACITY`] events behind is a slow
//! consumer and is dropped (see `session`), so nobody else ever waits.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::events::{History, Publish};

/// Events a session may fall behind before it is dropped as a slow consumer:
/// minutes of normal traffic, a few MiB of `Arc`s at most.
pub(crate) const CAPACITY: usize = 4096;

/// One published event.
#[derive(Debug)]
pub(crate) struct Event {
    /// Where it goes: `/topic/…`.
    pub destination: &'static str,
    /// Its place in the destination's log, when it has one.
    pub seq: Option<i64>,
    /// JSON.
    pub body: Bytes,
    /// The trace of the request that caused it, if known.
    pub trace_id: Option<String>,
}

/// The fan-out hub: the application publishes into it ([`Publish`]), every
/// STOMP session ([`serve`](crate::serve)) takes the events of its
/// subscriptions from it. Cheap to clone; clones share one channel.
#[derive(Clone)]
pub struct Broker {
    tx: broadcast::Sender<Arc<Event>>,
    history: Option<Arc<dyn History>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("history", &self.history.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Broker {
    /// A hub without history: every resuming subscription is told to resync.
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
            history: None,
        }
    }
}

impl Broker {
    /// The same hub (clones share one channel), serving resuming
    /// subscriptions from `history`.
    pub fn with_history(self, history: Arc<dyn History>) -> Self {
        Self {
            history: Some(history),
            ..self
        }
    }

    /// A receiver of every event published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Where resuming subscriptions are served from.
    pub(crate) fn history(&self) -> Option<&Arc<dyn History>> {
        self.history.as_ref()
    }
}

impl Publish for Broker {
    fn publish_traced(
        &self,
        destination: &'static str,
        seq: Option<i64>,
        body: Bytes,
        trace_id: Option<String>,
    ) {
        // An error only means that nobody is connected.
        let _ = self.tx.send(Arc::new(Event {
            destination,
            seq,
            body,
            trace_id,
        }));
    }
}
