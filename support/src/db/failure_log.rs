//! Logging a failure that repeats: once when it starts, then at most one
//! line per [`REPEAT_EVERY`] with how many more failed, then once when it
//! ends. An outage under load fails thousands of operations a second; a
//! line each would bury everything else in the log (and fill the disk that
//! may be the very thing that is full).

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
pub(crate) enum Severity {
    /// It passes by itself (a lost connection, a busy database).
    Warn,
    /// It needs an operator (a full disk, an I/O error).
    Error,
}

/// The failures of one kind of operation ("database writes"), logged as
/// the module says. Shared by every clone of its owner.
#[derive(Debug)]
pub(crate) struct FailureLog {
    /// What fails, as the lines say it.
    what: &'static str,
    /// Set while failures go on: a success reads only this.
    failing: AtomicBool,
    episode: Mutex<Option<Episode>>,
}

/// Failures since the last success.
#[derive(Debug)]
struct Episode {
    started: Instant,
    last_line: Instant,
    /// Failures since the last line.
    unlogged: u64,
    /// The loudest of them.
    worst: Severity,
    /// Failures in the episode.
    total: u64,
}

/// What to log.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// The first failure after a success.
    First { severity: Severity, error: String },
    /// `failed` more since the last line, the last of them `error`.
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
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            failing: AtomicBool::new(false),
            episode: Mutex::new(None),
        }
    }

    /// One operation failed with `error`.
    pub(crate) fn failed(&self, severity: Severity, error: &dyn Display) {
        if let Some(line) = self.failed_at(Instant::now(), severity, error) {
            line.emit(self.what);
        }
    }

    /// One operation succeeded: ends the failures, if any (one atomic load
    /// otherwise).
    pub(crate) fn succeeded(&self) {
        if !self.failing.load(Ordering::Relaxed) {
            return;
        }
        if let Some(line) = self.succeeded_at(Instant::now()) {
            line.emit(self.what);
        }
    }

    fn failed_at(&self, now: Instant, severity: Severity, error: &dyn Display) -> Option<Line> {
        let mut episode = self.episode.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(e) = episode.as_mut() else {
            *episode = Some(Episode {
                started: now,
                last_line: now,
                unlogged: 0,
                worst: Severity::Warn,
                total: 1,
            });
            self.failing.store(true, Ordering::Relaxed);
            return Some(Line::First {
                severity,
                error: error.to_string(),
            });
        };
        e.total += 1;
        e.unlogged += 1;
        e.worst = e.worst.max(severity);
        if now.duration_since(e.last_line) < REPEAT_EVERY {
            return None;
        }
        let line = Line::Again {
            severity: e.worst,
            failed: e.unlogged,
            error: error.to_string(),
        };
        e.last_line = now;
        e.unlogged = 0;
        e.worst = Severity::Warn;
        Some(line)
    }

    fn succeeded_at(&self, now: Instant) -> Option<Line> {
        let mut episode = self.episode.lock().unwrap_or_else(PoisonError::into_inner);
        let e = episode.take()?;
        self.failing.store(false, Ordering::Relaxed);
        Some(Line::Recovered {
            failed: e.total,
            lasted: now.duration_since(e.started),
        })
    }
}

impl Line {
    fn emit(self, what: &str) {
        let every = REPEAT_EVERY.as_secs();
        match self {
            Line::First {
                severity: Severity::Warn,
                error,
            } => tracing::warn!(%error, "{what} failing (repeats logged every {every} s)"),
            Line::First {
                severity: Severity::Error,
                error,
            } => tracing::error!(%error, "{what} failing (repeats logged every {every} s)"),
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
mod tests {
    use super::*;

    fn first(severity: Severity, error: &str) -> Option<Line> {
        Some(Line::First {
            severity,
            error: error.into(),
        })
    }

    #[test]
    fn the_first_failure_at_once_then_a_count_per_interval_then_the_recovery() {
        let log = FailureLog::new("database writes");
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);

        assert_eq!(
            log.failed_at(at(0), Severity::Warn, &"busy"),
            first(Severity::Warn, "busy")
        );
        // Within the interval: counted, not logged, however many.
        for ms in 1..1000 {
            assert_eq!(log.failed_at(at(ms), Severity::Warn, &"busy"), None);
        }
        assert_eq!(log.failed_at(at(9_999), Severity::Error, &"full"), None);
        // The interval is up: the 1,001 since the first line (this one
        // included), at the loudest of them, with the last error.
        assert_eq!(
            log.failed_at(at(10_000), Severity::Warn, &"busy"),
            Some(Line::Again {
                severity: Severity::Error,
                failed: 1001,
                error: "busy".into()
            })
        );
        assert_eq!(log.failed_at(at(10_001), Severity::Warn, &"busy"), None);
        assert_eq!(
            log.failed_at(at(20_000), Severity::Warn, &"busy"),
            Some(Line::Again {
                severity: Severity::Warn,
                failed: 2,
                error: "busy".into()
            })
        );

        assert!(log.failing.load(Ordering::Relaxed));
        assert_eq!(
            log.succeeded_at(at(25_000)),
            Some(Line::Recovered {
                failed: 1004,
                lasted: Duration::from_secs(25)
            })
        );
        assert!(!log.failing.load(Ordering::Relaxed));
        // Nothing more to say until the next failure, which is new again.
        assert_eq!(log.succeeded_at(at(25_001)), None);
        assert_eq!(
            log.failed_at(at(25_002), Severity::Error, &"full"),
            first(Severity::Error, "full")
        );
    }
}
