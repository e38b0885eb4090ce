//! What both services share and would otherwise write twice: opening the
//! database (SQLite or PostgreSQL, chosen by URL) with its migrations and
//! watching its statements' outcomes, logging repeated failures once per
//! interval, setting up logs and traces (W3C trace context, OTLP export)
//! and the access log (`access_log`), running and stopping their tasks,
//! waiting for a shutdown signal, gathering concurrent calls into batches,
//! sharing connection budgets fairly between clients (`budget`), serving
//! HTTP and gRPC (with health and reflection) under those limits, the
//! memory allocator, and building a configuration at its defaults for
//! tests.

pub mod access_log;
pub mod allocator;
pub mod batch;
pub mod budget;
pub mod config;
pub mod db;
pub mod event_log;
pub mod failure_log;
pub mod grpc;
pub mod http;
pub mod openapi;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
