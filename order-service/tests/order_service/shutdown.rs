//! Stopping without losing anything: during `SHUTDOWN_DELAY_MS` readiness
//! (REST and the gRPC health service) is down but orders are still served, each answer saying
//! `Connection: close`; then every live
//! client is told to reconnect (a STOMP ERROR, then close code 1012 or
//! SockJS's `c[1012,…]`), the listener closes, and `SHUTDOWN_TIMEOUT_MS`
//! bounds the wait for work that does not finish.

use std::time::{Duration, Instant};

use futures::SinkExt;
use support::testing::{
    Backend, grpc_health,
    ws::{self, STOMP_CONNECT},
};
use tokio_tungstenite::tungstenite::Message;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};

use crate::common::{TestSystem, stomp, wait_until};

/// The pre-stop delay these tests set: long enough to order within it.
const DELAY_MS: u64 = 1_000;

/// What the STOMP ERROR's `message` and the close reason say.
const RESTARTING: &str = "Server restarting, please reconnect";

/// Upper bound for anything that must happen.
const PATIENCE: Duration = Duration::from_secs(20);

/// The gRPC health status of `service` (`""`: the whole server).
/// A SockJS message frame carrying `frame`.
fn sockjs(frame: &str) -> Message {
    Message::text(serde_json::to_string(&[frame]).unwrap())
}

/// The messages of a SockJS `a[…]` frame.
fn messages(frame: &str) -> Vec<String> {
    let array = frame
        .strip_prefix('a')
        .unwrap_or_else(|| panic!("not a message frame: {frame}"));
    serde_json::from_str(array).unwrap()
}

