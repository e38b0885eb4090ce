//! The reads: `CheckStock`, `ListProducts` (beside REST) and `WatchStock`.

use proto::{ListProductsRequest, RestockRequest, StockRequest, WatchStockRequest};
use support::testing::Backend;
use tokio_stream::StreamExt;

use super::reserve;
use crate::common::TestInventory;

async fn check_stock_answers_the_original_contract(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
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

async fn list_products_and_rest_agree(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
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
    let app = TestInventory::spawn(backend).await;
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
    list_products_and_rest_agree,
    watch_streams_a_snapshot_then_changes,
);
