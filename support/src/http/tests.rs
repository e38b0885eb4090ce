//! The limits over real sockets, against a small router: what a slow,
//! silent or greedy client gets, and that everyone else is still served.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::ws::{Message, WebSocketUpgrade},
    http::StatusCode,
    response::IntoResponse,
    routing::{any, get, post},
};
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Notify,
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{BodyTimeout, HttpLimits, SocketOptions, serve};

/// Upper bound for anything that must happen; a test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    /// Notified when `/slow` starts handling a request.
    slow_started: Arc<Notify>,
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

async fn slow(started: Arc<Notify>) -> &'static str {
    started.notify_one();
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    let started = slow_started.clone();
    let router = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/echo", post(echo))
        .route("/slow", get(move || slow(started.clone())))
        .route("/ws", any(ws));
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
    }
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

/// Reads one small answer (the server writes it in one piece).
async fn read_answer(tcp: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_half_sent_head_is_cut_off() {
    let server = spawn(limits(200, 5_000, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    // Dripping more header bytes does not buy more time.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = tcp.write_all(b"x-drip: 1\r\n").await;
    }
    read_to_close(&mut tcp).await;
}

#[tokio::test]
async fn a_silent_connection_is_closed() {
    let server = spawn(limits(200, 5_000, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_to_close(&mut tcp).await, "");
}

#[tokio::test]
async fn keep_alive_outlives_the_header_timeout_then_ends_when_idle() {
    let server = spawn(limits(200, 5_000, 1_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
    // Idle longer than the header timeout: still usable.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
    // Then the idle timeout closes it.
    assert_eq!(read_to_close(&mut tcp).await, "");
}

#[tokio::test]
async fn a_slow_handler_is_not_a_slow_client() {
    // The request's handling takes longer than both timeouts.
    let server = spawn(limits(100, 100, 100, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let answer = request(&mut tcp, "/slow").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_a_408() {
    let server = spawn(limits(5_000, 200, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A body that arrives in time is fine.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 4\r\n\r\nabcd")
        .await
        .unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn beyond_the_cap_new_connections_get_503_and_served_ones_go_on() {
    let server = spawn(limits(60_000, 60_000, 60_000, 4)).await;
    // One served connection, and three that sit there.
    let mut served = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut served, "/").await.starts_with("HTTP/1.1 200"));
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // The cap is reached: the next is refused at once, with a JSON 503.
    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    let _ = refused
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .await;
    let answer = read_to_close(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.ends_with("{\"message\":\"Too many connections\"}\n"),
        "{answer}"
    );
    // The connection already served is not starved.
    assert!(request(&mut served, "/").await.starts_with("HTTP/1.1 200"));
    // Room again once one goes.
    drop(idle.pop());
    let mut next = None;
    for _ in 0..100 {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        if request(&mut tcp, "/").await.starts_with("HTTP/1.1 200") {
            next = Some(tcp);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(next.is_some(), "a slot was freed");
}

#[tokio::test]
async fn websockets_leave_the_http_budget() {
    let server = spawn(limits(60_000, 60_000, 60_000, 2)).await;
    let url = format!("ws://{}/ws", server.addr);
    let mut sockets = Vec::new();
    for i in 0..5 {
        let mut ws = None;
        // An upgraded connection releases its slot just after the upgrade.
        for _ in 0..100 {
            if let Ok((s, _)) = tokio_tungstenite::connect_async(&url).await {
                ws = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut ws = ws.unwrap_or_else(|| panic!("websocket {i} refused"));
        ws.send(tokio_tungstenite::tungstenite::Message::text("hi"))
            .await
            .unwrap();
        let echoed = tokio::time::timeout(PATIENCE, ws.next()).await.unwrap();
        assert!(matches!(echoed, Some(Ok(m)) if m.is_text()));
        sockets.push(ws);
    }
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    let server = spawn(limits(60_000, 60_000, 60_000, 16)).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut idle, "/").await.starts_with("HTTP/1.1 200"));
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    // Shut down only once the request is being handled.
    tokio::time::timeout(PATIENCE, server.slow_started.notified())
        .await
        .expect("/slow was called");
    server.shutdown.cancel();
    let answer = read_to_close(&mut busy).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"),
        "{answer}"
    );
    assert_eq!(read_to_close(&mut idle).await, "");
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
}
