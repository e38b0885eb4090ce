//! The stock relay: a background job that follows inventory's `WatchStock`
//! stream and announces every stock change on `/topic/products`, so the
//! page sees changes made by anyone (other order-service replicas, other
//! inventory replicas, grpcurl).
//!
//! Inventory serves the stream from its stock log, so every change comes
//! once and in order with its `seq`. When the stream breaks, the relay
//! resumes after the last seq it received; only when inventory's log no
//! longer reaches back that far does it get a snapshot again, and then the
//! window of resumable product events restarts there.

use std::{collections::HashMap, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{events::StockEvents, inventory::Inventory};

/// Longest pause between attempts to reopen inventory's watch stream.
const MAX_WATCH_BACKOFF: Duration = Duration::from_secs(5);

/// Relays until shutdown, reopening the watch stream (with back-off)
/// whenever inventory goes away.
pub(crate) async fn run(inventory: Inventory, products: StockEvents, shutdown: CancellationToken) {
    // The seq of the last change received, to resume after.
    let mut resume: Option<i64> = None;
    // Last stock published per product: a snapshot publishes only what
    // differs from it.
    let mut published: HashMap<String, i32> = HashMap::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            s = inventory.watch(resume) => s,
        };
        match stream {
            Ok(mut stream) => {
                backoff = Duration::from_millis(100);
                let mut snapshot_at = None;
                loop {
                    let next = tokio::select! {
                        () = shutdown.cancelled() => return,
                        n = stream.message() => n,
                    };
                    let change = match next {
                        Ok(Some(change)) => change,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "stock watch ended");
                            break;
                        }
                    };
                    if change.snapshot {
                        if snapshot_at != Some(change.seq) {
                            snapshot_at = Some(change.seq);
                            products.restart_at(change.seq);
                        }
                        if published.get(&change.product) != Some(&change.stock_quantity) {
                            products.snapshot_value(&change.product, change.stock_quantity);
                        }
                    } else {
                        products.changed(change.seq, &change.product, change.stock_quantity);
                    }
                    published.insert(change.product, change.stock_quantity);
                    resume = Some(change.seq);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot watch inventory stock yet"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_WATCH_BACKOFF);
    }
}
