//! The access log over real sockets, against a small router served as the
//! services serve theirs, with the services' JSON log layer capturing the
//! lines. The subscriber is this thread's only (`set_default`): a
//! current-thread runtime runs the server's tasks on it too.

use std::{
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt as _;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Notify,
};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::{Registry, fmt::writer::BoxMakeWriter, layer::SubscriberExt};

use super::{AccessLog, MAX_LOGGED_PATH, TARGET};
use crate::{
    http::{HttpLimits, SocketOptions, serve},
    telemetry::{LogFormat, http::TraceLayer},
};

/// Upper bound for anything that must happen; a test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Log lines written through it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The access log's lines so far.
    fn access_lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["target"] == TARGET)
            .collect()
    }

    /// Waits until `n` access lines were written, and returns them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let waiting = async {
            loop {
                let lines = self.access_lines();
                if lines.len() >= n {
                    return lines;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(PATIENCE, waiting)
            .await
            .unwrap_or_else(|_| panic!("{n} access lines: got {:?}", self.access_lines()))
    }
}

/// Captures this thread's log lines as the services write them (JSON).
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let logs = Captured::default();
    let writer = {
        let logs = logs.clone();
        BoxMakeWriter::new(move || logs.clone())
    };
    let subscriber =
        Registry::default().with(crate::telemetry::logs::<Registry>(LogFormat::Json, writer));
    (logs, tracing::subscriber::set_default(subscriber))
}

/// A body that sends one chunk and then never ends.
fn endless() -> Body {
    let chunks = futures::stream::once(async { Ok::<_, io::Error>(Bytes::from_static(b"first")) })
        .chain(futures::stream::pending());
    Body::from_stream(chunks)
}

/// Serves a router with a traced route, an untraced one and an endless
/// one, with `access` as the services apply it.
async fn spawn(access: AccessLog) -> (SocketAddr, CancellationToken) {
    spawn_with(access, Arc::new(Notify::new())).await
}

