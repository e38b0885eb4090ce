//! One log line per order that reaches its end, under the target
//! [`TARGET`]: INFO when it ends REJECTED (inventory said no, could not be
//! reached in time, or its request died and the reconciler gave up on it)
//! or CANCELLED; DEBUG when CREATED, the usual case, which the access log
//! and the metrics already count. So `grep 'order=42'` (or the JSON field)
//! says what happened to an order that did not go through, and its
//! `trace_id` leads to everything else its request logged.
//!
//! The line carries the trace of the request that decided the outcome: the
//! one placing the order (also for an order the reconciler gave up on, as
//! its live event does), or the cancel. It is passed in, not taken from the
//! current span: the reconciler works in a trace of its own, and a line
//! inside a request's span would carry that span's `trace_id` as well.

use crate::{
    domain::{Order, Status},
    metrics::reason_label,
};

/// The target of every order outcome line.
pub(crate) const TARGET: &str = "order_service::orders";

/// Logs that `order` reached its final status, in the trace `trace_id`.
pub(super) fn settled(order: &Order, trace_id: Option<&str>) {
    // One list of fields for both levels (a level must be a constant).
    macro_rules! line {
        ($level:ident, $message:literal) => {
            tracing::$level!(
                target: TARGET,
                // Not in the current span: its trace_id would be a second one.
                parent: None,
                order = order.id,
                product = %order.product,
                quantity = order.quantity,
                status = order.status.as_str(),
                // The metric's label: what a query over the logs filters on
                // (the client reads the reason's text in the order itself).
                reason = reason_label(order.reason.as_deref()),
                release_pending = order.release_pending,
                trace_id,
                $message,
            )
        };
    }
    match order.status {
        Status::Created => line!(debug, "order created"),
        Status::Rejected => line!(info, "order rejected"),
        Status::Cancelled => line!(info, "order cancelled"),
        // Not an end: never settled to.
        Status::Pending => line!(debug, "order pending"),
    }
}
