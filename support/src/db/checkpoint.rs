//! SQLite's write-ahead log, copied back into the database file beside the
//! writer rather than inside its commits (see `Db::connect`).

use std::time::Duration;

use sqlx::SqlitePool;

/// How often SQLite's write-ahead log is copied back into the database file,
/// by a connection of its own.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// Frames (pages) of write-ahead log beyond which a checkpoint makes the
/// next writer restart the log: 4,096 frames are 16 MiB.
const RESTART_FRAMES: i64 = 4096;

/// Copies the write-ahead log back into the database file every
/// [`CHECKPOINT_INTERVAL`] (cheap when there is nothing to copy), until
/// `pool` is closed.
///
/// A PASSIVE checkpoint never waits for the writer, but under steady writes
/// a commit usually lands while it runs, so the log is never completely
/// copied when the next transaction starts, and SQLite never restarts it
/// from its beginning: it would grow without end. Once it passes
/// [`RESTART_FRAMES`], a RESTART checkpoint makes the next writer start it
/// over; it holds writers back only for the frames the PASSIVE one just
/// left (a millisecond or two, a few times a minute at full load).
pub(super) async fn run(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let passive: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let outcome = match passive {
            Ok((_, frames, _)) if frames > RESTART_FRAMES => {
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                    .map(drop)
            }
            other => other.map(drop),
        };
        if let Err(e) = outcome {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "WAL checkpoint failed; the next one retries");
        }
    }
}
