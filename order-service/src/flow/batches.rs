//! The write path in batches: every order goes through three stages, each
//! a `support::batch::Batcher`: an order that finds its stage idle goes at
//! once, alone; orders that arrive while it is busy go next, together (no
//! timer, at most [`MAX_BATCH`]), and the stage does one thing for all of
//! them at once:
//! 1. **record**: one multi-row INSERT records them PENDING;
//! 2. **reserve**: one `ReserveStockBatch` call, one transaction at
//!    inventory, decides their reservations in arrival order;
//! 3. **settle**: one transaction moves them to CREATED or REJECTED (their
//!    events are logged by that transaction).
//!
//! The stages run side by side, so while one batch is being reserved the
//! next is being recorded and the previous settled. An order alone goes
//! through at once; under load, each commit and round trip is shared by
//! as many orders as arrived while the last one was under way, so
//! throughput grows with load instead of queueing behind commits.
//!
//! Nothing about the invariants changes: each order is still recorded
//! before its reservation, keyed, and settled conditionally (see `flow`).

use std::{sync::Arc, time::Duration};

use proto::ReserveStockRequest;
use support::batch::Batcher;
use tokio_util::task::TaskTracker;
use tonic::Status;

use crate::{
    domain::Order,
    error::{Broken, Error, Result},
    inventory::{CallError, Inventory, Reserved},
    metrics::Metrics,
    store::{Pending, Settlement, Store},
};

/// Most orders in one batch of any stage: bounds a statement's size and a
/// transaction's length (inventory accepts up to 1024 per call).
const MAX_BATCH: usize = 256;
/// Orders that may wait for each stage; beyond that, requests wait to
/// enqueue (the HTTP admission limit stops them well before).
const QUEUE: usize = 4096;

/// Handles on the three stages. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Batches {
    record: Batcher<Pending, Result<Option<Order>>>,
    reserve: Batcher<ReserveStockRequest, Result<Reserved, CallError>>,
    settle: Batcher<(Order, Settlement), Result<Option<Order>>>,
    /// How long an order waits for its reservation, queueing included.
    reserve_timeout: Duration,
}

impl Batches {
    /// The three stages (their work runs in Tokio tasks: the callers' own,
    /// or one per stage while it has a queue).
    pub(crate) fn spawn(
        (store, inventory, metrics): (&Store, &Inventory, &Metrics),
        reserve_timeout: Duration,
        tasks: &TaskTracker,
    ) -> Self {
        let record = Batcher::new("record", (MAX_BATCH, QUEUE), tasks.clone(), {
            let (store, metrics) = (store.clone(), metrics.clone());
            move |batch: Vec<Pending>| {
                let (store, metrics) = (store.clone(), metrics.clone());
                async move {
                    metrics.batch("record", batch.len());
                    each(batch.len(), store.insert_pending(&batch).await)
                }
            }
        });
        let reserve = Batcher::new("reserve", (MAX_BATCH, QUEUE), tasks.clone(), {
            let (inventory, metrics) = (inventory.clone(), metrics.clone());
            move |batch: Vec<ReserveStockRequest>| {
                let (inventory, metrics) = (inventory.clone(), metrics.clone());
                async move {
                    let n = batch.len();
                    metrics.batch("reserve", n);
                    match inventory.reserve_batch(batch).await {
                        Ok(answers) => answers,
                        Err(e) => vec![Err(e); n],
                    }
                }
            }
        });
        let settle = Batcher::new("settle", (MAX_BATCH, QUEUE), tasks.clone(), {
            let (store, metrics) = (store.clone(), metrics.clone());
            move |batch: Vec<(Order, Settlement)>| {
                let (store, metrics) = (store.clone(), metrics.clone());
                async move {
                    metrics.batch("settle", batch.len());
                    each(batch.len(), store.settle_batch(&batch).await)
                }
            }
        });
        Self {
            record,
            reserve,
            settle,
            reserve_timeout,
        }
    }

    /// Records a new order PENDING; `None` when its Idempotency-Key is
    /// already recorded (nothing was written).
    pub(crate) async fn record(&self, pending: Pending) -> Result<Option<Order>> {
        self.record
            .call(pending)
            .await
            .unwrap_or_else(|_| Err(Broken::StageLost("record").into()))
    }

    /// Reserves an order's stock at inventory, keyed by the order's key.
    /// Bounded by the reservation deadline from the moment it is queued:
    /// past it, the outcome is unknown (the batch may still apply it), so
    /// the caller treats stock as possibly held, as for any lost answer.
    pub(crate) async fn reserve(&self, order: &Order) -> Result<Reserved, CallError> {
        let request = ReserveStockRequest {
            reservation_key: order.key.clone(),
            product: order.product.clone(),
            quantity: i32::try_from(order.quantity).unwrap_or(i32::MAX),
        };
        match tokio::time::timeout(self.reserve_timeout, self.reserve.call(request)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(CallError::Unavailable(Status::unavailable(
                "the reserve stage gave no answer",
            ))),
            Err(_) => Err(CallError::Unavailable(Status::deadline_exceeded(
                "inventory did not answer in time",
            ))),
        }
    }

    /// Moves a PENDING order (as recorded) to its final state; `None` when
    /// it was no longer PENDING.
    pub(crate) async fn settle(&self, order: Order, s: Settlement) -> Result<Option<Order>> {
        self.settle
            .call((order, s))
            .await
            .unwrap_or_else(|_| Err(Broken::StageLost("settle").into()))
    }
}

/// One answer per entry of a batch of `n`: its own, or the whole batch's
/// failure, shared.
fn each<T>(n: usize, answers: Result<Vec<T>>) -> Vec<Result<T>> {
    match answers {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) => {
            let e = Arc::new(e);
            (0..n).map(|_| Err(Error::Batch(e.clone()))).collect()
        }
    }
}
