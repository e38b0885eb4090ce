//! # bench
//!
//! Measures the system on this machine and prints every figure beside the
//! floor measured in the same run with the same client, so results compare
//! across noisy machines:
//! 1. order creation: C keep-alive HTTP/1.1 connections posting orders for
//!    T seconds (closed loop: the maximum rate), then an open loop at half
//!    that rate for the latency a user sees under load; then one connection
//!    alone (the latency batching must not add to); then flash sales (every
//!    client ordering the same product) at two connection counts. Each
//!    phase reports the batch sizes order-service saw, and ends with a
//!    check that stock was conserved (nothing oversold, nothing lost);
//! 2. the floor: a no-op HTTP request to order-service, a gRPC `CheckStock`
//!    loop against inventory, single-row commits on the same database;
//! 3. the reconciler's drain rate of a release backlog (as an inventory
//!    outage leaves one);
//! 4. fan-out: N STOMP subscribers over WebSocket, time for one order event
//!    to reach them all, and delivery latency while orders flow steadily,
//!    with a subscriber that never reads connected throughout;
//! 5. memory (RSS) of each service idle, under load, per idle WebSocket;
//! 6. the order benchmark on SQLite and, when `TEST_DATABASE_URL` names a
//!    PostgreSQL server, on PostgreSQL;
//! 7. what tracing costs: orders with no exporter against orders with
//!    every span exported over OTLP (see `traces`).
//!
//! `bench logs` measures instead what the access log and the order
//! outcome lines cost at full load (see `logs`), and `bench event-log`
//! what the order and stock event logs cost (see `event_log`).
//!
//! `bench live-memory` measures instead what live clients that stop reading
//! cost order-service in memory, and whether it is given back (see
//! `live_memory`).
//!
//! `--quick` runs every phase briefly (CI runs it so the tool cannot rot);
//! its numbers mean nothing.

mod backlog;
mod conservation;
mod event_log;
mod fanout;
mod live_memory;
mod load;
mod logs;
mod metrics;
mod ops;
mod orders;
mod report;
mod sides;
mod sql;
mod system;
mod traces;

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use clap::Parser;
use proto::inventory_service_client::InventoryServiceClient;
use support::{
    db::{Db, Migrations},
    testing::{Backend, TestDatabase},
};
use system::{PRODUCTS, Role, Service, restock};

/// Deliveries a second that the steady fan-out phase stays within: a
/// rate × subscribers beyond what two shared cores can write would measure
/// the queue, not delivery.
const MAX_DELIVERIES_PER_S: f64 = 100_000.0;

/// The product every flash-sale client orders (restocked like the others,
/// to 4,000,000 more, so none is rejected).
const FLASH_PRODUCT: &str = "Laptop";

