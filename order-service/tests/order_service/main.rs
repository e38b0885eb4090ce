//! order-service's integration tests: one binary, one module per topic,
//! the real system started in this process by [`common`] (or a real
//! process, where a test kills it). Its tests run concurrently in one
//! process; a test that needs the process to itself (the global tracing
//! subscriber) runs in a child process of its own ([`common::alone`]).

// Test helpers unwrap: a panic is a failed test with its backtrace.
#![allow(clippy::unwrap_used)]

mod common;

mod access_log;
mod actuator;
mod concurrency;
mod cross_site;
mod database_outage;
mod disk_full;
mod event_log;
mod fairness;
mod faults;
mod limits;
mod live;
mod load_faults;
mod metrics;
mod openapi;
mod order_outcomes;
mod otlp;
mod readiness;
mod reconciler;
mod rest_api;
mod shutdown;
mod swagger_ui;
mod trace_context;
mod trace_state;
mod upgrade;
