//! Live-event fan-out: N STOMP subscribers over plain WebSocket, each
//! subscribed to `/topic/orders`, and the time from placing an order until
//! each of them has its MESSAGE.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::{net::TcpStream, sync::mpsc};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, protocol::WebSocketConfig},
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Handshakes in flight at once while connecting subscribers.
const CONNECT_CONCURRENCY: usize = 128;

/// Delivery latencies of a set of events.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Delivery {
    /// Subscribers.
    pub subscribers: usize,
    /// Events measured.
    pub events: usize,
    /// Deliveries that never arrived.
    pub missing: usize,
    /// Percentiles over every (event, subscriber) delivery, in ms.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The slowest delivery.
    pub max_ms: f64,
}

impl Delivery {
    fn from(h: &Histogram<u64>, subscribers: usize, events: usize, missing: usize) -> Self {
        let ms = |v: u64| v as f64 / 1000.0;
        Self {
            subscribers,
            events,
            missing,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Connected subscribers; deliveries arrive on `deliveries` as (order id, when).
pub(crate) struct Subscribers {
    deliveries: mpsc::Receiver<(i64, Instant)>,
    /// Subscribed connections that never read (slow consumers).
    stalled: Vec<Ws>,
    /// Reading subscribers.
    pub count: usize,
}

fn ws_config() -> WebSocketConfig {
    // 4 KiB read buffers: the 128 KiB default would cost 1.3 GB for 10,000 clients.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

async fn subscribe(url: &str) -> anyhow::Result<Ws> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true).await?;
    ws.send(Message::text(
        "CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0",
    ))
    .await?;
    expect(&mut ws, "CONNECTED").await?;
    ws.send(Message::text(
        "SUBSCRIBE\nid:0\ndestination:/topic/orders\nreceipt:ready\n\n\0",
    ))
    .await?;
    expect(&mut ws, "RECEIPT").await?;
    Ok(ws)
}

async fn expect(ws: &mut Ws, command: &str) -> anyhow::Result<()> {
    loop {
        match ws.next().await.context("connection closed")?? {
            Message::Text(t) if t.starts_with(command) => return Ok(()),
            Message::Text(t) if t.starts_with("ERROR") => bail!("server sent {t}"),
            _ => {}
        }
    }
}

/// The order id in a MESSAGE frame's JSON body, without a full parse.
fn order_id(frame: &str) -> Option<i64> {
    let body = &frame[frame.find("\n\n")? + 2..];
    let rest = &body[body.find("\"id\":")? + 5..];
    let digits: String = rest
        .chars()
        .skip_while(|c| *c == ' ')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

impl Subscribers {
    /// Connects `n` reading subscribers and `stalled` ones that never read.
    pub(crate) async fn connect(url: &str, n: usize, stalled: usize) -> anyhow::Result<Self> {
        // Room for every delivery of a steady-rate phase, so subscribers never
        // wait on the collector (that would inflate the latencies measured).
        let (tx, deliveries) = mpsc::channel((n.max(1) * 1024).min(4_000_000));
        let url = Arc::new(url.to_owned());
        let connected: Vec<anyhow::Result<Ws>> = stream::iter(0..n + stalled)
            .map(|_| {
                let url = url.clone();
                async move { subscribe(&url).await }
            })
            .buffer_unordered(CONNECT_CONCURRENCY)
            .collect()
            .await;
        let mut sockets = Vec::with_capacity(n);
        for ws in connected {
            sockets.push(ws.context("subscriber connection")?);
        }
        let stalled = sockets.split_off(n);
        for mut ws in sockets {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = msg
                        && t.starts_with("MESSAGE")
                        && let Some(id) = order_id(&t)
                        && tx.send((id, Instant::now())).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
        Ok(Self {
            deliveries,
            stalled,
            count: n,
        })
    }

    /// Waits until every subscriber has each of `sent` (order id → sent at),
    /// or `timeout` passes; returns the delivery latencies.
    pub(crate) async fn collect(
        &mut self,
        sent: &HashMap<i64, Instant>,
        timeout: Duration,
    ) -> (Histogram<u64>, usize) {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        let expected = sent.len() * self.count;
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + timeout;
        while got < expected {
            match tokio::time::timeout_at(deadline, self.deliveries.recv()).await {
                Ok(Some((id, at))) => {
                    if let Some(t0) = sent.get(&id) {
                        got += 1;
                        let _ =
                            h.record(at.saturating_duration_since(*t0).as_micros().max(1) as u64);
                    }
                }
                _ => break,
            }
        }
        (h, expected - got)
    }

    /// Whether the server has closed every stalled subscriber's connection
    /// (reading only now reveals it; a connection still open has data or
    /// nothing queued).
    pub(crate) async fn stalled_were_dropped(&mut self) -> bool {
        let mut all = true;
        for ws in &mut self.stalled {
            // The server gives up on it after its send timeout once its
            // buffers are full; a few seconds more is enough to tell.
            let closed = tokio::time::timeout(Duration::from_secs(3), async {
                loop {
                    match ws.next().await {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                        Some(Ok(_)) => {}
                    }
                }
            })
            .await
            .unwrap_or(false);
            all &= closed;
        }
        all
    }
}

/// Places one order at a time and measures its fan-out, `events` times.
pub(crate) async fn one_event_at_a_time(
    subs: &mut Subscribers,
    http: &reqwest::Client,
    order_url: &str,
    events: usize,
) -> anyhow::Result<Delivery> {
    let mut all = Histogram::new_with_bounds(1, 60_000_000, 3)?;
    let mut missing = 0;
    for _ in 0..events {
        let t0 = Instant::now();
        let order: serde_json::Value = http
            .post(order_url)
            .json(&serde_json::json!({"product": "Laptop", "quantity": 1}))
            .send()
            .await?
            .json()
            .await?;
        let id = order["id"].as_i64().context("order id")?;
        let (h, lost) = subs
            .collect(&HashMap::from([(id, t0)]), Duration::from_secs(30))
            .await;
        all.add(&h)?;
        missing += lost;
    }
    Ok(Delivery::from(&all, subs.count, events, missing))
}

/// Places orders at `rate` per second for `duration`, measuring every
/// delivery from the moment its order was sent.
pub(crate) async fn steady_rate(
    subs: &mut Subscribers,
    http: &reqwest::Client,
    order_url: &str,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Delivery> {
    let mut sent = HashMap::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let end = Instant::now() + duration;
    let mut pending = Vec::new();
    while Instant::now() < end {
        ticks.tick().await;
        let t0 = Instant::now();
        let request = http
            .post(order_url)
            .json(&serde_json::json!({"product": "Phone", "quantity": 1}))
            .send();
        pending.push(tokio::spawn(async move {
            let order: serde_json::Value = request.await.ok()?.json().await.ok()?;
            Some((order["id"].as_i64()?, t0))
        }));
    }
    for p in pending {
        if let Ok(Some((id, t0))) = p.await {
            sent.insert(id, t0);
        }
    }
    let events = sent.len();
    let (h, missing) = subs.collect(&sent, Duration::from_secs(30)).await;
    Ok(Delivery::from(&h, subs.count, events, missing))
}
