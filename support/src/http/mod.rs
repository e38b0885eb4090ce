//! Serving HTTP with limits a hostile or careless client cannot get around.
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
//! - a **connection cap**: beyond it a new connection gets an immediate
//!   `503` and is closed, so the connections being served keep their
//!   descriptors and the process never reaches its open-file limit.
//!
//! A connection upgraded to a WebSocket leaves this budget when hyper hands
//! the socket over: live-event connections have their own, larger budget
//! (order-service's transport), so a flood of plain requests cannot keep
//! browsers from their events, nor the reverse.
//!
//! hyper's own `header_read_timeout` cannot do the first and third at once:
//! it starts when a connection goes idle, so it would also be the idle
//! timeout. The phases are tracked here instead (`watch`).

mod body;
mod watch;

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

pub use body::BodyTimeout;
use watch::{Activity, Watched};

/// Largest request head (request line and headers) hyper buffers per
/// connection: nginx's default (`large_client_header_buffers 4 8k`), ample
/// for real clients, and it bounds what a slow client makes us hold.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Connections being refused at once (writing their 503); beyond this a
/// refused connection is just closed, so a flood costs nothing more.
const MAX_REFUSING: usize = 256;

/// How long a refused connection gets to take its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a refused connection reads: short, complete, and closing.
const REFUSAL_BODY: &str = "{\"message\":\"Too many connections\"}\n";

fn refusal() -> &'static [u8] {
    static REFUSAL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
            REFUSAL_BODY.len()
        )
    });
    REFUSAL.as_bytes()
}

/// The HTTP limits of a service, from the environment or CLI flags
/// (flattened into each service's configuration).
#[derive(Clone, Debug, clap::Args)]
pub struct HttpLimits {
    /// How long a client may take to send a request's head (line and
    /// headers), in milliseconds, from its first byte or from connecting.
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
    /// beyond it a new connection gets an immediate 503.
    #[arg(long, env = "MAX_HTTP_CONNECTIONS", default_value_t = 4096)]
    pub max_http_connections: usize,
}

impl HttpLimits {
    fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.http_header_timeout_ms)
    }

    fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.http_body_timeout_ms)
    }

    fn idle_timeout(&self) -> Duration {
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

/// Serves `router` on `listener` under `limits` until `shutdown` is
/// cancelled, then lets in-flight requests finish (keep-alive connections
/// close after their current request) and returns once every connection
/// has ended. Requests carry `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    socket: SocketOptions,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_http_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let connections = TaskTracker::new();
    let mut complaints = RateLimitedLog::default();
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e, &mut complaints).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if complaints.ready() {
                tracing::warn!(
                    limit = limits.max_http_connections,
                    "HTTP connection limit reached; refusing new connections"
                );
            }
            refuse(tcp, &refusing);
            continue;
        };
        configure(&tcp, socket);
        connections.spawn(connection(
            tcp,
            peer,
            router.clone(),
            limits.clone(),
            permit,
            shutdown.clone(),
        ));
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

fn configure(tcp: &TcpStream, options: SocketOptions) {
    let socket = socket2::SockRef::from(tcp);
    let mut result = socket.set_tcp_nodelay(true);
    if let Some(size) = options.send_buffer {
        result = result.and_then(|()| socket.set_send_buffer_size(size));
    }
    if let Err(e) = result {
        tracing::debug!(error = %e, "cannot set socket options");
    }
}

/// Serves one connection until it ends, its client overstays a timeout,
/// or it is upgraded (the permit is then dropped: a WebSocket is counted
/// by the live-event budget, not here).
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Arc<HttpLimits>,
    _permit: OwnedSemaphorePermit,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(Watched::new(tcp, activity.clone()));
    let body_timeout = limits.body_timeout();
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = activity.request_started();
            let deadline = tokio::time::Instant::now() + body_timeout;
            let mut request = request.map(|incoming| body::with_deadline(incoming, deadline));
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = router.clone().oneshot(request);
            async move {
                let response = response
                    .await
                    .unwrap_or_else(|never: Infallible| match never {});
                Ok::<_, Infallible>(response.map(|b| Body::new(body::Tracked::new(b, in_flight))))
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(MAX_HEAD_BYTES)
        .header_read_timeout(None);
    // As axum::serve: WebSockets over HTTP/2 need the CONNECT protocol.
    builder.http2().enable_connect_protocol();
    let conn = builder.serve_connection_with_upgrades(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    let mut timer = std::pin::pin!(tokio::time::sleep(limits.header_timeout()));
    loop {
        let deadline = activity.deadline(limits.header_timeout(), limits.idle_timeout());
        if let Some(at) = deadline {
            let at = tokio::time::Instant::from_std(at);
            if timer.deadline() != at {
                timer.as_mut().reset(at);
            }
        }
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            () = activity.changed() => {}
            () = &mut timer, if deadline.is_some() => {
                if activity.expired(Instant::now(), limits.header_timeout(), limits.idle_timeout()) {
                    tracing::debug!(%peer, "closing a connection that overstayed its timeout");
                    return;
                }
            }
        }
    }
}

/// Answers 503 and closes, without reading the request. Bounded: when
/// [`MAX_REFUSING`] refusals are under way the socket is just closed.
fn refuse(mut tcp: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let answer = async {
            tcp.write_all(refusal()).await?;
            tcp.shutdown().await?;
            // Closing with the client's request unread would reset the
            // connection, and a reset can discard our answer before the
            // client reads it; take what it sent first.
            let mut sink = [0u8; 1024];
            while tcp.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        };
        let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, answer).await;
    });
}

/// Accept errors: a connection that died before we took it is ignored;
/// anything else (out of descriptors) is logged at most once a second and
/// accepting pauses briefly so the loop does not spin.
async fn accept_error(e: io::Error, complaints: &mut RateLimitedLog) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    if complaints.ready() {
        tracing::warn!(error = %e, "cannot accept connections");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Allows a log line at most once a second, so a flood cannot flood the log.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
}

impl RateLimitedLog {
    fn ready(&mut self) -> bool {
        let now = Instant::now();
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
