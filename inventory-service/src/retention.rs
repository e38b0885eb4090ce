//! Pruning of settled reservations once they are older than the retention
//! period, so the reservations table grows with the orders in flight and
//! the recent past, not with every order ever placed.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{self, Store};

/// Rows per delete: a short transaction on SQLite's single writer.
const BATCH: i64 = 1000;
/// How often the table is swept.
const EVERY: Duration = Duration::from_secs(3600);

/// Sweeps at start and then every [`EVERY`] until `shutdown`, deleting
/// settled reservations created more than `retention` ago.
pub(crate) async fn run(store: Store, retention: Duration, shutdown: CancellationToken) {
    loop {
        match sweep(&store, retention, &shutdown).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "pruned settled reservations"),
            Err(e) => tracing::warn!(error = %e, "pruning settled reservations failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// One sweep: batches until one comes back short.
pub(crate) async fn sweep(
    store: &Store,
    retention: Duration,
    shutdown: &CancellationToken,
) -> crate::error::Result<u64> {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let before_ms = store::now_ms().saturating_sub(retention_ms);
    let mut total = 0;
    while !shutdown.is_cancelled() {
        let deleted = store.prune_settled(before_ms, BATCH).await?;
        total += deleted;
        if deleted < BATCH as u64 {
            break;
        }
        // Let waiting reservations through between batches.
        tokio::task::yield_now().await;
    }
    Ok(total)
}
