//! The accept loop: every connection takes a seat in the port's budget (or
//! another client's unused one) before anything else, or is refused.

use std::{io, net::SocketAddr, sync::Arc, time::Duration, time::Instant};

use axum::Router;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{Client, Port, Protocol, RateLimitedLog, SocketOptions, connection, watch::Activity};
use crate::budget::Refused;

/// Connections being refused at once (writing their 503); beyond this a
/// refused connection is just closed, so a flood costs nothing more.
const MAX_REFUSING: usize = 256;

/// How long a refused connection gets to take its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a refused connection reads: short, complete, and closing. Its
/// `path` is empty: the request is not read before answering.
fn refusal() -> Vec<u8> {
    let status = http::StatusCode::SERVICE_UNAVAILABLE;
    let body = crate::error_body::ErrorBody::new(status, "", "Too many connections").to_line();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Accepts on `listener` until `shutdown`, then waits for every connection
/// to end (they drain: see `connection`).
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    port: Port,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let port = Arc::new(port);
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
        let activity = Arc::new(Activity::new(Instant::now()));
        let client = Client::of_connection(peer.ip(), &port.proxies);
        let seat = match port.budget.enter(client.claim(), activity.clone()) {
            Ok(seat) => seat,
            Err(refused) => {
                if complaints.ready() {
                    complain(&port, peer, refused);
                }
                match port.protocol {
                    Protocol::Http => refuse(tcp, &refusing),
                    // A gRPC client cannot read an HTTP/1 answer; closing
                    // is the clearest thing it can be told.
                    Protocol::Grpc(_) => drop(tcp),
                }
                continue;
            }
        };
        configure(&tcp, port.socket);
        connections.spawn(connection::serve(
            tcp,
            peer,
            router.clone(),
            port.clone(),
            (activity, seat),
            shutdown.clone(),
        ));
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

fn complain(port: &Port, peer: SocketAddr, refused: Refused) {
    let kind = match port.protocol {
        Protocol::Http => "HTTP",
        Protocol::Grpc(_) => "gRPC",
    };
    tracing::warn!(
        client = %crate::budget::ClientKey::of(peer.ip()),
        limit = %refused,
        "{kind} connection limit reached; refusing new connections"
    );
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

/// Answers 503 and closes, without reading the request. Bounded: when
/// [`MAX_REFUSING`] refusals are under way the socket is just closed.
fn refuse(mut tcp: TcpStream, refusing: &Arc<Semaphore>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let answer = async {
            tcp.write_all(&refusal()).await?;
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
