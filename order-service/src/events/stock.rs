//! Stock changes as `/topic/products` publishes them, with a bounded window
//! of the recent ones for clients that resume.
//!
//! The seq of a stock event is its position in inventory's stock log, so
//! it means the same on every order-service replica. The window lives in
//! memory: it starts when the stock relay first reaches inventory and is
//! reset whenever the relay had to resynchronise from a snapshot (the
//! snapshot's values are published without a seq: they are state, not
//! changes). A client resuming from before the window is told to reload.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use bytes::Bytes;

use live::{Publish, Replay, Retained};

use super::{PRODUCTS_TOPIC, stock_json};

/// Stock events kept for resuming clients: minutes of a busy shop, at a
/// few hundred bytes each.
const WINDOW: usize = 10_000;

/// The window and the sink it publishes to. Cheap to clone.
#[derive(Clone)]
pub(crate) struct StockEvents {
    window: Arc<Mutex<Window>>,
    sink: Arc<dyn Publish>,
}

impl std::fmt::Debug for StockEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StockEvents")
    }
}

#[derive(Debug, Default)]
struct Window {
    /// The seq just before the oldest event held; `None` until the relay
    /// first reached inventory.
    start: Option<i64>,
    events: VecDeque<(i64, Bytes)>,
}

impl Window {
    fn last(&self) -> Option<i64> {
        self.events.back().map(|(seq, _)| *seq).or(self.start)
    }
}

impl StockEvents {
    /// An empty window publishing to `sink`.
    pub(crate) fn new(sink: Arc<dyn Publish>) -> Self {
        Self {
            window: Arc::default(),
            sink,
        }
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // The window is consistent after every statement: a panic elsewhere
        // cannot leave it half-changed.
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The relay resynchronised from a snapshot taken at `seq`: what came
    /// before is no longer known to be complete.
    pub(crate) fn restart_at(&self, seq: i64) {
        let mut window = self.window();
        window.start = Some(seq);
        window.events.clear();
    }

    /// A logged change: kept for resuming clients, then published.
    pub(crate) fn changed(&self, seq: i64, name: &str, stock: i32) {
        let body = stock_json(name, stock);
        {
            let mut window = self.window();
            if window.last() != Some(seq - 1) {
                // A gap (or the first change): the window restarts here, so
                // it always holds consecutive seqs.
                window.start = Some(seq - 1);
                window.events.clear();
            }
            if window.events.len() == WINDOW
                && let Some((oldest, _)) = window.events.pop_front()
            {
                window.start = Some(oldest);
            }
            window.events.push_back((seq, body.clone()));
        }
        self.sink.publish(PRODUCTS_TOPIC, Some(seq), body);
    }

    /// A snapshot's value (state, not a change): published without a seq.
    pub(crate) fn snapshot_value(&self, name: &str, stock: i32) {
        self.sink
            .publish(PRODUCTS_TOPIC, None, stock_json(name, stock));
    }

    /// The seq of the newest event published, if any position is known.
    pub(crate) fn last(&self) -> Option<i64> {
        self.window().last()
    }

    /// The held events after `seq`, at most `limit`; `Resync` when `seq` is
    /// outside the window.
    pub(crate) fn after(&self, seq: i64, limit: usize) -> Replay {
        let window = self.window();
        let (Some(start), Some(last)) = (window.start, window.last()) else {
            return Replay::Resync;
        };
        if seq < start || seq > last {
            return Replay::Resync;
        }
        // Seqs in the window are consecutive from `start + 1`.
        let skip = usize::try_from(seq - start).unwrap_or(usize::MAX);
        Replay::Events(
            window
                .events
                .iter()
                .skip(skip)
                .take(limit)
                .map(|(seq, body)| Retained::untraced(*seq, body.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests;
