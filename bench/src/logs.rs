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

use std::path::Path;

use support::testing::Backend;

use crate::{
    sides::{self, Load, Side},
    system::DEFAULT_LOG_FILTER,
};

/// The sides a comparison may run, by name.
pub(crate) const SIDES: [&str; 3] = ["off", "access", "outcomes"];

/// `bench logs`: the sides called `names` compared, printed and saved
/// beside the report (`logs.json`).
pub(crate) async fn run(names: &[String], load: &Load, report: &Path) -> anyhow::Result<()> {
    let sides = names
        .iter()
        .map(|s| {
            SIDES
                .into_iter()
                .find(|known| known == s)
                .map(side)
                .ok_or_else(|| anyhow::anyhow!("unknown side {s:?}: {SIDES:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let compared = sides::compare(&sides, load).await?;
    let names: Vec<&str> = sides.iter().map(|s| s.name).collect();
    compared.print("logs", &names);
    sides::save(report, "logs.json", &compared)
}

/// The side called `name` (one of [`SIDES`]).
fn side(name: &'static str) -> Side {
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
