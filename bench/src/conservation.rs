//! Conservation of stock: at rest, a product's stock at inventory plus the
//! quantity of its CREATED orders never changes (an order takes what it
//! reserved; a cancellation's release gives it back). The baseline is read
//! once after restocking; each order-creating phase ends with a check, so
//! an oversell (stock below zero) or a lost or doubled reservation shows up
//! as a correctness failure, not as noise in the throughput.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use proto::{ListProductsRequest, inventory_service_client::InventoryServiceClient};
use serde::Serialize;
use tonic::transport::Channel;

use crate::sql::Sql;

/// How long a check waits for the system to come to rest.
const REST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often it looks meanwhile.
const POLL: Duration = Duration::from_millis(20);

/// A product whose stock was not conserved.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Violation {
    pub product: String,
    /// Stock at inventory.
    pub stock: i64,
    /// Quantity of its CREATED orders.
    pub created: i64,
    /// stock + created after restocking.
    pub baseline: i64,
}

/// The outcome of one check.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    /// The phase it ended.
    pub phase: String,
    /// Every product: stock ≥ 0 and stock + CREATED quantity = baseline.
    pub conserved: bool,
    /// Orders still PENDING when the phase ended.
    pub pending_at_end: u64,
    /// Orders still awaiting a release when the phase ended.
    pub release_pending_at_end: u64,
    /// Whether none was left of either within 60 s (the check runs anyway).
    pub at_rest: bool,
    /// From the phase's end until at rest (or the timeout).
    pub rest_after_ms: f64,
    /// The products that were not conserved.
    pub violations: Vec<Violation>,
}

/// The baseline, and what a check needs to read the current state.
pub(crate) struct Ledger {
    orders_db: Sql,
    inventory: InventoryServiceClient<Channel>,
    baseline: BTreeMap<String, i64>,
}

impl Ledger {
    /// Reads the baseline: call it at rest, right after restocking.
    pub(crate) async fn record(orders_db: &Sql, channel: Channel) -> anyhow::Result<Self> {
        let mut ledger = Self {
            orders_db: orders_db.clone(),
            inventory: InventoryServiceClient::new(channel),
            baseline: BTreeMap::new(),
        };
        ledger.baseline = ledger
            .totals()
            .await?
            .into_iter()
            .map(|(product, (stock, created))| (product, stock + created))
            .collect();
        Ok(ledger)
    }

    /// Waits for rest, then checks every product against the baseline and
    /// prints the outcome (loudly when stock was not conserved).
    pub(crate) async fn check(&mut self, phase: &str) -> anyhow::Result<Check> {
        let check = self.check_on(phase).await?;
        report(&check);
        Ok(check)
    }

    async fn check_on(&mut self, phase: &str) -> anyhow::Result<Check> {
        let ended = Instant::now();
        let (pending_at_end, release_pending_at_end) = unsettled(&self.orders_db).await?;
        let mut left = (pending_at_end, release_pending_at_end);
        while left != (0, 0) && ended.elapsed() < REST_TIMEOUT {
            tokio::time::sleep(POLL).await;
            left = unsettled(&self.orders_db).await?;
        }
        let rest_after_ms = ended.elapsed().as_secs_f64() * 1e3;
        let totals = self.totals().await?;
        let violations = violations(&self.baseline, &totals);
        Ok(Check {
            phase: phase.to_owned(),
            conserved: violations.is_empty(),
            pending_at_end,
            release_pending_at_end,
            at_rest: left == (0, 0),
            rest_after_ms,
            violations,
        })
    }

    /// Per product: (stock at inventory, quantity of CREATED orders).
    async fn totals(&mut self) -> anyhow::Result<BTreeMap<String, (i64, i64)>> {
        let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let products = self
            .inventory
            .list_products(ListProductsRequest {})
            .await?
            .into_inner()
            .products;
        for p in products {
            totals.entry(p.name).or_default().0 += i64::from(p.stock_quantity);
        }
        // SUM of PostgreSQL's BIGINT is NUMERIC: cast back for one decoding.
        let created = self
            .orders_db
            .rows(
                "SELECT product, CAST(SUM(quantity) AS BIGINT) FROM orders \
                 WHERE status = 'CREATED' GROUP BY product",
                &[],
            )
            .await?;
        for row in created {
            let (Some(product), Some(quantity)) = (
                row.first().and_then(|v| v.as_str()),
                row.get(1).and_then(|v| v.as_i64()),
            ) else {
                anyhow::bail!("a row of CREATED totals: {row:?}");
            };
            totals.entry(product.to_owned()).or_default().1 += quantity;
        }
        Ok(totals)
    }
}

/// The products (in either map) with stock below zero, or whose stock +
/// CREATED quantity differs from their baseline; a product missing from
/// one side counts as 0 there.
fn violations(
    baseline: &BTreeMap<String, i64>,
    totals: &BTreeMap<String, (i64, i64)>,
) -> Vec<Violation> {
    let products: BTreeSet<&String> = totals.keys().chain(baseline.keys()).collect();
    products
        .into_iter()
        .filter_map(|product| {
            let (stock, created) = totals.get(product).copied().unwrap_or_default();
            let baseline = baseline.get(product).copied().unwrap_or_default();
            (stock < 0 || stock + created != baseline).then(|| Violation {
                product: product.clone(),
                stock,
                created,
                baseline,
            })
        })
        .collect()
}

/// Orders PENDING, and orders awaiting a release.
async fn unsettled(orders_db: &Sql) -> anyhow::Result<(u64, u64)> {
    let pending = orders_db
        .scalar("SELECT COUNT(*) FROM orders WHERE status = 'PENDING'")
        .await?;
    let release = orders_db
        .scalar("SELECT COUNT(*) FROM orders WHERE release_pending = TRUE")
        .await?;
    Ok((u64::try_from(pending)?, u64::try_from(release)?))
}

/// Prints a check: one line when it passed, a loud line per product when not.
fn report(c: &Check) {
    if !c.at_rest {
        println!(
            "!!! {}: not at rest after {:.0} s (orders still PENDING or awaiting a release)",
            c.phase,
            REST_TIMEOUT.as_secs_f64()
        );
    }
    if c.conserved {
        println!(
            "   stock conserved after {}: {} PENDING, {} awaiting release at its end; at rest after {:.0} ms",
            c.phase, c.pending_at_end, c.release_pending_at_end, c.rest_after_ms
        );
    }
    for v in &c.violations {
        println!(
            "!!! STOCK NOT CONSERVED after {}: {}: stock {} + CREATED {} = {}, baseline {}{}",
            c.phase,
            v.product,
            v.stock,
            v.created,
            v.stock + v.created,
            v.baseline,
            if v.stock < 0 { " (OVERSOLD)" } else { "" }
        );
    }
}

#[cfg(test)]
mod tests;
