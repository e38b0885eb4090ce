//! The reconciler's drain rate: orders whose stock is still to release, as
//! an inventory outage leaves them (cancelled while inventory could not be
//! reached), are made in one statement on the orders database; then the
//! `orders_awaiting_release` gauge is watched until it reaches zero.

use std::time::{Duration, Instant};

use serde::Serialize;
use support::{db::Db, with_db};

/// How fast a release backlog drained.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Drain {
    /// Orders made to await a release.
    pub orders: u64,
    /// Orders released per second, from the first round's end to the last's.
    pub per_second: f64,
    /// From the backlog's creation until none was left.
    pub total_ms: f64,
}

/// Turns up to `n` CREATED orders into a release backlog and times its
/// drain through `metrics_url`.
pub async fn drain(
    orders_db: &str,
    metrics_url: &str,
    n: u64,
    http: &reqwest::Client,
) -> anyhow::Result<Drain> {
    let db = Db::connect(orders_db, &order_service::migrations()).await?;
    let orders = with_db!(&db, write, |pool| {
        sqlx::query(
            "UPDATE orders SET status = 'CANCELLED', release_pending = TRUE WHERE id IN \
             (SELECT id FROM orders WHERE status = 'CREATED' ORDER BY id LIMIT $1)",
        )
        .bind(i64::try_from(n)?)
        .execute(pool)
        .await?
        .rows_affected()
    });
    db.close().await;
    let started = Instant::now();
    let mut first: Option<(Instant, u64)> = None;
    let deadline = started + Duration::from_secs(120);
    loop {
        let awaiting = awaiting(http, metrics_url).await?;
        let now = Instant::now();
        if 0 < awaiting && awaiting < orders && first.is_none() {
            first = Some((now, awaiting));
        }
        if awaiting == 0 {
            let (since, left) = first.unwrap_or((started, orders));
            let secs = now.duration_since(since).as_secs_f64();
            return Ok(Drain {
                orders,
                per_second: if secs > 0.0 { left as f64 / secs } else { 0.0 },
                total_ms: now.duration_since(started).as_secs_f64() * 1e3,
            });
        }
        anyhow::ensure!(now < deadline, "the backlog did not drain in 120 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn awaiting(http: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let text = http.get(url).send().await?.text().await?;
    text.lines()
        .find_map(|l| l.strip_prefix("order_service_orders_awaiting_release "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no orders_awaiting_release gauge"))
}
