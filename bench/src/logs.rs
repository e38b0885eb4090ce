//! What the logs cost at full load (`bench logs`), on SQLite, as a
//! side-by-side comparison (see `sides`). The sides:
//! - `off`: the defaults (no access log; order outcomes at INFO, and no
//!   order of this load is rejected, so none is written);
//! - `access`: `ACCESS_LOG=true` on both services (a line per request at
//!   order-service and per reservation batch call at inventory);
//! - `outcomes`: `order_service::orders` at DEBUG, so every order writes
//!   its outcome line: what one such line costs, as a rejected order's
//!   INFO line would.
//!
//! Lines are JSON (`LOG_FORMAT=json`, as the bench always runs services)
//! on stdout, a pipe the bench drains, as a container's log driver reads
//! it.

use support::testing::Backend;

use crate::{sides::Side, system::DEFAULT_LOG_FILTER};

/// The sides a comparison may run, by name.
pub(crate) const SIDES: [&str; 3] = ["off", "access", "outcomes"];

/// The side called `name` (one of [`SIDES`]).
pub(crate) fn side(name: &'static str) -> Side {
    let (access, filter) = match name {
        "access" => ("true", format!("{DEFAULT_LOG_FILTER},access=info")),
        "outcomes" => (
            "false",
            format!("{DEFAULT_LOG_FILTER},order_service::orders=debug"),
        ),
        _ => ("false", DEFAULT_LOG_FILTER.to_owned()),
    };
    Side {
        name,
        backend: Backend::Sqlite,
        env: vec![("ACCESS_LOG", access.to_owned()), ("RUST_LOG", filter)],
        event_logs_off: false,
    }
}
