//! Starts a real inventory-service on free ports with a fresh database and
//! connects a real gRPC client and an HTTP client to it.

use std::time::Duration;

use inventory_service::{Config, Server};
use proto::inventory_service_client::InventoryServiceClient;
use support::{
    db::Db,
    testing::{Backend, TestDatabase},
    with_db,
};
use tonic::transport::Channel;

pub(crate) use support::testing::eventually;

/// Upper bound for anything a test waits for: it fails instead of hanging.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) struct TestInventory {
    pub server: Server,
    pub grpc: InventoryServiceClient<Channel>,
    pub http: reqwest::Client,
    pub base_url: String,
    pub db: TestDatabase,
}

impl TestInventory {
    /// On PostgreSQL it needs `TEST_DATABASE_URL` (the test is `#[ignore]`d
    /// unless asked for) and panics without it.
    pub(crate) async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`spawn`](Self::spawn), with the test's changes to the config.
    pub(crate) async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let db = TestDatabase::create(backend, "inventory").await;
        let mut config = Config::for_tests(&db.url);
        configure(&mut config);
        let server = Server::start(&config).await.expect("inventory starts");
        let grpc = InventoryServiceClient::connect(format!("http://{}", server.grpc_addr))
            .await
            .expect("gRPC connects");
        let base_url = format!("http://{}", server.http_addr);
        Self {
            server,
            grpc,
            http: reqwest::Client::new(),
            base_url,
            db,
        }
    }

    pub(crate) async fn stop(self) {
        self.server.stop().await.expect("clean shutdown");
        self.db.cleanup().await;
    }

    pub(crate) async fn stock(&self, product: &str) -> i32 {
        let reply = self
            .grpc
            .clone()
            .check_stock(proto::StockRequest {
                product: product.into(),
                quantity: 1,
            })
            .await
            .expect("CheckStock")
            .into_inner();
        reply.stock_quantity
    }

    /// A second handle on the service's database, to look behind its API.
    pub(crate) async fn sql(&self) -> Db {
        Db::connect(&self.db.url, &inventory_service::migrations())
            .await
            .expect("second database handle")
    }

    /// How many rows the reservations table has.
    pub(crate) async fn reservation_rows(&self) -> i64 {
        let db = self.sql().await;
        let n = with_db!(&db, read, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM reservations")
                .fetch_one(pool)
                .await
                .expect("count reservations")
        });
        db.close().await;
        n
    }

    /// Runs one statement of the test's own on the service's database.
    pub(crate) async fn execute(&self, sql: &'static str) {
        let db = self.sql().await;
        with_db!(&db, write, |pool| {
            sqlx::query(sql).execute(pool).await.expect(sql);
        });
        db.close().await;
    }

    /// Asserts that every product's `held` is the sum of its RESERVED
    /// reservations.
    pub(crate) async fn assert_held_matches_reservations(&self) {
        let db = self.sql().await;
        let off: Vec<(String, i64, i64)> = with_db!(&db, read, |pool| {
            sqlx::query_as(
                "SELECT p.name, p.held, CAST(COALESCE((SELECT SUM(r.quantity) FROM reservations r \
                   WHERE r.product_id = p.id AND r.state = 'RESERVED'), 0) AS BIGINT) \
                 FROM products p",
            )
            .fetch_all(pool)
            .await
            .expect("held per product")
        });
        db.close().await;
        let off: Vec<_> = off.into_iter().filter(|(_, h, r)| h != r).collect();
        assert!(off.is_empty(), "held differs from reservations: {off:?}");
    }
}
