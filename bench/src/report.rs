//! The report: a table for people, JSON for tools, with order throughput
//! as a ratio to each floor measured in the same run, the batch sizes
//! order-service saw in each order phase, and the stock checks.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{
    conservation::Check,
    fanout::Delivery,
    load::Summary,
    metrics::{BatchSizes, STAGES, StageBatches},
    orders::FlashSale,
};

/// Figures of one fan-out size.
#[derive(Debug, Serialize)]
pub(crate) struct Fanout {
    pub subscribers: usize,
    pub bytes_per_idle_connection: f64,
    pub one_event: Delivery,
    pub steady_rate: f64,
    pub steady: Delivery,
    pub stalled_subscriber_dropped: bool,
}

/// Every figure of one database backend.
#[derive(Debug, Serialize)]
pub(crate) struct BackendRun {
    pub backend: String,
    pub startup_ms: [f64; 2],
    pub rss_idle_kib: [u64; 2],
    /// The idle RSS's anonymous part (heap, stacks): see `Service::rss_anon_kib`.
    pub rss_idle_anon_kib: [u64; 2],
    pub rss_load_kib: [u64; 2],
    /// Connections of the orders spread over products.
    pub connections: usize,
    pub orders_max: Summary,
    pub orders_max_batches: BatchSizes,
    pub orders_half_rate: Summary,
    pub orders_half_rate_batches: BatchSizes,
    /// One connection, closed loop: the latency batching must not add to.
    pub orders_one_connection: Summary,
    pub orders_one_connection_batches: BatchSizes,
    pub flash_sale: Vec<FlashSale>,
    pub floor_http: Summary,
    pub floor_grpc: Summary,
    pub floor_commit: Summary,
    /// 1 / (1/http + 1/grpc + 1/commit): one request, one call, one commit.
    pub floor_combined_per_second: f64,
    pub ratio_to_http: f64,
    pub ratio_to_grpc: f64,
    pub ratio_to_commit: f64,
    pub ratio_to_combined: f64,
    pub release_backlog: crate::backlog::Drain,
    pub fanout: Vec<Fanout>,
    /// The stock check at the end of each order-creating phase.
    pub conservation: Vec<Check>,
}

fn empty() -> Summary {
    Summary {
        per_second: 0.0,
        errors: 0,
        p50_ms: 0.0,
        p90_ms: 0.0,
        p99_ms: 0.0,
        p999_ms: 0.0,
    }
}

impl BackendRun {
    pub(crate) fn new(backend: &str, connections: usize) -> Self {
        Self {
            backend: backend.into(),
            startup_ms: [0.0; 2],
            rss_idle_kib: [0; 2],
            rss_idle_anon_kib: [0; 2],
            rss_load_kib: [0; 2],
            connections,
            orders_max: empty(),
            orders_max_batches: BatchSizes::default(),
            orders_half_rate: empty(),
            orders_half_rate_batches: BatchSizes::default(),
            orders_one_connection: empty(),
            orders_one_connection_batches: BatchSizes::default(),
            flash_sale: Vec::new(),
            floor_http: empty(),
            floor_grpc: empty(),
            floor_commit: empty(),
            floor_combined_per_second: 0.0,
            ratio_to_http: 0.0,
            ratio_to_grpc: 0.0,
            ratio_to_commit: 0.0,
            ratio_to_combined: 0.0,
            release_backlog: Default::default(),
            fanout: Vec::new(),
            conservation: Vec::new(),
        }
    }

    /// The checks that found stock not conserved.
    pub(crate) fn not_conserved(&self) -> impl Iterator<Item = &Check> {
        self.conservation.iter().filter(|c| !c.conserved)
    }

