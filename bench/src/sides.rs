//! Side-by-side comparisons at full load: systems that differ in one
//! setting, each running the C-connection order phase in alternating
//! rounds, so that drift of a noisy machine falls on all alike (`bench
//! logs`, `bench event-log`). Besides orders/s, each round reports the CPU
//! time both services used per order (from `/proc`), which the load on the
//! other core disturbs less than the rate.

use std::{path::Path, sync::Arc, time::Duration};

use serde::Serialize;
use support::testing::Backend;

use crate::{
    orders::Orders,
    system::{PRODUCTS, Pair},
};

/// How long and how wide a comparison runs.
pub(crate) struct Load {
    /// Seconds per round of each side.
    pub seconds: u64,
    /// Concurrent HTTP connections placing orders.
    pub connections: usize,
    /// Rounds of each side.
    pub rounds: usize,
}

/// What one side of a comparison is.
pub(crate) struct Side {
    /// Its name in the output.
    pub name: &'static str,
    /// The database both services run on.
    pub backend: Backend,
    /// Added to both services' environment.
    pub env: Vec<(&'static str, String)>,
    /// Whether the event logs' triggers are switched off once the system
    /// is up (see [`Pair::switch_off_event_logs`]).
    pub event_logs_off: bool,
}

/// One round of one side.
#[derive(Debug, Serialize)]
pub(crate) struct Round {
    pub side: &'static str,
    pub orders_per_second: f64,
    pub errors: u64,
    /// CPU time (user + system) per order, both services.
    pub cpu_us_per_order: f64,
    /// The same, order-service and inventory-service alone.
    pub order_cpu_us_per_order: f64,
    pub inventory_cpu_us_per_order: f64,
    /// Log output per order, both services (what the lines take on disk).
    pub log_bytes_per_order: f64,
}

/// A comparison: every round of every side.
#[derive(Debug, Serialize)]
pub(crate) struct Comparison {
    pub backend: String,
    pub connections: usize,
    pub seconds: u64,
    pub rounds_per_side: usize,
    pub rounds: Vec<Round>,
}

/// A running side.
struct System {
    side: &'static str,
    pair: Pair,
    orders: Orders,
}

impl System {
    async fn start(side: &Side, duration: Duration) -> anyhow::Result<Self> {
        let pair = Pair::start("bench_sides", side.backend, &side.env).await?;
        if side.event_logs_off {
            pair.switch_off_event_logs().await?;
        }
        let orders = Orders::new(pair.order.http_addr, duration)?;
        Ok(Self {
            side: side.name,
            pair,
            orders,
        })
    }

    /// One closed-loop phase of `c` connections, with the CPU it took.
    async fn round(
        &self,
        c: usize,
        duration: Duration,
        products: &Arc<Vec<String>>,
    ) -> anyhow::Result<Round> {
        let Pair {
            order, inventory, ..
        } = &self.pair;
        let logged = || order.log_bytes() + inventory.log_bytes();
        let (before, logged_before) = ([order.cpu_time()?, inventory.cpu_time()?], logged());
        let (summary, _) = self.orders.max(c, products).await?;
        let after = [order.cpu_time()?, inventory.cpu_time()?];
        // Lines still in the pipe are a few of the phase's last orders.
        let log_bytes = logged() - logged_before;
        let orders = (summary.per_second * duration.as_secs_f64()).max(1.0);
        let per_order = |i: usize| (after[i] - before[i]).as_secs_f64() * 1e6 / orders;
        Ok(Round {
            side: self.side,
            orders_per_second: summary.per_second,
            errors: summary.errors,
            cpu_us_per_order: per_order(0) + per_order(1),
            order_cpu_us_per_order: per_order(0),
            inventory_cpu_us_per_order: per_order(1),
            log_bytes_per_order: log_bytes as f64 / orders,
        })
    }

    async fn stop(self) {
        self.pair.stop().await;
    }
}

/// Runs `load.rounds` × every side of `sides` (all on one backend); the
/// order of the sides turns each round, so none is always first after a
/// pause.
pub(crate) async fn compare(sides: &[Side], load: &Load) -> anyhow::Result<Comparison> {
    let Load {
        connections: c,
        rounds,
        ..
    } = *load;
    let duration = Duration::from_secs(load.seconds);
    let products = Arc::new(PRODUCTS.map(String::from).to_vec());
    let backend = sides.first().map_or(Backend::Sqlite, |s| s.backend);
    let mut systems = Vec::new();
    for side in sides {
        systems.push(System::start(side, duration).await?);
    }
    let mut results = Vec::new();
    for round in 0..rounds {
        for i in 0..systems.len() {
            let system = &systems[(i + round) % systems.len()];
            println!(
                "== round {}/{rounds}, {}, {c} connections",
                round + 1,
                system.side
            );
            let result = system.round(c, duration, &products).await?;
            println!(
                "   {:>8.0} orders/s, {:>6.0} µs CPU per order (order {:.0}, inventory {:.0}), \
                 {:.0} log bytes per order, errors {}",
                result.orders_per_second,
                result.cpu_us_per_order,
                result.order_cpu_us_per_order,
                result.inventory_cpu_us_per_order,
                result.log_bytes_per_order,
                result.errors
            );
            results.push(result);
        }
    }
    for system in systems {
        system.stop().await;
    }
    Ok(Comparison {
        backend: format!("{backend:?}"),
        connections: c,
        seconds: duration.as_secs(),
        rounds_per_side: rounds,
        rounds: results,
    })
}

impl Comparison {
    /// Under `title`, each side's medians (in the order of `sides`), and
    /// their ratios to the first side's.
    pub(crate) fn print(&self, title: &str, sides: &[&str]) {
        println!(
            "\n## {title} ({}, {} connections, {} s per round; medians of {} rounds)",
            self.backend, self.connections, self.seconds, self.rounds_per_side
        );
        let median = |side: &str, figure: fn(&Round) -> f64| {
            let mut values: Vec<f64> = self
                .rounds
                .iter()
                .filter(|r| r.side == side)
                .map(figure)
                .collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied()
        };
        let base = sides.first().copied().unwrap_or_default();
        let first = (
            median(base, |r| r.orders_per_second),
            median(base, |r| r.cpu_us_per_order),
        );
        for &side in sides {
            let (Some(rate), Some(cpu)) = (
                median(side, |r| r.orders_per_second),
                median(side, |r| r.cpu_us_per_order),
            ) else {
                continue;
            };
            let ratio = |value: f64, of: Option<f64>| {
                of.map_or_else(String::new, |b| format!(" ({:.3} of {base})", value / b))
            };
            let bytes = median(side, |r| r.log_bytes_per_order).unwrap_or(0.0);
            println!(
                "  {side:<9} {rate:>8.0} orders/s{}  {cpu:>6.0} µs CPU per order{}  {bytes:>4.0} log bytes per order",
                ratio(rate, first.0),
                ratio(cpu, first.1)
            );
        }
    }
}

/// Writes `value` as JSON to the file `name` beside `report` (the main
/// report's path).
pub(crate) fn save(report: &Path, name: &str, value: &impl Serialize) -> anyhow::Result<()> {
    let path = report.with_file_name(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(value)?)?;
    println!("\nJSON: {}", path.display());
    Ok(())
}
