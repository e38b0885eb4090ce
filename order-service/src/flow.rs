//! The order flow: place, cancel, and reconcile. It knows nothing of HTTP,
//! gRPC servers or STOMP; the transports call it.
//!
//! The invariant it keeps, whatever crashes, timeouts and retries happen:
//! at rest, per product, initial stock = inventory's stock + the quantities
//! of CREATED orders. How:
//! 1. An order is recorded PENDING with a fresh unique key before anything
//!    else, so every reservation inventory may hold has a row here.
//! 2. The reservation is keyed by that key, so retrying it is harmless.
//! 3. Every way out of PENDING is a conditional update (see `store`), and
//!    every way out that does not end CREATED sets `release_pending` in the
//!    same statement when inventory might hold stock.
//! 4. The reconciler releases stock for `release_pending` orders (release is
//!    idempotent, and a release that beats its reservation makes that
//!    reservation fail), and abandons orders left PENDING by a dead request.
//!
//! Steps 1 to 3 run in batches shared by concurrent orders (see `batches`);
//! each order still takes them in this order, with its own outcome.
//!
//! The reconciler (`reconcile`) drains a backlog (after an inventory outage,
//! say) in batches of concurrent releases, a full batch followed at once by
//! the next. A release that fails for a reason of the order's own backs off,
//! per order, so it can never hold up the others; when inventory cannot be
//! reached at all, nobody is at fault and nothing backs off.

use std::{sync::Arc, time::Duration};

use support::failure_log::{FailureLog, Severity};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::{
    domain::{IdempotencyKey, NewOrder, Order, Status, reason},
    error::{Broken, Error, Result},
    inventory::{Inventory, Reserved},
    metrics::Metrics,
    store::{Pending, Recorded, Settlement, Store},
};

mod batches;
mod outcome;
mod reconcile;

use batches::Batches;
pub use reconcile::Round;

/// Places and cancels orders. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Flow {
    store: Store,
    inventory: Inventory,
    /// The write path's stages (record, reserve, settle), in batches.
    batches: Batches,
    metrics: Metrics,
    /// A PENDING order older than this has lost its request (which gives up
    /// after the reservation deadline) and is abandoned by the reconciler.
    stale_after: Duration,
    /// Failed reservations and releases: while inventory is down (or its
    /// disk full) every order fails the same way, so logged once per
    /// interval rather than once per order.
    inventory_calls: Arc<FailureLog>,
    /// Where work that outlives its request runs (batches their callers
    /// left, releases): the service waits for it before its database
    /// closes.
    tasks: TaskTracker,
}

impl Flow {
    /// Builds the flow; `reserve_timeout` is the inventory client's
    /// deadline; detached work is spawned on `tasks`.
    pub(crate) fn new(
        (store, inventory, metrics): (Store, Inventory, Metrics),
        reserve_timeout: Duration,
        tasks: TaskTracker,
    ) -> Self {
        let stale_after = reserve_timeout * 2 + Duration::from_secs(1);
        let batches = Batches::spawn((&store, &inventory, &metrics), reserve_timeout, &tasks);
        Self {
            tasks,
            store,
            inventory,
            batches,
            metrics,
            stale_after,
            inventory_calls: Arc::new(FailureLog::new("calls to inventory")),
        }
    }