    fn derive_ratios(&mut self) {
        let inv = |s: &Summary| {
            if s.per_second > 0.0 {
                1.0 / s.per_second
            } else {
                f64::INFINITY
            }
        };
        self.floor_combined_per_second =
            1.0 / (inv(&self.floor_http) + inv(&self.floor_grpc) + inv(&self.floor_commit));
        [
            self.ratio_to_http,
            self.ratio_to_grpc,
            self.ratio_to_commit,
            self.ratio_to_combined,
        ] = self.to_floors(self.orders_max.per_second);
        let spread = (self.connections, self.orders_max.per_second);
        for i in 0..self.flash_sale.len() {
            let f = &self.flash_sale[i];
            let to_floors = self.to_floors(f.max.per_second);
            let to_spread =
                (f.connections == spread.0 && spread.1 > 0.0).then(|| f.max.per_second / spread.1);
            let f = &mut self.flash_sale[i];
            [
                f.ratio_to_http,
                f.ratio_to_grpc,
                f.ratio_to_commit,
                f.ratio_to_combined,
            ] = to_floors;
            f.ratio_to_orders_max = to_spread;
        }
    }

    /// `orders` per second over the HTTP, gRPC, commit and combined floors
    /// (0 where a floor is 0).
    fn to_floors(&self, orders: f64) -> [f64; 4] {
        let ratio = |floor: f64| if floor > 0.0 { orders / floor } else { 0.0 };
        [
            ratio(self.floor_http.per_second),
            ratio(self.floor_grpc.per_second),
            ratio(self.floor_commit.per_second),
            ratio(self.floor_combined_per_second),
        ]
    }
}

/// A stage's batch sizes as a table cell.
fn batch_cell(stage: Option<&StageBatches>) -> String {
    let bound = |b: Option<f64>| match b {
        Some(b) if b.is_finite() => format!("≤{b}"),
        Some(_) => "+Inf".to_owned(),
        None => "-".to_owned(),
    };
    match stage {
        None => "n/a".to_owned(),
        Some(s) => format!(
            "{} × {} p50 {} max {}",
            s.batches,
            s.mean.map_or("-".to_owned(), |m| format!("{m:.1}")),
            bound(s.p50),
            bound(s.max)
        ),
    }
}

/// The whole run.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    #[serde(skip)]
    path: PathBuf,
    pub quick: bool,
    pub cores: usize,
    pub backends: Vec<BackendRun>,
    /// Tracing off against tracing on.
    pub traces: Option<crate::traces::Traces>,
}

