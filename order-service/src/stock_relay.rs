//! The stock relay: a background job that follows inventory's `WatchStock`
//! stream and announces every stock change on `/topic/products`, so the
//! page sees changes made by anyone (other order-service replicas, grpcurl).

use std::{collections::HashMap, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{events::Events, inventory::Inventory};

/// Longest pause between attempts to reopen inventory's watch stream.
const MAX_WATCH_BACKOFF: Duration = Duration::from_secs(5);

/// Relays until shutdown, reopening the watch stream (with back-off)
/// whenever inventory goes away.
pub(crate) async fn run(inventory: Inventory, events: Events, shutdown: CancellationToken) {
    // Last stock published per product, to skip the repeats a reconnect's
    // snapshot brings; versions only compare within one stream.
    let mut published: HashMap<String, i32> = HashMap::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => return,
            s = inventory.watch() => s,
        };
        match stream {
            Ok(mut stream) => {
                backoff = Duration::from_millis(100);
                let mut versions: HashMap<String, i64> = HashMap::new();
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
                    let seen = versions.entry(change.product.clone()).or_insert(i64::MIN);
                    if change.version <= *seen {
                        continue; // older than what we already relayed
                    }
                    *seen = change.version;
                    if published.get(&change.product) != Some(&change.stock_quantity) {
                        events.stock_changed(&change.product, change.stock_quantity);
                        published.insert(change.product, change.stock_quantity);
                    }
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
