//! `bench live-memory`: what live clients that stop reading cost
//! order-service in memory, and whether it is given back once they close.
//!
//! Two rounds on SQLite, each against order-service's idle RSS once the
//! log holds `--events` orders:
//! 1. `--clients` subscribers to `/topic/orders` that never read, while
//!    orders flow (enough events to fill any per-client buffer);
//! 2. as many sessions that SUBSCRIBE with `from-seq: 0` (a replay of the
//!    whole log) and never read.
//!
//! Each round runs against a fresh order-service process (on the same
//! database), so one round's leftovers do not hide the next one's cost, and
//! reports its idle RSS, the peak while the clients are connected and the
//! RSS [`SETTLE`] after they all closed. The clients' sockets have small
//! receive buffers, so what they do not read backs up into the server.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt, stream};
use support::testing::{Backend, TestDatabase};
use tokio::net::TcpSocket;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use crate::{
    ops,
    system::{Role, Service},
};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A stalled client's kernel receive buffer: small, so the server's
/// buffers fill after a few events rather than after megabytes.
const CLIENT_RECV_BUFFER: u32 = 4096;
/// Connections opened at once.
const CONNECT_CONCURRENCY: usize = 64;
/// Orders placed at once while filling the log.
const SEED_CONCURRENCY: usize = 32;
/// Orders a second while stalled subscribers are connected: 1,000
/// subscribers × 50 is 50,000 deliveries a second, well within two cores.
const FLOW_RATE: u64 = 50;
/// How long orders flow: 1,000 events, ~330 KB per subscriber, several
/// times what one client's queue and kernel buffers hold.
const FLOW_FOR: Duration = Duration::from_secs(20);
/// How long replaying sessions stay connected: long enough for every
/// replay to fill whatever it will fill.
const HOLD_FOR: Duration = Duration::from_secs(20);
/// How long after the clients closed the RSS is read (the target: back
/// within 30 MB of idle within 30 s).
const SETTLE: Duration = Duration::from_secs(30);
/// How often RSS is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// Every wait above with `--quick` (which proves the mode runs; its
/// numbers mean nothing).
const QUICK_WAIT: Duration = Duration::from_secs(2);

/// How long the rounds wait.
#[derive(Clone, Copy)]
struct Waits {
    flow: Duration,
    hold: Duration,
    settle: Duration,
}

impl Waits {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                flow: QUICK_WAIT,
                hold: QUICK_WAIT,
                settle: QUICK_WAIT,
            }
        } else {
            Self {
                flow: FLOW_FOR,
                hold: HOLD_FOR,
                settle: SETTLE,
            }
        }
    }
}

/// One round's figures, in MB of RSS.
struct Round {
    name: &'static str,
    idle: f64,
    peak: f64,
    settled: f64,
}

/// Runs both rounds and prints their figures.
pub(crate) async fn run(clients: usize, events: usize, quick: bool) -> anyhow::Result<()> {
    let waits = Waits::new(quick);
    let inventory_db = TestDatabase::create(Backend::Sqlite, "bench_inventory").await;
    let orders_db = inventory_db.sibling("bench_orders").await;
    let inventory = Service::spawn(
        Role::Inventory,
        &[("DATABASE_URL", inventory_db.url.clone())],
    )
    .await?;
    let order_env = [
        ("DATABASE_URL", orders_db.url.clone()),
        ("INVENTORY_URL", format!("http://{}", inventory.grpc_addr)),
    ];
    let order = Service::spawn(Role::Order, &order_env).await?;
    crate::system::restock(&inventory).await?;
    let http = ops::http_client();
    let order_url = format!("http://{}/orders", order.http_addr);
    println!("== live memory: placing {events} orders");
    seed(&http, &order_url, events).await?;
    order.stop().await;
    let mut rounds = Vec::new();

    println!("== live memory: {clients} subscribers that never read, orders flowing");
    let order = Service::spawn(Role::Order, &order_env).await?;
    let order_url = format!("http://{}/orders", order.http_addr);
    let ws_url = format!("ws://{}/ws-orders", order.http_addr);
    let idle = settle_idle(&order).await;
    let sockets = connect(&ws_url, clients, None).await?;
    let flow = tokio::spawn(flow(http.clone(), order_url.clone(), waits.flow));
    let peak = peak_while(&order, async {
        let _ = flow.await;
    })
    .await;
    rounds.push(Round {
        name: "stalled subscribers",
        idle,
        peak,
        settled: close_and_settle(&order, sockets, waits.settle).await,
    });
    order.stop().await;

    println!("== live memory: {clients} sessions replaying from seq 0 that never read");
    let order = Service::spawn(Role::Order, &order_env).await?;
    let ws_url = format!("ws://{}/ws-orders", order.http_addr);
    let idle = settle_idle(&order).await;
    let sockets = connect(&ws_url, clients, Some(0)).await?;
    let peak = peak_while(&order, tokio::time::sleep(waits.hold)).await;
    rounds.push(Round {
        name: "stalled replays (from-seq: 0)",
        idle,
        peak,
        settled: close_and_settle(&order, sockets, waits.settle).await,
    });

    println!(
        "{:<32} {:>10} {:>10} {:>12} {:>16}",
        "round", "idle MB", "peak MB", "peak - idle", "settled - idle"
    );
    for r in &rounds {
        println!(
            "{:<32} {:>10.0} {:>10.0} {:>12.0} {:>16.0}",
            r.name,
            r.idle,
            r.peak,
            r.peak - r.idle,
            r.settled - r.idle
        );
    }
    order.stop().await;
    inventory.stop().await;
    for db in [inventory_db, orders_db] {
        db.cleanup().await;
    }
    Ok(())
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// order-service's RSS once it has been quiet for a moment.
async fn settle_idle(order: &Service) -> f64 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    mb(order.rss_kib())
}

