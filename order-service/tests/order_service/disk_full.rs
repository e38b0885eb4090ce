//! A full disk under each service's database in turn, on both backends: a
//! tmpfs the test mounts and fills (on PostgreSQL, a tablespace on it holds
//! the database). While the disk refuses writes, clients get 503 with
//! `Retry-After` (REST) or UNAVAILABLE (gRPC), never a 500; the log gets a
//! few lines, not one per request; readiness says the database is down
//! (REST and the gRPC health service), and up again once space is freed
//! and a write goes through; and at rest no stock is lost or made up.
//!
//! Both services run in the test's process with the services' own
//! subscriber (JSON lines, captured), as their binaries install it: a
//! process of its own, as the subscriber is global.

use std::time::Duration;

use futures::{StreamExt, stream};
use proto::{
    OrderRequest, ReleaseStockRequest, inventory_service_client::InventoryServiceClient,
    order_service_client::OrderServiceClient,
};
use serde_json::Value;
use support::{
    telemetry::{LogFormat, Settings},
    testing::{Backend, CapturedLogs, SmallDisk},
};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::common::{TestSystem, alone, wait_until};

mod log_lines;
use log_lines::{assert_logged, assert_quiet};

/// Writes tried before the test calls the disk never full.
const UNTIL_FULL: usize = 3_000;
/// Refused writes the test asks for once the disk is full, to show the log
/// does not grow with them. Some writes in between may find room (SQLite in
/// its write-ahead log's file, PostgreSQL in space an aborted row left), and
/// how many varies from run to run, so the test sends until this many were
/// refused (at most `UNTIL_FULL` writes) rather than a fixed number.
const REFUSED: usize = 300;
/// Those writes in flight at once.
const CONCURRENCY: usize = 8;
/// How long a status change may take to show (the gRPC health service
/// follows the database's state from a task of its own).
const SHOWS_WITHIN: Duration = Duration::from_secs(5);

async fn a_full_disk_is_answered_as_an_outage_and_recovered_from(backend: Backend) {
    // The subscriber is global: in a process of its own.
    alone::run(full_disks(backend)).await;
}

support::both_backends!(a_full_disk_is_answered_as_an_outage_and_recovered_from);

/// Each service's database on a full disk in turn, under the services'
/// own subscriber.
async fn full_disks(backend: Backend) {
    let logs = CapturedLogs::default();
    let _telemetry = support::telemetry::init_with_writer(
        Settings {
            service: "order-service",
            format: LogFormat::Json,
            log_filter: "info".into(),
            otlp_endpoint: None,
        },
        logs.writer(),
    );
    orders_disk_full(backend, &logs).await;
    inventory_disk_full(backend, &logs).await;
}

/// order-service's own database on the full disk.
async fn orders_disk_full(backend: Backend, logs: &CapturedLogs) {
    let Some(disk) = SmallDisk::create(backend, "orders").await else {
        return;
    };
    let url = disk.url.clone();
    let system = TestSystem::spawn_with(backend, |c| c.database_url = url).await;
    let grpc_addr = format!("http://{}", system.orders.as_ref().unwrap().grpc_addr);
    let mut orders_grpc = OrderServiceClient::connect(grpc_addr.clone())
        .await
        .unwrap();
    let health = health_client(grpc_addr).await;
    let rest_health = |path: &'static str| {
        let url = system.url(path);
        let http = system.http.clone();
        async move { health_of(&http, &url).await }
    };
    assert_eq!(rest_health("/health/ready").await, (200, "UP".into()));
    serving(&health, "OrderService", ServingStatus::Serving).await;
    system.order("Laptop", 1).await;

    let before = logs.json_lines().len();
    disk.fill();
    // Orders until the disk refuses one: each is placed or refused (503
    // with Retry-After), never a 500.
    let mut placed = 0;
    while !refused_order(&system).await {
        placed += 1;
        assert!(placed < UNTIL_FULL, "{placed} orders placed on a full disk");
    }
    // At once (nothing has written since): the database is down.
    assert_eq!(rest_health("/health/ready").await, (503, "DOWN".into()));
    assert_eq!(rest_health("/health").await, (503, "DOWN".into()));
    for service in ["", "OrderService"] {
        serving(&health, service, ServingStatus::NotServing).await;
    }
    // Readiness is the state the gRPC health service follows.
    let readiness = system.url("/actuator/health/readiness");
    let ready = async || system.http.get(&readiness).send().await.unwrap().status();
    assert_eq!(ready().await, 503);
    if backend == Backend::Sqlite {
        let (_, whole) = system.get_json("/actuator/health").await;
        assert_eq!(
            whole["components"]["diskSpace"]["status"], "DOWN",
            "{whole}"
        );
        assert_eq!(whole["components"]["db"]["details"]["writable"], false);
    }

    // Many more: 503s, and gRPC's UNAVAILABLE; the log does not grow with them.
    let sent = until_refused(|_| refused_order(&system)).await;
    eprintln!(
        "{backend:?}, orders' disk full: {placed} orders placed before the first refusal, \
         then {REFUSED} refused of {sent}"
    );
    // gRPC too: UNAVAILABLE, never INTERNAL (a call may find room, as
    // PostgreSQL reuses the space of aborted rows).
    for placed in 0.. {
        let answer = orders_grpc
            .create_order(OrderRequest {
                product: "Phone".into(),
                quantity: 1,
            })
            .await;
        match answer {
            Err(s) if s.code() == Code::Unavailable => break,
            Err(s) => panic!("{s:?}"),
            Ok(_) => assert!(
                placed < UNTIL_FULL,
                "{placed} gRPC orders placed on a full disk"
            ),
        }
    }
    assert_quiet(
        &logs.json_lines()[before..],
        REFUSED,
        "database writes failing",
    );

    // Space again: the next order goes through, and readiness with it.
    disk.free();
    wait_until(
        "an order placed after freeing space",
        SHOWS_WITHIN,
        async || !refused_order(&system).await,
    )
    .await;
    assert_eq!(rest_health("/health/ready").await, (200, "UP".into()));
    for service in ["", "OrderService"] {
        serving(&health, service, ServingStatus::Serving).await;
    }
    assert_eq!(ready().await, 200);
    assert_logged(
        &logs.json_lines()[before..],
        "database writes succeed again",
    );

    system.settle().await;
    system.assert_invariant().await;
    system.stop().await;
    drop(disk);
}

