//! Faults under load, with the write path's batches in flight: order-service
//! killed with SIGKILL while 32 clients order; inventory cut off and
//! restarted while clients order and cancel; inventory killed with SIGKILL
//! while clients order. Once the system settles, no stock is lost or
//! invented.

// Test helpers unwrap: a panic is a failed test with its backtrace.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{SEED, TestSystem};
use futures::StreamExt;
use serde_json::json;
use support::testing::Backend;

/// Clients ordering at once.
const CLIENTS: usize = 32;

/// Units reserved so far, from inventory's stock.
async fn units_taken(sys: &TestSystem) -> i64 {
    let stock = sys.stock().await;
    SEED.iter().map(|(p, initial)| initial - stock[*p]).sum()
}

/// Waits until at least `units` more than `from` are reserved.
async fn until_taken(sys: &TestSystem, from: i64, units: i64) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while units_taken(sys).await < from + units {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("orders go through");
}

/// `CLIENTS` clients ordering 1 unit of each product in turn against
/// `base` until `stop`; returns how many answers were 200.
fn load(
    http: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let ok = Arc::new(AtomicUsize::new(0));
        futures::stream::iter(0..CLIENTS)
            .for_each_concurrent(CLIENTS, |client| {
                let (http, base, stop, ok) = (http.clone(), base.clone(), stop.clone(), ok.clone());
                async move {
                    let mut i = client;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        let product = SEED[i % SEED.len()].0;
                        let sent = http
                            .post(format!("{base}/orders"))
                            .json(&json!({"product": product, "quantity": 1}))
                            .timeout(Duration::from_secs(5))
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status() == 200 => {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            // 503 while inventory is away.
                            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                            // The service died under us.
                            Err(_) => return,
                        }
                    }
                }
            })
            .await;
        ok.load(Ordering::SeqCst)
    })
}

/// Batches of more than one order went through `stage` (from /metrics).
fn batched(metrics: &str, stage: &str) -> bool {
    let value = |name: &str| -> f64 {
        let prefix = format!("order_service_batch_size_{name}{{stage=\"{stage}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    value("sum") > value("count")
}

async fn either_service_dying_under_load_loses_no_stock(backend: Backend) {
    let Some(mut sys) = TestSystem::spawn(backend).await else {
        return;
    };
    sys.orders.take().unwrap().stop().await.unwrap();
    let (mut child, addr) = common::process::spawn(&sys.order_config, &[]).await;

    // 1. SIGKILL of order-service while 32 clients order.
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(sys.http.clone(), format!("http://{addr}"), stop.clone());
    until_taken(&sys, 0, 20).await;
    // Every stage has batched orders by now (and goes on doing so).
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let metrics = sys
                .http
                .get(format!("http://{addr}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if ["record", "reserve", "settle"]
                .iter()
                .all(|stage| batched(&metrics, stage))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("orders go through in batches");
    child.kill().await.unwrap();
    stop.store(true, Ordering::SeqCst);
    clients.await.unwrap();

    // 2. Restarted, it resolves what the dead process left; then inventory
    //    is cut off and restarted while clients order and cancel.
    sys.restart_orders(|c| c.reserve_timeout_ms = 500).await;
    sys.settle().await;
    sys.assert_invariant().await;
    let created: Vec<i64> = sys
        .all_orders()
        .await
        .iter()
        .filter(|o| o["status"] == "CREATED")
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert!(!created.is_empty());
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(sys.http.clone(), sys.base_url.clone(), stop.clone());
    let cancels = {
        let (http, base) = (sys.http.clone(), sys.base_url.clone());
        tokio::spawn(async move {
            futures::stream::iter(created)
                .for_each_concurrent(8, |id| {
                    let http = http.clone();
                    let url = format!("{base}/orders/{id}/cancel");
                    async move {
                        let r = http.post(url).send().await.unwrap();
                        // Cancelled even while inventory is away (the
                        // reconciler returns the stock later).
                        assert_eq!(r.status(), 200);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await;
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    sys.proxy.set_down(true);
    sys.stop_inventory().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sys.start_inventory().await;
    sys.proxy.set_down(false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    clients.await.unwrap();
    cancels.await.unwrap();

    sys.settle().await;
    sys.assert_invariant().await;

    // 3. SIGKILL of inventory (a process of its own, on the same port and
    //    database) while clients order, and a restart.
    sys.stop_inventory().await;
    let mut inventory = inventory_process(&sys).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(sys.http.clone(), sys.base_url.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    inventory.kill().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut inventory = inventory_process(&sys).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    assert!(
        clients.await.unwrap() > 0,
        "orders went through around the kill"
    );
    sys.settle().await;
    sys.assert_invariant().await;
    inventory.kill().await.unwrap();
    sys.stop().await;
}

support::both_backends!(either_service_dying_under_load_loses_no_stock);

/// Variables that make this test binary an inventory process (see
/// [`inventory_child`]): its database and gRPC port.
const CHILD_DATABASE: &str = "LOAD_FAULTS_INVENTORY_DATABASE_URL";
const CHILD_PORT: &str = "LOAD_FAULTS_INVENTORY_GRPC_PORT";

/// Starts inventory as a process that can be killed with SIGKILL: this test
/// binary again, running only [`inventory_child`], on the system's
/// inventory port and database.
async fn inventory_process(sys: &TestSystem) -> tokio::process::Child {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["inventory_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_DATABASE, &sys.inventory_config.database_url)
        .env(CHILD_PORT, sys.inventory_config.grpc_port.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("inventory ready") {
                return;
            }
        }
        panic!("the inventory process exited before it was ready");
    })
    .await
    .expect("inventory ready within 20 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Not a test of its own: inventory-service, in the process
/// [`inventory_process`] starts (it does nothing when run otherwise).
#[tokio::test]
#[ignore = "runs only as the child process of the SIGKILL test"]
async fn inventory_child() {
    let (Ok(url), Ok(port)) = (std::env::var(CHILD_DATABASE), std::env::var(CHILD_PORT)) else {
        return;
    };
    let mut config = inventory_service::Config::for_tests(url);
    config.grpc_port = port.parse().unwrap();
    let _server = inventory_service::Server::start(&config).await.unwrap();
    println!("inventory ready");
    std::future::pending::<()>().await;
}
