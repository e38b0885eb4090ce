//! Fan-out of committed stock changes to `WatchStock` streams.
//!
//! A bounded broadcast channel: publishing never waits for a watcher. A
//! watcher that falls more than [`CAPACITY`] changes behind is sent a fresh
//! snapshot instead of the changes it missed (every event carries the
//! product's version, so the consumer can tell old from new).

use tokio::sync::broadcast;

use crate::domain::StockChange;

/// Changes buffered for slow watchers before they must resynchronise.
const CAPACITY: usize = 1024;

/// The publishing side, shared by every request handler.
#[derive(Clone, Debug)]
pub(crate) struct StockWatch {
    tx: broadcast::Sender<StockChange>,
}

impl Default for StockWatch {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl StockWatch {
    /// Publishes a committed change, if the operation made one.
    pub(crate) fn publish(&self, change: Option<StockChange>) {
        if let Some(change) = change {
            // An error only means nobody is watching.
            let _ = self.tx.send(change);
        }
    }

    /// A receiver of every change published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StockChange> {
        self.tx.subscribe()
    }
}