/// Benchmark settings.
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Order throughput, latency, fan-out and memory, against the same-run floor"
)]
struct Args {
    /// Seconds per load phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent HTTP connections (and gRPC callers, and committers).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Connection counts for the flash-sale phase (all ordering one product).
    #[arg(long, value_delimiter = ',', default_values_t = [32, 256])]
    flash_connections: Vec<usize>,
    /// Subscriber counts for the fan-out phase.
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 10000])]
    subscribers: Vec<usize>,
    /// Orders per second during the steady-rate fan-out phase (lowered to
    /// keep subscribers × rate within 100,000 deliveries a second).
    #[arg(long, default_value_t = 100.0)]
    steady_rate: f64,
    /// A few seconds in all, small counts: proves the tool runs, not the speed.
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON report.
    #[arg(long, default_value = "target/bench/report.json")]
    json: std::path::PathBuf,
    #[command(subcommand)]
    serve: Option<Mode>,
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// (internal) run a service in this process: `inventory` or `order`.
    Serve { role: String },
    /// order-service's RSS with live clients that never read, and after
    /// they close: stalled subscribers while orders flow, then stalled
    /// `from-seq: 0` replays.
    LiveMemory {
        /// Stalled clients per round.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Orders placed first, so a replay from 0 has this many events.
        #[arg(long, default_value_t = 5000)]
        events: usize,
    },
    /// Orders/s and CPU per order at full load (SQLite) with the logs at
    /// their defaults, with the access log on, and with every order's
    /// outcome line written, in alternating rounds.
    Logs {
        /// Which of `off`, `access`, `outcomes` to run.
        #[arg(long, value_delimiter = ',', default_values_t = logs::SIDES.map(String::from))]
        sides: Vec<String>,
        /// Rounds of every side.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Orders/s and CPU per order at full load with the event logs on and
    /// with their triggers off, in alternating rounds, on SQLite and (with
    /// `TEST_DATABASE_URL`) on PostgreSQL.
    EventLog {
        /// Rounds of each side.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

/// Returns freed memory to the system (see `support::allocator`).
#[global_allocator]
static ALLOCATOR: support::allocator::Allocator = support::allocator::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    // 10,000 subscribers are 10,000 descriptors in the client and in order-service.
    support::service::raise_open_file_limit();
    match &args.serve {
        Some(Mode::Serve { role }) => return system::serve(role).await,
        Some(Mode::LiveMemory { clients, events }) if args.quick => {
            return live_memory::run((*clients).min(20), (*events).min(200), true).await;
        }
        Some(Mode::LiveMemory { clients, events }) => {
            return live_memory::run(*clients, *events, false).await;
        }
        Some(Mode::Logs { sides, rounds }) => {
            return logs::run(sides, &args.load(*rounds), &args.json).await;
        }
        Some(Mode::EventLog { rounds }) => {
            return event_log::run(&args.load(*rounds), &args.json).await;
        }
        None => {}
    }
    if args.quick {
        args.seconds = 1;
        args.connections = 4;
        args.flash_connections = vec![4, 16];
        args.subscribers = vec![20, 100];
        args.steady_rate = 20.0;
    }
    let mut report = report::Report::new(&args.json, args.quick);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if backend == Backend::Postgres && std::env::var_os("TEST_DATABASE_URL").is_none() {
            println!("(PostgreSQL skipped: set TEST_DATABASE_URL=postgres://… to include it)");
            continue;
        }
        let run = run_backend(backend, &args).await?;
        report.backends.push(run);
    }
    let products = Arc::new(PRODUCTS.map(String::from).to_vec());
    let rounds = if args.quick { 1 } else { 3 };
    report.traces = Some(
        traces::compare(
            args.connections,
            rounds,
            Duration::from_secs(args.seconds),
            &products,
        )
        .await?,
    );
    report.print_and_save()?;
    // After the report is written: a correctness failure, not noise.
    let failed: Vec<String> = report
        .backends
        .iter()
        .flat_map(|b| {
            b.not_conserved()
                .map(|c| format!("{} {}", b.backend, c.phase))
        })
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "stock not conserved after: {}",
        failed.join(", ")
    );
    Ok(())
}

impl Args {
    /// The side-by-side comparisons' load: `rounds` rounds, or one short
    /// round with `--quick`.
    fn load(&self, rounds: usize) -> sides::Load {
        if self.quick {
            sides::Load {
                seconds: 1,
                connections: 4,
                rounds: 1,
            }
        } else {
            sides::Load {
                seconds: self.seconds,
                connections: self.connections,
                rounds,
            }
        }
    }
}

