//! What the event logs cost at full load (`bench event-log`): the same
//! system with both services' logs (order events, stock events) on, and
//! with their triggers switched off once it is up, as a side-by-side
//! comparison (see `sides`) on each backend. With the triggers off nothing
//! is logged; the relays still wake at each commit and find nothing, a
//! read at most every 5 ms under load, so "off" is the log's writes, the
//! relays' reads of what was written and the notifications. Live events
//! stop flowing on that side, which the order phase does not need.

use support::{
    db::{Db, Migrations},
    testing::Backend,
    with_db,
};

use crate::{sides::Side, system::Pair};

/// The sides, by name: the first is the baseline.
pub(crate) const SIDES: [&str; 2] = ["on", "off"];

/// Each log's table and triggers, as the services' migrations name them.
const ORDER_LOG: (&str, [&str; 2]) = (
    "orders",
    ["order_events_on_insert", "order_events_on_update"],
);
const STOCK_LOG: (&str, [&str; 2]) = (
    "products",
    ["stock_events_on_insert", "stock_events_on_update"],
);

/// The side called `name` (one of [`SIDES`]) on `backend`.
pub(crate) fn side(name: &'static str, backend: Backend) -> Side {
    Side {
        name,
        backend,
        env: Vec::new(),
        event_logs_off: name == "off",
    }
}

/// Switches off the triggers that write both logs of `pair`: disabled on
/// PostgreSQL, dropped on SQLite (which cannot disable one). Fails if a
/// trigger is not there, so a renamed one cannot go unnoticed.
pub(crate) async fn switch_off(pair: &Pair) -> anyhow::Result<()> {
    let logs: [(&str, Migrations, _); 2] = [
        (&pair.dbs[0].url, inventory_service::migrations(), STOCK_LOG),
        (&pair.dbs[1].url, order_service::migrations(), ORDER_LOG),
    ];
    for (url, migrations, (table, triggers)) in logs {
        let db = Db::connect(url, &migrations).await?;
        for trigger in triggers {
            let sql = if db.postgres().is_some() {
                format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}")
            } else {
                format!("DROP TRIGGER {trigger}")
            };
            with_db!(&db, write, |pool| {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await
                    .map(drop)?
            });
        }
        db.close().await;
    }
    Ok(())
}
