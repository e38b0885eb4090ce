//! Starts the real system in-process: inventory-service and order-service
//! on free ports with fresh databases, order-service reaching inventory
//! through a [`proxy::FaultyProxy`]. Helpers speak real HTTP and gRPC.
//! A test waits for what it expects with [`eventually`] or [`wait_until`],
//! never with a fixed sleep; one that needs this process to itself runs
//! in a process of its own ([`alone`]).

pub(crate) mod alone;
pub(crate) mod logs;
pub(crate) mod openapi;
pub(crate) mod process;
pub(crate) mod proxy;
pub(crate) mod stomp;

use std::{collections::HashMap, time::Duration};

use proto::{ListProductsRequest, inventory_service_client::InventoryServiceClient};
use serde_json::{Value, json};
use support::testing::{Backend, TestDatabase};
pub(crate) use support::testing::{eventually, wait_until};
use tonic::transport::Channel;

/// Inventory's seed stock (its first migration).
pub(crate) const SEED: [(&str, i64); 5] = [
    ("Laptop", 10),
    ("Phone", 20),
    ("Tablet", 15),
    ("Headphones", 40),
    ("Monitor", 8),
];

pub(crate) struct TestSystem {
    pub inventory: Option<inventory_service::Server>,
    pub inventory_config: inventory_service::Config,
    pub orders: Option<order_service::Server>,
    pub order_config: order_service::Config,
    pub proxy: proxy::FaultyProxy,
    pub http: reqwest::Client,
    pub base_url: String,
    pub inventory_grpc: InventoryServiceClient<Channel>,
    pub dbs: Vec<TestDatabase>,
}

impl TestSystem {
    pub(crate) async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts both services; `configure` adjusts order-service's settings.
    pub(crate) async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut order_service::Config),
    ) -> Self {
        Self::spawn_configured(backend, |_| {}, configure).await
    }

    /// Starts both services, each with the test's changes to its settings.
    pub(crate) async fn spawn_configured(
        backend: Backend,
        configure_inventory: impl FnOnce(&mut inventory_service::Config),
        configure: impl FnOnce(&mut order_service::Config),
    ) -> Self {
        // Many systems share this process now: its soft open-file limit
        // up to the hard one, as the services' binaries do for themselves.
        support::service::raise_open_file_limit();
        let inventory_db = TestDatabase::create(backend, "inventory").await;
        let orders_db = inventory_db.sibling("orders").await;
        let mut inventory_config = inventory_service::Config::for_tests(&inventory_db.url);
        configure_inventory(&mut inventory_config);
        let inventory = inventory_service::Server::start(&inventory_config)
            .await
            .expect("inventory starts");
        // Restarts reuse the same ports.
        inventory_config.grpc_port = inventory.grpc_addr.port();
        inventory_config.http_port = inventory.http_addr.port();
        let proxy = proxy::FaultyProxy::start(inventory.grpc_addr).await;
        let mut order_config =
            order_service::Config::for_tests(&orders_db.url, format!("http://{}", proxy.addr));
        order_config.reconcile_interval_ms = 100;
        configure(&mut order_config);
        let orders = order_service::Server::start(&order_config)
            .await
            .expect("order-service starts");
        let base_url = format!("http://{}", orders.http_addr);
        let inventory_grpc =
            InventoryServiceClient::connect(format!("http://{}", inventory.grpc_addr))
                .await
                .expect("inventory gRPC");
        Self {
            inventory: Some(inventory),
            inventory_config,
            orders: Some(orders),
            order_config,
            proxy,
            http: reqwest::Client::new(),
            base_url,
            inventory_grpc,
            dbs: vec![inventory_db, orders_db],
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(o) = self.orders.take() {
            o.stop().await.expect("order-service stops cleanly");
        }
        if let Some(i) = self.inventory.take() {
            i.stop().await.expect("inventory stops cleanly");
        }
        for db in self.dbs.drain(..) {
            db.cleanup().await;
        }
    }

    pub(crate) async fn stop_inventory(&mut self) {
        let inventory = self.inventory.take().expect("inventory is running");
        inventory.stop().await.expect("inventory stops cleanly");
    }

    pub(crate) async fn start_inventory(&mut self) {
        let inventory = inventory_service::Server::start(&self.inventory_config)
            .await
            .expect("inventory restarts");
        self.inventory = Some(inventory);
    }

    /// Stops order-service gracefully (if running) and starts it again on the
    /// same database, with `configure` applied to its settings.
    pub(crate) async fn restart_orders(
        &mut self,
        configure: impl FnOnce(&mut order_service::Config),
    ) {
        if let Some(o) = self.orders.take() {
            o.stop().await.expect("order-service stops cleanly");
        }
        configure(&mut self.order_config);
        let orders = order_service::Server::start(&self.order_config)
            .await
            .expect("order-service restarts");
        self.base_url = format!("http://{}", orders.http_addr);
        self.orders = Some(orders);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub(crate) async fn post_order(&self, product: &str, quantity: i64) -> reqwest::Response {
        self.http
            .post(self.url("/orders"))
            .json(&json!({ "product": product, "quantity": quantity }))
            .send()
            .await
            .expect("POST /orders")
    }

    /// Places an order that must get a 200 answer.
    pub(crate) async fn order(&self, product: &str, quantity: i64) -> Value {
        let response = self.post_order(product, quantity).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("Order JSON")
    }

    /// The body of a `GET` as text (e.g. `/metrics`).
    pub(crate) async fn get_text(&self, path: &str) -> String {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        r.text().await.expect("text body")
    }

    pub(crate) async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.expect("JSON body"))
    }

    /// Stock as inventory has it (read directly, not through order-service).
    pub(crate) async fn stock(&self) -> HashMap<String, i64> {
        let products = self
            .inventory_grpc
            .clone()
            .list_products(ListProductsRequest {})
            .await
            .expect("ListProducts")
            .into_inner()
            .products;
        products
            .into_iter()
            .map(|p| (p.name, i64::from(p.stock_quantity)))
            .collect()
    }

    /// Every order, walking the pages of GET /orders.
    pub(crate) async fn all_orders(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let path = match before {
                Some(b) => format!("/orders?limit=1000&before={b}"),
                None => "/orders?limit=1000".to_owned(),
            };
            let (status, page) = self.get_json(&path).await;
            assert_eq!(status, 200);
            let page = page.as_array().expect("array").clone();
            let Some(last) = page.last() else { return all };
            before = last["id"].as_i64();
            all.extend(page);
        }
    }

    /// Runs the reconciler until nothing is left to settle (or fails after 20 s).
    pub(crate) async fn settle(&self) {
        let orders = self.orders.as_ref().expect("order-service is running");
        wait_until("the system settles", Duration::from_secs(20), async || {
            matches!(orders.reconcile_once().await, Ok(round) if round.awaiting_release == 0)
                && no_pending(&self.all_orders().await)
        })
        .await;
    }

    /// initial stock = current stock + quantities of CREATED orders, per product.
    pub(crate) async fn assert_invariant(&self) {
        let stock = self.stock().await;
        let orders = self.all_orders().await;
        for (product, initial) in SEED {
            let held: i64 = orders
                .iter()
                .filter(|o| o["product"] == product && o["status"] == "CREATED")
                .map(|o| o["quantity"].as_i64().expect("quantity"))
                .sum();
            assert_eq!(
                stock[product] + held,
                initial,
                "{product}: stock {} + held {held}",
                stock[product]
            );
        }
    }
}

fn no_pending(orders: &[Value]) -> bool {
    orders.iter().all(|o| o["status"] != "PENDING")
}
