//! The log's plumbing on real databases: bounds, pruning, the relay's
//! order and catch-up, and the PostgreSQL listener across a lost connection.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Bounds, EventLog, Retention, Wake, prune, relay};
use crate::{
    db::Db,
    testing::{Backend, TestDatabase},
    with_db,
};

const EVENT_LOG: EventLog = EventLog {
    table: "test_events",
};

/// A database with an empty log (no trigger: tests append by hand).
async fn log_db(backend: Backend, name: &str) -> (TestDatabase, Db) {
    let test_db = TestDatabase::create(backend, name).await;
    let none = crate::testing::no_migrations();
    let db = Db::connect(&test_db.url, &none).await.expect("database");
    for ddl in [
        "CREATE TABLE test_events (seq BIGINT PRIMARY KEY, body TEXT NOT NULL, logged_at_ms BIGINT NOT NULL)",
        "CREATE TABLE test_events_seq (id INTEGER PRIMARY KEY CHECK (id = 1), last BIGINT NOT NULL)",
        "INSERT INTO test_events_seq (id, last) VALUES (1, 0)",
    ] {
        with_db!(&db, write, |pool| {
            sqlx::query(ddl).execute(pool).await.expect("ddl");
        });
    }
    (test_db, db)
}

/// Appends `bodies`, logged at `at_ms`, in one transaction, as the
/// services' triggers do.
async fn append(db: &Db, bodies: &[&str], at_ms: i64) {
    with_db!(db, write, |pool| {
        let mut tx = pool.begin().await.expect("begin");
        for body in bodies {
            sqlx::query("UPDATE test_events_seq SET last = last + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await
                .expect("count");
            sqlx::query(
                "INSERT INTO test_events (seq, body, logged_at_ms) \
                 SELECT last, $1, $2 FROM test_events_seq WHERE id = 1",
            )
            .bind(*body)
            .bind(at_ms)
            .execute(&mut *tx)
            .await
            .expect("append");
        }
        tx.commit().await.expect("commit");
    });
}

async fn after(db: &Db, seq: i64, limit: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    Ok(with_db!(db, read, |pool| {
        sqlx::query_as("SELECT seq, body FROM test_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

fn ms(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(0)
}

async fn bounds_and_pruning(backend: Backend) {
    let (test_db, db) = log_db(backend, "log_prune").await;
    let empty = EVENT_LOG.bounds(&db).await.expect("bounds");
    assert_eq!(empty, Bounds { first: 1, last: 0 });
    assert!(empty.can_resume_after(0));
    assert!(!empty.can_resume_after(1), "from the future");

    let now = SystemTime::now();
    let old = ms(now - Duration::from_secs(3 * 3600));
    append(&db, &["a"; 2500], old).await;
    append(&db, &["b"; 10], ms(now)).await;
    let retention = |hours, events| Retention {
        event_retention_hours: hours,
        event_retention_events: events,
    };

    // By count: the newest 2,000 stay, in batches of 1,000 deleted.
    let deleted = prune(&db, EVENT_LOG, &retention(0, 2000), now)
        .await
        .expect("prune");
    assert_eq!(deleted, 510);
    let bounds = EVENT_LOG.bounds(&db).await.expect("bounds");
    assert_eq!(
        bounds,
        Bounds {
            first: 511,
            last: 2510
        }
    );
    assert!(!bounds.can_resume_after(509));
    assert!(bounds.can_resume_after(510));
    assert!(bounds.can_resume_after(2510));

    // By age: what is older than 2 h goes, the count bound is looser.
    let deleted = prune(&db, EVENT_LOG, &retention(2, 100_000), now)
        .await
        .expect("prune");
    assert_eq!(deleted, 1990);
    assert_eq!(
        EVENT_LOG.bounds(&db).await.expect("bounds"),
        Bounds {
            first: 2501,
            last: 2510
        }
    );

    // Both bounds off: nothing goes. Everything pruned: resuming from the
    // last seq still works, from before it does not.
    assert_eq!(
        prune(&db, EVENT_LOG, &retention(0, 0), now)
            .await
            .expect("prune"),
        0
    );
    prune(
        &db,
        EVENT_LOG,
        &retention(0, 1),
        now + Duration::from_secs(1),
    )
    .await
    .expect("prune");
    let bounds = EVENT_LOG.bounds(&db).await.expect("bounds");
    assert_eq!(
        bounds,
        Bounds {
            first: 2510,
            last: 2510
        }
    );
    prune(
        &db,
        EVENT_LOG,
        &retention(1, 0),
        now + Duration::from_secs(7200),
    )
    .await
    .expect("prune");
    let bounds = EVENT_LOG.bounds(&db).await.expect("bounds");
    assert_eq!(
        bounds,
        Bounds {
            first: 2511,
            last: 2510
        }
    );
    assert!(bounds.can_resume_after(2510));
    assert!(!bounds.can_resume_after(2509));
    db.close().await;
    test_db.cleanup().await;
}

async fn relay_publishes_in_order_and_catches_up(backend: Backend) {
    let (test_db, db) = log_db(backend, "log_relay").await;
    append(&db, &["before start"], 0).await;
    let start = EVENT_LOG.bounds(&db).await.expect("bounds").last;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let wake = Wake::default();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (db, wake, shutdown) = (db.clone(), wake.clone(), shutdown.clone());
        async move {
            relay::run(
                start,
                |seq, limit| {
                    let db = db.clone();
                    async move { after(&db, seq, limit).await }
                },
                move |seq, body: String| tx.send((seq, body)).expect("receiver"),
                wake,
                shutdown,
            )
            .await;
        }
    });
    // More than one read's worth, woken once.
    let many: Vec<String> = (0..1200).map(|i| format!("e{i}")).collect();
    append(&db, &many.iter().map(String::as_str).collect::<Vec<_>>(), 0).await;
    wake.wake();
    for (i, body) in many.iter().enumerate() {
        let (seq, got) = rx.recv().await.expect("published");
        assert_eq!((seq, &got), (i as i64 + 2, body));
    }
    // Nobody wakes it: the relay still finds the row within its poll.
    append(&db, &["unannounced"], 0).await;
    let (seq, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("polled within 5 s")
        .expect("published");
    assert_eq!((seq, body.as_str()), (1202, "unannounced"));
    assert!(rx.try_recv().is_err(), "nothing twice");
    shutdown.cancel();
    task.await.expect("relay ends at shutdown");
    db.close().await;
    test_db.cleanup().await;
}

crate::both_backends!(bounds_and_pruning, relay_publishes_in_order_and_catches_up);

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn the_listener_wakes_on_notify_and_after_losing_its_connection() {
    let (test_db, db) = log_db(Backend::Postgres, "log_listen").await;
    let Some(pool) = db.postgres() else {
        unreachable!("a PostgreSQL test database")
    };
    let wake = Wake::default();
    let shutdown = CancellationToken::new();
    let task = super::listen(pool.clone(), EVENT_LOG, wake.clone(), shutdown.clone())
        .await
        .expect("LISTEN");
    let woken = |wake: Wake| async move {
        tokio::time::timeout(Duration::from_secs(10), wake.woken())
            .await
            .expect("woken within 10 s");
    };
    sqlx::query("SELECT pg_notify('test_events', '7')")
        .execute(pool)
        .await
        .expect("notify");
    woken(wake.clone()).await;

    // Kill the listening connection: the listener comes back and wakes the
    // relay to catch up on what it could not hear meanwhile.
    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE query LIKE 'LISTEN%' AND datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .expect("terminate");
    assert_eq!(killed, 1);
    woken(wake.clone()).await;
    // And it hears notifications again.
    sqlx::query("SELECT pg_notify('test_events', '8')")
        .execute(pool)
        .await
        .expect("notify");
    woken(wake).await;
    shutdown.cancel();
    task.await.expect("listener ends at shutdown");
    db.close().await;
    test_db.cleanup().await;
}
