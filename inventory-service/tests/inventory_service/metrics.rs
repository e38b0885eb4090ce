//! `/metrics` and `/actuator/prometheus` on the REST port: every family
//! after real gRPC traffic, the service's own counters equal to what the
//! test did, the stock gauge bounded in number.

use proto::{ReleaseStockRequest, ReserveStockBatchRequest, ReserveStockRequest};
use reqwest::header;
use support::{
    testing::{
        Backend,
        metrics::{Exposition, Format},
    },
    with_db,
};

use crate::common::TestInventory;

/// The families inventory-service serves beyond the shared ones (as the
/// classic text names them; it calls no gRPC service, so no
/// `grpc_client_*`).
const OWN_FAMILIES: &[&str] = &[
    "inventory_service_reservations_total",
    "inventory_service_releases_total",
    "inventory_service_stock",
];

async fn scrape(inv: &TestInventory, path: &str, accept: &str) -> (Format, Exposition) {
    let response = inv
        .http
        .get(format!("{}{path}", inv.base_url))
        .header(header::ACCEPT, accept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let format = Format::of(response.headers()[header::CONTENT_TYPE].to_str().unwrap());
    let body = response.text().await.unwrap();
    (format, Exposition::parse(&body, format))
}

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

async fn counts_reservations_releases_and_stock(backend: Backend) {
    let inv = TestInventory::spawn(backend).await;
    let mut grpc = inv.grpc.clone();
    grpc.reserve_stock(reserve("k1", "Laptop", 2))
        .await
        .unwrap();
    grpc.reserve_stock(reserve("k2", "Laptop", 1000))
        .await
        .unwrap();
    let refused = grpc.reserve_stock(reserve("k3", "", 1)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    grpc.reserve_stock_batch(ReserveStockBatchRequest {
        reservations: vec![reserve("k4", "Laptop", 1), reserve("k5", "Nothing", 1)],
    })
    .await
    .unwrap();
    grpc.release_stock(release("k1")).await.unwrap();
    grpc.release_stock(release("k1")).await.unwrap();
    grpc.release_stock(release("")).await.unwrap_err();
    let stock = inv.stock("Laptop").await;
    let listed = inv
        .http
        .get(format!("{}/inventory/products", inv.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);

    let (format, metrics) = scrape(&inv, "/metrics", "*/*").await;
    assert_eq!(format, Format::Text);
    metrics.assert_families(OWN_FAMILIES);
    let outcome = |family: &str, outcome| metrics.sum(family, &[("outcome", outcome)]);
    let reservations = "inventory_service_reservations_total";
    assert_eq!(outcome(reservations, "reserved"), 2.0);
    assert_eq!(outcome(reservations, "insufficient_stock"), 1.0);
    // The empty name, and the product inventory does not know.
    assert_eq!(outcome(reservations, "refused"), 2.0);
    assert_eq!(outcome(reservations, "failed"), 0.0);
    let releases = "inventory_service_releases_total";
    assert_eq!(outcome(releases, "returned"), 1.0);
    assert_eq!(outcome(releases, "nothing"), 1.0);
    assert_eq!(outcome(releases, "refused"), 1.0);
    assert_eq!(
        metrics.value("inventory_service_stock", &[("product", "Laptop")]),
        f64::from(stock)
    );
    let handled = |method, code| {
        metrics.sum(
            "grpc_server_handled_total",
            &[
                ("grpc_service", "InventoryService"),
                ("grpc_method", method),
                ("grpc_code", code),
            ],
        )
    };
    assert_eq!(handled("ReserveStock", "OK"), 2.0);
    assert_eq!(handled("ReserveStock", "InvalidArgument"), 1.0);
    assert_eq!(handled("ReserveStockBatch", "OK"), 1.0);
    assert_eq!(handled("ReleaseStock", "OK"), 2.0);
    assert_eq!(handled("CheckStock", "OK"), 1.0);
    assert_eq!(
        metrics.value(
            "http_server_requests_total",
            &[("method", "GET"), ("route", "/inventory/products")]
        ),
        1.0
    );
    let log = [("log", "stock_events")];
    // k1's reservation and release, k4's reservation.
    assert!(metrics.value("event_log_written_seq", &log) >= 3.0);
    assert!(metrics.value("process_max_fds", &[]) >= metrics.value("process_open_fds", &[]));

    // The same on Spring's path, in OpenMetrics.
    let (format, metrics) =
        scrape(&inv, "/actuator/prometheus", "application/openmetrics-text").await;
    assert_eq!(format, Format::OpenMetrics);
    assert_eq!(
        metrics.families["inventory_service_reservations"],
        "counter"
    );
    assert_eq!(metrics.sum(reservations, &[("outcome", "reserved")]), 2.0);
    inv.stop().await;
}

async fn stock_series_are_capped() {
    let inv = TestInventory::spawn(Backend::Sqlite).await;
    let db = inv.sql().await;
    with_db!(&db, write, |pool| sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) \
         INSERT INTO products (name, stock) SELECT 'extra' || i, 1 FROM n"
    )
    .execute(pool)
    .await
    .map(drop)
    .unwrap());
    let (_, metrics) = scrape(&inv, "/metrics", "text/plain").await;
    let products = metrics.matching("inventory_service_stock", &[]).count();
    assert_eq!(products, 500, "at most MAX_STOCK_SERIES products");
    // The first by id: the catalogue's own.
    assert_eq!(
        metrics
            .matching("inventory_service_stock", &[("product", "Laptop")])
            .count(),
        1
    );
    db.close().await;
    inv.stop().await;
}

support::both_backends!(counts_reservations_releases_and_stock);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_gauge_is_bounded() {
    stock_series_are_capped().await;
}
