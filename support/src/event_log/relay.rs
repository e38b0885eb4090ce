//! The relay: publishes every log row after the last one it published, in
//! sequence order, whenever it is woken (and once a second regardless).

use std::{fmt::Display, time::Duration};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Wake;
use crate::db::stats::WakeCause;

/// Rows read per query: large enough to drain a burst in few reads,
/// small enough to bound a read's memory.
pub const BATCH: i64 = 512;
/// Longest time between reads: catches whatever no wake-up announced (a
/// `NOTIFY` lost between a listener's death and its reconnection is caught
/// by the wake-up after reconnecting; this is the last resort).
const POLL: Duration = Duration::from_secs(1);
/// Shortest time between reads. A read costs far more than the rows it
/// returns (measured: one read per order event took a quarter of the
/// order throughput on two cores), so under load a read waits for this
/// much to pass since the previous one and takes every event committed
/// meanwhile; after a quiet spell an event is read at once.
const MIN_READ_INTERVAL: Duration = Duration::from_millis(5);

/// Publishes the rows after `start` as `fetch(after, limit)` returns them
/// (ascending seq, at most `limit`), calling `publish(seq, event)` for each
/// in order, until `shutdown`. A failed read is retried after a pause; the
/// rows are still there.
pub async fn run<E, Err, Fut>(
    start: i64,
    mut fetch: impl FnMut(i64, i64) -> Fut,
    mut publish: impl FnMut(i64, E),
    wake: Wake,
    shutdown: CancellationToken,
) where
    Fut: Future<Output = Result<Vec<(i64, E)>, Err>>,
    Err: Display,
{
    let mut last = start;
    wake.stats.published(last);
    let mut last_read = Instant::now();
    loop {
        let due = last_read + MIN_READ_INTERVAL;
        if Instant::now() < due {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep_until(due) => {}
            }
        }
        last_read = Instant::now();
        loop {
            let rows = tokio::select! {
                () = shutdown.cancelled() => return,
                rows = fetch(last, BATCH) => rows,
            };
            let rows = match rows {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, after = last, "cannot read the event log; retrying");
                    break;
                }
            };
            let full = rows.len() as i64 == BATCH;
            for (seq, event) in rows {
                if seq != last + 1 {
                    // Only pruning makes holes, and only this far behind.
                    tracing::warn!(
                        expected = last + 1,
                        seq,
                        "events were pruned before they were published"
                    );
                }
                publish(seq, event);
                last = seq;
            }
            wake.stats.published(last);
            if !full {
                break;
            }
        }
        let cause = tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.woken() => WakeCause::Woken,
            () = tokio::time::sleep(POLL) => WakeCause::Timer,
        };
        wake.stats.woke(cause);
    }
}
