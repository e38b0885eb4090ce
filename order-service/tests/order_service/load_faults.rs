//! Faults under load, with the write path's batches in flight: order-service
//! killed with SIGKILL while 32 clients order; inventory cut off and
//! restarted while clients order and cancel; inventory killed with SIGKILL
//! while clients order. Once the system settles, no stock is lost or
//! invented.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use serde_json::json;
use support::testing::Backend;
use tokio::{sync::Notify, task::JoinHandle};

use crate::common::{self, SEED, TestSystem, alone, wait_until};

/// Clients ordering at once.
const CLIENTS: usize = 32;
/// How long anything the test waits for may take.
const WITHIN: Duration = Duration::from_secs(20);

/// Units reserved so far, from inventory's stock.
async fn units_taken(sys: &TestSystem) -> i64 {
    let stock = sys.stock().await;
    SEED.iter().map(|(p, initial)| initial - stock[*p]).sum()
}

/// `CLIENTS` clients ordering 1 unit of each product in turn, counting
/// their answers, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    clients: JoinHandle<()>,
}

impl Load {
    /// Starts the clients against `base`.
    fn start(http: reqwest::Client, base: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (s, o, r) = (stop.clone(), ok.clone(), refused.clone());
        let clients = tokio::spawn(async move {
            futures::stream::iter(0..CLIENTS)
                .for_each_concurrent(CLIENTS, |client| {
                    let (http, base) = (http.clone(), base.clone());
                    let (stop, ok, refused) = (s.clone(), o.clone(), r.clone());
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
                                // 503 while inventory is away. The client
                                // backs off before its next order (every
                                // refused one is a row): the load's pace,
                                // not a wait for anything.
                                Ok(_) => {
                                    refused.fetch_add(1, Ordering::SeqCst);
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                }
                                // The service died under us.
                                Err(_) => return,
                            }
                        }
                    }
                })
                .await;
        });
        Self {
            stop,
            ok,
            refused,
            clients,
        }
    }

    /// Waits until `more` orders beyond those so far are answered 200.
    async fn placed(&self, more: usize) {
        let at_least = self.ok.load(Ordering::SeqCst) + more;
        let what = format!("{at_least} orders placed");
        wait_until(&what, WITHIN, async || {
            self.ok.load(Ordering::SeqCst) >= at_least
        })
        .await;
    }

    /// Waits until `more` orders beyond those so far are refused.
    async fn refused(&self, more: usize) {
        let at_least = self.refused.load(Ordering::SeqCst) + more;
        let what = format!("{at_least} orders refused");
        wait_until(&what, WITHIN, async || {
            self.refused.load(Ordering::SeqCst) >= at_least
        })
        .await;
    }

    /// Stops the clients; returns how many orders were placed.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.clients.await.unwrap();
        self.ok.load(Ordering::SeqCst)
    }
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

