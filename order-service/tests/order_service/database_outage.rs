//! PostgreSQL (both services' databases, as in docker-compose) restarted
//! under order load, down until clients and both services have seen it:
//! every answer is a 200 or a 503 with `Retry-After`
//! (gRPC: OK or UNAVAILABLE), never a 500; both services recover by
//! themselves; no ERROR line is logged (an outage is not a bug); and once
//! the system settles, no stock is lost or made up.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use support::testing::{
    ErrorEvents, PrivatePostgres,
    metrics::{Exposition, Format},
};
use tokio_util::sync::CancellationToken;

use crate::common::{alone, wait_until};

/// Longest any one request may take before the test calls it hung; also
/// how long the load and the recovery may take to show.
const CALL_LIMIT: Duration = Duration::from_secs(15);
/// How long the outage may take to show to the clients and inventory.
const OUTAGE_SHOWS_WITHIN: Duration = Duration::from_secs(30);
const CLIENTS: usize = 6;

/// What the load saw.
#[derive(Default)]
struct Seen {
    ok: usize,
    unavailable: usize,
    /// Anything else.
    wrong: Vec<String>,
}

impl Seen {
    fn record(&mut self, what: &str, status: u16, retry_after: bool, body: &str) {
        match status {
            200 => self.ok += 1,
            503 if retry_after => self.unavailable += 1,
            _ => self.wrong.push(format!("{what}: {status} {body}")),
        }
    }
}