/// A SockJS xhr_streaming session, CONNECTed: its response and the text read so far.
async fn xhr_streaming(sys: &TestSystem) -> (reqwest::Response, String) {
    let base = sys.url("/ws-orders/7/drain");
    let mut stream = sys
        .http
        .post(format!("{base}/xhr_streaming"))
        .send()
        .await
        .unwrap();
    let mut received = read_until(&mut stream, "o\n", String::new()).await;
    let sent = sys
        .http
        .post(format!("{base}/xhr_send"))
        .body(serde_json::to_string(&[STOMP_CONNECT]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 204);
    received = read_until(&mut stream, "CONNECTED", received).await;
    (stream, received)
}

/// Reads `stream` until what it sent contains `needle`.
async fn read_until(stream: &mut reqwest::Response, needle: &str, mut received: String) -> String {
    tokio::time::timeout(PATIENCE, async {
        while !received.contains(needle) {
            let chunk = stream.chunk().await.unwrap();
            let chunk = chunk.unwrap_or_else(|| panic!("ended without {needle:?}: {received:?}"));
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {received:?}"));
    received
}

async fn draining_serves_then_tells_live_clients_to_reconnect(backend: Backend) {
    let mut sys =
        TestSystem::spawn_with(backend, |c| c.shutdown.shutdown_delay_ms = DELAY_MS).await;
    let addr = sys.orders.as_ref().unwrap().http_addr;
    let mut raw = stomp::subscriber(&addr.to_string(), "/topic/orders", None).await;
    let (mut over_sockjs, _) =
        ws::connect(&format!("ws://{addr}/ws-orders/1/drain/websocket"), &[])
            .await
            .unwrap();
    assert_eq!(ws::next_frame(&mut over_sockjs).await, "o");
    over_sockjs.send(sockjs(STOMP_CONNECT)).await.unwrap();
    assert!(
        ws::next_frame(&mut over_sockjs)
            .await
            .starts_with("a[\"CONNECTED")
    );
    let (mut streaming, seen) = xhr_streaming(&sys).await;

    let health = tonic::transport::Endpoint::from_shared(format!(
        "http://{}",
        sys.orders.as_ref().unwrap().grpc_addr
    ))
    .unwrap()
    .connect()
    .await
    .unwrap();
    let health = HealthClient::new(health);
    for service in ["", "OrderService"] {
        assert_eq!(grpc_health(&health, service).await, ServingStatus::Serving);
    }

    let mut orders = sys.orders.take().unwrap();
    let began = Instant::now();
    orders.drain();
    let stopped = tokio::spawn(orders.stop());

    // Within the delay: out of service for a load balancer, yet served,
    // each answer the connection's last.
    let (status, readiness) = sys.get_json("/actuator/health/readiness").await;
    assert_eq!(status, 503);
    assert_eq!(readiness["status"], "OUT_OF_SERVICE");
    // gRPC clients that balance by the health service move away too.
    // (It follows the same state, published by a task of its own.)
    for service in ["", "OrderService"] {
        wait_until("gRPC health NOT_SERVING", PATIENCE, async || {
            grpc_health(&health, service).await == ServingStatus::NotServing
        })
        .await;
    }
    let response = sys.post_order("Laptop", 1).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["connection"], "close");
    let (_, event) = stomp::next_event(&mut raw).await;
    assert_eq!(event["product"], "Laptop");

    // Then each live client is told why, and to come back.
    let error = ws::next_frame(&mut raw).await;
    assert!(error.starts_with("ERROR\n"), "{error}");
    assert_eq!(stomp::header(&error, "message"), Some(RESTARTING));
    assert_eq!(u16::from(ws::close_code(&mut raw).await), 1012);

    let goodbye = messages(&ws::next_frame(&mut over_sockjs).await);
    assert!(goodbye[0].starts_with("ERROR\n"), "{goodbye:?}");
    assert_eq!(stomp::header(&goodbye[0], "message"), Some(RESTARTING));
    let close = format!("c[1012,\"{RESTARTING}\"]");
    assert_eq!(ws::next_frame(&mut over_sockjs).await, close);
    assert_eq!(u16::from(ws::close_code(&mut over_sockjs).await), 1012);

    let seen = read_until(&mut streaming, &close, seen).await;
    let error_at = seen.find("ERROR\\nmessage:Server restarting, please reconnect");
    assert!(
        error_at.is_some_and(|at| at < seen.find(&close).unwrap()),
        "{seen}"
    );

    tokio::time::timeout(PATIENCE, stopped)
        .await
        .expect("order-service stops")
        .unwrap()
        .expect("order-service stops cleanly");
    assert!(began.elapsed() >= Duration::from_millis(DELAY_MS));
    // Closed: connecting is refused, which a proxy retries elsewhere.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(ws::ends_within(&mut raw, PATIENCE).await);
    sys.stop().await;
}

async fn the_drain_timeout_bounds_the_wait_for_stuck_work(backend: Backend) {
    let mut sys = TestSystem::spawn_with(backend, |c| {
        c.shutdown.shutdown_timeout_ms = 300;
        c.reserve_timeout_ms = 60_000;
    })
    .await;
    // An order that waits on inventory for as long as the test wants.
    sys.proxy.pause_answers(true);
    let url = sys.url("/orders");
    let http = sys.http.clone();
    let stuck = tokio::spawn(async move {
        http.post(url)
            .json(&serde_json::json!({ "product": "Laptop", "quantity": 1 }))
            .send()
            .await
    });
    wait_until(
        "the order is recorded, waiting on inventory",
        PATIENCE,
        async || {
            let (_, orders) = sys.get_json("/orders").await;
            orders.as_array().is_some_and(|o| !o.is_empty())
        },
    )
    .await;

    let orders = sys.orders.take().unwrap();
    let stopped = tokio::time::timeout(PATIENCE, orders.stop())
        .await
        .expect("stop returns when the timeout passes, not when the work ends");
    let error = stopped.expect_err("work was still in flight");
    assert!(error.to_string().contains("SHUTDOWN_TIMEOUT_MS"), "{error}");
    sys.proxy.pause_answers(false);
    stuck.abort();
    sys.stop().await;
}

support::both_backends!(
    draining_serves_then_tells_live_clients_to_reconnect,
    the_drain_timeout_bounds_the_wait_for_stuck_work,
);
