//! SQLite's write-ahead log, copied back into the database file beside the
//! writer rather than inside its commits (see `Db::connect`).

use std::{sync::Arc, time::Duration};

use sqlx::Executor;

use super::{conns::sqlite::SqliteConns, outcomes::Outcomes, sqlite::RESTART_FRAMES};

/// How often SQLite's write-ahead log is copied back into the database file,
/// by a connection of its own.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Copies the write-ahead log back into the database file every
/// [`CHECKPOINT_INTERVAL`] in which a write was committed (as `outcomes`
/// counts them), until `pool` is closed. An idle service runs no statement:
/// each one is a hand-off to sqlx's connection thread and back.
///
/// A PASSIVE checkpoint never waits for the writer, but under steady writes
/// a commit usually lands while it runs, so the log is never completely
/// copied when the next transaction starts, and SQLite never restarts it
/// from its beginning: it would grow without end. Once it passes
/// [`RESTART_FRAMES`], a RESTART checkpoint makes the next writer start it
/// over; it holds writes back for the frames the PASSIVE one just left and
/// two `fsync`s (2-7 ms on the machine measured), so it runs on `writer`,
/// the writer's own connection, in turn with the writes: run beside them,
/// it made the writer wait in SQLite's busy handler, whose sleeps of 1, 2
/// and 5 ms overshoot the checkpoint's end (bench/README.md).
pub(super) async fn run(pool: SqliteConns, writer: SqliteConns, outcomes: Arc<Outcomes>) {
    let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Commits counted when the log was last copied to its end; the first
    // round always runs (the migrations wrote uncounted).
    let mut copied = None;
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let commits = outcomes.commits();
        if copied == Some(commits) {
            continue;
        }
        let outcome = match pool.acquire().await {
            Ok(mut conn) => round(&mut conn, &writer, &mut copied, commits).await,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "WAL checkpoint failed; the next one retries");
        }
    }
}

/// One round: PASSIVE on `conn`, then RESTART on `writer` if the log is
/// long; sets `copied` to `commits` when the log was copied to its end.
async fn round(
    conn: &mut sqlx::SqliteConnection,
    writer: &SqliteConns,
    copied: &mut Option<u64>,
    commits: u64,
) -> Result<(), sqlx::Error> {
    let passive: (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    match passive {
        (_, frames, _) if frames > RESTART_FRAMES => {
            writer
                .acquire()
                .await?
                .execute("PRAGMA wal_checkpoint(RESTART)")
                .await?;
        }
        // Copied to the end: nothing to do until the next commit. A reader
        // in the way leaves frames behind; the next round tries again,
        // commits or not.
        (_, frames, checkpointed) => {
            if checkpointed >= frames {
                *copied = Some(commits);
            }
        }
    }
    Ok(())
}
