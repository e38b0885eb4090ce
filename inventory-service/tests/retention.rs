//! Pruning of settled reservations, on the store of a real database: only
//! released and refused reservations go, in batches; held stock is never
//! touched and can still be released afterwards.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use inventory_service::{
    domain::{ProductName, Quantity, ReservationKey, ReservationState},
    migrations, retention,
    store::Store,
};
use support::{
    db::Db,
    testing::{Backend, TestDatabase},
};
use tokio_util::sync::CancellationToken;

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
    let Some(test_db) = TestDatabase::create(backend, "retention").await else {
        return;
    };
    let db = Db::connect(&test_db.url, &migrations()).await.unwrap();
    let store = Store::new(db.clone());
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