impl Report {
    pub(crate) fn new(path: &Path, quick: bool) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            path: path.to_owned(),
            quick,
            cores,
            backends: Vec::new(),
            traces: None,
        }
    }

    pub(crate) fn print_and_save(&mut self) -> anyhow::Result<()> {
        for b in &mut self.backends {
            b.derive_ratios();
        }
        let row = |name: &str, s: &Summary| {
            println!(
                "  {name:<34} {:>9.0}/s  p50 {:>6.2}  p90 {:>6.2}  p99 {:>6.2}  p99.9 {:>6.2} ms  errors {}",
                s.per_second, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.errors
            )
        };
        println!(
            "\n# Results ({} cores{})",
            self.cores,
            if self.quick {
                ", QUICK MODE: numbers mean nothing"
            } else {
                ""
            }
        );
        for b in &self.backends {
            println!("\n## {}", b.backend);
            row("orders (max, closed loop)", &b.orders_max);
            row("orders (half rate, open loop)", &b.orders_half_rate);
            row(
                "orders, 1 connection (closed loop)",
                &b.orders_one_connection,
            );
            for f in &b.flash_sale {
                let c = f.connections;
                row(&format!("flash C={c} (max, closed loop)"), &f.max);
                row(&format!("flash C={c} (half rate, open loop)"), &f.half_rate);
            }
            row("floor: no-op HTTP", &b.floor_http);
            row("floor: gRPC CheckStock", &b.floor_grpc);
            row("floor: single-row commit", &b.floor_commit);
            println!(
                "  floor: HTTP + gRPC + commit       {:>9.0}/s",
                b.floor_combined_per_second
            );
            println!(
                "  orders / floor: HTTP {:.3}  gRPC {:.3}  commit {:.3}  combined {:.3}",
                b.ratio_to_http, b.ratio_to_grpc, b.ratio_to_commit, b.ratio_to_combined
            );
            for f in &b.flash_sale {
                println!(
                    "  flash C={} / floor: HTTP {:.3}  gRPC {:.3}  commit {:.3}  combined {:.3};  / orders (max) {}",
                    f.connections,
                    f.ratio_to_http,
                    f.ratio_to_grpc,
                    f.ratio_to_commit,
                    f.ratio_to_combined,
                    f.ratio_to_orders_max
                        .map_or("n/a".to_owned(), |r| format!("{r:.3}"))
                );
            }
            let [record, reserve, settle] = STAGES;
            println!(
                "  batch sizes (batches × mean, p50 and max as bucket bounds)  {record:<30} {reserve:<30} {settle}"
            );
            let mut batches = vec![
                ("orders (max)".to_owned(), &b.orders_max_batches),
                ("orders (half rate)".to_owned(), &b.orders_half_rate_batches),
                (
                    "orders, 1 connection".to_owned(),
                    &b.orders_one_connection_batches,
                ),
            ];
            for f in &b.flash_sale {
                let c = f.connections;
                batches.push((format!("flash C={c} (max)"), &f.max_batches));
                batches.push((format!("flash C={c} (half rate)"), &f.half_rate_batches));
            }
            for (phase, sizes) in batches {
                let [record, reserve, settle] = sizes.stages().map(batch_cell);
                println!("    {phase:<57} {record:<30} {reserve:<30} {settle}");
            }
            for c in &b.conservation {
                println!(
                    "  stock conserved after {:<22} {:<5}  ({} PENDING, {} awaiting release at its end{})",
                    format!("{}:", c.phase),
                    c.conserved,
                    c.pending_at_end,
                    c.release_pending_at_end,
                    if c.at_rest {
                        ""
                    } else {
                        "; NOT AT REST after 60 s"
                    }
                );
            }
            println!(
                "  release backlog of {} orders drained at {:.0}/s ({:.0} ms in all)",
                b.release_backlog.orders, b.release_backlog.per_second, b.release_backlog.total_ms
            );
            println!(
                "  start-up to ready: inventory {:.1} ms, order {:.1} ms",
                b.startup_ms[0], b.startup_ms[1]
            );
            println!(
                "  RSS idle: inventory {:.1} MiB, order {:.1} MiB (their own, not file pages: {:.1} / {:.1}); under load: {:.1} / {:.1} MiB",
                b.rss_idle_kib[0] as f64 / 1024.0,
                b.rss_idle_kib[1] as f64 / 1024.0,
                b.rss_idle_anon_kib[0] as f64 / 1024.0,
                b.rss_idle_anon_kib[1] as f64 / 1024.0,
                b.rss_load_kib[0] as f64 / 1024.0,
                b.rss_load_kib[1] as f64 / 1024.0
            );
            for f in &b.fanout {
                println!(
                    "  fan-out {:>6} subscribers: one event p50 {:.2} p99 {:.2} max {:.2} ms ({} events, {} missing); \
                     at {}/s p50 {:.2} p99 {:.2} max {:.2} ms ({} missing); {:.1} KiB per idle connection; stalled subscriber dropped: {}",
                    f.subscribers,
                    f.one_event.p50_ms,
                    f.one_event.p99_ms,
                    f.one_event.max_ms,
                    f.one_event.events,
                    f.one_event.missing,
                    f.steady_rate,
                    f.steady.p50_ms,
                    f.steady.p99_ms,
                    f.steady.max_ms,
                    f.steady.missing,
                    f.bytes_per_idle_connection / 1024.0,
                    f.stalled_subscriber_dropped
                );
            }
        }
        if let Some(traces) = &self.traces {
            traces.print();
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&self.path, serde_json::to_string_pretty(self)?)?;
        println!("\nJSON report: {}", self.path.display());
        Ok(())
    }
}
