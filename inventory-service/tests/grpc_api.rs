//! The gRPC contract over a real socket, on SQLite and PostgreSQL.

// Test helpers unwrap: a panic is a failed test with its backtrace.
#![allow(clippy::unwrap_used)]

mod common;

use common::TestInventory;
use proto::{
    ListProductsRequest, ReleaseStockRequest, ReservationOutcome, ReserveStockRequest,
    RestockRequest, StockRequest, UpdateStockRequest, WatchStockRequest,
};
use support::testing::Backend;
use tokio_stream::StreamExt;
use tonic::Code;

fn reserve(key: &str, product: &str, quantity: i32) -> ReserveStockRequest {
    ReserveStockRequest {
        reservation_key: key.into(),
        product: product.into(),
        quantity,
    }
}

fn release(key: &str) -> ReleaseStockRequest {
    ReleaseStockRequest {
        reservation_key: key.into(),
    }
}

async fn check_stock_answers_the_original_contract(backend: Backend) {
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
    let mut c = app.grpc.clone();
    let ok = c
        .check_stock(StockRequest {
            product: "Laptop".into(),
            quantity: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ok.available);
    assert_eq!(ok.stock_quantity, 10);
    assert_eq!(ok.message, "Stock available");
    let short = c
        .check_stock(StockRequest {
            product: "Laptop".into(),
            quantity: 11,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!short.available);
    assert_eq!(short.stock_quantity, 10);
    assert_eq!(short.message, "Insufficient stock");
    let unknown = c
        .check_stock(StockRequest {
            product: "Nope".into(),
            quantity: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!unknown.available);
    assert_eq!(unknown.stock_quantity, 0);
    app.stop().await;
}

async fn update_stock_decrements_only_when_enough(backend: Backend) {
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
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

async fn bad_arguments_are_rejected_and_change_nothing(backend: Backend) {
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
    let mut c = app.grpc.clone();
    let cases = [
        c.check_stock(StockRequest {
            product: String::new(),
            quantity: 1,
        })
        .await
        .map(drop),
        c.check_stock(StockRequest {
            product: "Laptop".into(),
            quantity: 0,
        })
        .await
        .map(drop),
        c.update_stock(UpdateStockRequest {
            product: "Laptop".into(),
            quantity: -3,
        })
        .await
        .map(drop),
        c.reserve_stock(reserve("", "Laptop", 1)).await.map(drop),
        c.reserve_stock(reserve("k", "Laptop", 0)).await.map(drop),
        c.reserve_stock(reserve("k", &"x".repeat(1000), 1))
            .await
            .map(drop),
        c.reserve_stock(reserve(&"k".repeat(1000), "Laptop", 1))
            .await
            .map(drop),
        c.release_stock(release("")).await.map(drop),
        c.restock(RestockRequest {
            product: "Laptop".into(),
            quantity: 0,
        })
        .await
        .map(drop),
        c.restock(RestockRequest {
            product: "Laptop".into(),
            quantity: 2_000_000,
        })
        .await
        .map(drop),
    ];
    for (i, r) in cases.into_iter().enumerate() {
        assert_eq!(r.unwrap_err().code(), Code::InvalidArgument, "case {i}");
    }
    let e = c.reserve_stock(reserve("k", "Nope", 1)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .restock(RestockRequest {
            product: "Nope".into(),
            quantity: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(app.stock("Laptop").await, 10);
    // The failed reservation of an unknown product recorded nothing: the key is still free.
    let r = c
        .reserve_stock(reserve("k", "Laptop", 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.outcome(), ReservationOutcome::Reserved);
    app.stop().await;
}

/// Names and keys with control characters: refused as INVALID_ARGUMENT
/// before the database sees them (PostgreSQL cannot store NUL; SQLite could),
/// so both backends answer alike and nothing is written.
async fn control_characters_are_invalid_arguments(backend: Backend) {
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
    let mut c = app.grpc.clone();
    let products_before = c
        .list_products(ListProductsRequest {})
        .await
        .unwrap()
        .into_inner()
        .products;
    for bad in [
        "Lap\0top",
        "Laptop\0",
        "Lap\ntop",
        "Laptop\u{7f}",
        "Lap\u{85}top",
    ] {
        let cases = [
            c.check_stock(StockRequest {
                product: bad.into(),
                quantity: 1,
            })
            .await
            .map(drop),
            c.update_stock(UpdateStockRequest {
                product: bad.into(),
                quantity: 1,
            })
            .await
            .map(drop),
            c.restock(RestockRequest {
                product: bad.into(),
                quantity: 1,
            })
            .await
            .map(drop),
            c.reserve_stock(reserve("k", bad, 1)).await.map(drop),
            c.reserve_stock(reserve(bad, "Laptop", 1)).await.map(drop),
            c.release_stock(release(bad)).await.map(drop),
        ];
        for (i, r) in cases.into_iter().enumerate() {
            let e = r.unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{bad:?} case {i}: {e:?}");
            assert!(e.message().contains("control characters"), "{e:?}");
        }
    }
    let products_after = c
        .list_products(ListProductsRequest {})
        .await
        .unwrap()
        .into_inner()
        .products;
    assert_eq!(products_after, products_before);
    assert_eq!(app.reservation_rows().await, 0);
    app.stop().await;
}

async fn reserve_is_idempotent_per_key(backend: Backend) {
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
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
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
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
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
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
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
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

async fn list_products_and_rest_agree(backend: Backend) {
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
    let mut c = app.grpc.clone();
    c.reserve_stock(reserve("o", "Laptop", 2)).await.unwrap();
    let listed = c
        .list_products(ListProductsRequest {})
        .await
        .unwrap()
        .into_inner()
        .products;
    assert!(
        listed
            .iter()
            .any(|p| p.name == "Laptop" && p.stock_quantity == 8)
    );
    assert!(
        listed
            .iter()
            .any(|p| p.name == "Phone" && p.stock_quantity == 20)
    );
    let rest: serde_json::Value = app
        .http
        .get(format!("{}/inventory/products", app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        rest[0],
        serde_json::json!({"id": 1, "name": "Laptop", "stockQuantity": 8})
    );
    assert_eq!(rest.as_array().unwrap().len(), listed.len());
    let health = app
        .http
        .get(format!("{}/health", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let missing = app
        .http
        .get(format!("{}/nope", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

async fn watch_streams_a_snapshot_then_changes(backend: Backend) {
    let Some(app) = TestInventory::spawn(backend).await else {
        return;
    };
    let mut c = app.grpc.clone();
    let mut stream = c
        .watch_stock(WatchStockRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut snapshot = Vec::new();
    for _ in 0..5 {
        snapshot.push(stream.next().await.unwrap().unwrap());
    }
    assert!(
        snapshot
            .iter()
            .any(|s| s.product == "Laptop" && s.stock_quantity == 10)
    );
    let laptop_version = snapshot
        .iter()
        .find(|s| s.product == "Laptop")
        .unwrap()
        .version;
    c.reserve_stock(reserve("w1", "Laptop", 3)).await.unwrap();
    c.restock(RestockRequest {
        product: "Phone".into(),
        quantity: 5,
    })
    .await
    .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (first.product.as_str(), first.stock_quantity),
        ("Laptop", 7)
    );
    assert!(first.version > laptop_version);
    let second = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (second.product.as_str(), second.stock_quantity),
        ("Phone", 25)
    );
    // Shutdown ends open watch streams instead of waiting for them forever.
    drop(c);
    let TestInventory { server, db, .. } = app;
    tokio::time::timeout(std::time::Duration::from_secs(5), server.stop())
        .await
        .expect("shutdown does not wait for watchers")
        .unwrap();
    assert!(stream.next().await.is_none_or(|r| r.is_err()));
    db.cleanup().await;
}

support::both_backends!(
    check_stock_answers_the_original_contract,
    update_stock_decrements_only_when_enough,
    bad_arguments_are_rejected_and_change_nothing,
    control_characters_are_invalid_arguments,
    reserve_is_idempotent_per_key,
    release_returns_stock_exactly_once,
    release_before_reserve_makes_the_late_reserve_fail,
    restock_counts_held_stock_against_the_ceiling,
    list_products_and_rest_agree,
    watch_streams_a_snapshot_then_changes,
);
