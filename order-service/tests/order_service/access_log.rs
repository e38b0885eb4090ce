//! `ACCESS_LOG=true` on both services: exactly one line per HTTP request
//! and per gRPC call, each with its fields and the request's trace; the
//! order's call to inventory is logged by inventory, in the same trace.
//! (That nothing is written when off: `order_outcomes`, which runs with
//! the default.)
//!
//! Both services run in the test's process with the services' own
//! subscriber (JSON lines, captured): a process of its own, as the
//! subscriber is global.

use std::time::Duration;

use proto::{OrderRequest, order_service_client::OrderServiceClient};
use serde_json::{Value, json};
use support::{
    telemetry::{LogFormat, Settings},
    testing::{Backend, CapturedLogs},
};

use crate::common::{TestSystem, alone, eventually, stomp};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const GRPC_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test]
async fn a_line_per_request_and_call_on_both_services() {
    // The subscriber is global: in a process of its own.
    alone::run(check()).await;
}

/// The access lines logged so far that `pick` selects.
fn access_lines(logs: &CapturedLogs, pick: impl Fn(&Value) -> bool) -> Vec<Value> {
    logs.json_lines()
        .into_iter()
        .filter(|l| l["target"] == "access")
        .filter(|l| pick(l))
        .collect()
}

/// Waits until `n` access lines match `pick`, and returns them.
async fn wait_for(
    logs: &CapturedLogs,
    n: usize,
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    eventually(what, Duration::from_secs(10), async || {
        let lines = access_lines(logs, &pick);
        (lines.len() >= n).then_some(lines)
    })
    .await
}

async fn check() {
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
    let system = TestSystem::spawn_configured(
        Backend::Sqlite,
        |inventory| inventory.access.access_log = true,
        |orders| {
            orders.access.access_log = true;
            // No reconciler rounds: their calls would be lines of their own.
            orders.reconcile_interval_ms = 3_600_000;
        },
    )
    .await;

    // REST: order-service's line, and inventory's for the reservation.
    let response = system
        .http
        .post(system.url("/orders?ignored=1"))
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .json(&json!({"product": "Laptop", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    let in_trace = |l: &Value| l["trace_id"] == TRACE;
    let lines = wait_for(&logs, 2, "the order's two lines", in_trace).await;
    let http = lines.iter().find(|l| l["method"].is_string()).unwrap();
    assert_eq!(http["level"], "INFO", "{http}");
    assert_eq!(http["method"], "POST", "{http}");
    assert_eq!(http["route"], "/orders", "{http}");
    assert_eq!(http["path"], "/orders", "{http}");
    assert_eq!(http["status"], 200, "{http}");
    assert_eq!(http["bytes"], body.len(), "{http}");
    assert_eq!(http["client"], "127.0.0.1", "{http}");
    assert!(http["duration_ms"].as_f64().is_some(), "{http}");
    let rpc = lines.iter().find(|l| l["rpc"].is_string()).unwrap();
    assert_eq!(rpc["rpc"], "/InventoryService/ReserveStockBatch", "{rpc}");
    assert_eq!(rpc["grpc_status"], "OK", "{rpc}");
    assert_eq!(rpc["status"], 200, "{rpc}");
    assert!(rpc["bytes"].as_u64().is_some_and(|b| b > 0), "{rpc}");
    assert!(rpc["duration_ms"].as_f64().is_some(), "{rpc}");

    // A route's 404: the template and the path.
    let (status, _) = system.get_json("/orders/424242").await;
    assert_eq!(status, 404);
    let missing = |l: &Value| l["path"] == "/orders/424242";
    let lines = wait_for(&logs, 1, "the 404's line", missing).await;
    assert_eq!(lines[0]["route"], "/orders/{id}", "{}", lines[0]);
    assert_eq!(lines[0]["status"], 404, "{}", lines[0]);

    // gRPC, refused: the status of a trailers-only answer, in its trace.
    let orders = system.orders.as_ref().expect("running");
    let mut client = OrderServiceClient::connect(format!("http://{}", orders.grpc_addr))
        .await
        .unwrap();
    let mut request = tonic::Request::new(OrderRequest {
        product: "Tablet".into(),
        quantity: 0,
    });
    let traceparent = format!("00-{GRPC_TRACE}-00f067aa0ba902b7-01");
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    let refused = client.create_order(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let in_grpc_trace = |l: &Value| l["trace_id"] == GRPC_TRACE;
    let lines = wait_for(&logs, 1, "the call's line", in_grpc_trace).await;
    assert_eq!(lines[0]["rpc"], "/OrderService/CreateOrder", "{}", lines[0]);
    assert_eq!(lines[0]["grpc_status"], "InvalidArgument", "{}", lines[0]);
    assert_eq!(lines[0]["status"], 200, "{}", lines[0]);

    // A WebSocket: logged at its 101, while it stays open.
    let addr = system.base_url.trim_start_matches("http://").to_owned();
    let _socket = stomp::subscriber(&addr, "/topic/orders", None).await;
    let upgraded = |l: &Value| l["status"] == 101;
    let lines = wait_for(&logs, 1, "the upgrade's line", upgraded).await;
    assert_eq!(lines[0]["path"], "/ws-orders", "{}", lines[0]);
    assert_eq!(lines[0]["method"], "GET", "{}", lines[0]);

    // Exactly one line each: nothing more came for any of them.
    system.get_json("/orders").await;
    let listed = |l: &Value| l["method"] == "GET" && l["path"] == "/orders";
    wait_for(&logs, 1, "a later request's line", listed).await;
    assert_eq!(access_lines(&logs, in_trace).len(), 2);
    assert_eq!(access_lines(&logs, missing).len(), 1);
    assert_eq!(access_lines(&logs, in_grpc_trace).len(), 1);
    assert_eq!(access_lines(&logs, upgraded).len(), 1);

    system.stop().await;
}
