//! Migration 0003 on a database that already has reservations: `held` is
//! backfilled from the RESERVED ones, and a release after the upgrade
//! returns stock as before.

// Test helpers unwrap: a panic is a failed test with its backtrace.
#![allow(clippy::unwrap_used)]

use inventory_service::{domain::ReservationKey, migrations, store::Store};
use sqlx::{postgres::PgPool, sqlite::SqlitePoolOptions};
use support::{
    db::Db,
    testing::{Backend, TestDatabase},
    with_db,
};

/// What the database held before `held` existed: Laptop 3 + 2 held, one
/// released, one refused; Phone 4 held.
const BEFORE: &str = "\
    UPDATE products SET stock = stock - 5 WHERE name = 'Laptop';
    UPDATE products SET stock = stock - 4 WHERE name = 'Phone';
    INSERT INTO reservations (reservation_key, product_id, quantity, state, created_at_ms) VALUES
        ('a', 1, 3, 'RESERVED', 0),
        ('b', 1, 2, 'RESERVED', 0),
        ('c', 1, 7, 'RELEASED', 0),
        ('d', 1, 50, 'INSUFFICIENT_STOCK', 0),
        ('e', 2, 4, 'RESERVED', 0),
        ('f', NULL, 0, 'RELEASED', 0);";

/// Migrates to 0002, writes [`BEFORE`] and closes.
async fn a_database_from_before_held(backend: Backend, url: &str) {
    let m = migrations();
    match backend {
        Backend::Sqlite => {
            let options = url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap();
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.create_if_missing(true))
                .await
                .unwrap();
            m.sqlite.run_to(2, &pool).await.unwrap();
            sqlx::raw_sql(BEFORE).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = PgPool::connect(url).await.unwrap();
            m.postgres.run_to(2, &pool).await.unwrap();
            sqlx::raw_sql(BEFORE).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

async fn held_is_backfilled_from_reserved_reservations(backend: Backend) {
    let Some(test_db) = TestDatabase::create(backend, "held").await else {
        return;
    };
    a_database_from_before_held(backend, &test_db.url).await;

    let db = Db::connect(&test_db.url, &migrations()).await.unwrap();
    let held: Vec<(String, i64, i64)> = with_db!(&db, read, |pool| {
        sqlx::query_as("SELECT name, stock, held FROM products ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    assert_eq!(
        held[..2],
        [("Laptop".into(), 5, 5), ("Phone".into(), 16, 4)],
        "{held:?}"
    );
    assert!(held[2..].iter().all(|(_, _, h)| *h == 0), "{held:?}");

    let store = Store::new(db.clone());
    let key = ReservationKey::parse("a".into()).unwrap();
    let released = store.release(&key).await.unwrap().change.unwrap();
    assert_eq!(released.stock, 8);
    let laptop_held: i64 = with_db!(&db, read, |pool| {
        sqlx::query_scalar("SELECT held FROM products WHERE name = 'Laptop'")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!(laptop_held, 2);
    db.close().await;
    test_db.cleanup().await;
}

support::both_backends!(held_is_backfilled_from_reserved_reservations);
