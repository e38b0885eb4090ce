//! The database's metrics: the pools (`db_pool_connections{state}`,
//! `db_pool_max_connections`, read from sqlx's pools at scrape time;
//! `db_pool_acquire_seconds`, timed by the observed pools), statements
//! that failed (`db_statement_errors_total{kind}`, as `db::outcomes`
//! classifies them), and the event logs (`event_log_*{log}`): how far each
//! log's relay has published against what was written, how many rows are
//! kept, and what wakes the relay.
//!
//! The handle ([`Db`]) owns these, not [`Metrics`](super::Metrics): its
//! statements record them from wherever they run, and a service's metrics
//! encode them.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{
        MetricType,
        counter::{ConstCounter, Counter},
        gauge::ConstGauge,
        histogram::Histogram,
    },
};

use super::latency_buckets;
use crate::{db::Db, event_log::EventLog};

/// What a handle's statements record; see the module comment.
#[derive(Debug)]
pub(crate) struct DbStats {
    acquire: Histogram,
    unavailable: Counter,
    other: Counter,
    /// The logs whose relays run on this database (one each per process).
    logs: Mutex<Vec<Arc<LogStats>>>,
}

impl DbStats {
    pub(crate) fn new() -> Self {
        Self {
            acquire: Histogram::new(latency_buckets()),
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
    /// [`crate::db::is_unavailable`] says.
    pub(crate) fn failed(&self, unavailable: bool) {
        if unavailable {
            self.unavailable.inc();
        } else {
            self.other.inc();
        }
    }

    /// The figures of `log`, registered for encoding on first use.
    pub(crate) fn log(&self, log: EventLog) -> Arc<LogStats> {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = logs.iter().find(|l| l.table == log.table) {
            return found.clone();
        }
        let stats = Arc::new(LogStats {
            table: log.table,
            ..LogStats::default()
        });
        logs.push(stats.clone());
        stats
    }

    fn logs(&self) -> Vec<Arc<LogStats>> {
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
    table: &'static str,
    written: AtomicI64,
    published: AtomicI64,
    retained: AtomicI64,
    woken: AtomicU64,
    timer: AtomicU64,
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

/// Reads every registered log's newest and oldest rows (one statement
/// each: the counter's row and the primary key's first entry).
pub(crate) async fn sample_event_logs(db: &Db) {
    for stats in db.stats().logs() {
        let log = EventLog { table: stats.table };
        if let Ok(bounds) = log.bounds(db).await {
            stats.written.store(bounds.last, Relaxed);
            // Sequence numbers have no gaps (see `event_log`), so the rows
            // kept are the span between the oldest and the newest.
            stats
                .retained
                .store((bounds.last - bounds.first + 1).max(0), Relaxed);
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LogLabels {
    log: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WakeLabels {
    log: &'static str,
    cause: &'static str,
}

/// Encodes a handle's figures; the pools' sizes are read as it does.
#[derive(Debug)]
pub(super) struct DbCollector {
    db: Db,
}

impl DbCollector {
    pub(super) fn new(db: Db) -> Self {
        Self { db }
    }
}

impl Collector for DbCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sizes = self.db.pool_sizes();
        let mut family = encoder.encode_descriptor(
            "db_pool_connections",
            "Pooled database connections, by state (idle, or in use by a statement or transaction)",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in [
            ("idle", sizes.idle),
            ("in_use", sizes.open.saturating_sub(sizes.idle)),
        ] {
            ConstGauge::new(n as i64).encode(family.encode_family(&StateLabels { state })?)?;
        }
        let max = ConstGauge::new(i64::from(sizes.max));
        max.encode(encoder.encode_descriptor(
            "db_pool_max_connections",
            "The most connections the pools may open",
            None,
            max.metric_type(),
        )?)?;
        let stats = self.db.stats();
        stats.acquire.encode(encoder.encode_descriptor(
            "db_pool_acquire_seconds",
            "Time a statement or transaction waited for a pooled connection",
            None,
            MetricType::Histogram,
        )?)?;
        let mut family = encoder.encode_descriptor(
            "db_statement_errors",
            "Failed statements, begins and commits: unavailable (the database cannot serve now) or other (a constraint, a bug)",
            None,
            MetricType::Counter,
        )?;
        for (kind, counter) in [("unavailable", &stats.unavailable), ("other", &stats.other)] {
            ConstCounter::new(counter.get()).encode(family.encode_family(&KindLabels { kind })?)?;
        }
        encode_logs(&mut encoder, &stats.logs())
    }
}

/// How one of a log's gauges reads its figure.
type Reading = fn(&LogStats) -> i64;

fn encode_logs(
    encoder: &mut DescriptorEncoder,
    logs: &[Arc<LogStats>],
) -> Result<(), std::fmt::Error> {
    if logs.is_empty() {
        return Ok(());
    }
    let gauges: [(&str, &str, Reading); 3] = [
        (
            "event_log_written_seq",
            "The newest seq written to the event log (lag: written minus published)",
            |l| l.written.load(Relaxed),
        ),
        (
            "event_log_published_seq",
            "The newest seq this process's relay has published",
            |l| l.published.load(Relaxed),
        ),
        (
            "event_log_retained_rows",
            "Rows the event log keeps for readers that resume",
            |l| l.retained.load(Relaxed),
        ),
    ];
    for (name, help, value) in gauges {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for log in logs {
            ConstGauge::new(value(log))
                .encode(family.encode_family(&LogLabels { log: log.table })?)?;
        }
    }
    let mut family = encoder.encode_descriptor(
        "event_log_relay_wakeups",
        "Reads of the event log by its relay, by cause (woken: a commit or NOTIFY; timer: nothing announced)",
        None,
        MetricType::Counter,
    )?;
    for log in logs {
        for (cause, n) in [("woken", &log.woken), ("timer", &log.timer)] {
            ConstCounter::new(n.load(Relaxed)).encode(family.encode_family(&WakeLabels {
                log: log.table,
                cause,
            })?)?;
        }
    }
    Ok(())
}
