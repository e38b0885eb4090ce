//! The writes: `UpdateStock`, reservations by key and their release,
//! `Restock` up to the stock ceiling.

use proto::{ReservationOutcome, RestockRequest, UpdateStockRequest};
use support::testing::Backend;
use tonic::Code;

use super::{release, reserve};
use crate::common::TestInventory;

async fn update_stock_decrements_only_when_enough(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let mut c = app.grpc.clone();
    let r = c
        .update_stock(UpdateStockRequest {
            product: "Phone".into(),
            quantity: 15,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.available);
    assert_eq!(r.stock_quantity, 5);
    let r = c
        .update_stock(UpdateStockRequest {
            product: "Phone".into(),
            quantity: 6,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.available);
    assert_eq!(r.stock_quantity, 5);
    let e = c
        .update_stock(UpdateStockRequest {
            product: "Nope".into(),
            quantity: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(app.stock("Phone").await, 5);
    app.stop().await;
}

async fn reserve_is_idempotent_per_key(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let mut c = app.grpc.clone();
    for _ in 0..3 {
        let r = c
            .reserve_stock(reserve("order-1", "Laptop", 4))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.outcome(), ReservationOutcome::Reserved);
        assert_eq!(r.stock_quantity, 6);
    }
    assert_eq!(app.stock("Laptop").await, 6);
    // Not enough stock: the outcome is recorded and repeated, even once stock is back.
    let r = c
        .reserve_stock(reserve("order-2", "Laptop", 7))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), ReservationOutcome::InsufficientStock);
    c.restock(RestockRequest {
        product: "Laptop".into(),
        quantity: 10,
    })
    .await
    .unwrap();
    let r = c
        .reserve_stock(reserve("order-2", "Laptop", 7))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), ReservationOutcome::InsufficientStock);
    assert_eq!(app.stock("Laptop").await, 16);
    // The same key for another request is refused.
    let e = c
        .reserve_stock(reserve("order-1", "Laptop", 5))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let e = c
        .reserve_stock(reserve("order-1", "Phone", 4))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(app.stock("Laptop").await, 16);
    assert_eq!(app.stock("Phone").await, 20);
    app.stop().await;
}

async fn release_returns_stock_exactly_once(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let mut c = app.grpc.clone();
    c.reserve_stock(reserve("o1", "Phone", 5)).await.unwrap();
    assert_eq!(app.stock("Phone").await, 15);
    let first = c.release_stock(release("o1")).await.unwrap().into_inner();
    assert!(first.returned_stock);
    assert_eq!(first.product, "Phone");
    assert_eq!(first.stock_quantity, 20);
    let second = c.release_stock(release("o1")).await.unwrap().into_inner();
    assert!(!second.returned_stock);
    assert_eq!(app.stock("Phone").await, 20);
    // A released key cannot be reserved again.
    let r = c
        .reserve_stock(reserve("o1", "Phone", 5))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), ReservationOutcome::Released);
    assert_eq!(app.stock("Phone").await, 20);
    // Releasing a reservation that failed for stock returns nothing.
    c.reserve_stock(reserve("o2", "Phone", 500)).await.unwrap();
    assert!(
        !c.release_stock(release("o2"))
            .await
            .unwrap()
            .into_inner()
            .returned_stock
    );
    assert_eq!(app.stock("Phone").await, 20);
    app.stop().await;
}

/// Held units count against the int32 stock ceiling: restock may fill stock
/// only up to the ceiling minus what reservations hold, so releasing them
/// always fits.
async fn restock_counts_held_stock_against_the_ceiling(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let mut c = app.grpc.clone();
    c.reserve_stock(reserve("held", "Laptop", 4)).await.unwrap();
    app.assert_held_matches_reservations().await;
    // 1000 below the ceiling once the 4 held units are counted (restock
    // adds at most a million per call, so the test jumps most of the way).
    app.execute("UPDATE products SET stock = 2147483647 - 4 - 1000 WHERE name = 'Laptop'")
        .await;
    let r = c
        .restock(RestockRequest {
            product: "Laptop".into(),
            quantity: 1000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.stock_quantity, i32::MAX - 4);
    let e = c
        .restock(RestockRequest {
            product: "Laptop".into(),
            quantity: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("held"), "{e:?}");
    assert_eq!(app.stock("Laptop").await, i32::MAX - 4);
    let released = c.release_stock(release("held")).await.unwrap().into_inner();
    assert!(released.returned_stock);
    assert_eq!(released.stock_quantity, i32::MAX);
    assert_eq!(app.stock("Laptop").await, i32::MAX);
    // UpdateStock holds nothing: its units are gone, and leave room.
    c.update_stock(UpdateStockRequest {
        product: "Laptop".into(),
        quantity: 10,
    })
    .await
    .unwrap();
    c.restock(RestockRequest {
        product: "Laptop".into(),
        quantity: 10,
    })
    .await
    .unwrap();
    assert_eq!(app.stock("Laptop").await, i32::MAX);
    app.assert_held_matches_reservations().await;
    app.stop().await;
}

async fn release_before_reserve_makes_the_late_reserve_fail(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let mut c = app.grpc.clone();
    let r = c.release_stock(release("late")).await.unwrap().into_inner();
    assert!(!r.returned_stock);
    let late = c
        .reserve_stock(reserve("late", "Laptop", 3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(late.outcome(), ReservationOutcome::Released);
    assert_eq!(late.stock_quantity, 10);
    assert_eq!(app.stock("Laptop").await, 10);
    app.stop().await;
}

support::both_backends!(
    update_stock_decrements_only_when_enough,
    reserve_is_idempotent_per_key,
    release_returns_stock_exactly_once,
    restock_counts_held_stock_against_the_ceiling,
    release_before_reserve_makes_the_late_reserve_fail,
);
