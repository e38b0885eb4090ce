//! Traces exported over OTLP to a real receiver (a tonic server of
//! OpenTelemetry's `TraceService`, started here): one `POST /orders` gives
//! spans from both services, in one trace, forming one tree, from the HTTP
//! handler through the flow's steps and the gRPC call to both databases.
//!
//! order-service runs as its own process (its binary, its exporter);
//! inventory-service runs in the test's process, exporting through the same
//! telemetry set-up as its binary installs, under its own service name: a
//! process of its own, as the subscriber and its exporter are global.
//!
//! The order comes with a `tracestate` beyond W3C's limits: the trace keeps
//! it cut to them, and the batched call to inventory carries none.

use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};
use support::{
    telemetry::{LogFormat, Settings},
    testing::{Backend, CapturedLogs, TestDatabase, otlp::Collector, otlp::ReceivedSpan},
};

use crate::common::{self, alone, logs::statements_carry, wait_until};

const TRACE: &str = "5bf92f3577b34da6a3ce929d0e0e4736";
/// The request that follows the idle checks.
const MARKER: &str = "6bf92f3577b34da6a3ce929d0e0e4736";
/// The last statement of a reconciler round that finds nothing to do.
const ROUND_ENDS: &str = "SELECT COUNT(*) FROM orders WHERE release_pending = TRUE";
const PARENT: &str = "00f067aa0ba902b7";
const SERVER: i32 = 2;
const CLIENT: i32 = 3;

fn named<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.service == service && s.name == name)
        .unwrap_or_else(|| panic!("no {service} span {name:?} in {spans:#?}"))
}

