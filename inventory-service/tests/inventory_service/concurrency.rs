//! Many concurrent clients over real gRPC: stock never oversold, a key
//! applied once, on SQLite and PostgreSQL.

use futures::future::join_all;
use proto::{ReleaseStockRequest, ReservationOutcome, ReserveStockRequest, UpdateStockRequest};
use support::testing::Backend;

use crate::common::TestInventory;

async fn concurrent_reserves_never_oversell(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    // Laptop has 10; 60 clients each want 1 (reserve) or 1 (original UpdateStock).
    let calls = (0..60).map(|i| {
        let mut c = app.grpc.clone();
        async move {
            if i % 3 == 0 {
                c.update_stock(UpdateStockRequest {
                    product: "Laptop".into(),
                    quantity: 1,
                })
                .await
                .unwrap()
                .into_inner()
                .available
            } else {
                let r = c
                    .reserve_stock(ReserveStockRequest {
                        reservation_key: format!("k{i}"),
                        product: "Laptop".into(),
                        quantity: 1,
                    })
                    .await
                    .unwrap()
                    .into_inner();
                r.outcome() == ReservationOutcome::Reserved
            }
        }
    });
    let granted = join_all(calls).await.into_iter().filter(|ok| *ok).count();
    assert_eq!(granted, 10);
    assert_eq!(app.stock("Laptop").await, 0);
    app.assert_held_matches_reservations().await;
    app.stop().await;
}

async fn the_same_key_reserved_concurrently_applies_once(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let calls = (0..40).map(|_| {
        let mut c = app.grpc.clone();
        async move {
            c.reserve_stock(ReserveStockRequest {
                reservation_key: "same".into(),
                product: "Phone".into(),
                quantity: 3,
            })
            .await
            .unwrap()
            .into_inner()
        }
    });
    for r in join_all(calls).await {
        assert_eq!(r.outcome(), ReservationOutcome::Reserved);
        assert_eq!(r.stock_quantity, 17);
    }
    assert_eq!(app.stock("Phone").await, 17);
    // And concurrent releases return it once.
    let releases = (0..40).map(|_| {
        let mut c = app.grpc.clone();
        async move {
            c.release_stock(ReleaseStockRequest {
                reservation_key: "same".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .returned_stock
        }
    });
    assert_eq!(
        join_all(releases).await.into_iter().filter(|r| *r).count(),
        1
    );
    assert_eq!(app.stock("Phone").await, 20);
    app.assert_held_matches_reservations().await;
    app.stop().await;
}

async fn racing_release_and_reserve_never_leak(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    // For each key a reserve and a release race; whatever the order, the
    // stock held afterwards is exactly what the surviving reservations hold.
    let calls = (0..30).map(|i| {
        let mut a = app.grpc.clone();
        let mut b = app.grpc.clone();
        async move {
            let key = format!("race{i}");
            let reserve = a.reserve_stock(ReserveStockRequest {
                reservation_key: key.clone(),
                product: "Headphones".into(),
                quantity: 1,
            });
            let release = b.release_stock(ReleaseStockRequest {
                reservation_key: key,
            });
            let (r, _) = tokio::join!(reserve, release);
            r.unwrap().into_inner().outcome()
        }
    });
    let outcomes = join_all(calls).await;
    assert!(outcomes.iter().all(|o| matches!(
        o,
        ReservationOutcome::Reserved | ReservationOutcome::Released
    )));
    // Every key was released at least once, after or before its reserve: nothing is held.
    let mut c = app.grpc.clone();
    for i in 0..30 {
        c.release_stock(ReleaseStockRequest {
            reservation_key: format!("race{i}"),
        })
        .await
        .unwrap();
    }
    assert_eq!(app.stock("Headphones").await, 40);
    app.assert_held_matches_reservations().await;
    app.stop().await;
}

support::both_backends!(
    concurrent_reserves_never_oversell,
    the_same_key_reserved_concurrently_applies_once,
    racing_release_and_reserve_never_leak,
);
