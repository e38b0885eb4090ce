//! The transports behind the endpoint's path (`{path}` below, `/ws-orders`
//! in order-service): raw WebSocket and the SockJS server protocol as
//! Spring's `addEndpoint("{path}").withSockJS()` serves it.
//!
//! Whatever carries a client, it reaches the application as a
//! [`Connection`]: two bounded queues of text messages and a peer address.
//! The STOMP layer on top never learns whether it talks to a WebSocket, a
//! long-polling browser or an `EventSource`.
//!
//! ```text
//!  GET {path} (+ Upgrade) ─┐
//!  GET {path}/websocket ───┼─ websocket.rs (raw framing) ────────────────┐
//!  {path}/{s}/{id}/websocket ─ sockjs::websocket ─► websocket.rs ────────┤
//!  {path}/{s}/{id}/xhr, xhr_streaming, eventsource, htmlfile             ├─► Connection ─► Handler
//!        └─ sockjs::receive ─┐                                           │
//!  {path}/{s}/{id}/xhr_send ─ sockjs::send ─► sockjs::session ───────────┘
//! ```
//!
//! Design choices:
//! - **A WebSocket is one task** running the handler, a reader and a writer
//!   future joined with `select!`: whichever ends (client gone, handler
//!   dropped its sender, a write stuck past `send_timeout`, shutdown) tears
//!   the socket down, and the closing frame is sent from one place. Running
//!   the handler in the same task halves the wake-ups of a fan-out.
//! - **A SockJS HTTP session outlives its requests.** The handler's outgoing
//!   queue belongs to the session; a receiving request borrows it (a
//!   `Lease`) for as long as it is attached and gives it back when it ends,
//!   so messages queued between two polls wait, in order, in that one
//!   bounded queue. Each receiving request has a writer task feeding the
//!   response body through a one-slot channel, which is where heart-beats,
//!   the streaming byte limit and the send timeout live.
//! - **Everything a client can grow is bounded**: connections (two
//!   budgets, see [`admission`]), queues (`send_buffer_bytes` and
//!   `outgoing_capacity` towards the client, see [`outgoing`];
//!   `INCOMING_CAPACITY` from it), what sits below the queue (tungstenite's
//!   write buffer, the kernel's send buffer), message and body sizes
//!   (`max_message_bytes`), session ids, batches.
//! - **One origin policy** ([`AllowedOrigins`]) for the upgrade and every
//!   SockJS request: a refused origin gets 403, an allowed one is echoed
//!   with credentials (never `*`).

mod admission;
pub(crate) mod outgoing;
mod sockjs;
mod websocket;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use futures::future::BoxFuture;
use support::http::Client;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) use admission::Admission;

use crate::origins::AllowedOrigins;

/// Messages buffered from a client before the handler takes them. Small on
/// purpose: when the handler is busy, the client waits (TCP back-pressure
/// on a WebSocket, a pending `xhr_send` on SockJS) instead of us buffering.
const INCOMING_CAPACITY: usize = 32;

/// One client connection, whatever carries it (raw WebSocket or any SockJS
/// transport), as the [`Handler`] gets it: hand it to [`serve`](crate::serve).
// Its fields are the crate's own: what a connection carries is STOMP.
#[derive(Debug)]
pub struct Connection {
    /// Text messages from the client, in order. Yields `None` once the
    /// client has gone (socket closed, SockJS session timed out or closed).
    pub(crate) incoming: mpsc::Receiver<String>,
    /// Text messages to the client, in order. Bounded in bytes
    /// ([`TransportConfig::send_buffer_bytes`]) and in messages
    /// ([`TransportConfig::outgoing_capacity`]). Dropping it ends the
    /// connection: the WebSocket is closed / the SockJS session sends its
    /// close frame `c[3000,"Go away!"]` and is removed. A message refused
    /// for the byte budget ends it at once, whatever is still queued.
    pub(crate) outgoing: outgoing::Outgoing,
    /// Peer address, for logs (present when the server was started with
    /// `into_make_service_with_connect_info`).
    pub(crate) peer: Option<SocketAddr>,
    /// The connection's seat in the live-event budgets: the handler calls
    /// [`Admission::admit`] once the client has identified itself (STOMP
    /// CONNECT), and refuses the client if that fails.
    pub(crate) admission: Admission,
    /// Cancelled when the service stops: the handler says goodbye (STOMP:
    /// an ERROR frame asking the client to reconnect) and ends; the
    /// transport then closes with [`RESTART_CODE`] within
    /// [`SHUTDOWN_GOODBYE`].
    pub(crate) stopping: CancellationToken,
}