/// Whether `span` descends from `ancestor` within `spans`.
fn descends(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
    let by_id: HashMap<&str, &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut at = span;
    while let Some(parent) = at.parent_span_id.as_deref() {
        if parent == ancestor.span_id {
            return true;
        }
        match by_id.get(parent) {
            Some(p) => at = p,
            None => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_is_one_trace_across_both_services() {
    // The subscriber and its exporter are global: in a process of its own.
    alone::run(one_trace()).await;
}

async fn one_trace() {
    let collector = Collector::start().await.unwrap();
    let logs = CapturedLogs::default();
    let telemetry = support::telemetry::init_with_writer(
        Settings {
            service: "inventory-service",
            format: LogFormat::Json,
            log_filter: "info,sqlx::query=debug".into(),
            otlp_endpoint: Some(collector.endpoint.clone()),
        },
        logs.writer(),
    );
    let inventory_db = TestDatabase::create(Backend::Sqlite, "inventory").await;
    let orders_db = inventory_db.sibling("orders").await;
    let inventory =
        inventory_service::Server::start(&inventory_service::Config::for_tests(&inventory_db.url))
            .await
            .unwrap();
    let config =
        order_service::Config::for_tests(&orders_db.url, format!("http://{}", inventory.grpc_addr));
    let (mut orders, addr, order_logs) = common::process::spawn_logged(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("RUST_LOG", "info,sqlx::query=debug"),
            // Idle rounds every 100 ms, for the check of idleness below.
            ("RECONCILE_INTERVAL_MS", "100"),
        ],
    )
    .await;

    // A tracestate beyond W3C's limits: a long member and 40 short ones.
    let short: Vec<String> = (0..40).map(|i| format!("v{i:02}=1234567")).collect();
    let tracestate = format!("long={},{}", "x".repeat(200), short.join(","));
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/orders"))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .header("tracestate", &tracestate)
        .json(&json!({"product": "Laptop", "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "CREATED");

    let wanted = [
        ("order-service", "POST /orders"),
        ("order-service", "InventoryService/ReserveStockBatch"),
        ("order-service", "INSERT orders"),
        ("order-service", "UPDATE orders"),
        ("inventory-service", "InventoryService/ReserveStockBatch"),
        ("inventory-service", "reserve batch transaction"),
    ];
    let spans = collector
        .wait_for(Duration::from_secs(30), |spans| {
            wanted.iter().all(|(service, name)| {
                spans
                    .iter()
                    .any(|s| s.trace_id == TRACE && s.service == *service && s.name == *name)
            })
        })
        .await;
    let spans: Vec<ReceivedSpan> = spans.into_iter().filter(|s| s.trace_id == TRACE).collect();

    // One tree: a single root (the HTTP handler's span, whose parent is the
    // caller's), every other span's parent among the trace's spans.
    let root = named(&spans, "order-service", "POST /orders");
    assert_eq!(root.kind, SERVER);
    assert_eq!(root.parent_span_id.as_deref(), Some(PARENT));
    assert_eq!(root.attributes["http.route"], "/orders");
    assert_eq!(root.attributes["http.response.status_code"], "200");
    // Cut as W3C has it: the long member first, then from the end to 32.
    assert_eq!(root.trace_state, short[..32].join(","));
    for span in &spans {
        if span.span_id != root.span_id {
            assert!(
                descends(&spans, span, root),
                "{span:#?} is not under the root"
            );
        }
    }
    // The flow's steps, the batches, the call and its server side.
    for name in ["flow.place", "flow.record", "flow.reserve", "flow.settle"] {
        assert!(descends(&spans, named(&spans, "order-service", name), root));
    }
    for stage in ["record", "reserve", "settle"] {
        let batch = spans
            .iter()
            .find(|s| {
                s.name == stage
                    && s.attributes.get("batch.stage").map(String::as_str) == Some(stage)
            })
            .unwrap_or_else(|| panic!("no {stage} batch span"));
        assert_eq!(batch.attributes["batch.size"], "1");
    }
    let call = named(
        &spans,
        "order-service",
        "InventoryService/ReserveStockBatch",
    );
    assert_eq!(call.kind, CLIENT);
    let served = named(
        &spans,
        "inventory-service",
        "InventoryService/ReserveStockBatch",
    );
    assert_eq!(served.kind, SERVER);
    // The batch's call carries its trace, not its callers' tracestate.
    assert_eq!(served.trace_state, "", "{served:#?}");
    assert_eq!(
        served.parent_span_id.as_deref(),
        Some(call.span_id.as_str())
    );
    let reserved = named(&spans, "inventory-service", "reserve batch transaction");
    assert!(descends(&spans, reserved, served));
    assert_eq!(reserved.attributes["db.system.name"], "sqlite");
    assert_eq!(named(&spans, "order-service", "INSERT orders").kind, CLIENT);

    // Log lines of the request, on both sides, carry the trace id.
    let order_lines = order_logs.lock().unwrap().clone();
    statements_carry(&order_lines, "INSERT INTO orders", TRACE);
    statements_carry(&logs.json_lines(), "INSERT INTO reservations", TRACE);

    // Idle: no span is exported for health checks, probes or the
    // reconciler's empty rounds.
    let before = collector.count();
    let logged_before = order_logs.lock().unwrap().len();
    for path in ["/health", "/health/live", "/health/ready", "/metrics"] {
        let status = reqwest::get(format!("http://{addr}{path}"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
    // Two empty rounds logged their last statement since: the first one is
    // over.
    wait_until(
        "two empty reconciler rounds",
        Duration::from_secs(10),
        async || {
            let lines = order_logs.lock().unwrap();
            let ends = lines[logged_before..]
                .iter()
                .filter(|l| l["target"] == "sqlx::query")
                .filter(|l| {
                    l["db.statement"]
                        .as_str()
                        .is_some_and(|s| s.contains(ROUND_ENDS))
                })
                .count();
            ends >= 2
        },
    )
    .await;
    // Then a traced request: the exporter sends spans in the order they
    // end, so once its spans are in, any of the probes' or the rounds'
    // would be too.
    let marker = reqwest::Client::new()
        .get(format!("http://{addr}/orders?limit=1"))
        .header("traceparent", format!("00-{MARKER}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(marker.status(), 200);
    collector
        .wait_for(Duration::from_secs(30), |spans| {
            spans.iter().any(|s| s.trace_id == MARKER)
        })
        .await;
    let after = collector.spans();
    assert!(
        after.iter().any(|s| s.trace_id == MARKER),
        "the marker's spans"
    );
    let new: Vec<_> = after[before..]
        .iter()
        .filter(|s| s.service == "order-service" && ![TRACE, MARKER].contains(&s.trace_id.as_str()))
        .collect();
    assert!(new.is_empty(), "exported while idle: {new:#?}");

    orders.start_kill().unwrap();
    orders.wait().await.unwrap();
    inventory.stop().await.unwrap();
    telemetry.shutdown().await;
}
