//! A transaction that its caller drops without committing (an error, a
//! cancelled request) leaves nothing behind: what it wrote is rolled back,
//! and the next borrower of the connection writes outside it, committed.
//! On SQLite, BEGIN and COMMIT are statements of `Backend for Sqlite`, and
//! `SqliteConns` rolls an abandoned one back before lending the connection
//! again; on PostgreSQL, sqlx queues a rollback on drop, which `PgConns`
//! sends as the connection comes back.

use std::pin::pin;

use crate::{
    db::{Db, Migrations},
    testing::{Backend, TestDatabase},
};

async fn rows(db: &Db) -> Vec<i64> {
    with_db!(db, read, |pool| {
        sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(pool)
            .await
            .expect("read")
    })
}

async fn insert(db: &Db, x: i64) {
    with_db!(db, write, |pool| {
        sqlx::query("INSERT INTO t (x) VALUES ($1)")
            .bind(x)
            .execute(pool)
            .await
            .expect("insert");
    });
}

async fn dropped_transactions_leave_nothing_behind(backend: Backend) {
    let test_db = TestDatabase::create(backend, "abandoned").await;
    let none = Migrations {
        sqlite: sqlx::migrate::Migrator::DEFAULT,
        postgres: sqlx::migrate::Migrator::DEFAULT,
    };
    let db = Db::connect(&test_db.url, &none).await.expect("database");
    with_db!(&db, write, |pool| {
        sqlx::query("CREATE TABLE t (x BIGINT PRIMARY KEY)")
            .execute(pool)
            .await
            .expect("create");
    });

    // Dropped after a statement, without commit.
    with_db!(&db, write, |pool| {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("INSERT INTO t (x) VALUES (1)")
            .execute(&mut *tx)
            .await
            .expect("insert");
    });
    insert(&db, 2).await;
    assert_eq!(rows(&db).await, [2]);

    // Dropped while its statement runs (one poll sends it).
    with_db!(&db, write, |pool| {
        let mut tx = pool.begin().await.expect("begin");
        let mut running = pin!(sqlx::query("INSERT INTO t (x) VALUES (3)").execute(&mut *tx));
        let _ = futures::poll!(running.as_mut());
    });
    insert(&db, 4).await;
    assert_eq!(rows(&db).await, [2, 4]);

    // Failed on a statement (a duplicate key), then dropped.
    with_db!(&db, write, |pool| {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("INSERT INTO t (x) VALUES (5)")
            .execute(&mut *tx)
            .await
            .expect("insert");
        sqlx::query("INSERT INTO t (x) VALUES (2)")
            .execute(&mut *tx)
            .await
            .expect_err("a duplicate key");
    });
    insert(&db, 6).await;
    assert_eq!(rows(&db).await, [2, 4, 6]);

    // Rolled back, begun with no statement, and committed: each as asked.
    with_db!(&db, write, |pool| {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("INSERT INTO t (x) VALUES (7)")
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.rollback().await.expect("rollback");
        pool.begin()
            .await
            .expect("begin")
            .commit()
            .await
            .expect("commit");
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("INSERT INTO t (x) VALUES (8)")
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
    });
    insert(&db, 9).await;
    assert_eq!(rows(&db).await, [2, 4, 6, 8, 9]);

    // What the database itself holds, through a handle of its own.
    db.close().await;
    let db = Db::connect(&test_db.url, &none).await.expect("database");
    assert_eq!(rows(&db).await, [2, 4, 6, 8, 9]);
    db.close().await;
    test_db.cleanup().await;
}

crate::both_backends!(dropped_transactions_leave_nothing_behind);
