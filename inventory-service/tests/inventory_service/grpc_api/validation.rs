//! Invalid requests: refused as INVALID_ARGUMENT, and nothing written.

use proto::{
    ListProductsRequest, ReservationOutcome, RestockRequest, StockRequest, UpdateStockRequest,
};
use support::testing::Backend;
use tonic::Code;

use super::{release, reserve};
use crate::common::TestInventory;

async fn bad_arguments_are_rejected_and_change_nothing(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
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
    let app = TestInventory::spawn(backend).await;
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

support::both_backends!(
    bad_arguments_are_rejected_and_change_nothing,
    control_characters_are_invalid_arguments,
);