/// Every phase on one database backend.
async fn run_backend(backend: Backend, args: &Args) -> anyhow::Result<report::BackendRun> {
    let name = format!("{backend:?}").to_lowercase();
    println!("== {name}: starting the system");
    let inventory_db = TestDatabase::create(backend, "bench_inventory").await;
    let orders_db = inventory_db.sibling("bench_orders").await;
    let floor_db = inventory_db.sibling("bench_floor").await;
    let inventory = Service::spawn(
        Role::Inventory,
        &[("DATABASE_URL", inventory_db.url.clone())],
    )
    .await?;
    let order = Service::spawn(
        Role::Order,
        &[
            ("DATABASE_URL", orders_db.url.clone()),
            ("INVENTORY_URL", format!("http://{}", inventory.grpc_addr)),
        ],
    )
    .await?;
    let mut run = report::BackendRun::new(&name, args.connections);
    run.startup_ms = [
        inventory.startup.as_secs_f64() * 1e3,
        order.startup.as_secs_f64() * 1e3,
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.rss_idle_kib = [inventory.rss_kib(), order.rss_kib()];
    run.rss_idle_anon_kib = [inventory.rss_anon_kib(), order.rss_anon_kib()];

    restock(&inventory).await?;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", inventory.grpc_addr))?
            .connect()
            .await?;
    let products: Vec<String> = PRODUCTS.map(String::from).into();

    // At rest: every check compares with this.
    let mut ledger = conservation::Ledger::record(&order.sql, channel.clone()).await?;

    let t = Duration::from_secs(args.seconds);
    let c = args.connections;
    let order_url = format!("http://{}/orders", order.http_addr);
    let orders = orders::Orders::new(order.http_addr, t)?;
    let products = Arc::new(products);
    println!(
        "== {name}: order creation, {c} connections, {}s",
        args.seconds
    );
    (run.orders_max, run.orders_max_batches) = orders.max(c, &products).await?;
    run.rss_load_kib = [inventory.rss_kib(), order.rss_kib()];
    let half = run.orders_max.per_second / 2.0;
    println!("== {name}: orders at half that rate ({half:.0}/s)");
    (run.orders_half_rate, run.orders_half_rate_batches) =
        orders.at_rate(c, &products, half).await?;
    run.conservation.push(ledger.check("orders").await?);
    println!("== {name}: order creation, 1 connection, {}s", args.seconds);
    (run.orders_one_connection, run.orders_one_connection_batches) =
        orders.max(1, &products).await?;
    run.conservation
        .push(ledger.check("orders, 1 connection").await?);
    for &fc in &args.flash_connections {
        println!(
            "== {name}: flash sale, {fc} connections all ordering {FLASH_PRODUCT}, {}s",
            args.seconds
        );
        run.flash_sale
            .push(orders.flash_sale(fc, FLASH_PRODUCT).await?);
        run.conservation
            .push(ledger.check(&format!("flash sale C={fc}")).await?);
    }

    let backlog = if args.quick { 200 } else { 5000 };
    println!("== {name}: draining a backlog of {backlog} releases");
    run.release_backlog = backlog::drain(&order.sql, backlog).await?;
    run.conservation
        .push(ledger.check("release backlog").await?);

    println!("== {name}: floor");
    let noop_url = format!("http://{}/health/live", order.http_addr);
    let noop = (0..c)
        .map(|_| ops::NoopHttp {
            client: ops::http_client(),
            url: noop_url.clone(),
        })
        .collect();
    run.floor_http = load::closed_loop(noop, t).await.summary();
    let calls = (0..c)
        .map(|_| ops::CheckStock {
            client: InventoryServiceClient::new(channel.clone()),
        })
        .collect();
    run.floor_grpc = load::closed_loop(calls, t).await.summary();
    let migrations = Migrations {
        sqlite: sqlx::migrate!("./migrations/sqlite"),
        postgres: sqlx::migrate!("./migrations/postgres"),
    };
    let db = Db::connect(&floor_db.url, &migrations).await?;
    let seq = Arc::new(AtomicU64::new(0));
    let commits = (0..c)
        .map(|_| ops::Commit {
            db: db.clone(),
            seq: seq.clone(),
        })
        .collect();
    run.floor_commit = load::closed_loop(commits, t).await.summary();
    db.close().await;

    let ws_url = format!("ws://{}/ws-orders", order.http_addr);
    let http = ops::http_client();
    let fanout_sizes: Vec<usize> = args
        .subscribers
        .iter()
        .copied()
        .filter(|n| *n > 0)
        .collect();
    for &n in &fanout_sizes {
        println!("== {name}: fan-out to {n} subscribers");
        let before = order.rss_kib();
        let mut subs = fanout::Subscribers::connect(&ws_url, n, 1).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let per_connection =
            (order.rss_kib().saturating_sub(before)) as f64 * 1024.0 / (n + 1) as f64;
        let events = if args.quick { 3 } else { 20 };
        let one = fanout::one_event_at_a_time(&mut subs, &http, &order_url, events).await?;
        let steady_for = if args.quick {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        };
        // Capped at MAX_DELIVERIES_PER_S: beyond what two shared cores can
        // write, the phase would measure queueing, not delivery.
        let rate = args.steady_rate.min(MAX_DELIVERIES_PER_S / n as f64);
        let steady = fanout::steady_rate(&mut subs, &http, &order_url, rate, steady_for).await?;
        let stalled_dropped = subs.stalled_were_dropped().await;
        run.fanout.push(report::Fanout {
            subscribers: n,
            bytes_per_idle_connection: per_connection,
            one_event: one,
            steady,
            steady_rate: rate,
            stalled_subscriber_dropped: stalled_dropped,
        });
        drop(subs);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if !fanout_sizes.is_empty() {
        run.conservation.push(ledger.check("fan-out").await?);
    }

    order.stop().await;
    inventory.stop().await;
    for db in [inventory_db, orders_db, floor_db] {
        db.cleanup().await;
    }
    Ok(run)
}
