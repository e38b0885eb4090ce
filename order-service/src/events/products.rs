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

use super::{Logged, PRODUCTS_TOPIC, Publish, Replay, stock_json};

/// Stock events kept for resuming clients: minutes of a busy shop, at a
/// few hundred bytes each.
const WINDOW: usize = 10_000;

/// The window and the sink it publishes to. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ProductLog {
    window: Arc<Mutex<Window>>,
    sink: Arc<dyn Publish>,
}

impl std::fmt::Debug for ProductLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProductLog")
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

impl ProductLog {
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
                .map(|(seq, body)| Logged::untraced(*seq, body.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Option<i64>>>);

    impl Publish for Recorder {
        fn publish_traced(&self, _: &'static str, seq: Option<i64>, _: Bytes, _: Option<String>) {
            self.0.lock().unwrap().push(seq);
        }
    }

    fn seqs(replay: Replay) -> Vec<i64> {
        match replay {
            Replay::Events(events) => events.into_iter().map(|e| e.seq).collect(),
            Replay::Resync => panic!("expected events"),
        }
    }

    #[test]
    fn replays_what_the_window_holds_and_nothing_else() {
        let sink = Arc::new(Recorder::default());
        let log = ProductLog::new(sink.clone());
        assert_eq!(log.after(0, 10), Replay::Resync, "no position known yet");
        assert_eq!(log.last(), None);
        log.restart_at(40);
        log.snapshot_value("Laptop", 10);
        assert_eq!(log.after(40, 10), Replay::Events(vec![]));
        for seq in 41..=45 {
            log.changed(seq, "Laptop", 9);
        }
        assert_eq!(log.last(), Some(45));
        assert_eq!(seqs(log.after(42, 10)), vec![43, 44, 45]);
        assert_eq!(seqs(log.after(40, 2)), vec![41, 42]);
        assert_eq!(log.after(39, 10), Replay::Resync, "before the window");
        assert_eq!(log.after(46, 10), Replay::Resync, "from the future");
        assert_eq!(
            *sink.0.lock().unwrap(),
            vec![None, Some(41), Some(42), Some(43), Some(44), Some(45)]
        );
        log.restart_at(100);
        assert_eq!(log.after(45, 10), Replay::Resync, "the window was reset");
    }

    #[test]
    fn the_window_is_bounded() {
        let log = ProductLog::new(Arc::new(Recorder::default()));
        for seq in 1..=(WINDOW as i64 + 5) {
            log.changed(seq, "Phone", 1);
        }
        assert_eq!(log.after(4, 1), Replay::Resync);
        assert_eq!(seqs(log.after(5, 2)), vec![6, 7]);
    }
}
