//! One connection, from its seat to its end: hyper serves it while this
//! task keeps its one timer on the phase it is in (`watch`), drains it at
//! shutdown, and drops it when a timeout passes or its seat is shed.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderValue, StatusCode, Version, header},
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::{
    Client, Port, Protocol, body,
    watch::{Activity, Watched},
};
use crate::{
    budget::{Occupant, Seat},
    service::Stopping,
};

/// Largest request head (request line and headers) hyper buffers per
/// HTTP/1 connection: nginx's default (`large_client_header_buffers 4 8k`),
/// ample for real clients, and it bounds what a slow client makes us hold.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// How long an unused connection may take to close once the service is
/// draining: HTTP/2's graceful close waits for the peer to answer a PING,
/// which a client that does not cooperate never does. Also how long a
/// connection accepted just before the listener closed has to send its
/// first request: a proxy connects and writes at once, so a second is
/// ample, and closing it earlier would reset a request already on its way.
const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// Serves one connection until it ends, its client overstays a timeout,
/// its seat is shed, or it is upgraded (the seat is then given back: a
/// WebSocket is counted by the live-event budgets, not here).
pub(super) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    port: Arc<Port>,
    (activity, _seat): (Arc<Activity>, Seat),
    stopping: Stopping,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let io = match port.protocol {
        Protocol::Http => {
            builder
                .http1()
                .max_buf_size(MAX_HEAD_BYTES)
                .header_read_timeout(None);
            // As axum::serve: WebSockets over HTTP/2 need the CONNECT protocol.
            builder.http2().enable_connect_protocol();
            Watched::requests(tcp, activity.clone())
        }
        Protocol::Grpc(h2) => {
            builder = builder.http2_only();
            builder
                .http2()
                // hyper's PINGs need a timer.
                .timer(TokioTimer::new())
                .max_concurrent_streams(h2.max_concurrent_streams)
                .keep_alive_interval(h2.keepalive_interval)
                .keep_alive_timeout(h2.keepalive_timeout);
            Watched::streams(tcp, activity.clone())
        }
    };
    let service = {
        let activity = activity.clone();
        let port = port.clone();
        let draining = stopping.draining.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = activity.request_started();
            let closing =
                matches!(port.protocol, Protocol::Http) && request.version() <= Version::HTTP_11;
            let draining = draining.clone();
            let deadline = tokio::time::Instant::now() + port.body_timeout;
            let mut request = request.map(|incoming| body::with_deadline(incoming, deadline));
            let client = if port.proxies.is_empty() {
                Client::direct(peer.ip())
            } else {
                Client::of(peer.ip(), request.headers(), &port.proxies)
            };
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(client);
            let response = router.clone().oneshot(request);
            async move {
                let mut response = response
                    .await
                    .unwrap_or_else(|never: Infallible| match never {});
                if closing && draining.is_cancelled() {
                    close_after(&mut response);
                }
                Ok::<_, Infallible>(response.map(|b| Body::new(body::Tracked::new(b, in_flight))))
            }
        })
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    // Set once draining: when an unused connection is dropped.
    let mut drained_by: Option<Instant> = None;
    let mut timer = std::pin::pin!(tokio::time::sleep(port.header_timeout));
    loop {
        let mut deadline = activity.deadline(port.header_timeout, port.idle_timeout);
        if let (Some(by), Some(phase)) = (drained_by, deadline) {
            deadline = Some(phase.min(by));
        }
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
            () = stopping.shutdown.cancelled(), if drained_by.is_none() => {
                drained_by = Some(Instant::now() + DRAIN_IDLE_GRACE);
                // A connection that has not carried a request yet may have
                // one on its way (hyper would drop it unread): it gets the
                // grace to send it, answered with `Connection: close`.
                if activity.served_any() {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = activity.changed() => {
                if activity.is_shed() {
                    // Shed while unused; a request that started since
                    // finishes first.
                    if activity.sheddable() {
                        tracing::debug!(%peer, "closing an unused connection: its seat went to another client");
                        return;
                    }
                    if !draining {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            () = &mut timer, if deadline.is_some() => {
                let now = Instant::now();
                if drained_by.is_some_and(|by| by <= now) {
                    if activity.sheddable() {
                        tracing::debug!(%peer, "closing an unused connection at shutdown");
                        return;
                    }
                    if !draining {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
                if activity.expired(now, port.header_timeout, port.idle_timeout) {
                    tracing::debug!(%peer, "closing a connection that overstayed its timeout");
                    return;
                }
            }
        }
    }
}

/// Marks an HTTP/1 answer as the connection's last, so that a client or
/// proxy stops reusing a connection to a service that is draining, before
/// its listener closes. An upgrade keeps its own `Connection` header.
fn close_after<B>(response: &mut axum::http::Response<B>) {
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}
