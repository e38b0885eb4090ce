//! The limits over real sockets, against a small router: what a slow,
//! silent or greedy client gets, and that everyone else is still served.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    body::{Body, to_bytes},
    extract::ws::{Message, WebSocketUpgrade},
    http::StatusCode,
    response::IntoResponse,
    routing::{any, get, post},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    sync::{Notify, Semaphore},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{BodyTimeout, Client, HttpLimits, SocketOptions, TrustedProxies, serve};

mod budget;
mod slow_clients;

/// Upper bound for anything that must happen; a test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    /// Notified when `/slow` starts handling a request.
    slow_started: Arc<Notify>,
    /// A permit for each `/slow` request to finish.
    slow_release: Arc<Semaphore>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

async fn echo(body: Body) -> impl IntoResponse {
    match to_bytes(body, 1 << 20).await {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(e) if BodyTimeout::caused(&e) => StatusCode::REQUEST_TIMEOUT.into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Takes as long as the test wants: until it adds a permit.
async fn slow(started: Arc<Notify>, release: Arc<Semaphore>) -> &'static str {
    started.notify_one();
    release.acquire().await.expect("never closed").forget();
    "done"
}

async fn ws(upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(_) = message
                && socket.send(message).await.is_err()
            {
                return;
            }
        }
    })
}

async fn spawn(limits: HttpLimits) -> Server {
    let slow_started = Arc::new(Notify::new());
    let slow_release = Arc::new(Semaphore::new(0));
    let (started, release) = (slow_started.clone(), slow_release.clone());
    let router = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/echo", post(echo))
        .route("/slow", get(move || slow(started.clone(), release.clone())))
        .route("/ws", any(ws))
        .route(
            "/client",
            get(|Extension(client): Extension<Client>| async move {
                format!("{} proxy={}", client.addr, client.proxy)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        listener,
        router,
        limits,
        SocketOptions::default(),
        shutdown.clone(),
    ));
    Server {
        addr,
        slow_started,
        slow_release,
        shutdown,
        task,
    }
}

fn limits(header_ms: u64, body_ms: u64, idle_ms: u64, max: usize) -> HttpLimits {
    HttpLimits {
        http_header_timeout_ms: header_ms,
        http_body_timeout_ms: body_ms,
        http_idle_timeout_ms: idle_ms,
        max_http_connections: max,
        max_http_connections_per_client: max,
        trusted_proxies: TrustedProxies::default(),
    }
}

/// A connection from the loopback address `from` (127.0.0.x are all this
/// host, but different clients to the server).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind((std::net::Ipv4Addr::from(from), 0).into())
        .unwrap();
    socket.connect(to).await.unwrap()
}

/// Opens `n` connections from `from` that send half a request head.
async fn half_sent_heads(n: usize, from: [u8; 4], to: SocketAddr) -> Vec<TcpStream> {
    let mut heads = Vec::new();
    for _ in 0..n {
        let mut tcp = connect_from(from, to).await;
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: te").await.unwrap();
        heads.push(tcp);
    }
    heads
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut out)).await;
    match read {
        Ok(Ok(_)) => {}
        // A reset also ends the connection.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("read error: {e}"),
        Err(_) => panic!("the server kept the connection open"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends one keep-alive request and reads its answer (small bodies).
async fn request(tcp: &mut TcpStream, path: &str) -> String {
    let head = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    read_answer(tcp).await
}

/// Tries `attempt` until it gives `Some`, every 20 ms; fails the test if
/// that takes longer than [`PATIENCE`].
async fn eventually<T>(what: &str, mut attempt: impl AsyncFnMut() -> Option<T>) -> T {
    let polling = async {
        loop {
            if let Some(done) = attempt().await {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, polling)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {PATIENCE:?}"))
}

/// Reads one small answer (the server writes it in one piece).
async fn read_answer(tcp: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

const FLOODER: [u8; 4] = [127, 0, 0, 1];
const SOMEONE_ELSE: [u8; 4] = [127, 0, 0, 2];

#[tokio::test]
async fn heads_hyper_cannot_parse_get_the_json_error() {
    let server = spawn(limits(60_000, 60_000, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    // A DEL byte in a header value.
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: test\r\nx-bad: a\x7fb\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp).await;
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("content-type: application/json"),
        "{answer}"
    );
    assert!(
        answer.ends_with(",\"message\":\"Malformed request head\"}\n"),
        "{answer}"
    );
    // Spring's error fields; no path, as the head was not understood.
    assert!(
        answer.contains(r#""status":400,"error":"Bad Request","path":"","#),
        "{answer}"
    );
    // A head over the limit.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let big = format!(
        "GET / HTTP/1.1\r\nhost: test\r\nx-big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let _ = tcp.write_all(big.as_bytes()).await;
    let answer = read_to_close(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(
        answer.ends_with(",\"message\":\"Request header fields too large\"}\n"),
        "{answer}"
    );
    // After answered requests, a bad one is still recognised; the answers
    // before it are untouched.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut tcp, "/").await.ends_with("ok"));
    assert!(request(&mut tcp, "/").await.ends_with("ok"));
    tcp.write_all(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp).await;
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("\"message\""),
        "{answer}"
    );
}
