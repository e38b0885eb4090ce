//! A live-events server in one file: a tick on `/topic/ticks` every second,
//! each with its seq, the newest 100 kept for clients that resume; STOMP
//! over WebSocket and SockJS at `/ws-ticks`.
//!
//! ```text
//! cargo run -p live --example ticker -- 127.0.0.1:8090
//! ```
//!
//! The address is the first argument, else `LIVE_ADDR`, else
//! 127.0.0.1:8090 (port 0 picks a free one); the server prints where it
//! listens once it accepts connections. Browsers from other origins need
//! `ALLOWED_ORIGINS` (e.g. `http://localhost:4200`). Ctrl-C stops it,
//! closing every connection.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use live::{
    AllowedOrigins, Broker, Handler, History, Publish, Replay, Retained, StompConfig,
    TransportConfig,
};
use tokio_util::sync::CancellationToken;

/// Where the ticks go.
const TOPIC: &str = "/topic/ticks";
/// Ticks kept for clients that resume.
const KEPT: usize = 100;

/// The newest ticks: the event source, and its history.
#[derive(Default)]
struct Ticks(Mutex<VecDeque<Retained>>);

impl Ticks {
    fn kept(&self) -> std::sync::MutexGuard<'_, VecDeque<Retained>> {
        // Every statement leaves the window whole: a panic elsewhere
        // cannot make it inconsistent.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps tick `seq` and publishes it.
    fn tick(&self, seq: i64, broker: &Broker) {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let body = Bytes::from(format!(r#"{{"tick":{seq},"at":{at}}}"#));
        {
            let mut kept = self.kept();
            if kept.len() == KEPT {
                kept.pop_front();
            }
            kept.push_back(Retained::untraced(seq, body.clone()));
        }
        broker.publish(TOPIC, Some(seq), body);
    }
}

impl History for Ticks {
    fn after(
        &self,
        destination: &str,
        seq: i64,
        limit: usize,
    ) -> BoxFuture<'static, live::Result<Replay>> {
        let kept = self.kept();
        // Seqs are consecutive from 1; nothing kept yet reads as (1, 0).
        let first = kept.front().map_or(1, |t| t.seq);
        let last = kept.back().map_or(0, |t| t.seq);
        let replay = if destination != TOPIC {
            Replay::Events(Vec::new())
        } else if seq < first - 1 || seq > last {
            // Pruned already, or never handed out: the client reloads.
            Replay::Resync
        } else {
            let after = kept.iter().filter(|t| t.seq > seq).take(limit);
            Replay::Events(after.cloned().collect())
        };
        Box::pin(std::future::ready(Ok(replay)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("LIVE_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned())
        .parse()?;
    let origins = AllowedOrigins::new(std::env::var("ALLOWED_ORIGINS").ok())?;

    let ticks = Arc::new(Ticks::default());
    let broker = Broker::default().with_history(ticks.clone());
    let handler: Handler = {
        let broker = broker.clone();
        Arc::new(move |connection| {
            Box::pin(live::serve(
                connection,
                broker.clone(),
                StompConfig::default(),
            ))
        })
    };
    let config = TransportConfig {
        allowed_origins: origins,
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let app =
        axum::Router::new().merge(live::router("/ws-ticks", config, handler, shutdown.clone()));

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}/ws-ticks", listener.local_addr()?);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        for seq in 1.. {
            every.tick().await;
            ticks.tick(seq, &broker);
        }
    });
    // With the peer's address, for the per-client connection budgets.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
        })
        .await?;
    Ok(())
}
