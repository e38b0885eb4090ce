//! inventory-service's integration tests, in one binary (one build, one
//! link): each module was a test file of its own, `common` starts a real
//! service for them.

// Test helpers unwrap: a panic is a failed test with its backtrace.
#![allow(clippy::unwrap_used)]

mod actuator;
mod auth;
mod batch;
mod common;
mod concurrency;
mod grpc_api;
mod grpc_limits;
mod grpcurl;
mod metrics;
mod openapi;
mod outage;
mod readiness;
mod swagger_ui;
mod watch;