    /// Places an order: CREATED when stock was reserved, REJECTED with a
    /// reason when not. `Error::InventoryUnavailable` when inventory could
    /// not answer in time; the order is then recorded REJECTED and any stock
    /// inventory might hold for it is released in the background.
    ///
    /// With an Idempotency-Key, a retry of the same request returns the first
    /// answer; the same key with another request is `Error::KeyReused`, and
    /// a retry while the first is still under way `Error::KeyInFlight`.
    #[tracing::instrument(name = "flow.place", level = "debug", skip_all)]
    pub(crate) async fn place(
        &self,
        new: NewOrder,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Order> {
        let pending = Pending {
            new,
            key: uuid::Uuid::now_v7().to_string(),
            idempotency,
            trace_id: support::telemetry::trace_id(),
        };
        let order = match self.record(&pending).await? {
            Recorded::New(order) => order,
            Recorded::Existing {
                same_request: false,
                ..
            } => {
                return Err(Error::KeyReused);
            }
            Recorded::Existing { order, .. } if order.status == Status::Pending => {
                return Err(Error::KeyInFlight);
            }
            Recorded::Existing { order, .. } => return Ok(order),
        };

        let reserved = self
            .batches
            .reserve(&order)
            .instrument(tracing::debug_span!("flow.reserve", order.id = order.id))
            .await;
        match &reserved {
            Ok(_) => self.inventory_calls.succeeded(),
            Err(e) => self.inventory_calls.failed(Severity::Warn, e),
        }
        let (settlement, unavailable) = match reserved {
            Ok(Reserved::Yes) => (settled(Status::Created, None), false),
            Ok(Reserved::InsufficientStock) => (
                settled(Status::Rejected, Some(reason::INSUFFICIENT_STOCK)),
                false,
            ),
            Ok(Reserved::UnknownProduct) => (
                settled(Status::Rejected, Some(reason::UNKNOWN_PRODUCT)),
                false,
            ),
            // Only the reconciler releases a key, and only after abandoning
            // the order, so it is no longer PENDING: settle() below finds that.
            Ok(Reserved::Released) => (settled(Status::Rejected, Some(reason::INTERRUPTED)), false),
            Err(e) => {
                tracing::debug!(order = order.id, error = %e, "reservation failed; rejecting the order");
                (UNAVAILABLE, true)
            }
        };
        let order = self
            .settle(order, settlement, pending.trace_id.as_deref())
            .await?;
        if unavailable && order.status == Status::Rejected {
            if order.release_pending {
                self.spawn_release(order.clone());
            }
            return Err(Error::InventoryUnavailable);
        }
        Ok(order)
    }

    /// Cancels a CREATED order and gives its stock back (exactly once: the
    /// status change is conditional, and release is idempotent). If
    /// inventory is down, the order is still cancelled and the reconciler
    /// releases the stock once inventory is back.
    #[tracing::instrument(name = "flow.cancel", level = "debug", skip_all, fields(order.id = id))]
    pub(crate) async fn cancel(&self, id: i64) -> Result<Order> {
        let trace_id = support::telemetry::trace_id();
        let Some(order) = self.store.cancel(id, trace_id.as_deref()).await? else {
            return Err(match self.store.get(id).await? {
                None => Error::OrderNotFound(id),
                Some(o) => Error::NotCancellable {
                    id,
                    status: o.status,
                },
            });
        };
        self.metrics.order_settled(Status::Cancelled, None);
        outcome::settled(&order, trace_id.as_deref());
        Ok(self.release(order).await)
    }

    /// Records a new order PENDING, or finds the order recorded earlier
    /// under its Idempotency-Key.
    #[tracing::instrument(name = "flow.record", level = "debug", skip_all)]
    async fn record(&self, pending: &Pending) -> Result<Recorded> {
        // A second round only when the earlier order's key was forgotten
        // between our insert and our read (it failed retryably); a third
        // would need that to happen twice within one request.
        for _ in 0..3 {
            if let Some(order) = self.batches.record(pending.clone()).await? {
                return Ok(Recorded::New(order));
            }
            let Some(idempotency) = &pending.idempotency else {
                return Err(Broken::KeylessConflict.into());
            };
            if let Some(found) = self
                .store
                .existing(idempotency, &pending.new.fingerprint())
                .await?
            {
                return Ok(found);
            }
        }
        Err(Error::KeyInFlight)
    }

    /// Moves a PENDING order to its final state, or returns the state
    /// someone else moved it to first. Only the move is logged, in the
    /// trace `trace_id` (of the request that placed the order).
    #[tracing::instrument(name = "flow.settle", level = "debug", skip_all, fields(order.id = order.id))]
    async fn settle(&self, order: Order, s: Settlement, trace_id: Option<&str>) -> Result<Order> {
        let id = order.id;
        match self.batches.settle(order, s).await? {
            Some(settled) => {
                self.metrics
                    .order_settled(settled.status, settled.reason.as_deref());
                outcome::settled(&settled, trace_id);
                Ok(settled)
            }
            None => self.store.get(id).await?.ok_or(Broken::Vanished(id).into()),
        }
    }

    /// Asks inventory to release an order's stock; on success clears the
    /// order's `release_pending`. Failures are left to the reconciler.
    #[tracing::instrument(name = "flow.release", level = "debug", skip_all, fields(order.id = order.id))]
    async fn release(&self, mut order: Order) -> Order {
        match self.inventory.release(&order.key).await {
            Ok(()) => {
                self.inventory_calls.succeeded();
                match self.store.releases_done(&[order.id]).await {
                    Ok(()) => {
                        order.release_pending = false;
                        tracing::debug!(order = order.id, "stock released");
                    }
                    Err(e) => {
                        tracing::warn!(order = order.id, error = %e, "cannot record the release")
                    }
                }
            }
            Err(e) => {
                self.inventory_calls.failed(Severity::Warn, &e);
                tracing::debug!(order = order.id, error = %e, "release failed; the reconciler will retry");
            }
        }
        order
    }

    fn spawn_release(&self, order: Order) {
        let flow = self.clone();
        // Still part of the request's trace, though it outlives it.
        self.tasks.spawn(
            async move {
                flow.release(order).await;
            }
            .in_current_span(),
        );
    }
}

fn settled(status: Status, reason: Option<&'static str>) -> Settlement {
    Settlement {
        status,
        reason,
        release_pending: false,
        forget_idempotency_key: false,
    }
}

/// The reservation's outcome is unknown: reject, release whatever inventory
/// may hold, and let a retry with the same Idempotency-Key try afresh.
const UNAVAILABLE: Settlement = Settlement {
    status: Status::Rejected,
    reason: Some(reason::INVENTORY_UNAVAILABLE),
    release_pending: true,
    forget_idempotency_key: true,
};
