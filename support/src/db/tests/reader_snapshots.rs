//! No pooled SQLite reader keeps an old snapshot once its statement is
//! done with, however its caller stopped reading.
//!
//! A statement left un-reset keeps its connection's read transaction open:
//! every later read on that pooled connection answers from the old
//! snapshot, and checkpoints cannot reach the log's end. sqlx-sqlite 0.9.1
//! resets the statement in its worker thread whether the rows were all
//! read, the first taken (`LIMIT`-like `fetch_optional`), or the receiving
//! stream dropped or cancelled, before it runs the connection's next
//! command; this keeps it so across upgrades and changes to `Observed` and
//! `SqliteConns`.

use std::pin::pin;

use futures::TryStreamExt as _;
use sqlx::Row as _;

use crate::{
    db::{Db, Pools, sqlite::SQLITE_READERS},
    testing::{Backend, TestDatabase},
};

/// More rows than sqlx-sqlite's row channel holds (50), so a reader
/// stopped after the first row leaves the worker with rows still to send.
const ROWS: i64 = 2_000;
/// Rounds of every read shape, so each pooled reader gets every shape.
const ROUNDS: usize = 8;

/// The rows a pooled reader sees.
async fn count(db: &Db) -> i64 {
    with_db!(db, read, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(pool)
            .await
            .expect("count")
    })
}

/// Reads of every shape the services use, some stopped early or
/// cancelled mid-way.
async fn read_every_way(db: &Db) {
    with_db!(db, read, |pool| {
        let all: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(pool)
            .await
            .expect("fetch_all");
        assert_eq!(all.len() as i64, ROWS);
        let one: Option<i64> = sqlx::query_scalar("SELECT x FROM t WHERE x > $1 ORDER BY x")
            .bind(10)
            .fetch_optional(pool)
            .await
            .expect("fetch_optional");
        assert_eq!(one, Some(11));
        sqlx::query("SELECT x FROM t ORDER BY x")
            .fetch_one(pool)
            .await
            .expect("fetch_one");
        sqlx::query("SELECT x FROM t")
            .execute(pool)
            .await
            .expect("execute");
        // A stream dropped after its first row.
        let mut rows = sqlx::query("SELECT x FROM t ORDER BY x").fetch(pool);
        let first = rows.try_next().await.expect("first row").expect("a row");
        assert_eq!(first.get::<i64, _>(0), 1);
        drop(rows);
        // A read cancelled while its statement runs (one poll sends it).
        let mut cancelled = pin!(sqlx::query("SELECT x FROM t ORDER BY x").fetch_all(pool));
        let _ = futures::poll!(cancelled.as_mut());
    });
}

/// After reads of every shape, each pooled reader sees the latest write,
/// and a TRUNCATE checkpoint (which waits, up to the busy timeout, for
/// readers still finishing) copies the whole log: a reader holding an old
/// snapshot makes it answer busy with frames left over.
#[tokio::test]
async fn no_pooled_reader_keeps_an_old_snapshot() {
    let test_db = TestDatabase::create(Backend::Sqlite, "snapshots").await;
    let none = crate::testing::no_migrations();
    let db = Db::connect(&test_db.url, &none).await.expect("database");
    with_db!(&db, write, |pool| {
        sqlx::query("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .execute(pool)
            .await
            .expect("create");
        sqlx::query(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1) \
             INSERT INTO t SELECT x FROM n",
        )
        .bind(ROWS)
        .execute(pool)
        .await
        .expect("fill");
    });
    for _ in 0..ROUNDS {
        futures::future::join_all((0..SQLITE_READERS).map(|_| read_every_way(&db))).await;
    }
    with_db!(&db, write, |pool| {
        sqlx::query("INSERT INTO t (x) VALUES ($1)")
            .bind(ROWS + 1)
            .execute(pool)
            .await
            .expect("insert");
    });
    // Every reader at once, so each pooled connection answers once.
    let seen = futures::future::join_all((0..SQLITE_READERS).map(|_| count(&db))).await;
    assert!(seen.iter().all(|n| *n == ROWS + 1), "{seen:?}");
    let Pools::Sqlite { checkpoint, .. } = &db.pools else {
        unreachable!("a SQLite database");
    };
    let (busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *checkpoint.acquire().await.expect("connection"))
        .await
        .expect("checkpoint");
    assert_eq!(
        (busy, log, copied),
        (0, 0, 0),
        "a reader holds a snapshot older than the log's end"
    );
    db.close().await;
    test_db.cleanup().await;
}