/// The close code of a connection ended because the server stops:
/// 1012 "Service Restart" (IANA's WebSocket close code registry), not
/// 1001 "Going Away". Both say the server is leaving; 1012 also says to
/// reconnect, which is what a client should do (another replica, or this
/// one once restarted, will answer), and RFC 6455 lets an endpoint use
/// any registered code. SockJS sessions get it in their close frame.
pub(crate) const RESTART_CODE: u16 = 1012;

/// The reason sent with [`RESTART_CODE`].
pub(crate) const RESTART_REASON: &str = "Server restarting, please reconnect";

/// How long a handler has, once the service stops, to queue its goodbye
/// and end before the transport closes the connection regardless: the
/// goodbye is one frame written at once; a client that cannot take it in
/// a second is stalled, and the service's shutdown should not wait for it.
const SHUTDOWN_GOODBYE: Duration = Duration::from_secs(1);

/// Called once per new connection; the connection lives while the future
/// runs. On a WebSocket the future is polled inside the socket's own task
/// and dropped when the socket ends; on a SockJS HTTP session it is a task
/// of its own that sees `incoming` end.
pub type Handler = Arc<dyn Fn(Connection) -> BoxFuture<'static, ()> + Send + Sync>;

/// Transport limits and timings.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Who may connect from a browser.
    pub allowed_origins: AllowedOrigins,
    /// Period of SockJS `h` frames on an open receiver (the protocol's 25 s,
    /// below the 30–60 s idle timeouts of common proxies).
    pub sockjs_heartbeat: Duration,
    /// A SockJS session is closed this long after its last receiving
    /// request ended (the protocol's 5 s).
    pub disconnect_delay: Duration,
    /// Largest inbound WebSocket message or `xhr_send` body; beyond it the
    /// WebSocket is closed with 1009 and `xhr_send` answers 413 (Spring's
    /// 64 KiB STOMP message limit).
    pub max_message_bytes: usize,
    /// Messages queued per connection towards the client. The byte budget
    /// below is what binds; this only caps tiny messages (heart-beats).
    pub outgoing_capacity: usize,
    /// Bytes of frames queued per connection towards the client (SockJS
    /// HTTP sessions: between two polls too). A client whose queue would
    /// pass it is not reading and is dropped at once, so a stalled client
    /// holds at most this much here, whatever the time. 64 KiB: ~200 order
    /// events, a burst no reading client falls behind by, and the same as
    /// the kernel's send buffer order-service sets below it.
    pub send_buffer_bytes: usize,
    /// A streaming response (xhr_streaming, eventsource, htmlfile) is ended
    /// after this many bytes of frames and the client reconnects, so the
    /// browser can free what it has kept of the response (the protocol's
    /// `response_limit`, 128 KiB).
    pub streaming_bytes_limit: usize,
    /// tungstenite's read buffer per WebSocket; its 128 KiB default
    /// dominates memory and fan-out time (~130 KiB per connection, zero-filled on reads).
    pub websocket_read_buffer: usize,
    /// A write to the client that takes longer drops the client, so a
    /// stalled reader never holds memory or slows anyone else.
    pub send_timeout: Duration,
    /// Connections admitted by their handler (CONNECTed STOMP clients),
    /// WebSockets and SockJS sessions together. At ~10 KiB per idle
    /// WebSocket (see the workspace's bench) 16,384 cost ~160 MiB, and 10,000
    /// subscribers fit with room to spare; beyond it a client is refused
    /// instead of slowing every other client down.
    pub max_connections: usize,
    /// Connections not yet admitted (no STOMP CONNECT yet), a budget of
    /// their own so they can never take an admitted client's seat; beyond
    /// it new connections get 503. Real clients send CONNECT within a
    /// round trip, so this only needs to cover connection bursts.
    pub max_handshakes: usize,
    /// Connected clients one address may hold (behind a trusted proxy, the
    /// address it names): many people behind one NAT fit, one address
    /// cannot take everyone's seats.
    pub max_connections_per_client: usize,
    /// Connections without CONNECT one address may hold: a page needs
    /// one, SockJS's fallbacks a few.
    pub max_handshakes_per_client: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            allowed_origins: AllowedOrigins::default(),
            sockjs_heartbeat: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            max_message_bytes: 64 * 1024,
            outgoing_capacity: 1024,
            send_buffer_bytes: 64 * 1024,
            streaming_bytes_limit: 128 * 1024,
            websocket_read_buffer: 4096,
            send_timeout: Duration::from_secs(10),
            max_connections: 16_384,
            max_handshakes: 1024,
            max_connections_per_client: 1024,
            max_handshakes_per_client: 64,
        }
    }
}

