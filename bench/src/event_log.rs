//! What the event logs cost at full load (`bench event-log`): the same
//! system with both services' logs (order events, stock events) on, and
//! with their triggers switched off once it is up, as a side-by-side
//! comparison (see `sides`) on each backend. With the triggers off nothing
//! is logged; the relays still wake at each commit and find nothing, a
//! read at most every 5 ms under load, so "off" is the log's writes, the
//! relays' reads of what was written and the notifications. Live events
//! stop flowing on that side, which the order phase does not need.

use std::path::Path;

use support::testing::Backend;

use crate::sides::{self, Load, Side};

/// The sides, by name: the first is the baseline.
const SIDES: [&str; 2] = ["on", "off"];

/// `bench event-log`: the comparison on SQLite and, with
/// `TEST_DATABASE_URL`, on PostgreSQL, printed and saved beside the report
/// (`event-log.json`).
pub(crate) async fn run(load: &Load, report: &Path) -> anyhow::Result<()> {
    let mut compared = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && std::env::var_os("TEST_DATABASE_URL").is_none() {
            println!("(PostgreSQL skipped: set TEST_DATABASE_URL=postgres://… to include it)");
            continue;
        }
        println!("== event logs on {backend:?}");
        let sides = SIDES.map(|name| Side {
            name,
            backend,
            env: Vec::new(),
            event_logs_off: name == "off",
        });
        compared.push(sides::compare(&sides, load).await?);
    }
    for c in &compared {
        c.print("event logs", &SIDES);
    }
    sides::save(report, "event-log.json", &compared)
}
