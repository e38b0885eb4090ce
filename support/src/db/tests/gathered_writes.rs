//! Commits through the VFS that gathers a commit's writes to the log (see
//! `db::sqlite::wal_writes`): each is visible to the readers as soon as it
//! returns, whatever its size (one page, many, more than is gathered at
//! once, pages written twice in one transaction); the database is intact
//! after closing and opening again; and no commit needed the barrier's
//! last-line write.

use std::sync::atomic::Ordering::Relaxed;

use crate::{
    db::{Db, sqlite::wal_writes::LATE_WRITES},
    testing::{Backend, TestDatabase, no_migrations},
};

/// Rows in `t` and the bytes of their bodies, as a reader sees them.
async fn seen(db: &Db) -> (i64, i64) {
    with_db!(db, read, |pool| sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM t"
    )
    .fetch_one(pool)
    .await
    .expect("read"))
}

#[tokio::test]
async fn every_commit_is_in_the_log_when_it_returns() {
    let test_db = TestDatabase::create(Backend::Sqlite, "gathered").await;
    let db = Db::connect(&test_db.url, &no_migrations())
        .await
        .expect("open");
    with_db!(&db, write, |pool| {
        // A small cache makes big transactions write pages to the log
        // before they commit, and then write some of them again.
        for sql in [
            "PRAGMA cache_size = 8",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        ] {
            sqlx::query(sql).execute(pool).await.expect("set up");
        }
    });
    let (mut rows, mut bytes) = (0_i64, 0_i64);
    for i in 0..240_i64 {
        // One page, a few, and every 40th far more than is gathered at once.
        let size = if i % 40 == 39 {
            400_000
        } else {
            50 + (i % 40) * 90
        };
        with_db!(&db, write, |pool| sqlx::query(
            "INSERT INTO t (body) VALUES ($1)"
        )
        .bind("x".repeat(usize::try_from(size).expect("size")))
        .execute(pool)
        .await
        .map(drop)
        .expect("insert"));
        (rows, bytes) = (rows + 1, bytes + size);
        assert_eq!(seen(&db).await, (rows, bytes), "after insert {i}");
        if i % 60 == 59 {
            // Every row rewritten twice in one transaction.
            with_db!(&db, write, |pool| {
                sqlx::query(
                "BEGIN; UPDATE t SET body = body || 'y'; UPDATE t SET body = substr(body, 2); COMMIT"
            )
            .execute(pool)
            .await
            .map(drop)
            .expect("rewrite")
            });
            assert_eq!(seen(&db).await, (rows, bytes), "after rewrite {i}");
        }
    }
    db.close().await;
    let db = Db::connect(&test_db.url, &no_migrations())
        .await
        .expect("open again");
    let check: String = with_db!(&db, read, |pool| sqlx::query_scalar(
        "PRAGMA integrity_check"
    )
    .fetch_one(pool)
    .await
    .expect("check"));
    assert_eq!(check, "ok");
    assert_eq!(seen(&db).await, (rows, bytes));
    db.close().await;
    assert_eq!(
        LATE_WRITES.load(Relaxed),
        0,
        "a commit reached the barrier with frames gathered"
    );
    test_db.cleanup().await;
}