/// What every route shares.
#[derive(Clone)]
struct Shared {
    config: Arc<TransportConfig>,
    handler: Handler,
    /// Seats for open connections.
    budgets: admission::Budgets,
    sessions: sockjs::Sessions,
    /// Ends every connection and stream at shutdown: an open WebSocket or
    /// streaming response would otherwise keep a graceful shutdown waiting.
    shutdown: CancellationToken,
}

impl Shared {
    /// Starts the handler on a new connection.
    fn spawn_handler(&self, connection: Connection) {
        tokio::spawn((self.handler)(connection));
    }

    /// A new connection's queue towards its client.
    fn outgoing(&self) -> (outgoing::Outgoing, outgoing::Queued) {
        outgoing::channel(self.config.outgoing_capacity, self.config.send_buffer_bytes)
    }
}

/// Routes for `path` (`/ws-orders`, say) and everything below it, to be
/// merged into the service's router: the raw WebSocket at `path` and
/// `path/websocket`, and SockJS at `path/…`. Every connection runs
/// `handler`. Cancelling `shutdown` closes every connection (pass a token
/// that is never cancelled if the caller has no shutdown).
///
/// Serve the app with `into_make_service_with_connect_info::<SocketAddr>()`
/// so that connections know their peer; behind a trusted proxy,
/// `support::http` names the client the budgets count.
///
/// # Panics
///
/// When `path` does not start with `/`, ends with `/`, or holds a `{`
/// (as axum's `route` panics on a path it cannot route).
pub fn router<S: Clone + Send + Sync + 'static>(
    path: &str,
    config: TransportConfig,
    handler: Handler,
    shutdown: CancellationToken,
) -> Router<S> {
    let shared = Shared {
        shutdown,
        budgets: admission::Budgets::new(admission::Caps {
            handshakes: (config.max_handshakes, config.max_handshakes_per_client),
            connected: (config.max_connections, config.max_connections_per_client),
        }),
        config: Arc::new(config),
        handler,
        sessions: sockjs::Sessions::default(),
    };
    assert!(
        path.starts_with('/') && !path.ends_with('/') && !path.contains(['{', '}']),
        "live::router: {path:?} must start with `/` and end without one, and have no `{{`"
    );
    Router::new()
        .route(path, get(raw_or_greeting))
        .route(&format!("{path}/"), get(sockjs::greeting))
        .route(&format!("{path}/websocket"), get(websocket::raw))
        .route(
            &format!("{path}/info"),
            get(sockjs::info).options(sockjs::info_options),
        )
        .route(&format!("{path}/{{page}}"), get(sockjs::iframe))
        .route(
            &format!("{path}/{{server}}/{{session}}/{{transport}}"),
            axum::routing::any(sockjs::transport),
        )
        .with_state(shared)
}

/// `GET {path}`: a WebSocket upgrade, or the SockJS greeting.
async fn raw_or_greeting(state: State<Shared>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        websocket::raw(state, request).await
    } else {
        sockjs::greeting(state, request.headers().clone()).await
    }
}

/// Who a request is from, for the budgets: the client `support::http`
/// found (the peer, or the one a trusted proxy names), else the peer.
fn client_of(request: &axum::http::request::Parts) -> Client {
    request
        .extensions
        .get::<Client>()
        .copied()
        .unwrap_or_else(|| {
            let peer = request.extensions.get::<ConnectInfo<SocketAddr>>();
            Client::direct(peer.map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip()))
        })
}

/// 503 for a connection that finds no seat.
fn too_many_connections() -> Response {
    let body = Json(serde_json::json!({ "message": "Too many connections" }));
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [("retry-after", "1")],
        body,
    )
        .into_response()
}
