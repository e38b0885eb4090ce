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

use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::{
    domain::{IdempotencyKey, NewOrder, Order, Status, reason},
    error::{Error, Result},
    events::Events,
    inventory::{Inventory, Reserved},
    metrics::Metrics,
    store::{Recorded, Settlement, Store},
};

/// Orders the reconciler handles per round; the rest wait for the next one.
const RECONCILE_BATCH: i64 = 100;

/// Places and cancels orders. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Flow {
    store: Store,
    inventory: Inventory,
    events: Events,
    metrics: Metrics,
    /// A PENDING order older than this has lost its request (which gives up
    /// after the reservation deadline) and is abandoned by the reconciler.
    stale_after: Duration,
}

impl Flow {
    /// Builds the flow; `reserve_timeout` is the inventory client's deadline.
    pub fn new(
        store: Store,
        inventory: Inventory,
        events: Events,
        metrics: Metrics,
        reserve_timeout: Duration,
    ) -> Self {
        let stale_after = reserve_timeout * 2 + Duration::from_secs(1);
        Self {
            store,
            inventory,
            events,
            metrics,
            stale_after,
        }
    }

    /// The store, for reads.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The inventory client, for reads.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Places an order: CREATED when stock was reserved, REJECTED with a
    /// reason when not. `Error::InventoryUnavailable` when inventory could
    /// not answer in time; the order is then recorded REJECTED and any stock
    /// inventory might hold for it is released in the background.
    ///
    /// With an Idempotency-Key, a retry of the same request returns the first
    /// answer; the same key with another request is `Error::Unprocessable`.
    pub async fn place(&self, new: NewOrder, idempotency: Option<IdempotencyKey>) -> Result<Order> {
        let key = uuid::Uuid::now_v7().to_string();
        let order = match self.store.record(&new, &key, idempotency.as_ref()).await? {
            Recorded::New(order) => order,
            Recorded::Existing {
                same_request: false,
                ..
            } => {
                return Err(Error::Unprocessable(
                    "Idempotency-Key was already used for a different request".into(),
                ));
            }
            Recorded::Existing { order, .. } if order.status == Status::Pending => {
                return Err(Error::Conflict(
                    "A request with this Idempotency-Key is still being processed".into(),
                ));
            }
            Recorded::Existing { order, .. } => return Ok(order),
        };

        let (settlement, unavailable) = match self
            .inventory
            .reserve(&order.key, &order.product, order.quantity)
            .await
        {
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
                tracing::warn!(order = order.id, error = %e, "reservation failed; rejecting the order");
                (UNAVAILABLE, true)
            }
        };
        let order = self.settle(order, settlement).await?;
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
    pub async fn cancel(&self, id: i64) -> Result<Order> {
        let Some(order) = self.store.cancel(id).await? else {
            return Err(match self.store.get(id).await? {
                None => Error::NotFound(format!("Order {id} not found")),
                Some(o) => Error::Conflict(format!(
                    "Order {id} is {} and cannot be cancelled",
                    o.status.as_str()
                )),
            });
        };
        self.metrics.order_settled(Status::Cancelled.as_str());
        self.events.order_changed(&order);
        Ok(self.release(order).await)
    }

    /// Moves a PENDING order to its final state, or returns the state
    /// someone else moved it to first.
    async fn settle(&self, order: Order, s: Settlement<'_>) -> Result<Order> {
        match self.store.settle(order.id, s).await? {
            Some(settled) => {
                self.metrics.order_settled(settled.status.as_str());
                self.events.order_changed(&settled);
                Ok(settled)
            }
            None => self
                .store
                .get(order.id)
                .await?
                .ok_or_else(|| Error::Internal(format!("order {} vanished", order.id))),
        }
    }

    /// Asks inventory to release an order's stock; on success clears the
    /// order's `release_pending`. Failures are left to the reconciler.
    async fn release(&self, mut order: Order) -> Order {
        match self.inventory.release(&order.key).await {
            Ok(()) => match self.store.release_done(order.id).await {
                Ok(()) => order.release_pending = false,
                Err(e) => tracing::warn!(order = order.id, error = %e, "cannot record the release"),
            },
            Err(e) => {
                tracing::warn!(order = order.id, error = %e, "release failed; the reconciler will retry")
            }
        }
        order
    }

    fn spawn_release(&self, order: Order) {
        let flow = self.clone();
        tokio::spawn(async move {
            flow.release(order).await;
        });
    }

    /// One reconciliation round: abandons orders whose request died while
    /// PENDING, and releases stock still marked for release. Returns how many
    /// orders are still unsettled afterwards.
    pub async fn reconcile_once(&self) -> Result<usize> {
        let stale_before = SystemTime::now() - self.stale_after;
        let mut left = 0;
        for order in self.store.unsettled(stale_before, RECONCILE_BATCH).await? {
            let order = if order.status == Status::Pending {
                tracing::info!(order = order.id, "abandoning an order left pending");
                // release_pending: inventory may have applied the reservation.
                let abandoned = Settlement {
                    status: Status::Rejected,
                    reason: Some(reason::INTERRUPTED),
                    release_pending: true,
                    forget_idempotency_key: true,
                };
                self.settle(order, abandoned).await?
            } else {
                order
            };
            if order.release_pending && self.release(order).await.release_pending {
                left += 1;
            }
        }
        Ok(left)
    }

    /// Runs [`Flow::reconcile_once`] now and then every `interval` until shutdown.
    pub async fn reconcile_forever(self, interval: Duration, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.reconcile_once().await {
                tracing::warn!(error = %e, "reconciliation round failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

fn settled(status: Status, reason: Option<&'static str>) -> Settlement<'static> {
    Settlement {
        status,
        reason,
        release_pending: false,
        forget_idempotency_key: false,
    }
}

/// The reservation's outcome is unknown: reject, release whatever inventory
/// may hold, and let a retry with the same Idempotency-Key try afresh.
const UNAVAILABLE: Settlement<'static> = Settlement {
    status: Status::Rejected,
    reason: Some(reason::INVENTORY_UNAVAILABLE),
    release_pending: true,
    forget_idempotency_key: true,
};
