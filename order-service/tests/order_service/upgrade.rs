//! Migration 0005 on a database that already has orders and events. On
//! SQLite it rebuilds `orders` (no AUTOINCREMENT, the Idempotency-Key index
//! partial) and numbers events without writing the counter; on PostgreSQL
//! it makes the index partial. Ids, keys and event numbers carry on.

use support::{
    db::Db,
    testing::{Backend, TestDatabase},
    with_db,
};

/// Three orders (two settled, so two events) before the upgrade.
const BEFORE: &str = "
    INSERT INTO orders (order_key, product, quantity, status, idempotency_key, request_hash, created_at_ms, updated_at_ms)
    VALUES ('k1', 'Laptop', 1, 'CREATED', 'idem-1', 'h1', 0, 0);
    INSERT INTO orders (order_key, product, quantity, status, created_at_ms, updated_at_ms)
    VALUES ('k2', 'Phone', 2, 'REJECTED', 0, 0);
    INSERT INTO orders (order_key, product, quantity, status, created_at_ms, updated_at_ms)
    VALUES ('k3', 'Tablet', 3, 'PENDING', 0, 0);";

/// The statement the service records orders with, for one order.
const INSERT: &str = "INSERT INTO orders (order_key, product, quantity, status, idempotency_key, \
     request_hash, created_at_ms, updated_at_ms) VALUES ($1, 'Monitor', 1, 'PENDING', $2, 'h', 0, 0) \
     ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id";

async fn orders_ids_keys_and_events_carry_on(backend: Backend) {
    let test_db = TestDatabase::create(backend, "upgrade").await;
    test_db
        .migrated_to(&order_service::migrations(), 4, BEFORE)
        .await;
    let db = Db::connect(&test_db.url, &order_service::migrations())
        .await
        .unwrap();

    let (kept, dup, new, events) = with_db!(&db, write, |pool| {
        let kept: Vec<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT id, order_key, idempotency_key FROM orders ORDER BY id")
                .fetch_all(pool)
                .await
                .unwrap();
        // A key recorded before the upgrade still refuses a second order.
        let dup: Option<i64> = sqlx::query_scalar(INSERT)
            .bind("k4")
            .bind("idem-1")
            .fetch_optional(pool)
            .await
            .unwrap();
        // Keyless orders are many, and each gets the next id.
        let mut new = Vec::new();
        for key in ["k4", "k5"] {
            let id: Option<i64> = sqlx::query_scalar(INSERT)
                .bind(key)
                .bind(None::<&str>)
                .fetch_optional(pool)
                .await
                .unwrap();
            new.push(id);
        }
        for key in ["k3", "k5"] {
            sqlx::query("UPDATE orders SET status = 'CREATED' WHERE order_key = $1")
                .bind(key)
                .execute(pool)
                .await
                .unwrap();
        }
        let events: Vec<(i64, String)> = sqlx::query_as(
            "SELECT e.seq, o.order_key FROM order_events e JOIN orders o ON o.id = e.order_id \
             ORDER BY e.seq",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        (kept, dup, new, events)
    });
    assert_eq!(
        kept,
        [
            (1, "k1".into(), Some("idem-1".into())),
            (2, "k2".into(), None),
            (3, "k3".into(), None)
        ]
    );
    assert_eq!(dup, None);
    match backend {
        Backend::Sqlite => assert_eq!(new, [Some(4), Some(5)]),
        // A refused insert still took a number of PostgreSQL's sequence.
        Backend::Postgres => assert_eq!(new, [Some(5), Some(6)]),
    }
    let events: Vec<(i64, &str)> = events.iter().map(|(s, k)| (*s, k.as_str())).collect();
    assert_eq!(events, [(1, "k1"), (2, "k2"), (3, "k3"), (4, "k5")]);
    db.close().await;
    test_db.cleanup().await;
}

support::both_backends!(orders_ids_keys_and_events_carry_on);
