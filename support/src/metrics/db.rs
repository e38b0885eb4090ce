//! The database's metrics: the pools (`db_pool_connections{state}`,
//! `db_pool_max_connections`, read from the pools at scrape time;
//! `db_pool_acquire_seconds`, timed by the observed pools), statements
//! that failed (`db_statement_errors_total{kind}`, as `db::outcomes`
//! classifies them), and the event logs (`event_log_*{log}`): how far each
//! log's relay has published against what was written, how many rows are
//! kept, and what wakes the relay.
//!
//! The handle ([`Db`]) records these (`db::stats`), wherever its
//! statements run; this encodes them.

use std::sync::{Arc, atomic::Ordering::Relaxed};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use crate::{
    db::{Db, stats::LogStats},
    event_log::EventLog,
};

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
