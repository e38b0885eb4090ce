//! Serving HTTP (and gRPC, which is HTTP/2) with limits a hostile or
//! careless client cannot get around, and that no one client can use up.
//!
//! `axum::serve` sets no timer for hyper and accepts every connection, so a
//! client that sends half a request, or opens sockets and sends nothing,
//! holds a descriptor and a task for as long as it likes: enough of them
//! and the process runs out of files, and everyone else's requests time out
//! (seen: 1,100 idle sockets under a 1,100-file limit). [`serve`] runs the
//! same axum router on hyper-util's connection builder with:
//! - a **header timeout**: a request's head must arrive within it, counted
//!   from the connection's first byte (or, on a fresh connection, from the
//!   accept);
//! - a **body timeout**: a request body must arrive within it, counted from
//!   the end of its head (the handler reading it sees [`BodyTimeout`]);
//! - an **idle timeout** for keep-alive connections between requests;
//! - a **connection cap, shared fairly**: each client address may hold
//!   `MAX_HTTP_CONNECTIONS_PER_CLIENT` connections; when all
//!   `MAX_HTTP_CONNECTIONS` are taken, a newcomer takes the newest idle or
//!   half-sent connection of the address holding the most (see
//!   [`crate::budget`]), and only if there is none gets an immediate `503`.
//!   So the connections being served keep their descriptors, the process
//!   never reaches its open-file limit, and one address flooding the port
//!   cannot keep anyone else out.
//!
//! The same machinery serves the gRPC ports ([`crate::grpc`]), HTTP/2 only:
//! there the header timeout bounds the HTTP/2 handshake (preface and
//! SETTINGS), the idle timeout counts from the last stream's end, HTTP/2
//! pings find dead peers, and streams per connection are capped.
//!
//! A connection upgraded to a WebSocket leaves this budget when hyper hands
//! the socket over: live-event connections have their own, larger budgets
//! (order-service's transport), so a flood of plain requests cannot keep
//! browsers from their events, nor the reverse.
//!
//! Every request carries `ConnectInfo<SocketAddr>` (the peer) and a
//! [`Client`] (who it is for: the peer, or the client a trusted proxy names).
//!
//! hyper's own `header_read_timeout` cannot do the first and third at once:
//! it starts when a connection goes idle, so it would also be the idle
//! timeout. The phases are tracked here instead (`watch`).

mod body;
pub mod client;
mod connection;
pub(crate) mod server;
mod watch;

use std::{io, time::Duration};

use axum::Router;
use tokio::net::TcpListener;

use crate::budget::Budget;

pub use body::BodyTimeout;
pub use client::{Client, TrustedProxies};

/// The HTTP limits of a service, from the environment or CLI flags
/// (flattened into each service's configuration).
#[derive(Clone, Debug, clap::Args)]
pub struct HttpLimits {
    /// How long a client may take to send a request's head (line and
    /// headers), in milliseconds, from its first byte or from connecting;
    /// on the gRPC port, the HTTP/2 handshake.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub http_header_timeout_ms: u64,
    /// How long a client may take to send a request's body, in
    /// milliseconds, from the end of its head.
    #[arg(long, env = "HTTP_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub http_body_timeout_ms: u64,
    /// How long a keep-alive connection may sit idle between requests, in
    /// milliseconds. Longer than nginx's upstream `keepalive_timeout`
    /// (60 s), so a proxy in front closes an idle connection before we do
    /// and never sends a request into one we are closing.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_MS", default_value_t = 75_000)]
    pub http_idle_timeout_ms: u64,
    /// Open HTTP connections at most (WebSockets excluded once upgraded);
    /// beyond it a new connection takes an idle one's place or gets an
    /// immediate 503.
    #[arg(long, env = "MAX_HTTP_CONNECTIONS", default_value_t = 4096)]
    pub max_http_connections: usize,
    /// Open HTTP connections one client address may hold. Far above what
    /// a browser opens (six per host), so that many people behind one NAT
    /// still fit, and an eighth of the cap, so one address alone can never
    /// take it all. Trusted proxies are exempt (they carry everyone).
    #[arg(long, env = "MAX_HTTP_CONNECTIONS_PER_CLIENT", default_value_t = 512)]
    pub max_http_connections_per_client: usize,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` name the client
    /// (comma-separated addresses or networks); none by default.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
}

impl HttpLimits {
    pub(crate) fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.http_header_timeout_ms)
    }

    pub(crate) fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.http_body_timeout_ms)
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.http_idle_timeout_ms)
    }
}

/// Socket options for accepted connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct SocketOptions {
    /// Kernel send buffer size, when the default (which Linux grows to
    /// megabytes) would let a client that stops reading pin too much.
    pub send_buffer: Option<usize>,
}

/// Serves `router` on `listener` under `limits`. Once `stopping.draining`
/// is cancelled, HTTP/1 answers carry `Connection: close`, so clients and
/// proxies stop reusing connections while the service still serves; once
/// `stopping.shutdown` is, it takes what is already queued on the
/// listener, closes it, lets in-flight requests finish (keep-alive
/// connections close after their current request) and returns once every
/// connection has ended. Requests carry `ConnectInfo<SocketAddr>` and [`Client`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    socket: SocketOptions,
    stopping: crate::service::Stopping,
) -> io::Result<()> {
    let port = Port {
        budget: Budget::new(
            limits.max_http_connections,
            limits.max_http_connections_per_client,
        ),
        protocol: Protocol::Http,
        header_timeout: limits.header_timeout(),
        body_timeout: limits.body_timeout(),
        idle_timeout: limits.idle_timeout(),
        proxies: limits.trusted_proxies,
        socket,
    };
    server::run(listener, router, port, stopping).await
}

/// How one listening port is served.
#[derive(Debug)]
pub(crate) struct Port {
    pub(crate) protocol: Protocol,
    /// Its connections' seats.
    pub(crate) budget: Budget,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) proxies: TrustedProxies,
    pub(crate) socket: SocketOptions,
}

/// What a port speaks.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Protocol {
    /// REST, pages and WebSocket upgrades: HTTP/1.1, or HTTP/2 with prior
    /// knowledge. A refused connection is told so with a 503.
    Http,
    /// gRPC: HTTP/2 only. A refused connection is closed.
    Grpc(Http2),
}

/// HTTP/2 settings of a gRPC port.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Http2 {
    /// Streams one connection may have open at once.
    pub(crate) max_concurrent_streams: u32,
    /// How often a PING checks that the peer is still there.
    pub(crate) keepalive_interval: Duration,
    /// How long a PING's answer may take before the connection is closed.
    pub(crate) keepalive_timeout: Duration,
}

/// Allows a log line at most once a second, so a flood cannot flood the log.
#[derive(Default)]
pub(crate) struct RateLimitedLog {
    last: Option<std::time::Instant>,
}

impl RateLimitedLog {
    pub(crate) fn ready(&mut self) -> bool {
        let now = std::time::Instant::now();
        let ready = self
            .last
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1));
        if ready {
            self.last = Some(now);
        }
        ready
    }
}

#[cfg(test)]
mod tests;
