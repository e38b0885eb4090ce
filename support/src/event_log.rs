//! A transactional event log (an outbox) and the relay that publishes it.
//!
//! Both services append a row to a log table in the same transaction as
//! every change that others must hear about (a database trigger does it, so
//! no write path can forget). On PostgreSQL each row gets the next number
//! of a one-row counter, `<table>_seq.last`: the counter's row lock is held
//! until commit, so numbers are handed out in commit order and a
//! rolled-back transaction gives its number back. SQLite runs one writer at
//! a time, so there a row takes one past the newest row's number (or the
//! counter's, if larger) without writing the counter, a page fewer per
//! commit; the counter only moves when pruning deletes rows above it, so a
//! log pruned empty never hands a number out twice. Readers therefore see
//! the log as a sequence with no gaps and nothing committed out of order:
//! "every row after seq N" is a complete answer whenever it is asked.
//!
//! One relay per process ([`relay::run`]) publishes the rows in sequence
//! order. It is woken in-process after a commit ([`Wake`]), on PostgreSQL by
//! `NOTIFY` from other replicas ([`listen`]), and by a slow timer as a last
//! resort; whatever woke it, it reads the rows after the last one it
//! published, so a missed wake-up only delays an event, never loses it.
//! Old rows are pruned in batches ([`prune`]), bounded by age and count.

mod prune;
pub mod relay;

use std::{sync::Arc, time::Duration};

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    db::{Db, stats::LogStats},
    with_db,
};

pub use prune::{prune, prune_forever};

/// A log table: `<table>(seq BIGINT PRIMARY KEY, …, logged_at_ms BIGINT)`
/// with its counter `<table>_seq(id = 1, last)`, and the `NOTIFY` channel its
/// trigger signals on PostgreSQL (named after the table).
#[derive(Clone, Copy, Debug)]
pub struct EventLog {
    /// The table's name, a constant (it is spliced into SQL).
    pub table: &'static str,
}

/// The span of a log that can still be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The oldest retained seq (`last + 1` when nothing is retained).
    pub first: i64,
    /// The newest seq handed out (0 before the first event).
    pub last: i64,
}

impl Bounds {
    /// Whether a reader that has seen everything up to `seq` can resume
    /// from the log: nothing after it was pruned, and it is not from the
    /// future (a client of a database that was since reset).
    pub fn can_resume_after(&self, seq: i64) -> bool {
        seq >= self.first - 1 && seq <= self.last
    }
}

impl EventLog {
    /// The oldest and newest seq, read in one statement (one snapshot).
    pub async fn bounds(&self, db: &Db) -> Result<Bounds, sqlx::Error> {
        let last = self.newest_seq(db);
        let sql = format!(
            "SELECT {last}, COALESCE((SELECT MIN(seq) FROM {t}), {last} + 1) FROM {t}_seq WHERE id = 1",
            t = self.table
        );
        let (last, first): (i64, i64) = with_db!(db, read, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await?
        });
        Ok(Bounds { first, last })
    }

    /// The SQL for the newest seq handed out, in a statement that reads the
    /// log's counter row (`FROM <table>_seq`): the counter on PostgreSQL;
    /// on SQLite the newest row's seq, or the counter once pruning went
    /// past it (see the module).
    pub fn newest_seq(&self, db: &Db) -> String {
        match db.kind() {
            "sqlite" => format!(
                "MAX(last, COALESCE((SELECT MAX(seq) FROM {}), 0))",
                self.table
            ),
            _ => "last".to_owned(),
        }
    }

    /// The `NOTIFY` channel of this log.
    pub fn channel(&self) -> &'static str {
        self.table
    }
}

/// Wakes a relay. Cheap to clone; a wake-up with nobody waiting is kept
/// for the next wait, so none is lost between two reads. It carries the
/// log's figures for `/metrics` (what the relay published, what woke it)
/// to the relay; a default one belongs to no log and shows nowhere.
#[derive(Clone, Debug, Default)]
pub struct Wake {
    notify: Arc<Notify>,
    stats: Arc<LogStats>,
}

impl Wake {
    /// Something was committed: read the log.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    async fn woken(&self) {
        self.notify.notified().await;
    }
}

/// How much of a log is kept for readers that resume (settings shared by
/// both services, flattened into their configuration).
#[derive(Clone, Debug, clap::Args)]
pub struct Retention {
    /// Hours an event stays in the log for clients that resume from it
    /// (0: no limit by age).
    #[arg(long, env = "EVENT_RETENTION_HOURS", default_value_t = 24)]
    pub event_retention_hours: u64,
    /// Most events kept in the log, whatever their age (0: no limit by
    /// count).
    #[arg(long, env = "EVENT_RETENTION_EVENTS", default_value_t = 100_000)]
    pub event_retention_events: i64,
}

impl Retention {
    /// The age beyond which events go.
    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.event_retention_hours.saturating_mul(3600))
    }
}

/// The wake-up of `log`'s relay in this process: [`Wake::wake`] after each
/// of its own commits and, on PostgreSQL, every replica's `NOTIFY` (the
/// LISTEN is in place when this returns, so nothing committed after it
/// depends on the timer). The listener ends at `shutdown`.
pub async fn wake_on_commit(
    db: &Db,
    log: EventLog,
    shutdown: &CancellationToken,
) -> Result<Wake, sqlx::Error> {
    let wake = Wake {
        notify: Arc::default(),
        stats: db.stats().log(log.table),
    };
    if let Some(pool) = db.postgres() {
        listen(pool.clone(), log, wake.clone(), shutdown.clone()).await?;
    }
    Ok(wake)
}

/// How long a PostgreSQL listener waits before trying to reconnect.
const RELISTEN_PAUSE: Duration = Duration::from_secs(1);

/// LISTENs on `log`'s channel and wakes `wake` on every notification, and
/// once more after every reconnection (notifications sent while the
/// connection was down are lost; the relay catches up from the table).
/// Returns once the first LISTEN is in place, so nothing committed after
/// start-up relies on the timer; the task ends at `shutdown`.
pub async fn listen(
    pool: PgPool,
    log: EventLog,
    wake: Wake,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, sqlx::Error> {
    let mut listener = subscribe(&pool, log).await?;
    Ok(tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                n = listener.try_recv() => n,
            };
            match next {
                Ok(Some(_)) => wake.wake(),
                // The connection is gone; `try_recv` says so once with
                // `Ok(None)` (or with the error that ended it).
                Ok(None) | Err(_) => {
                    tracing::warn!(
                        channel = log.channel(),
                        "event listener lost its connection; reconnecting"
                    );
                    listener = loop {
                        match subscribe(&pool, log).await {
                            Ok(l) => break l,
                            Err(e) => tracing::warn!(error = %e, "cannot LISTEN for events yet"),
                        }
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(RELISTEN_PAUSE) => {}
                        }
                    };
                    // Whatever was notified meanwhile is in the table.
                    wake.wake();
                }
            }
        }
    }))
}

async fn subscribe(pool: &PgPool, log: EventLog) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // `listen` reconnects itself, so it knows when to wake the relay.
    listener.eager_reconnect(false);
    listener.listen(log.channel()).await?;
    Ok(listener)
}

#[cfg(all(test, feature = "testing"))]
mod tests;
