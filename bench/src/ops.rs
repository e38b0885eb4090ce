//! The operations the load phases repeat: an order, and the floor's three
//! parts (a no-op HTTP request, a gRPC call, a single-row commit), each
//! through the same kind of client the system itself uses.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use proto::{StockRequest, inventory_service_client::InventoryServiceClient};
use support::{db::Db, with_db};
use tonic::transport::Channel;

use crate::load::Op;

/// One HTTP/1.1 keep-alive connection per worker.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()
        .expect("HTTP client")
}

/// `POST /orders` for 1 unit of a product, cycling through `products`.
pub(crate) struct PlaceOrder {
    pub client: reqwest::Client,
    pub url: String,
    pub products: Arc<Vec<String>>,
    pub next: usize,
}

impl Op for PlaceOrder {
    async fn run(&mut self) -> bool {
        self.next = (self.next + 1) % self.products.len();
        let body = serde_json::json!({ "product": self.products[self.next], "quantity": 1 });
        match self.client.post(&self.url).json(&body).send().await {
            Ok(r) if r.status() == 200 => r
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|o| o["status"] == "CREATED"),
            _ => false,
        }
    }
}

/// A GET of order-service's cheapest endpoint (`/health/live`): HTTP alone.
pub(crate) struct NoopHttp {
    pub client: reqwest::Client,
    pub url: String,
}

impl Op for NoopHttp {
    async fn run(&mut self) -> bool {
        match self.client.get(&self.url).send().await {
            Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
            Err(_) => false,
        }
    }
}

/// `CheckStock` over one shared channel, as order-service calls inventory.
pub(crate) struct CheckStock {
    pub client: InventoryServiceClient<Channel>,
}

impl Op for CheckStock {
    async fn run(&mut self) -> bool {
        self.client
            .check_stock(StockRequest {
                product: "Laptop".into(),
                quantity: 1,
            })
            .await
            .is_ok()
    }
}

/// One single-row INSERT per commit, on the same kind of database and with
/// the same connection settings as the services.
pub(crate) struct Commit {
    pub db: Db,
    pub seq: Arc<AtomicU64>,
}

impl Op for Commit {
    async fn run(&mut self) -> bool {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        with_db!(&self.db, write, |pool| {
            sqlx::query("INSERT INTO floor_rows (key, product, quantity) VALUES ($1, $2, $3)")
                .bind(format!("row-{n}"))
                .bind("Laptop")
                .bind(1_i64)
                .execute(pool)
                .await
                .is_ok()
        })
    }
}
