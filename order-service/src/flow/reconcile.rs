//! The reconciler: settles what requests left unsettled. A round abandons
//! orders whose request died while PENDING, then releases the stock of
//! orders whose release is due, a batch at a time, concurrently.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, SystemTime},
};

use futures::{StreamExt, stream};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::Flow;
use crate::{
    domain::{Order, Status, reason},
    error::Result,
    inventory::CallError,
    store::Settlement,
};

/// Orders the reconciler takes per round; a full round is followed at once
/// by the next, so this bounds a round's work and memory, not the rate.
const RECONCILE_BATCH: i64 = 512;
/// Releases in flight at once within a round: they share one HTTP/2
/// connection to inventory, and this many keep its database busy.
const RELEASE_CONCURRENCY: usize = 64;
/// Wait before retrying a release that failed for a reason of its own
/// order; doubled after each failure, up to [`MAX_RELEASE_BACKOFF`].
const RELEASE_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between attempts to release one order.
const MAX_RELEASE_BACKOFF: Duration = Duration::from_secs(300);

/// What a reconciliation round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Orders whose stock inventory confirmed released.
    pub released: usize,
    /// Orders still awaiting a release afterwards (backing off, or not
    /// reached yet).
    pub awaiting_release: i64,
    /// The round took a full batch and inventory answered: more may be
    /// due, so the next round starts at once.
    pub more: bool,
}

impl Flow {
    /// One reconciliation round: abandons orders whose request died while
    /// PENDING, then releases the stock of up to a batch of orders whose
    /// release is due, concurrently, recording the successes in one
    /// statement.
    ///
    /// A round that finds work is a trace of its own; an idle one (the
    /// usual case, every second) leaves none.
    pub(crate) async fn reconcile_once(&self) -> Result<Round> {
        let now = SystemTime::now();
        let mut round: Option<tracing::Span> = None;
        let mut traced = || round.get_or_insert_with(round_span).clone();
        for (order, placed_in) in self
            .store
            .stale_pending(now - self.stale_after, RECONCILE_BATCH)
            .await?
        {
            let span = traced();
            span.in_scope(|| tracing::info!(order = order.id, "abandoning an order left pending"));
            self.settle(order, ABANDONED, placed_in.as_deref())
                .instrument(span)
                .await?;
        }
        let due = self.store.due_releases(now, RECONCILE_BATCH).await?;
        if due.is_empty() {
            let awaiting_release = self.store.awaiting_release().await?;
            self.metrics.awaiting_release(awaiting_release);
            return Ok(Round {
                released: 0,
                awaiting_release,
                more: false,
            });
        }
        self.release_due(due, now).instrument(traced()).await
    }

    /// The release part of a round: releases `due` (a batch, from the
    /// store) concurrently, recording the outcomes.
    async fn release_due(&self, due: Vec<Order>, now: SystemTime) -> Result<Round> {
        let full = due.len() as i64 == RECONCILE_BATCH;
        // Once inventory is found unreachable, the rest of the batch waits
        // for the next round instead of each call finding out again.
        let unreachable = AtomicBool::new(false);
        let attempts: Vec<(Order, Attempt)> = stream::iter(due)
            .map(|order| {
                let unreachable = &unreachable;
                async move {
                    if unreachable.load(Ordering::Relaxed) {
                        return (order, Attempt::Skipped);
                    }
                    let attempt = match self.inventory.release(&order.key).await {
                        Ok(()) => Attempt::Released,
                        Err(e) if e.is_unreachable() => {
                            unreachable.store(true, Ordering::Relaxed);
                            Attempt::Unreachable(e)
                        }
                        Err(e) => Attempt::Refused(e),
                    };
                    (order, attempt)
                }
            })
            .buffer_unordered(RELEASE_CONCURRENCY)
            .collect()
            .await;
        let mut released = Vec::new();
        // Refused releases by their wait: one statement per distinct wait
        // (a handful), not one per order.
        let mut refused: BTreeMap<Duration, Vec<i64>> = BTreeMap::new();
        for (order, attempt) in attempts {
            match attempt {
                Attempt::Released => {
                    tracing::debug!(order = order.id, "stock released");
                    released.push(order.id);
                }
                Attempt::Skipped => {}
                // Nobody's fault: no back-off, the next round tries again.
                Attempt::Unreachable(e) => {
                    tracing::debug!(order = order.id, error = %e, "inventory unreachable; release waits");
                }
                Attempt::Refused(e) => {
                    let wait = backoff(order.release_attempts);
                    tracing::warn!(order = order.id, error = %e, ?wait, "release failed; backing off");
                    refused.entry(wait).or_default().push(order.id);
                }
            }
        }
        for (wait, ids) in refused {
            self.store.releases_failed(&ids, now + wait).await?;
        }
        self.store.releases_done(&released).await?;
        let awaiting_release = self.store.awaiting_release().await?;
        self.metrics.awaiting_release(awaiting_release);
        Ok(Round {
            released: released.len(),
            awaiting_release,
            more: full && !unreachable.into_inner(),
        })
    }

    /// Runs [`Flow::reconcile_once`] now, then again at once while rounds
    /// come back full, else every `interval`, until shutdown.
    pub(crate) async fn reconcile_forever(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            let more = match self.reconcile_once().await {
                Ok(round) => round.more,
                // Logged by the database handle, once per interval.
                Err(e) if e.is_database_outage() => {
                    tracing::debug!(error = %e, "reconciliation round failed");
                    false
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reconciliation round failed");
                    false
                }
            };
            if more && !shutdown.is_cancelled() {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// The root span of a reconciliation round that has work: a trace of its
/// own, since no request asked for it.
fn round_span() -> tracing::Span {
    support::telemetry::start_trace(None, |trace| {
        tracing::info_span!(
            target: support::telemetry::TRACE_TARGET,
            "reconcile",
            trace_id = trace.map(tracing::field::display),
        )
    })
}

/// How one release of a round went.
enum Attempt {
    Released,
    /// Not tried: inventory was found unreachable earlier in the round.
    Skipped,
    /// Inventory could not be reached, or did not answer in time.
    Unreachable(CallError),
    /// Inventory answered with a failure for this order.
    Refused(CallError),
}

/// The wait before the next attempt after `failures` failed ones.
fn backoff(failures: i64) -> Duration {
    let doublings = u32::try_from(failures.clamp(0, 16)).unwrap_or(16);
    (RELEASE_BACKOFF * 2u32.pow(doublings)).min(MAX_RELEASE_BACKOFF)
}

/// A PENDING order whose request died: rejected, and whatever inventory may
/// hold for it (the reservation may have been applied) is released.
const ABANDONED: Settlement = Settlement {
    status: Status::Rejected,
    reason: Some(reason::INTERRUPTED),
    release_pending: true,
    forget_idempotency_key: true,
};
