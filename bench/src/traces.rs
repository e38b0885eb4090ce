//! What tracing costs: the same order phases against two systems side by
//! side, one without an exporter (the default) and one exporting every
//! span over OTLP to a real receiver in this process (as a collector on
//! the same host would), alternating so that drift of a noisy machine
//! falls on both alike. Run on SQLite.
//!
//! What tracing costs when it is off cannot be measured within one build
//! (the root spans and the trace-id hand-over are always there); the
//! README gives that comparison, made against the build before tracing.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use support::testing::{Backend, otlp::Collector};

use crate::{
    load::Summary,
    orders::Orders,
    system::{OTLP_ENDPOINT, Pair},
};

/// One side's figures: the best of its rounds.
#[derive(Debug, Serialize)]
pub(crate) struct Side {
    /// C connections, closed loop.
    pub max: Summary,
    /// One connection, closed loop.
    pub one_connection: Summary,
}

/// The comparison.
#[derive(Debug, Serialize)]
pub(crate) struct Traces {
    pub connections: usize,
    pub rounds: usize,
    pub off: Side,
    pub on: Side,
    /// Orders placed by the exporting side, and spans its services sent.
    pub orders_exported: u64,
    pub spans_received: usize,
    /// `on` over `off`: throughput, and one connection's p50 latency.
    pub throughput_ratio: f64,
    pub latency_p50_ratio: f64,
}

/// A system exporting its spans to `otlp`, if given.
struct System {
    pair: Pair,
    orders: Orders,
}

impl System {
    async fn start(otlp: Option<&str>, duration: Duration) -> anyhow::Result<Self> {
        let export: Vec<_> = otlp
            .map(|e| (OTLP_ENDPOINT, e.to_owned()))
            .into_iter()
            .collect();
        let pair = Pair::start("bench_traces", Backend::Sqlite, &export).await?;
        let orders = Orders::new(pair.order.http_addr, duration)?;
        Ok(Self { pair, orders })
    }

    async fn stop(self) {
        self.pair.stop().await;
    }
}

/// Runs the comparison: `rounds` × (off, on) at `c` connections, then at
/// one connection, each phase `duration` long.
pub(crate) async fn compare(
    c: usize,
    rounds: usize,
    duration: Duration,
    products: &Arc<Vec<String>>,
) -> anyhow::Result<Traces> {
    let collector = Collector::start().await?;
    let off = System::start(None, duration).await?;
    let on = System::start(Some(&collector.endpoint), duration).await?;
    let (mut off_max, mut on_max, mut off_one, mut on_one) = (None, None, None, None);
    let mut orders_exported = 0;
    for round in 1..=rounds {
        println!("== tracing: round {round}/{rounds}, {c} connections, off then on");
        best(&mut off_max, off.orders.max(c, products).await?.0, false);
        let summary = on.orders.max(c, products).await?.0;
        orders_exported += placed(&summary, duration);
        best(&mut on_max, summary, false);
        println!("== tracing: round {round}/{rounds}, 1 connection, off then on");
        best(&mut off_one, off.orders.max(1, products).await?.0, true);
        let summary = on.orders.max(1, products).await?.0;
        orders_exported += placed(&summary, duration);
        best(&mut on_one, summary, true);
    }
    // The exporters send every few seconds: what they still hold is theirs.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let spans_received = collector.count();
    off.stop().await;
    on.stop().await;
    let side = |max: Option<Summary>, one: Option<Summary>| -> anyhow::Result<Side> {
        Ok(Side {
            max: max.ok_or_else(|| anyhow::anyhow!("no round ran"))?,
            one_connection: one.ok_or_else(|| anyhow::anyhow!("no round ran"))?,
        })
    };
    let (off, on) = (side(off_max, off_one)?, side(on_max, on_one)?);
    Ok(Traces {
        connections: c,
        rounds,
        throughput_ratio: on.max.per_second / off.max.per_second.max(f64::MIN_POSITIVE),
        latency_p50_ratio: on.one_connection.p50_ms
            / off.one_connection.p50_ms.max(f64::MIN_POSITIVE),
        off,
        on,
        orders_exported,
        spans_received,
    })
}

/// Keeps the better of two runs of a phase: the higher rate, or (for one
/// connection, where latency is the figure) the lower median.
fn best(kept: &mut Option<Summary>, new: Summary, by_latency: bool) {
    let better = match kept {
        None => true,
        Some(k) if by_latency => new.p50_ms < k.p50_ms,
        Some(k) => new.per_second > k.per_second,
    };
    if better {
        *kept = Some(new);
    }
}

/// Orders a phase placed (its rate over its length).
fn placed(s: &Summary, duration: Duration) -> u64 {
    (s.per_second * duration.as_secs_f64()).round() as u64
}

impl Traces {
    /// The report's section.
    pub(crate) fn print(&self) {
        println!(
            "\n## tracing (SQLite, best of {} alternating rounds)",
            self.rounds
        );
        let row = |name: &str, s: &Summary| {
            println!(
                "  {name:<34} {:>9.0}/s  p50 {:>6.2}  p90 {:>6.2}  p99 {:>6.2} ms  errors {}",
                s.per_second, s.p50_ms, s.p90_ms, s.p99_ms, s.errors
            )
        };
        let c = self.connections;
        row(&format!("off: orders, {c} connections"), &self.off.max);
        row(&format!("on:  orders, {c} connections"), &self.on.max);
        row("off: orders, 1 connection", &self.off.one_connection);
        row("on:  orders, 1 connection", &self.on.one_connection);
        println!(
            "  on / off: throughput {:.3}, 1-connection p50 {:.3}; {} spans received for ~{} orders ({:.1} per order)",
            self.throughput_ratio,
            self.latency_p50_ratio,
            self.spans_received,
            self.orders_exported,
            self.spans_received as f64 / self.orders_exported.max(1) as f64
        );
    }
}