async fn client(base: String, worker: usize, seen: Arc<Mutex<Seen>>, stop: CancellationToken) {
    let http = reqwest::Client::new();
    let mut i = 0usize;
    while !stop.is_cancelled() {
        i += 1;
        let (what, request) = match i % 4 {
            0 => ("GET /orders", http.get(format!("{base}/orders?limit=5"))),
            1 => (
                "GET /orders/{id}",
                http.get(format!("{base}/orders/{}", 1 + i % 10)),
            ),
            _ => (
                "POST /orders",
                http.post(format!("{base}/orders"))
                    .json(&json!({"product": "Laptop", "quantity": 1 + (worker + i) % 2})),
            ),
        };
        let answer = tokio::time::timeout(CALL_LIMIT, request.send())
            .await
            .unwrap_or_else(|_| panic!("{what} got no answer within {CALL_LIMIT:?}"));
        let outcome = match answer {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().get("retry-after").is_some_and(|v| v == "1");
                let body = r.text().await.unwrap_or_default();
                // A 404 for an id not placed yet is a fine answer too.
                let found_or_not = status == 404 && what == "GET /orders/{id}";
                Ok((if found_or_not { 200 } else { status }, retry_after, body))
            }
            Err(e) => Err(e.to_string()),
        };
        let mut seen = seen.lock().unwrap();
        match outcome {
            Ok((status, retry_after, body)) => seen.record(what, status, retry_after, &body),
            Err(e) => seen.wrong.push(format!("{what}: {e}")),
        }
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// Every order, walking the pages of GET /orders.
async fn all_orders(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut url = format!("{base}/orders?limit=1000");
    loop {
        let page = get_json(http, &url).await;
        let page = page.as_array().unwrap().clone();
        let Some(last) = page.last() else { return all };
        url = format!("{base}/orders?limit=1000&before={}", last["id"]);
        all.extend(page);
    }
}

async fn create_database(server: &str, name: &str) -> String {
    let mut conn = PgConnection::connect(server).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn a_database_restart_is_503_never_500_and_loses_no_stock() {
    // Counting ERROR events takes the global subscriber: in a process of
    // its own.
    alone::run(database_restart()).await;
}

async fn database_restart() {
    let errors = ErrorEvents::install(&["order_service", "inventory_service", "support"]);
    let pg = PrivatePostgres::new().await;
    let inventory_url = create_database(&pg.url(), "inventory").await;
    let orders_url = create_database(&pg.url(), "orders").await;
    let inventory =
        inventory_service::Server::start(&inventory_service::Config::for_tests(&inventory_url))
            .await
            .unwrap();
    let mut config =
        order_service::Config::for_tests(&orders_url, format!("http://{}", inventory.grpc_addr));
    config.reconcile_interval_ms = 100;
    let orders = order_service::Server::start(&config).await.unwrap();
    let base = format!("http://{}", orders.http_addr);
    let http = reqwest::Client::new();
    let products = get_json(&http, &format!("{base}/products")).await;
    let initial: HashMap<String, i64> = products
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["stockQuantity"].as_i64().unwrap(),
            )
        })
        .collect();

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = CancellationToken::new();
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..CLIENTS {
        load.spawn(client(base.clone(), worker, seen.clone(), stop.clone()));
    }
    let answered = async |at_least: usize| {
        let what = format!("{at_least} orders answered OK");
        wait_until(&what, CALL_LIMIT, async || {
            seen.lock().unwrap().ok >= at_least
        })
        .await;
    };
    // The load is under way.
    answered(CLIENTS).await;
    pg.stop().await;
    // Down until clients have been refused (order-service's database is
    // down) and inventory finds its database down too. Each may take the
    // pools' acquire timeout (5 s) while the server is away.
    let inventory_health = format!("http://{}/health", inventory.http_addr);
    wait_until(
        "the outage seen by clients and inventory",
        OUTAGE_SHOWS_WITHIN,
        async || {
            let refused = seen.lock().unwrap().unavailable;
            refused >= CLIENTS && {
                let health = http.get(&inventory_health).send().await.unwrap();
                health.status() == 503
            }
        },
    )
    .await;
    pg.start().await;
    let back = Instant::now();
    // Both services recover by themselves.
    wait_until(
        "an order placed after the restart",
        CALL_LIMIT,
        async || {
            let r = http
                .post(format!("{base}/orders"))
                .json(&json!({"product": "Phone", "quantity": 1}))
                .send()
                .await
                .unwrap();
            r.status() == 200
        },
    )
    .await;
    let recovered = back.elapsed();
    // And the load goes on through them.
    let ok = seen.lock().unwrap().ok;
    answered(ok + CLIENTS).await;
    stop.cancel();
    while load.join_next().await.is_some() {}

    let (ok, unavailable, wrong) = {
        let seen = seen.lock().unwrap();
        (seen.ok, seen.unavailable, seen.wrong.clone())
    };
    eprintln!(
        "{ok} OK, {unavailable} 503 during the outage; first success {recovered:?} after the restart"
    );
    assert!(wrong.is_empty(), "{:#?}", &wrong[..wrong.len().min(10)]);
    assert!(unavailable > 0, "the outage was seen");
    // And so did the metrics: the failed statements, as unavailable.
    let body = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = Exposition::parse(&body, Format::Text);
    assert!(metrics.value("db_statement_errors_total", &[("kind", "unavailable")]) >= 1.0);

    // At rest: initial stock = stock + quantities of CREATED orders.
    wait_until("the system settles", Duration::from_secs(30), async || {
        let round = orders.reconcile_once().await.unwrap();
        let all = all_orders(&http, &base).await;
        round.awaiting_release == 0 && all.iter().all(|o| o["status"] != "PENDING")
    })
    .await;
    let all = all_orders(&http, &base).await;
    let stock = get_json(&http, &format!("{base}/products")).await;
    for p in stock.as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let held: i64 = all
            .iter()
            .filter(|o| o["product"] == name && o["status"] == "CREATED")
            .map(|o| o["quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(
            p["stockQuantity"].as_i64().unwrap() + held,
            initial[name],
            "{name}"
        );
    }
    let (count, first) = errors.seen();
    assert_eq!(count, 0, "ERROR logged: {:?}", first);
    orders.stop().await.unwrap();
    inventory.stop().await.unwrap();
}
