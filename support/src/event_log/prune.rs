//! Bounded retention: the oldest rows go, in short batches.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use super::{EventLog, Retention};
use crate::{db::Db, with_db};

/// Rows per delete: a short transaction on SQLite's single writer.
const BATCH: i64 = 1000;
/// How often each log is swept: at 2,000 events/s a sweep finds about
/// 60 batches, so the count bound is never far exceeded.
const EVERY: Duration = Duration::from_secs(30);

/// Sweeps `log` now and every [`EVERY`] until `shutdown`.
pub async fn prune_forever(
    db: Db,
    log: EventLog,
    retention: Retention,
    shutdown: CancellationToken,
) {
    loop {
        match prune(&db, log, &retention, SystemTime::now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, log = log.table, "pruned the event log"),
            Err(e) => tracing::warn!(error = %e, log = log.table, "pruning the event log failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Deletes the rows that are older than the retention period or beyond
/// its count, oldest first, in batches; returns how many went.
///
/// Rows are appended in seq order with the time of their commit, so the
/// rows to keep are a suffix of the log: the sweep finds where it starts
/// (walking only the rows it will delete) and deletes below it.
pub async fn prune(
    db: &Db,
    log: EventLog,
    retention: &Retention,
    now: SystemTime,
) -> Result<u64, sqlx::Error> {
    let bounds = log.bounds(db).await?;
    // A row is kept while it is both within the count and young enough:
    // the stricter bound wins. 0 disables a bound.
    let by_count = (retention.event_retention_events > 0)
        .then(|| bounds.last - retention.event_retention_events + 1);
    let by_age = if retention.event_retention_hours > 0 {
        let cutoff = now.checked_sub(retention.max_age()).unwrap_or(UNIX_EPOCH);
        let cutoff_ms = cutoff
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let sql = format!(
            "SELECT seq FROM {} WHERE logged_at_ms >= $1 ORDER BY seq LIMIT 1",
            log.table
        );
        let young: Option<i64> = with_db!(db, read, |pool| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(cutoff_ms)
                .fetch_optional(pool)
                .await?
        });
        Some(young.unwrap_or(bounds.last + 1))
    } else {
        None
    };
    let Some(keep_from) = by_count.max(by_age) else {
        return Ok(0);
    };
    if keep_from <= bounds.first {
        return Ok(0);
    }
    let sql = format!(
        "DELETE FROM {t} WHERE seq < $1 AND seq < (SELECT MIN(seq) FROM {t}) + $2",
        t = log.table
    );
    let mut total = 0;
    loop {
        let deleted = with_db!(db, write, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(keep_from)
                .bind(BATCH)
                .execute(pool)
                .await?
                .rows_affected()
        });
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
        // Let waiting writers through between batches.
        tokio::task::yield_now().await;
    }
}