/// Cancels the orders `ids`, 8 at a time, counting them in `cancelled`:
/// each is answered 200, even while inventory is away (the reconciler
/// returns the stock later).
async fn cancel(http: &reqwest::Client, base: &str, ids: &[i64], cancelled: &AtomicUsize) {
    futures::stream::iter(ids)
        .for_each_concurrent(8, |id| async move {
            let r = http
                .post(format!("{base}/orders/{id}/cancel"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            cancelled.fetch_add(1, Ordering::SeqCst);
        })
        .await;
}

async fn either_service_dying_under_load_loses_no_stock(backend: Backend) {
    if alone::is_child() {
        // This process is the inventory step 3 kills.
        return inventory_until_killed().await;
    }
    let mut sys = TestSystem::spawn(backend).await;
    sys.orders.take().unwrap().stop().await.unwrap();
    let (mut child, addr) = common::process::spawn(&sys.order_config, &[]).await;

    // 1. SIGKILL of order-service while 32 clients order.
    let load = Load::start(sys.http.clone(), format!("http://{addr}"));
    wait_until("orders go through", WITHIN, async || {
        units_taken(&sys).await >= 20
    })
    .await;
    // Every stage has batched orders by now (and goes on doing so).
    wait_until("orders go through in batches", WITHIN, async || {
        let metrics = sys
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        ["record", "reserve", "settle"]
            .iter()
            .all(|stage| batched(&metrics, stage))
    })
    .await;
    child.kill().await.unwrap();
    load.stop().await;

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
    assert!(created.len() >= 2, "{created:?}");
    let load = Load::start(sys.http.clone(), sys.base_url.clone());
    load.placed(CLIENTS).await;
    // Half the orders are cancelled as inventory goes away, the other half
    // while it is away.
    let cancelled = Arc::new(AtomicUsize::new(0));
    let away = Arc::new(Notify::new());
    let cancels = tokio::spawn({
        let (http, base) = (sys.http.clone(), sys.base_url.clone());
        let (cancelled, away) = (cancelled.clone(), away.clone());
        async move {
            let (first, second) = created.split_at(created.len() / 2);
            cancel(&http, &base, first, &cancelled).await;
            away.notified().await;
            cancel(&http, &base, second, &cancelled).await;
        }
    });
    wait_until("cancels go through", WITHIN, async || {
        cancelled.load(Ordering::SeqCst) > 0
    })
    .await;
    sys.proxy.set_down(true);
    sys.stop_inventory().await;
    load.refused(CLIENTS).await;
    away.notify_one();
    cancels.await.unwrap();
    sys.start_inventory().await;
    sys.proxy.set_down(false);
    load.placed(CLIENTS).await;
    load.stop().await;

    sys.settle().await;
    sys.assert_invariant().await;

    // 3. SIGKILL of inventory (a process of its own, on the same port and
    //    database) while clients order, and a restart.
    sys.stop_inventory().await;
    let mut inventory = inventory_process(&sys).await;
    let load = Load::start(sys.http.clone(), sys.base_url.clone());
    load.placed(CLIENTS).await;
    inventory.kill().await.unwrap();
    load.refused(CLIENTS).await;
    let mut inventory = inventory_process(&sys).await;
    load.placed(CLIENTS).await;
    assert!(load.stop().await > 0, "orders went through around the kill");
    sys.settle().await;
    sys.assert_invariant().await;
    inventory.kill().await.unwrap();
    sys.stop().await;
}

support::both_backends!(either_service_dying_under_load_loses_no_stock);

/// Variables that make this test's child process an inventory process
/// (see [`inventory_until_killed`]): its database and gRPC port.
const CHILD_DATABASE: &str = "LOAD_FAULTS_INVENTORY_DATABASE_URL";
const CHILD_PORT: &str = "LOAD_FAULTS_INVENTORY_GRPC_PORT";

/// Starts inventory as a process that can be killed with SIGKILL: this
/// test again, in a process of its own ([`alone::command`]), where it is
/// inventory on the system's inventory port and database.
async fn inventory_process(sys: &TestSystem) -> tokio::process::Child {
    use tokio::io::AsyncBufReadExt;
    let mut child = alone::command()
        .env(CHILD_DATABASE, &sys.inventory_config.database_url)
        .env(CHILD_PORT, sys.inventory_config.grpc_port.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(WITHIN, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("inventory ready") {
                return;
            }
        }
        panic!("the inventory process exited before it was ready");
    })
    .await
    .expect("inventory ready in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// The test in [`inventory_process`]'s child: inventory-service, serving
/// until the parent kills it.
async fn inventory_until_killed() {
    let url = std::env::var(CHILD_DATABASE).expect("the parent names the database");
    let port = std::env::var(CHILD_PORT).expect("the parent names the port");
    let mut config = inventory_service::Config::for_tests(url);
    config.grpc_port = port.parse().unwrap();
    let _server = inventory_service::Server::start(&config).await.unwrap();
    println!("inventory ready");
    std::future::pending::<()>().await;
}
