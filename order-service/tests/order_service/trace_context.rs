//! Traces without an exporter (the default): a W3C `traceparent` on a REST
//! or gRPC request is continued through order-service, over gRPC into
//! inventory-service, into every log line of the request on both services
//! and into the order's live event; a request without one starts a trace.
//!
//! Both services run in the test's process with the services' own
//! subscriber (JSON lines, captured), as their binaries install it: a
//! process of its own, as the subscriber is global.

use std::time::Duration;

use proto::{OrderRequest, order_service_client::OrderServiceClient};
use serde_json::{Value, json};
use support::{
    telemetry::{LogFormat, Settings},
    testing::{Backend, CapturedLogs, ws},
};

use crate::common::{TestSystem, alone, logs::statements_carry, stomp};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const GRPC_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

async fn a_trace_reaches_inventory_every_log_line_and_the_live_event(backend: Backend) {
    // The subscriber is global: in a process of its own.
    alone::run(check(backend)).await;
}

support::both_backends!(a_trace_reaches_inventory_every_log_line_and_the_live_event);

async fn check(backend: Backend) {
    let logs = CapturedLogs::default();
    let _telemetry = support::telemetry::init_with_writer(
        Settings {
            service: "order-service",
            format: LogFormat::Json,
            log_filter: "info,sqlx::query=debug".into(),
            otlp_endpoint: None,
        },
        logs.writer(),
    );
    // No reconciler rounds but the first: a round is a trace of its own,
    // and one racing a cancel's own release releases again (idempotent),
    // logging its statements in the middle of the next check's.
    let system = TestSystem::spawn_with(backend, |c| c.reconcile_interval_ms = 3_600_000).await;
    let addr = system.base_url.trim_start_matches("http://").to_owned();
    let mut socket = stomp::subscriber(&addr, "/topic/orders", None).await;

    // REST with a traceparent: continued.
    let before = logs.json_lines().len();
    let response = system
        .http
        .post(system.url("/orders"))
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .json(&json!({"product": "Laptop", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let frame = ws::next_frame(&mut socket).await;
    assert_eq!(stomp::header(&frame, "trace_id"), Some(TRACE), "{frame}");
    let lines = logs.json_lines().split_off(before);
    // order-service recorded it, inventory reserved it: both in the trace.
    statements_carry(&lines, "INSERT INTO orders", TRACE);
    statements_carry(&lines, "INSERT INTO reservations", TRACE);

    // Cancelling is a request of its own, with its own trace.
    let id = response.json::<Value>().await.unwrap()["id"].clone();
    let cancel_trace = "11111111111111111111111111111111";
    let cancelled = system
        .http
        .post(system.url(&format!("/orders/{id}/cancel")))
        .header(
            "traceparent",
            format!("00-{cancel_trace}-1111111111111111-01"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let frame = ws::next_frame(&mut socket).await;
    assert_eq!(
        stomp::header(&frame, "trace_id"),
        Some(cancel_trace),
        "{frame}"
    );

    // No traceparent: a trace is started, and still handed on.
    let before = logs.json_lines().len();
    assert_eq!(system.post_order("Phone", 1).await.status(), 200);
    let frame = ws::next_frame(&mut socket).await;
    let started = stomp::header(&frame, "trace_id")
        .expect("a trace_id header")
        .to_owned();
    assert_eq!(started.len(), 32);
    assert!(started.bytes().all(|b| b.is_ascii_hexdigit()) && started != "0".repeat(32));
    assert_ne!(started, TRACE);
    let lines = logs.json_lines().split_off(before);
    statements_carry(&lines, "INSERT INTO orders", &started);
    statements_carry(&lines, "INSERT INTO reservations", &started);

    // A malformed traceparent is ignored: a trace is started instead.
    let response = system
        .http
        .post(system.url("/orders"))
        .header("traceparent", "00-not-a-trace-01")
        .json(&json!({"product": "Phone", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let frame = ws::next_frame(&mut socket).await;
    let fresh = stomp::header(&frame, "trace_id").expect("a trace_id header");
    assert_eq!(fresh.len(), 32);

    // gRPC CreateOrder with a traceparent in its metadata: continued too.
    let before = logs.json_lines().len();
    let orders = system.orders.as_ref().expect("running");
    let mut client = OrderServiceClient::connect(format!("http://{}", orders.grpc_addr))
        .await
        .unwrap();
    let mut request = tonic::Request::new(OrderRequest {
        product: "Tablet".into(),
        quantity: 1,
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{GRPC_TRACE}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    client.create_order(request).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), ws::next_frame(&mut socket))
        .await
        .unwrap();
    assert_eq!(
        stomp::header(&frame, "trace_id"),
        Some(GRPC_TRACE),
        "{frame}"
    );
    let lines = logs.json_lines().split_off(before);
    statements_carry(&lines, "INSERT INTO orders", GRPC_TRACE);
    statements_carry(&lines, "INSERT INTO reservations", GRPC_TRACE);

    system.stop().await;
}
