//! The store on a real database, on both backends: pruning of settled
//! reservations (only released and refused ones go, in batches; held stock
//! is never touched and can still be released afterwards), and migration
//! 0003 on a database that already has reservations (`held` is backfilled
//! from the RESERVED ones, and a release after the upgrade returns stock as
//! before).

use std::time::Duration;

use support::{
    db::Db,
    event_log::Wake,
    testing::{Backend, TestDatabase},
    with_db,
};
use tokio_util::sync::CancellationToken;

use super::Store;
use crate::{
    domain::{ProductName, Quantity, ReservationKey, ReservationState},
    migrations, retention,
};

fn key(k: &str) -> ReservationKey {
    ReservationKey::parse(k.into()).unwrap()
}

async fn reserve(store: &Store, k: &str, quantity: i32) -> ReservationState {
    let laptop = ProductName::parse("Laptop".into()).unwrap();
    let quantity = Quantity::parse(quantity).unwrap();
    store
        .reserve(&key(k), &laptop, quantity)
        .await
        .unwrap()
        .state
}

async fn only_settled_reservations_are_pruned(backend: Backend) {
    let test_db = TestDatabase::create(backend, "retention").await;
    let db = Db::connect(&test_db.url, &migrations()).await.unwrap();
    let store = Store::new(db.clone(), Wake::default());
    assert_eq!(reserve(&store, "held", 2).await, ReservationState::Reserved);
    assert_eq!(
        reserve(&store, "refused", 100).await,
        ReservationState::InsufficientStock
    );
    assert_eq!(
        reserve(&store, "cancelled", 3).await,
        ReservationState::Reserved
    );
    assert!(
        store
            .release(&key("cancelled"))
            .await
            .unwrap()
            .change
            .is_some()
    );
    // A release that came first: a tombstone.
    assert!(
        store
            .release(&key("tombstone"))
            .await
            .unwrap()
            .change
            .is_none()
    );

    // Everything is younger than an hour: a sweep keeps it all.
    let never = CancellationToken::new();
    let sweep = retention::sweep(&store, Duration::from_secs(3600), &never);
    assert_eq!(sweep.await.unwrap(), 0);
    // Batches of one, then the rest; the held reservation is never a candidate.
    assert_eq!(store.prune_settled(i64::MAX, 1).await.unwrap(), 1);
    assert_eq!(store.prune_settled(i64::MAX, 1000).await.unwrap(), 2);
    assert_eq!(store.prune_settled(i64::MAX, 1000).await.unwrap(), 0);

    // The held stock is still released exactly once: 10 - 2 + 2.
    let released = store.release(&key("held")).await.unwrap().change.unwrap();
    assert_eq!((released.product.as_str(), released.stock), ("Laptop", 10));
    assert!(store.release(&key("held")).await.unwrap().change.is_none());
    db.close().await;
    test_db.cleanup().await;
}

support::both_backends!(only_settled_reservations_are_pruned);

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

async fn held_is_backfilled_from_reserved_reservations(backend: Backend) {
    let test_db = TestDatabase::create(backend, "held").await;
    test_db.migrated_to(&migrations(), 2, BEFORE).await;

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

    let store = Store::new(db.clone(), Wake::default());
    let released = store.release(&key("a")).await.unwrap().change.unwrap();
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
