//! Whether the service should get new work: not from the moment it
//! begins to stop (`OUT_OF_SERVICE`), nor while its database does not
//! answer or refuses writes (`DOWN`). `/actuator/health/readiness` and the
//! gRPC health service report it; both read the same state, so they agree.
//!
//! Nothing tells the service that its database went away until a
//! statement fails, and an idle service runs none: so a probe asks the
//! database every [`PROBE_INTERVAL`]. A refused write (a full disk) is
//! known at once, from the handle's watch (`Db::watch_writable`).

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Status;
use crate::db::Db;

/// How often the database is asked whether it answers: an outage shows in
/// readiness within this plus [`PROBE_TIMEOUT`]. One `SELECT 1` a second
/// costs the database nothing measurable.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long the database gets to answer a probe before it counts as not
/// answering. Below the pool's 5 s acquire timeout, which a stopped
/// PostgreSQL takes in full (the pool retries refused connections until
/// then), and below the 3 s a `healthcheck` allows.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness depends on, as last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// The service has begun to stop.
    pub draining: bool,
    /// The database answered the last probe.
    pub db_answers: bool,
    /// The database takes writes (see `Db::writable`).
    pub db_writable: bool,
}

impl State {
    /// Spring's `readinessState` component: `OUT_OF_SERVICE` while
    /// draining, else `UP`.
    pub fn readiness_state(self) -> Status {
        if self.draining {
            Status::OutOfService
        } else {
            Status::Up
        }
    }

    /// The `db` component's status.
    pub fn db(self) -> Status {
        Status::up_if(self.db_answers && self.db_writable)
    }

    /// The readiness group: `readinessState` and `db` aggregated, so `DOWN`
    /// when the database is, else `OUT_OF_SERVICE` while draining.
    pub fn status(self) -> Status {
        Status::aggregate([self.readiness_state(), self.db()])
    }
}

/// The readiness of one service; clones share it.
#[derive(Clone, Debug)]
pub struct Readiness {
    state: watch::Sender<State>,
}

impl Readiness {
    /// Readiness following `db` and `draining`, and the task that keeps it
    /// following them (until draining begins: from then on the service is
    /// out of service whatever its database does). Ready at first: the
    /// database answered when it was opened.
    pub fn follow(
        db: &Db,
        draining: CancellationToken,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let readiness = Self {
            state: watch::Sender::new(State {
                draining: draining.is_cancelled(),
                db_answers: true,
                db_writable: db.writable(),
            }),
        };
        let task = readiness.clone().run(db.clone(), draining);
        (readiness, task)
    }

    async fn run(self, db: Db, draining: CancellationToken) {
        let mut writable = db.watch_writable();
        let mut probe = tokio::time::interval(PROBE_INTERVAL);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = draining.cancelled() => {
                    self.state.send_if_modified(|s| !std::mem::replace(&mut s.draining, true));
                    return;
                }
                changed = writable.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let now = *writable.borrow_and_update();
                    self.state.send_if_modified(|s| std::mem::replace(&mut s.db_writable, now) != now);
                }
                _ = probe.tick() => {
                    // Abandoned when draining begins: that answer counts first.
                    tokio::select! {
                        biased;
                        () = draining.cancelled() => {}
                        answers = probe_db(&db) => self.db_answered(answers),
                    }
                }
            }
        }
    }

    /// Records whether the database just answered (a probe's, or a health
    /// request's own check).
    pub fn db_answered(&self, answers: bool) {
        self.state
            .send_if_modified(|s| std::mem::replace(&mut s.db_answers, answers) != answers);
    }

    /// The state now.
    pub fn state(&self) -> State {
        *self.state.borrow()
    }

    /// The state as it changes (for the gRPC health service).
    pub fn subscribe(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }
}

/// Whether `db` answers `SELECT 1` within [`PROBE_TIMEOUT`]. A failure is
/// logged by the handle itself (once per interval), like any statement's.
pub(crate) async fn probe_db(db: &Db) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests;
