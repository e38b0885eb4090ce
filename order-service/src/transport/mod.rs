//! The transports behind `/ws-orders`: raw WebSocket and SockJS (its
//! websocket, xhr, xhr_streaming, eventsource and htmlfile transports). Each
//! turns a client connection into a [`Connection`], a pair of bounded text
//! queues, so the STOMP session on top does not care how it is carried.

mod sockjs;
mod websocket;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, routing::get};
use futures::future::BoxFuture;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::origins::AllowedOrigins;

/// One client connection, whatever carries it.
#[derive(Debug)]
pub struct Connection {
    /// Text messages from the client, in order; `None` once it has gone.
    pub incoming: mpsc::Receiver<String>,
    /// Text messages to the client, in order, bounded. Dropping it ends the
    /// connection.
    pub outgoing: mpsc::Sender<String>,
    /// Peer address, for logs.
    pub peer: Option<SocketAddr>,
}

/// Called once per new connection; the connection lives while it runs.
pub type Handler = Arc<dyn Fn(Connection) -> BoxFuture<'static, ()> + Send + Sync>;

/// Transport limits and timings.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Who may connect from a browser.
    pub allowed_origins: AllowedOrigins,
    /// SockJS `h` frame period (the protocol's default, 25 s).
    pub sockjs_heartbeat: Duration,
    /// A SockJS session with no receiving request for this long is closed.
    pub disconnect_delay: Duration,
    /// Largest inbound message (WebSocket message, xhr_send body).
    pub max_message_bytes: usize,
    /// Messages queued per connection towards the client (~512 KiB of
    /// typical order events, Spring's send buffer limit).
    pub outgoing_capacity: usize,
    /// A streaming response is closed after this many bytes and the client
    /// reconnects, so browsers do not keep growing one response.
    pub streaming_bytes_limit: usize,
    /// tungstenite read buffer per WebSocket; its 128 KiB default dominates
    /// memory and fan-out time (MEASURED.md).
    pub websocket_read_buffer: usize,
    /// A write to a socket that takes longer drops the client.
    pub send_timeout: Duration,
    /// Open connections (WebSocket and SockJS sessions) at most.
    pub max_connections: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            allowed_origins: AllowedOrigins::default(),
            sockjs_heartbeat: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            max_message_bytes: 64 * 1024,
            outgoing_capacity: 1024,
            streaming_bytes_limit: 128 * 1024,
            websocket_read_buffer: 4096,
            send_timeout: Duration::from_secs(10),
            max_connections: 20_000,
        }
    }
}

/// What the routes share.
#[derive(Clone)]
struct Shared {
    config: Arc<TransportConfig>,
    handler: Handler,
    slots: Arc<Semaphore>,
    sessions: sockjs::Sessions,
    /// Ends every connection and stream at shutdown: an open WebSocket or
    /// streaming response would otherwise keep a graceful shutdown waiting.
    shutdown: CancellationToken,
}

/// Routes for `/ws-orders` and everything below it; `shutdown` closes
/// every connection.
pub fn router<S: Clone + Send + Sync + 'static>(
    config: TransportConfig,
    handler: Handler,
    shutdown: CancellationToken,
) -> Router<S> {
    let shared = Shared {
        shutdown,
        slots: Arc::new(Semaphore::new(config.max_connections)),
        config: Arc::new(config),
        handler,
        sessions: sockjs::Sessions::default(),
    };
    Router::new()
        .route("/ws-orders", get(websocket::raw_or_greeting))
        .route("/ws-orders/", get(sockjs::greeting))
        .route("/ws-orders/websocket", get(websocket::raw))
        .route(
            "/ws-orders/info",
            get(sockjs::info).options(sockjs::info_options),
        )
        .route("/ws-orders/{iframe}", get(sockjs::iframe))
        .route(
            "/ws-orders/{server}/{session}/{transport}",
            axum::routing::any(sockjs::transport),
        )
        .with_state(shared)
}
