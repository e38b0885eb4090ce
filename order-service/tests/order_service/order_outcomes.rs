//! Every order that does not end CREATED writes one INFO line (target
//! `order_service::orders`) with its id, product, quantity, status, reason
//! and the trace of the request that decided it: rejected by inventory
//! (each order of a batch in its own trace), inventory unavailable,
//! cancelled (the cancel's trace), abandoned by the reconciler (the trace
//! of the request that placed it, not the reconciler's). CREATED is DEBUG,
//! so at INFO it writes nothing. And with `ACCESS_LOG` at its default
//! (off), no access line is written at all.
//!
//! The services run in the test's process with their own subscriber (JSON
//! lines, captured): a process of its own, as the subscriber is global.

use futures::future::join_all;
use serde_json::{Value, json};
use support::{
    db::Db,
    telemetry::{LogFormat, Settings},
    testing::{Backend, CapturedLogs},
    with_db,
};

use crate::common::{TestSystem, alone};

const TARGET: &str = "order_service::orders";

async fn orders_that_do_not_go_through_log_their_outcome_in_their_trace(backend: Backend) {
    // The subscriber is global: in a process of its own.
    alone::run(check(backend)).await;
}

support::both_backends!(orders_that_do_not_go_through_log_their_outcome_in_their_trace);

/// A trace id of its own for each `n`.
fn trace(n: u32) -> String {
    format!("{n:032x}")
}

/// The outcome lines logged so far in `trace`.
fn outcomes(logs: &CapturedLogs, trace: &str) -> Vec<Value> {
    logs.json_lines()
        .into_iter()
        .filter(|l| l["target"] == TARGET && l["trace_id"] == trace)
        .collect()
}

/// Asserts that `trace` has exactly one outcome line, for `order` (when
/// known) with `status` and `reason`, and returns it.
fn one_outcome(logs: &CapturedLogs, trace: &str, status: &str, reason: &str) -> Value {
    let lines = outcomes(logs, trace);
    assert_eq!(lines.len(), 1, "one outcome in {trace}: {lines:?}");
    let line = lines.into_iter().next().unwrap();
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["status"], status, "{line}");
    assert_eq!(line["reason"], reason, "{line}");
    line
}

/// POSTs an order in trace `trace`; its status code and body.
async fn place(system: &TestSystem, trace: &str, product: &str, quantity: i64) -> (u16, Value) {
    let response = system
        .http
        .post(system.url("/orders"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .json(&json!({"product": product, "quantity": quantity}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn check(backend: Backend) {
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
    // The test runs the reconciler's rounds itself.
    let system = TestSystem::spawn_with(backend, |c| c.reconcile_interval_ms = 3_600_000).await;

    // Rejected by inventory, concurrently (batched as they come): each
    // order's line in its own request's trace. Monitor has 8.
    let rejected = join_all((1..=6).map(|n| {
        let system = &system;
        async move {
            let (status, order) = place(system, &trace(n), "Monitor", 9).await;
            assert_eq!(status, 200);
            assert_eq!(order["status"], "REJECTED");
            order
        }
    }))
    .await;
    for (n, order) in (1..=6).zip(&rejected) {
        let line = one_outcome(&logs, &trace(n), "REJECTED", "insufficient_stock");
        assert_eq!(line["order"], order["id"], "{line}");
        assert_eq!(line["product"], "Monitor", "{line}");
        assert_eq!(line["quantity"], 9, "{line}");
    }
    let (_, unknown) = place(&system, &trace(7), "Nothing", 1).await;
    let line = one_outcome(&logs, &trace(7), "REJECTED", "unknown_product");
    assert_eq!(line["order"], unknown["id"], "{line}");

    // CREATED: DEBUG, so nothing at INFO; its cancel: in the cancel's trace.
    let (_, created) = place(&system, &trace(8), "Laptop", 2).await;
    assert_eq!(created["status"], "CREATED");
    let id = created["id"].as_i64().unwrap();
    let cancel = system
        .http
        .post(system.url(&format!("/orders/{id}/cancel")))
        .header(
            "traceparent",
            format!("00-{}-1111111111111111-01", trace(9)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    assert!(outcomes(&logs, &trace(8)).is_empty(), "CREATED at INFO");
    let line = one_outcome(&logs, &trace(9), "CANCELLED", "none");
    assert_eq!(line["order"], id, "{line}");
    assert_eq!(line["quantity"], 2, "{line}");

    // Inventory unreachable: rejected, its stock possibly held, released later.
    system.proxy.set_down(true);
    let (status, _) = place(&system, &trace(10), "Phone", 1).await;
    assert_eq!(status, 503);
    let line = one_outcome(&logs, &trace(10), "REJECTED", "inventory_unavailable");
    assert_eq!(line["release_pending"], true, "{line}");
    system.proxy.set_down(false);

    // An order whose request died while PENDING (as a crash leaves it),
    // given up by the reconciler: in the trace of the request that placed it.
    let db = Db::connect(&system.dbs[1].url, &order_service::migrations())
        .await
        .unwrap();
    let placed_in = trace(11);
    with_db!(&db, write, |pool| {
        sqlx::query(
            "INSERT INTO orders (order_key, product, quantity, status, created_at_ms, \
             updated_at_ms, trace_id) VALUES ('left-pending', 'Tablet', 3, 'PENDING', 0, 0, $1)",
        )
        .bind(&placed_in)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected()
    });
    db.close().await;
    let orders = system.orders.as_ref().expect("running");
    orders.reconcile_once().await.unwrap();
    let line = one_outcome(&logs, &placed_in, "REJECTED", "interrupted");
    assert_eq!(line["product"], "Tablet", "{line}");

    // The default: no access log.
    let access: Vec<Value> = logs
        .json_lines()
        .into_iter()
        .filter(|l| l["target"] == "access")
        .collect();
    assert!(access.is_empty(), "{access:?}");

    system.stop().await;
}
