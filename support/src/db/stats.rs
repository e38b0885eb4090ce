//! What a handle's statements and its logs' relays record for
//! `/metrics` (`crate::metrics` encodes it): the waits for a pooled
//! connection, failed statements by kind, and each event log's relay.
//! Kept with the handle, not the metrics, because they are recorded from
//! wherever a statement runs.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use prometheus_client::metrics::{
    counter::Counter,
    histogram::{Histogram, exponential_buckets},
};

/// The latency buckets of every histogram of time (requests, calls, pool
/// waits, so dashboards compare them): 100 µs to ~1.6 s, doubling.
pub(crate) fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

/// What a handle's statements record; see the module comment.
#[derive(Debug)]
pub(crate) struct DbStats {
    /// Waits for a pooled connection, in seconds.
    pub(crate) acquire: Histogram,
    /// Failures that say the database cannot serve now.
    pub(crate) unavailable: Counter,
    /// Any other failure.
    pub(crate) other: Counter,
    /// The logs whose relays run on this database (one each per process).
    logs: Mutex<Vec<Arc<LogStats>>>,
}

impl DbStats {
    pub(crate) fn new() -> Self {
        Self {
            acquire: latency_histogram(),
            unavailable: Counter::default(),
            other: Counter::default(),
            logs: Mutex::default(),
        }
    }

    /// A statement or transaction waited `waited` for a pooled connection.
    pub(crate) fn acquired(&self, waited: Duration) {
        self.acquire.observe(waited.as_secs_f64());
    }

    /// A statement, begin or commit failed; `unavailable` as
    /// [`super::is_unavailable`] says.
    pub(crate) fn failed(&self, unavailable: bool) {
        if unavailable {
            self.unavailable.inc();
        } else {
            self.other.inc();
        }
    }

    /// The figures of `log`, registered for encoding on first use.
    pub(crate) fn log(&self, table: &'static str) -> Arc<LogStats> {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = logs.iter().find(|l| l.table == table) {
            return found.clone();
        }
        let stats = Arc::new(LogStats {
            table,
            ..LogStats::default()
        });
        logs.push(stats.clone());
        stats
    }

    /// The registered logs.
    pub(crate) fn logs(&self) -> Vec<Arc<LogStats>> {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One event log's figures: plain atomics, set by its relay (published,
/// wake-ups) and at scrape time (written, retained).
#[derive(Debug, Default)]
pub(crate) struct LogStats {
    /// The log's table.
    pub(crate) table: &'static str,
    /// The newest seq written (set at scrape time).
    pub(crate) written: AtomicI64,
    /// The newest seq this process's relay published.
    pub(crate) published: AtomicI64,
    /// Rows kept (set at scrape time).
    pub(crate) retained: AtomicI64,
    /// Reads after a wake-up.
    pub(crate) woken: AtomicU64,
    /// Reads after the timer.
    pub(crate) timer: AtomicU64,
}

/// Why a relay read its log.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WakeCause {
    /// A commit in this process, or a `NOTIFY` from another's.
    Woken,
    /// The timer, with nothing announced.
    Timer,
}

impl LogStats {
    /// The relay has published every row up to `seq`.
    pub(crate) fn published(&self, seq: i64) {
        self.published.store(seq, Relaxed);
    }

    /// The relay woke up for `cause`.
    pub(crate) fn woke(&self, cause: WakeCause) {
        match cause {
            WakeCause::Woken => &self.woken,
            WakeCause::Timer => &self.timer,
        }
        .fetch_add(1, Relaxed);
    }
}
