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
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    sync::{Notify, Semaphore},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{BodyTimeout, Client, HttpLimits, SocketOptions, TrustedProxies, serve};

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

#[tokio::test]
async fn a_half_sent_head_is_cut_off() {
    let server = spawn(limits(200, 5_000, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    // Dripping more header bytes does not buy more time: a line whenever
    // the server has kept it open another 50 ms (the drip's pace), until
    // the server closes it.
    tokio::time::timeout(PATIENCE, async {
        let mut byte = [0u8; 1];
        while tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut byte))
            .await
            .is_err()
        {
            let _ = tcp.write_all(b"x-drip: 1\r\n").await;
        }
    })
    .await
    .expect("the dripping head is cut off");
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
    // Idle longer than the header timeout (until a connection opened now,
    // and silent, is closed by it): still usable.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
    // Then the idle timeout closes it.
    assert_eq!(read_to_close(&mut tcp).await, "");
}

#[tokio::test]
async fn a_slow_handler_is_not_a_slow_client() {
    // The request's handling takes longer than the timeouts: it ends only
    // once a connection opened after it started, and silent, is cut off.
    let server = spawn(limits(100, 100, 100, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, server.slow_started.notified())
        .await
        .expect("/slow was called");
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    server.slow_release.add_permits(1);
    let answer = read_answer(&mut tcp).await;
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
    eventually("a slot freed", async || {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        let served = request(&mut tcp, "/").await.starts_with("HTTP/1.1 200");
        served.then_some(tcp)
    })
    .await;
}

#[tokio::test]
async fn websockets_leave_the_http_budget() {
    let server = spawn(limits(60_000, 60_000, 60_000, 2)).await;
    let url = format!("ws://{}/ws", server.addr);
    let mut sockets = Vec::new();
    for i in 0..5 {
        // An upgraded connection releases its slot just after the upgrade.
        let what = format!("websocket {i} accepted");
        let mut ws = eventually(&what, async || {
            let connected = tokio_tungstenite::connect_async(&url).await;
            connected.ok().map(|(ws, _)| ws)
        })
        .await;
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
    // The idle connection is closed while the request is still in flight;
    // then the request finishes, and is answered.
    assert_eq!(read_to_close(&mut idle).await, "");
    server.slow_release.add_permits(1);
    let answer = read_to_close(&mut busy).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"),
        "{answer}"
    );
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
}

const FLOODER: [u8; 4] = [127, 0, 0, 1];
const SOMEONE_ELSE: [u8; 4] = [127, 0, 0, 2];

#[tokio::test]
async fn one_address_gets_its_share_and_others_are_served() {
    let server = spawn(HttpLimits {
        max_http_connections_per_client: 4,
        ..limits(60_000, 60_000, 60_000, 16)
    })
    .await;
    let _heads = half_sent_heads(4, FLOODER, server.addr).await;
    // The flooder's share is taken: it is refused...
    let mut refused = connect_from(FLOODER, server.addr).await;
    let answer = read_to_close(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // ...while the budget has room for everyone else.
    let mut tcp = connect_from(SOMEONE_ELSE, server.addr).await;
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn when_full_a_newcomer_takes_the_largest_holders_newest_unused_connection() {
    // A share as large as the cap: only shedding protects the others.
    let server = spawn(limits(60_000, 60_000, 60_000, 4)).await;
    let mut heads = half_sent_heads(4, FLOODER, server.addr).await;
    let mut tcp = connect_from(SOMEONE_ELSE, server.addr).await;
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
    // The flooder's newest half-sent head paid for it, and nothing else.
    let newest = heads.pop().unwrap();
    let mut newest = newest;
    assert_eq!(read_to_close(&mut newest).await, "");
    // The flooder holds the most: its own new connections are refused.
    let mut refused = connect_from(FLOODER, server.addr).await;
    assert!(
        read_to_close(&mut refused)
            .await
            .starts_with("HTTP/1.1 503")
    );
    // Its older heads are still open: finishing one gets an answer.
    heads[0].write_all(b"st\r\n\r\n").await.unwrap();
    assert!(read_answer(&mut heads[0]).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn requests_in_flight_are_never_shed() {
    let server = spawn(limits(60_000, 60_000, 60_000, 2)).await;
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect_from(FLOODER, server.addr).await;
        tcp.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        tokio::time::timeout(PATIENCE, server.slow_started.notified())
            .await
            .expect("/slow was called");
        busy.push(tcp);
    }
    let mut refused = connect_from(SOMEONE_ELSE, server.addr).await;
    assert!(
        read_to_close(&mut refused)
            .await
            .starts_with("HTTP/1.1 503")
    );
    server.slow_release.add_permits(busy.len());
    for tcp in &mut busy {
        assert!(read_answer(tcp).await.starts_with("HTTP/1.1 200"));
    }
}

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
        answer.ends_with("{\"message\":\"Malformed request head\"}\n"),
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
        answer.ends_with("{\"message\":\"Request header fields too large\"}\n"),
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

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_is_exempt_from_the_share() {
    let proxies: TrustedProxies = "127.0.0.1".parse().unwrap();
    let server = spawn(HttpLimits {
        max_http_connections_per_client: 1,
        trusted_proxies: proxies,
        ..limits(60_000, 60_000, 60_000, 16)
    })
    .await;
    // The proxy carries many clients: more connections than one's share.
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(connect_from(FLOODER, server.addr).await);
    }
    let ask = |forwarded: &str| {
        format!("GET /client HTTP/1.1\r\nhost: test\r\nx-forwarded-for: {forwarded}\r\n\r\n")
    };
    connections[2]
        .write_all(ask("198.51.100.7, 203.0.113.9").as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut connections[2]).await;
    assert!(answer.ends_with("203.0.113.9 proxy=false"), "{answer}");
    // Anyone else's forwarding headers are not believed, and the share holds.
    let mut direct = connect_from(SOMEONE_ELSE, server.addr).await;
    direct
        .write_all(ask("203.0.113.9").as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut direct).await;
    assert!(answer.ends_with("127.0.0.2 proxy=false"), "{answer}");
    let mut second = connect_from(SOMEONE_ELSE, server.addr).await;
    assert!(read_to_close(&mut second).await.starts_with("HTTP/1.1 503"));
}