/// inventory-service's database on the full disk.
async fn inventory_disk_full(backend: Backend, logs: &CapturedLogs) {
    let Some(disk) = SmallDisk::create(backend, "inventory").await else {
        return;
    };
    let url = disk.url.clone();
    let system = TestSystem::spawn_configured(backend, |c| c.database_url = url, |_| {}).await;
    let grpc_addr = format!("http://{}", system.inventory.as_ref().unwrap().grpc_addr);
    let inventory = InventoryServiceClient::connect(grpc_addr.clone())
        .await
        .unwrap();
    let health = health_client(grpc_addr).await;
    let rest_url = format!(
        "http://{}/health",
        system.inventory.as_ref().unwrap().http_addr
    );
    assert_eq!(health_of(&system.http, &rest_url).await, (200, "UP".into()));
    serving(&health, "InventoryService", ServingStatus::Serving).await;
    system.order("Laptop", 1).await;

    let before = logs.json_lines().len();
    disk.fill();
    // A release of a key never reserved writes its tombstone and no stock:
    // writes until the disk refuses one, each OK or UNAVAILABLE.
    let mut written = 0;
    while !refused_release(&inventory, written).await {
        written += 1;
        assert!(
            written < UNTIL_FULL,
            "{written} releases written on a full disk"
        );
    }
    assert_eq!(
        health_of(&system.http, &rest_url).await,
        (503, "DOWN".into())
    );
    for service in ["", "InventoryService"] {
        serving(&health, service, ServingStatus::NotServing).await;
    }

    let sent = until_refused(|i| refused_release(&inventory, UNTIL_FULL + i)).await;
    eprintln!(
        "{backend:?}, inventory's disk full: {written} releases written before the first \
         refusal, then {REFUSED} refused of {sent}"
    );
    // Orders: inventory cannot reserve, so 503 with Retry-After (or placed).
    for _ in 0..2 {
        refused_order(&system).await;
    }
    assert_quiet(
        &logs.json_lines()[before..],
        REFUSED,
        "database writes failing",
    );

    disk.free();
    wait_until(
        "a release written after freeing space",
        SHOWS_WITHIN,
        async || !refused_release(&inventory, 2 * UNTIL_FULL).await,
    )
    .await;
    assert_eq!(health_of(&system.http, &rest_url).await, (200, "UP".into()));
    for service in ["", "InventoryService"] {
        serving(&health, service, ServingStatus::Serving).await;
    }
    assert_logged(
        &logs.json_lines()[before..],
        "database writes succeed again",
    );

    // The orders refused for inventory hold nothing once reconciled.
    system.settle().await;
    system.assert_invariant().await;
    system.stop().await;
    drop(disk);
}

/// Sends `write(i)` for i = 0, 1, … (`CONCURRENCY` at a time) until
/// `REFUSED` of them were refused, and returns how many were sent. Fails
/// the test if `UNTIL_FULL` writes are not enough: the disk is not full.
async fn until_refused<W, F>(write: W) -> usize
where
    W: FnMut(usize) -> F,
    F: Future<Output = bool>,
{
    let mut answers = stream::iter(0..UNTIL_FULL)
        .map(write)
        .buffer_unordered(CONCURRENCY);
    let (mut sent, mut refused) = (0, 0);
    while let Some(was_refused) = answers.next().await {
        sent += 1;
        refused += usize::from(was_refused);
        if refused == REFUSED {
            return sent;
        }
    }
    panic!("only {refused} of {sent} writes refused on a full disk");
}

/// Places an order; true when it was refused (503 with `Retry-After` and a
/// message), false when placed. Anything else fails the test.
async fn refused_order(system: &TestSystem) -> bool {
    let response = system.post_order("Tablet", 1).await;
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").cloned();
    let body: Value = response.json().await.unwrap();
    match status {
        200 => false,
        503 => {
            assert!(retry_after.is_some(), "503 without Retry-After: {body}");
            assert!(body["message"].is_string(), "{body}");
            true
        }
        _ => panic!("{status} {body}"),
    }
}

/// Releases a key never reserved; true when refused (UNAVAILABLE).
async fn refused_release(inventory: &InventoryServiceClient<Channel>, n: usize) -> bool {
    let answer = inventory
        .clone()
        .release_stock(ReleaseStockRequest {
            reservation_key: format!("disk-full-{n}"),
        })
        .await;
    match answer {
        Ok(_) => false,
        Err(s) if s.code() == Code::Unavailable => true,
        Err(s) => panic!("{s:?}"),
    }
}

/// A health answer's status code and `database` state.
async fn health_of(http: &reqwest::Client, url: &str) -> (u16, String) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["database"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn health_client(addr: String) -> HealthClient<Channel> {
    let channel = tonic::transport::Endpoint::from_shared(addr)
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

/// Waits until the gRPC health service says `want` of `service`.
async fn serving(health: &HealthClient<Channel>, service: &str, want: ServingStatus) {
    let what = format!("{service:?} {want:?}");
    wait_until(&what, SHOWS_WITHIN, async || {
        let answer = health
            .clone()
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await;
        answer.unwrap().into_inner().status() == want
    })
    .await;
}