/// [`spawn`], with `/stuck`: a handler that notifies `stuck` and never
/// answers.
async fn spawn_with(access: AccessLog, stuck: Arc<Notify>) -> (SocketAddr, CancellationToken) {
    let router = Router::new()
        .route(
            "/stuck",
            get(move || async move {
                stuck.notify_one();
                std::future::pending::<()>().await;
            }),
        )
        .route("/items/{id}", get(|| async { "hello" }))
        .route("/health", get(|| async { "UP" }))
        .route("/endless", get(|| async { endless() }))
        .route_layer(TraceLayer::new(&["/health"]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let limits = crate::config::defaults::<Limits>().http;
    tokio::spawn(serve(
        listener,
        access.http(router),
        limits,
        SocketOptions::default(),
        crate::service::Stopping {
            draining: shutdown.clone(),
            shutdown: shutdown.clone(),
        },
    ));
    (addr, shutdown)
}

#[derive(Parser)]
struct Limits {
    #[command(flatten)]
    http: HttpLimits,
}

/// Sends `head` (request line and headers, without the blank line) on a
/// connection of its own and returns the response, read to its close.
async fn send(addr: SocketAddr, head: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nhost: test\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn one_line_per_request_with_its_fields_in_its_trace() {
    let (logs, _guard) = capture();
    let (addr, shutdown) = spawn(AccessLog { access_log: true }).await;

    let response = send(
        addr,
        &format!("GET /items/7?secret=1 HTTP/1.1\r\ntraceparent: 00-{TRACE}-00f067aa0ba902b7-01"),
    )
    .await;
    assert!(response.ends_with("hello"), "{response}");
    let lines = logs.wait_for(1).await;
    let line = &lines[0];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["route"], "/items/{id}", "{line}");
    assert_eq!(line["path"], "/items/7", "the query is not logged: {line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["bytes"], 5, "{line}");
    assert_eq!(line["client"], "127.0.0.1", "{line}");
    assert_eq!(line["trace_id"], TRACE, "{line}");
    assert!(
        line["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );

    // An untraced route is logged too, without a trace.
    send(addr, "GET /health HTTP/1.1").await;
    let lines = logs.wait_for(2).await;
    assert_eq!(lines[1]["route"], "/health", "{}", lines[1]);
    assert!(lines[1].get("trace_id").is_none(), "{}", lines[1]);
    // Exactly one line each.
    send(addr, "GET /health HTTP/1.1").await;
    assert_eq!(logs.wait_for(3).await.len(), 3);
    shutdown.cancel();
}

#[tokio::test]
async fn an_unmatched_path_is_logged_bounded_without_a_route() {
    let (logs, _guard) = capture();
    let (addr, shutdown) = spawn(AccessLog { access_log: true }).await;

    let long = "a".repeat(MAX_LOGGED_PATH * 4);
    let response = send(addr, &format!("POST /{long} HTTP/1.1\r\ncontent-length: 0")).await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let lines = logs.wait_for(1).await;
    let line = &lines[0];
    assert_eq!(line["method"], "POST", "{line}");
    assert!(line.get("route").is_none(), "{line}");
    assert_eq!(line["status"], 404, "{line}");
    let path = line["path"].as_str().unwrap();
    assert_eq!(path, format!("/{}…", &long[..MAX_LOGGED_PATH - 1]));
    shutdown.cancel();
}

#[tokio::test]
async fn a_response_cut_short_is_logged_once_with_what_was_sent() {
    let (logs, _guard) = capture();
    let (addr, shutdown) = spawn(AccessLog { access_log: true }).await;

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /endless HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    // The head and the first chunk, then the client goes away.
    let mut seen = Vec::new();
    let mut buf = [0; 1024];
    while !String::from_utf8_lossy(&seen).contains("first") {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(logs.access_lines().is_empty(), "logged before its end");
    drop(tcp);
    let lines = logs.wait_for(1).await;
    assert_eq!(lines[0]["status"], 200, "{}", lines[0]);
    assert_eq!(lines[0]["bytes"], 5, "{}", lines[0]);
    // Another request's line is the next one: none was written twice.
    send(addr, "GET /health HTTP/1.1").await;
    let lines = logs.wait_for(2).await;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["route"], "/health");
    shutdown.cancel();
}

#[tokio::test]
async fn a_request_whose_client_leaves_before_the_answer_is_logged_as_499() {
    let (logs, _guard) = capture();
    let stuck = Arc::new(Notify::new());
    let (addr, shutdown) = spawn_with(AccessLog { access_log: true }, stuck.clone()).await;

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /stuck HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, stuck.notified())
        .await
        .unwrap();
    drop(tcp);
    let lines = logs.wait_for(1).await;
    assert_eq!(lines[0]["route"], "/stuck", "{}", lines[0]);
    assert_eq!(lines[0]["status"], 499, "{}", lines[0]);
    assert_eq!(lines[0]["bytes"], 0, "{}", lines[0]);
    shutdown.cancel();
}

#[tokio::test]
async fn off_no_line_is_written() {
    let (logs, _guard) = capture();
    let (addr, shutdown) = spawn(AccessLog::default()).await;

    let response = send(addr, "GET /items/7 HTTP/1.1").await;
    assert!(response.ends_with("hello"), "{response}");
    send(addr, "GET /nowhere HTTP/1.1").await;
    assert!(logs.access_lines().is_empty(), "{:?}", logs.access_lines());
    shutdown.cancel();
}

#[test]
fn the_setting_is_off_by_default_and_a_flag() {
    #[derive(Parser)]
    struct Config {
        #[command(flatten)]
        access: AccessLog,
    }
    assert!(!crate::config::defaults::<Config>().access.access_log);
    let on = Config::try_parse_from(["service", "--access-log"]).unwrap();
    assert!(on.access.access_log);
}
