//! What a database handle's statements came to, gathered in one place (see
//! `observed`): whether writes go through, which readiness follows, and the
//! outages, logged once per interval rather than once per statement.
//!
//! A read cannot tell that the disk is full (reads keep working), so
//! readiness cannot be a ping alone: it follows the outcome of real writes.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::watch;

use super::outage::{Outage, classify};
use super::stats::DbStats;
use crate::failure_log::{FailureLog, Severity};

/// Which pool a statement ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The pool for reads (on PostgreSQL, the one pool used for reading).
    Read,
    /// The pool for writes.
    Write,
}

/// The outcomes of one handle's statements; shared by its clones, one per
/// database (the launcher runs two services, each with its own).
#[derive(Debug)]
pub(crate) struct Outcomes {
    reads: FailureLog,
    writes: FailureLog,
    /// False from a write refused by the storage (disk full, I/O error)
    /// until a write goes through again.
    writable: watch::Sender<bool>,
    /// Writes committed so far: the SQLite checkpointer skips its round
    /// when none came since its last one.
    commits: AtomicU64,
    /// The figures `/metrics` shows of this database.
    pub(crate) metrics: DbStats,
}

impl Outcomes {
    pub(crate) fn new() -> Self {
        Self {
            reads: FailureLog::new("database reads"),
            writes: FailureLog::new("database writes"),
            writable: watch::Sender::new(true),
            commits: AtomicU64::new(0),
            metrics: DbStats::new(),
        }
    }

    /// A statement, begin, commit or rollback on `role`'s pool failed with
    /// `e`. Outages are logged here; anything else is the caller's to
    /// handle (a constraint it expects, or a bug it reports).
    pub(crate) fn failed(&self, role: Role, e: &sqlx::Error) {
        let outage = classify(e);
        self.metrics.failed(outage.is_some());
        let Some(outage) = outage else {
            return;
        };
        let severity = match outage {
            Outage::Unreachable => Severity::Warn,
            Outage::Exhausted | Outage::Storage => Severity::Error,
        };
        match role {
            Role::Read => self.reads.failed(severity, e),
            Role::Write => {
                self.writes.failed(severity, e);
                if outage == Outage::Storage {
                    self.writable
                        .send_if_modified(|w| std::mem::replace(w, false));
                }
            }
        }
    }

    /// A read answered.
    pub(crate) fn read(&self) {
        self.reads.succeeded();
    }

    /// A write changed rows and is committed.
    pub(crate) fn wrote(&self) {
        self.commits.fetch_add(1, Relaxed);
        self.writes.succeeded();
        // The read lock first: a commit's usual case is already `true`.
        if !*self.writable.borrow() {
            self.writable
                .send_if_modified(|w| !std::mem::replace(w, true));
        }
    }

    /// How many writes have been committed (see [`Self::wrote`]).
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Relaxed)
    }

    /// Whether writes go through (no write refused by the storage since
    /// the last one that went through).
    pub(crate) fn writable(&self) -> bool {
        *self.writable.borrow()
    }

    /// [`Self::writable`], as it changes.
    pub(crate) fn watch_writable(&self) -> watch::Receiver<bool> {
        self.writable.subscribe()
    }
}
