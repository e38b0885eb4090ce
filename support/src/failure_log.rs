//! Logging a failure that repeats: once when it starts, then at most one
//! line per [`REPEAT_EVERY`] with how many more failed, and once when it
//! ends. An outage under load fails thousands of operations a second; a
//! line each would bury everything else in the log (and fill the disk that
//! may be the very thing that is full). The database handle logs its
//! outages so (see `db`); order-service its calls to inventory.
//!
//! A failure that comes back within the interval after it ended (a nearly
//! full disk, where a write now and then still finds room) is counted, not
//! logged at once: however often it comes and goes, failures cost at most
//! one line per interval, and only an end that was announced is logged.

use std::{
    fmt::Display,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// How often a failure that goes on is logged again, with a count: often
/// enough that the tail of the log shows it is still going on, rarely
/// enough that an outage costs six lines a minute, whatever the load.
const REPEAT_EVERY: Duration = Duration::from_secs(10);

/// How loud a failure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// It passes by itself (a lost connection, a busy database).
    Warn,
    /// It needs an operator (a full disk, an I/O error).
    Error,
}

/// The failures of one kind of operation ("database writes"), logged as
/// the module says. One per thing that fails (each database handle has its
/// own), shared by the clones of its owner.
#[derive(Debug)]
pub struct FailureLog {
    /// What fails, as the lines say it.
    what: &'static str,
    /// Set while failures go on: a success reads only this.
    failing: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The failures since the last success.
    episode: Option<Episode>,
    /// When the last line was logged.
    last_line: Option<Instant>,
    /// Failures no line has counted yet.
    unlogged: u64,
    /// The loudest of them.
    worst: Option<Severity>,
}

#[derive(Debug)]
struct Episode {
    started: Instant,
    /// Failures in it.
    total: u64,
    /// Whether a line said it started.
    announced: bool,
}

/// What to log.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// Failures started: `failed` since the last line (this one and those
    /// of short runs not logged), the last of them `error`.
    Failing {
        severity: Severity,
        failed: u64,
        error: String,
    },
    /// Failures go on: `failed` more since the last line.
    Again {
        severity: Severity,
        failed: u64,
        error: String,
    },
    /// A success after `failed` failures over `lasted`.
    Recovered { failed: u64, lasted: Duration },
}

impl FailureLog {
    /// No failure yet; `what` names the operations in the lines
    /// ("database writes").
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            failing: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    /// One operation failed with `error`.
    pub fn failed(&self, severity: Severity, error: &dyn Display) {
        if let Some(line) = self.failed_at(Instant::now(), severity, error) {
            line.emit(self.what);
        }
    }

    /// One operation succeeded: ends the failures, if any (one atomic load
    /// otherwise).
    pub fn succeeded(&self) {
        if !self.failing.load(Ordering::Relaxed) {
            return;
        }
        if let Some(line) = self.succeeded_at(Instant::now()) {
            line.emit(self.what);
        }
    }

    fn failed_at(&self, now: Instant, severity: Severity, error: &dyn Display) -> Option<Line> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *state;
        state.unlogged += 1;
        let worst = state.worst.map_or(severity, |w| w.max(severity));
        state.worst = Some(worst);
        let episode = state.episode.get_or_insert_with(|| {
            self.failing.store(true, Ordering::Relaxed);
            Episode {
                started: now,
                total: 0,
                announced: false,
            }
        });
        episode.total += 1;
        if state
            .last_line
            .is_some_and(|at| now.duration_since(at) < REPEAT_EVERY)
        {
            return None;
        }
        let (failed, error) = (state.unlogged, error.to_string());
        let line = if episode.announced {
            Line::Again {
                severity: worst,
                failed,
                error,
            }
        } else {
            Line::Failing {
                severity: worst,
                failed,
                error,
            }
        };
        episode.announced = true;
        state.last_line = Some(now);
        state.unlogged = 0;
        state.worst = None;
        Some(line)
    }

    fn succeeded_at(&self, now: Instant) -> Option<Line> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let episode = state.episode.take()?;
        self.failing.store(false, Ordering::Relaxed);
        if !episode.announced {
            // Its failures stay counted, for the next line.
            return None;
        }
        state.last_line = Some(now);
        Some(Line::Recovered {
            failed: episode.total,
            lasted: now.duration_since(episode.started),
        })
    }
}

impl Line {
    fn emit(self, what: &str) {
        let every = REPEAT_EVERY.as_secs();
        match self {
            Line::Failing {
                severity: Severity::Warn,
                failed,
                error,
            } => {
                tracing::warn!(failed, %error, "{what} failing (logged again every {every} s while it lasts)")
            }
            Line::Failing {
                severity: Severity::Error,
                failed,
                error,
            } => {
                tracing::error!(failed, %error, "{what} failing (logged again every {every} s while it lasts)")
            }
            Line::Again {
                severity: Severity::Warn,
                failed,
                error,
            } => {
                tracing::warn!(failed, %error, "{what} still failing: {failed} more since the last line")
            }
            Line::Again {
                severity: Severity::Error,
                failed,
                error,
            } => {
                tracing::error!(failed, %error, "{what} still failing: {failed} more since the last line")
            }
            Line::Recovered { failed, lasted } => tracing::info!(
                failed,
                lasted_ms = u64::try_from(lasted.as_millis()).unwrap_or(u64::MAX),
                "{what} succeed again after {failed} failures"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
