//! `WatchStock` from the stock log: every change once and in order, a
//! watcher that resumes after a `seq` gets exactly what it missed, one
//! whose `seq` the log no longer holds gets a fresh snapshot, and a second
//! replica on the same PostgreSQL database serves every change too.

use std::time::Duration;

use proto::{
    RestockRequest, StockChange, WatchStockRequest,
    inventory_service_client::InventoryServiceClient,
};
use support::testing::Backend;
use tokio_stream::StreamExt;
use tonic::Streaming;

use crate::common::TestInventory;

async fn watch(
    client: &mut InventoryServiceClient<tonic::transport::Channel>,
    from_seq: Option<i64>,
) -> Streaming<StockChange> {
    client
        .watch_stock(WatchStockRequest { from_seq })
        .await
        .unwrap()
        .into_inner()
}

async fn next(stream: &mut Streaming<StockChange>) -> StockChange {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a change in time")
        .unwrap()
        .unwrap()
}

fn restock(product: &str, quantity: i32) -> RestockRequest {
    RestockRequest {
        product: product.into(),
        quantity,
    }
}

async fn a_watcher_resumes_exactly_where_it_left_off(backend: Backend) {
    let app = TestInventory::spawn(backend).await;
    let mut c = app.grpc.clone();
    let mut stream = watch(&mut c, None).await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next(&mut stream).await);
    }
    assert!(seen.iter().all(|s| s.snapshot && s.seq == seen[0].seq));
    let start = seen[0].seq;
    c.restock(restock("Laptop", 1)).await.unwrap();
    let change = next(&mut stream).await;
    assert_eq!(
        (change.seq, change.snapshot, change.stock_quantity),
        (start + 1, false, 11)
    );
    drop(stream);

    // 50 changes while nobody watches; then resume after the last one seen.
    for _ in 0..50 {
        c.restock(restock("Phone", 1)).await.unwrap();
    }
    let mut stream = watch(&mut c, Some(start + 1)).await;
    for i in 0..50 {
        let change = next(&mut stream).await;
        assert_eq!((change.seq, change.snapshot), (start + 2 + i, false));
        assert_eq!(
            (change.product.as_str(), change.stock_quantity),
            ("Phone", 21 + i as i32)
        );
    }
    // Then live, with nothing repeated.
    c.restock(restock("Tablet", 1)).await.unwrap();
    let change = next(&mut stream).await;
    assert_eq!(
        (change.seq, change.product.as_str()),
        (start + 52, "Tablet")
    );

    // Resuming from before what the log retains, or from the future: a
    // snapshot again, at the newest seq.
    app.execute("DELETE FROM stock_events WHERE seq <= 10")
        .await;
    for from in [start, start + 1000] {
        let mut stream = watch(&mut c, Some(from)).await;
        let first = next(&mut stream).await;
        assert_eq!(
            (first.snapshot, first.seq),
            (true, start + 52),
            "from {from}"
        );
    }
    app.stop().await;
}

support::both_backends!(a_watcher_resumes_exactly_where_it_left_off);

/// Two replicas on one PostgreSQL database: a watcher of either sees the
/// changes made through the other, in order.
#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn replicas_serve_every_change() {
    let app = TestInventory::spawn(Backend::Postgres).await;
    let config = inventory_service::Config::for_tests(&app.db.url);
    let replica = inventory_service::Server::start(&config).await.unwrap();
    let mut other = InventoryServiceClient::connect(format!("http://{}", replica.grpc_addr))
        .await
        .unwrap();
    let mut c = app.grpc.clone();
    let mut on_a = watch(&mut c, None).await;
    let mut on_b = watch(&mut other, None).await;
    for stream in [&mut on_a, &mut on_b] {
        for _ in 0..5 {
            assert!(next(stream).await.snapshot);
        }
    }
    c.restock(restock("Laptop", 1)).await.unwrap();
    other.restock(restock("Monitor", 2)).await.unwrap();
    for stream in [&mut on_a, &mut on_b] {
        let (first, second) = (next(stream).await, next(stream).await);
        assert_eq!(
            (first.product.as_str(), first.stock_quantity),
            ("Laptop", 11)
        );
        assert_eq!(
            (second.product.as_str(), second.stock_quantity),
            ("Monitor", 10)
        );
        assert_eq!(second.seq, first.seq + 1);
    }
    replica.stop().await.unwrap();
    app.stop().await;
}
