//! Order events, from the order log: its relay (what this process's
//! clients hear live) and its replay (what a resuming client missed).

use std::sync::Arc;

use live::{Publish, Replay, Retained};
use support::event_log::{Wake, relay};
use tokio_util::sync::CancellationToken;

use super::{ORDERS_TOPIC, order_json};
use crate::{error::Result, store::Store};

/// The order events, read from the order log in the database. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub(crate) struct OrderEvents {
    store: Store,
}

impl OrderEvents {
    /// The log in `store`'s database.
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// The relay, ready to run: it publishes every order event committed
    /// after this call to `sink`, in seq order, until `shutdown`.
    ///
    /// `abort_before_publish` is a fault point for tests: the process
    /// aborts just before publishing its first event, after that event's
    /// commit, as a crash there would.
    pub(crate) async fn relay(
        &self,
        sink: Arc<dyn Publish>,
        wake: Wake,
        abort_before_publish: bool,
        shutdown: CancellationToken,
    ) -> Result<impl Future<Output = ()> + use<>> {
        let start = self.store.event_bounds().await?.last;
        let store = self.store.clone();
        Ok(relay::run(
            start,
            move |after, limit| {
                let store = store.clone();
                async move { store.events_after(after, limit).await }
            },
            move |seq, (order, trace_id)| {
                if abort_before_publish {
                    tracing::error!(seq, "fault point: aborting before publishing");
                    std::process::abort();
                }
                if let Some(body) = order_json(&order) {
                    sink.publish_traced(ORDERS_TOPIC, Some(seq), body, trace_id);
                }
            },
            wake,
            shutdown,
        ))
    }

    /// The retained events after `seq`, at most `limit`.
    pub(crate) async fn after(&self, seq: i64, limit: usize) -> Result<Replay> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.store.events_after(seq, limit).await?;
        match rows.first() {
            // Rows after `seq` exist: they follow it, or some were pruned.
            Some((first, _)) if *first != seq + 1 => return Ok(Replay::Resync),
            Some(_) => {}
            // Nothing after `seq`: fine if `seq` is the newest, not if it
            // is from the future or everything after it was pruned.
            None if !self.store.event_bounds().await?.can_resume_after(seq) => {
                return Ok(Replay::Resync);
            }
            None => {}
        }
        Ok(Replay::Events(
            rows.into_iter()
                .filter_map(|(seq, (order, trace_id))| {
                    Some(Retained {
                        seq,
                        body: order_json(&order)?,
                        trace_id,
                    })
                })
                .collect(),
        ))
    }
}