/// The highest RSS sampled until `until` resolves.
async fn peak_while(order: &Service, until: impl Future<Output = ()>) -> f64 {
    let mut until = std::pin::pin!(until);
    let mut peak = order.rss_kib();
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            () = &mut until => return mb(peak.max(order.rss_kib())),
            _ = ticks.tick() => peak = peak.max(order.rss_kib()),
        }
    }
}

/// Closes every client, then returns the RSS `settle` later.
async fn close_and_settle(order: &Service, sockets: Vec<Ws>, settle: Duration) -> f64 {
    drop(sockets);
    tokio::time::sleep(settle).await;
    mb(order.rss_kib())
}

/// Places `n` orders.
async fn seed(http: &reqwest::Client, url: &str, n: usize) -> anyhow::Result<()> {
    let placed: Vec<anyhow::Result<()>> = stream::iter(0..n)
        .map(|_| async move {
            http.post(url)
                .json(&serde_json::json!({"product": "Phone", "quantity": 1}))
                .send()
                .await?
                .error_for_status()?;
            Ok(())
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .collect()
        .await;
    placed.into_iter().collect()
}

/// Places orders at [`FLOW_RATE`] for `how_long`.
async fn flow(http: reqwest::Client, url: String, how_long: Duration) {
    let mut ticks = tokio::time::interval(Duration::from_millis(1000 / FLOW_RATE));
    let end = Instant::now() + how_long;
    while Instant::now() < end {
        ticks.tick().await;
        let request = http
            .post(&url)
            .json(&serde_json::json!({"product": "Tablet", "quantity": 1}))
            .send();
        tokio::spawn(request);
    }
}

/// Connects `n` clients subscribed to `/topic/orders` (resuming from
/// `from_seq` if given) that read nothing after the RECEIPT.
async fn connect(url: &str, n: usize, from_seq: Option<i64>) -> anyhow::Result<Vec<Ws>> {
    let connected: Vec<anyhow::Result<Ws>> = stream::iter(0..n)
        .map(|_| stalled_client(url, from_seq))
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    connected.into_iter().collect()
}

async fn stalled_client(url: &str, from_seq: Option<i64>) -> anyhow::Result<Ws> {
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .context("host in URL")?
        .parse()?;
    let tcp = TcpSocket::new_v4()?;
    tcp.set_recv_buffer_size(CLIENT_RECV_BUFFER)?;
    let tcp = tcp.connect(addr).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await?;
    ws.send(Message::text(
        "CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0",
    ))
    .await?;
    let resume = from_seq.map_or_else(String::new, |seq| format!("from-seq:{seq}\n"));
    ws.send(Message::text(format!(
        "SUBSCRIBE\nid:0\ndestination:/topic/orders\n{resume}receipt:ready\n\n\0"
    )))
    .await?;
    loop {
        match ws.next().await.context("connection closed")?? {
            Message::Text(t) if t.starts_with("RECEIPT") => return Ok(ws),
            Message::Text(t) if t.starts_with("ERROR") => bail!("server sent {t}"),
            _ => {}
        }
    }
}
