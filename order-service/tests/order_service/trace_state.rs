//! One client's trace context stays with its own request: a valid but
//! oversized `tracestate` (28 KB, 55 members) on an order that leads a
//! batch of the write path fails none of the other orders in that batch,
//! nor its own.
//!
//! The batch is made, not hoped for: a first order's reservation is held
//! in flight (the fault proxy keeps inventory's answer), the big header's
//! order queues behind it, then the others; when the answer is let through,
//! the next reservation batch is the big header's order first, the others
//! after it. The services' own subscriber is installed, as their binaries
//! do: without one there are no spans, hence no trace context to hand on.
//! It is global, so the test runs in a process of its own.

use std::time::Duration;

use serde_json::json;
use support::{
    telemetry::{LogFormat, Settings},
    testing::{Backend, CapturedLogs},
};
use tokio::task::JoinHandle;

use crate::common::{TestSystem, alone, wait_until};

/// Orders placed at the same time as the big header's, without trace headers.
const OTHERS: usize = 6;
/// How long an order may wait for its reservation here: the first one is
/// held while the batch behind it is assembled (the default 1.5 s is not
/// always enough for that on a loaded machine).
const RESERVE_TIMEOUT_MS: u64 = 20_000;

/// A `tracestate` of 55 valid members, about 28 KB (each key and value 256
/// characters, the most W3C allows).
fn big_tracestate() -> String {
    let members: Vec<String> = (0..55)
        .map(|i| format!("k{i:02}{}={}", "k".repeat(253), "v".repeat(256)))
        .collect();
    members.join(",")
}

/// Places an order in a task of its own; its HTTP status.
fn place(sys: &TestSystem, headers: Vec<(&'static str, String)>) -> JoinHandle<u16> {
    let mut request = sys
        .http
        .post(sys.url("/orders"))
        .json(&json!({"product": "Headphones", "quantity": 1}));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
}

/// Waits until order-service has recorded `n` orders (a recorded order
/// goes on to queue for its reservation at once).
async fn recorded(sys: &TestSystem, n: usize) {
    let what = format!("{n} orders recorded");
    wait_until(&what, Duration::from_secs(10), async || {
        sys.all_orders().await.len() >= n
    })
    .await;
}

async fn a_big_tracestate_fails_no_order(backend: Backend) {
    // The subscriber is global: in a process of its own.
    alone::run(big_tracestate_order(backend)).await;
}

support::both_backends!(a_big_tracestate_fails_no_order);

async fn big_tracestate_order(backend: Backend) {
    let _telemetry = support::telemetry::init_with_writer(
        Settings {
            service: "order-service",
            format: LogFormat::Json,
            log_filter: "warn".into(),
            otlp_endpoint: None,
        },
        CapturedLogs::default().writer(),
    );
    let sys = TestSystem::spawn_with(backend, |c| c.reserve_timeout_ms = RESERVE_TIMEOUT_MS).await;
    let tracestate = big_tracestate();
    assert!(tracestate.len() > 28_000, "{}", tracestate.len());
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    // A first order's reservation reaches inventory; its answer is held.
    sys.proxy.pause_answers(true);
    let initial = sys.stock().await["Headphones"];
    let first = place(&sys, vec![]);
    wait_until(
        "the first reservation reaches inventory",
        Duration::from_secs(10),
        async || sys.stock().await["Headphones"] != initial,
    )
    .await;
    // The big header's order queues first, the others behind it.
    let big = place(
        &sys,
        vec![
            ("traceparent", traceparent.to_owned()),
            ("tracestate", tracestate),
        ],
    );
    recorded(&sys, 2).await;
    let others: Vec<_> = (0..OTHERS).map(|_| place(&sys, vec![])).collect();
    recorded(&sys, 2 + OTHERS).await;
    sys.proxy.pause_answers(false);

    assert_eq!(first.await.unwrap(), 200);
    let mut others_statuses = Vec::new();
    for other in others {
        others_statuses.push(other.await.unwrap());
    }
    assert_eq!(others_statuses, [200; OTHERS], "the others' orders");
    assert_eq!(big.await.unwrap(), 200, "the big header's own order");
    sys.settle().await;
    sys.assert_invariant().await;
    sys.stop().await;
}
