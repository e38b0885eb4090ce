//! The reconciler's drain rate: orders whose stock is still to release, as
//! an inventory outage leaves them (cancelled while inventory could not be
//! reached), are made in one statement on the orders database, which is
//! then watched until none is left. The rate counts from the first release
//! seen, so the wait for the reconciler's next round is not in it.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::sql::Sql;

/// How fast a release backlog drained.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Drain {
    /// Orders made to await a release.
    pub orders: u64,
    /// Orders released per second, from the first round's end to the last's.
    pub per_second: f64,
    /// From the backlog's creation until none was left.
    pub total_ms: f64,
}

/// Turns up to `n` CREATED orders into a release backlog and times its drain.
pub(crate) async fn drain(orders_db: &Sql, n: u64) -> anyhow::Result<Drain> {
    let orders = orders_db
        .execute(
            "UPDATE orders SET status = 'CANCELLED', release_pending = TRUE WHERE id IN \
             (SELECT id FROM orders WHERE status = 'CREATED' ORDER BY id LIMIT $1)",
            &[i64::try_from(n)?],
        )
        .await?;
    let started = Instant::now();
    let mut first: Option<(Instant, u64)> = None;
    let deadline = started + Duration::from_secs(120);
    loop {
        let awaiting = orders_db
            .scalar("SELECT COUNT(*) FROM orders WHERE release_pending = TRUE")
            .await?;
        let awaiting = u64::try_from(awaiting)?;
        let now = Instant::now();
        if 0 < awaiting && awaiting < orders && first.is_none() {
            first = Some((now, awaiting));
        }
        if awaiting == 0 {
            let (since, left) = first.unwrap_or((started, orders));
            let secs = now.duration_since(since).as_secs_f64();
            break Ok(Drain {
                orders,
                per_second: if secs > 0.0 { left as f64 / secs } else { 0.0 },
                total_ms: now.duration_since(started).as_secs_f64() * 1e3,
            });
        }
        if now > deadline {
            break Err(anyhow::anyhow!("the backlog did not drain in 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
