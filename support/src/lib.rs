//! What both services share and would otherwise write twice: opening the
//! database (SQLite or PostgreSQL, chosen by URL) with its migrations and
//! watching its statements' outcomes, logging repeated failures once per
//! interval, setting up logs and traces (W3C trace context, OTLP export)
//! and the access log (`access_log`), running and stopping their tasks,
//! waiting for a shutdown signal, gathering concurrent calls into batches,
//! sharing connection budgets fairly between clients (`budget`), serving
//! HTTP and gRPC (with health and reflection) under those limits, Spring
//! Boot Actuator's health and info (`actuator`), the metrics both serve
//! (`metrics`: HTTP, gRPC, process, database, event logs; scraped in
//! either text format), the memory allocator, Spring's JSON error body
//! (`error_body`) and Swagger UI (`swagger_ui`), and building a
//! configuration at its defaults for tests.

pub mod access_log;
pub mod actuator;
pub mod allocator;
pub mod batch;
pub mod budget;
pub mod config;
pub mod db;
pub mod error_body;
pub mod event_log;
pub mod failure_log;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod service;
pub mod shutdown;
pub mod swagger_ui;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
