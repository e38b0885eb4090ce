//! What a hostile or careless client can reach, over real sockets: slow and
//! silent connections, connection floods, live-event connections that
//! never say CONNECT, odd methods and paths, odd bytes in names. Each gets
//! a clear answer (or a closed socket), writes nothing, and leaves the
//! service serving everyone else.

// Test helpers unwrap: a panic is a failed test with its backtrace.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestSystem;
use futures::SinkExt;
use serde_json::Value;
use support::testing::{
    Backend,
    ws::{self, STOMP_CONNECT as CONNECT, Ws},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::Message;

/// Upper bound for anything that must happen; a test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(15);

/// Reads until the server closes; returns what it sent.
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut out = Vec::new();
    match tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut out)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("read error: {e}"),
        Err(_) => panic!("the server kept the connection open"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `request` and reads one whole answer (its head and
/// `content-length` bytes of body).
async fn exchange(tcp: &mut TcpStream, request: &str) -> String {
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text.into_owned();
            }
        }
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed mid-answer: {text}");
        answer.extend_from_slice(&buf[..n]);
    }
}

/// Status and JSON body of a raw HTTP/1.1 answer.
fn parse(answer: &str) -> (u16, Value) {
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer:?}"));
    (status, json)
}

fn post_order(body: &str) -> String {
    format!(
        "POST /orders HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A WebSocket to `/ws-orders`, or the status of the refused upgrade.
async fn stomp_client(sys: &TestSystem) -> Result<Ws, u16> {
    let url = format!("ws://{}/ws-orders", sys.orders.as_ref().unwrap().http_addr);
    ws::connect(&url, &[]).await.map(|(socket, _)| socket)
}

/// A CONNECTed STOMP client subscribed to order events.
async fn subscriber(sys: &TestSystem) -> Ws {
    let mut socket = stomp_client(sys).await.unwrap();
    ws::connect_and_subscribe(&mut socket, "/topic/orders").await;
    socket
}

#[tokio::test]
async fn slow_requests_are_cut_off() {
    let Some(sys) = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.http.http_header_timeout_ms = 300;
        c.http.http_body_timeout_ms = 500;
    })
    .await
    else {
        return;
    };
    let addr = sys.orders.as_ref().unwrap().http_addr;
    // Half a head, dripped.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /orders HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = tcp.write_all(b"x-drip: 1\r\n").await;
    }
    read_to_close(&mut tcp).await;
    // A socket that never says anything.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    // Half a body: 408, JSON, and the connection ends.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = "POST /orders HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n{\"product\":";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut tcp).await;
    let (status, body) = parse(&answer);
    assert_eq!(status, 408, "{answer}");
    assert!(body["message"].is_string());
    assert!(
        answer.to_lowercase().contains("connection: close"),
        "{answer}"
    );
    // Nothing was written, and everyone else is served.
    assert!(sys.all_orders().await.is_empty());
    assert_eq!(sys.order("Laptop", 1).await["status"], "CREATED");
    sys.stop().await;
}

#[tokio::test]
async fn beyond_the_connection_cap_new_connections_are_refused_and_served_ones_go_on() {
    let Some(sys) = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.http.max_http_connections = 6;
    })
    .await
    else {
        return;
    };
    let addr = sys.orders.as_ref().unwrap().http_addr;
    // Live-event clients leave the HTTP budget once upgraded: more of them
    // than the cap allows HTTP connections.
    let mut subscribers = Vec::new();
    for _ in 0..8 {
        subscribers.push(subscriber(&sys).await);
    }
    let mut served = TcpStream::connect(addr).await.unwrap();
    let answer = exchange(
        &mut served,
        "GET /health/live HTTP/1.1\r\nhost: test\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Silent sockets take the rest of the budget (reqwest's pool may hold one).
    let mut silent = Vec::new();
    let refused = loop {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let answer = exchange(&mut tcp, "GET /health/live HTTP/1.1\r\nhost: test\r\n\r\n").await;
        if answer.starts_with("HTTP/1.1 503") {
            break answer;
        }
        assert!(silent.len() < 6, "the cap never came");
        // Keep this one open and quiet.
        silent.push(TcpStream::connect(addr).await.unwrap());
    };
    let (_, body) = parse(&refused);
    assert_eq!(body["message"], "Too many connections");
    assert!(
        refused.to_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    // The connection being served is not starved: it places an order, and
    // the live clients get it.
    let answer = exchange(
        &mut served,
        &post_order(r#"{"product":"Laptop","quantity":1}"#),
    )
    .await;
    let (status, order) = parse(&answer);
    assert_eq!(
        (status, order["status"].as_str()),
        (200, Some("CREATED")),
        "{answer}"
    );
    for socket in &mut subscribers {
        assert!(ws::next_frame(socket).await.starts_with("MESSAGE"));
    }
    sys.stop().await;
}

#[tokio::test]
async fn connections_that_never_connect_cannot_starve_connected_clients() {
    let Some(sys) = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.max_live_handshakes = 3;
        c.max_live_connections = 5;
    })
    .await
    else {
        return;
    };
    // More clients than handshake seats, one after the other: a CONNECT
    // moves each to the connected budget.
    let mut subscribers = Vec::new();
    for _ in 0..5 {
        subscribers.push(subscriber(&sys).await);
    }
    // The connected budget is full: the next client is told so.
    let mut extra = stomp_client(&sys).await.unwrap();
    extra.send(Message::text(CONNECT)).await.unwrap();
    let error = ws::next_frame(&mut extra).await;
    assert!(
        error.starts_with("ERROR") && error.contains("too many connections"),
        "{error}"
    );
    // One-request SockJS polls that never send CONNECT fill only the
    // handshake seats (the refused client's seat went back when it closed).
    let mut polls = 0;
    let full = loop {
        let path = format!("/ws-orders/000/flood{polls}/xhr");
        let r = sys.http.post(sys.url(&path)).send().await.unwrap();
        if r.status() == 503 {
            break r;
        }
        assert_eq!(r.text().await.unwrap(), "o\n");
        polls += 1;
        assert!(polls <= 3, "more sessions than handshake seats");
    };
    let body: Value = full.json().await.unwrap();
    assert_eq!(body["message"], "Too many connections");
    assert_eq!(stomp_client(&sys).await.err(), Some(503));
    // The connected clients never noticed.
    sys.order("Laptop", 1).await;
    for socket in &mut subscribers {
        assert!(ws::next_frame(socket).await.starts_with("MESSAGE"));
    }
    sys.stop().await;
}

#[tokio::test]
async fn malformed_sockjs_paths_are_404_for_every_method() {
    let Some(sys) = TestSystem::spawn(Backend::Sqlite).await else {
        return;
    };
    let paths = [
        "/ws-orders//xhr",
        "/ws-orders////xhr",
        "/ws-orders/a//xhr",
        "/ws-orders//b/xhr",
        "/ws-orders/a/b/",
        "/ws-orders/a/b/c/xhr",
        "/ws-orders/a.b/c/xhr",
        "/ws-orders/a/b.c/xhr_send",
        "/ws-orders/a/b/nonsense",
    ];
    for path in paths {
        for method in ["GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD"] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let r = sys
                .http
                .request(method.clone(), sys.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{method} {path}");
        }
    }
    sys.stop().await;
}

#[tokio::test]
async fn every_error_is_json_with_the_right_status() {
    let Some(sys) = TestSystem::spawn(Backend::Sqlite).await else {
        return;
    };
    let addr = sys.orders.as_ref().unwrap().http_addr;
    let cases: Vec<(String, u16)> = vec![
        // A path segment longer than any file name.
        (format!("GET /{} HTTP/1.1\r\nhost: t\r\n\r\n", "a".repeat(300)), 404),
        (format!("GET /x/{}/y HTTP/1.1\r\nhost: t\r\n\r\n", "b".repeat(5000)), 404),
        // The page's files: GET and HEAD only.
        ("POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n".into(), 405),
        ("DELETE /index.html HTTP/1.1\r\nhost: t\r\n\r\n".into(), 405),
        ("TRACE / HTTP/1.1\r\nhost: t\r\n\r\n".into(), 405),
        ("PUT /app.js HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n".into(), 405),
        // Unknown paths are 404 whatever the method; known routes 405.
        ("BREW /nothing/here HTTP/1.1\r\nhost: t\r\n\r\n".into(), 404),
        ("DELETE /nothing HTTP/1.1\r\nhost: t\r\n\r\n".into(), 404),
        ("BREW /orders HTTP/1.1\r\nhost: t\r\n\r\n".into(), 405),
        ("GET /../../etc/passwd HTTP/1.1\r\nhost: t\r\n\r\n".into(), 404),
        // A broken chunked body is malformed, not too large.
        (
            "POST /orders HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".into(),
            400,
        ),
    ];
    for (request, expected) in cases {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let answer = exchange(&mut tcp, &request).await;
        let (status, body) = parse(&answer);
        let line = request.lines().next().unwrap_or_default();
        let line = &line[..line.len().min(60)];
        assert_eq!(status, expected, "{line}: {answer}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{line}: {answer}"
        );
        if expected == 405 {
            assert!(
                answer.to_lowercase().contains("allow: "),
                "{line}: {answer}"
            );
        }
    }
    assert!(sys.all_orders().await.is_empty(), "nothing was written");
    // The page itself still works.
    let page = sys.http.get(sys.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    sys.stop().await;
}

#[tokio::test]
async fn invented_methods_cannot_grow_the_metrics() {
    let Some(sys) = TestSystem::spawn(Backend::Sqlite).await else {
        return;
    };
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    let addr = sys.orders.as_ref().unwrap().http_addr;
    // Warm up the labels a client can legitimately reach.
    for request in [
        "BREW0 /orders HTTP/1.1\r\nhost: t\r\n\r\n",
        "BREW0 /x0 HTTP/1.1\r\nhost: t\r\n\r\n",
    ] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        exchange(&mut tcp, request).await;
    }
    let before = series(&sys.get_text("/metrics").await);
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    for i in 0..1000 {
        let request = format!("BREW{i} /x{i} HTTP/1.1\r\nhost: t\r\n\r\n");
        let answer = exchange(&mut tcp, &request).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        if i % 2 == 0 {
            let request = format!("PROPFIND{i} /orders HTTP/1.1\r\nhost: t\r\n\r\n");
            assert!(
                exchange(&mut tcp, &request)
                    .await
                    .starts_with("HTTP/1.1 405")
            );
        }
    }
    let metrics = sys.get_text("/metrics").await;
    let after = series(&metrics);
    // At most the /metrics request's own series appear.
    assert!(after <= before + 20, "{before} -> {after} series");
    assert!(
        metrics.contains(r#"method="other",route="other",status="404""#),
        "{metrics}"
    );
    assert!(!metrics.contains("BREW"), "methods leaked into labels");
    assert!(!metrics.contains("/x1"), "paths leaked into labels");
    sys.stop().await;
}

async fn control_characters_in_names_are_400(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    for product in ["Lap\u{0}top", "Laptop\n", "Lap\u{7f}top", "Lap\u{85}top"] {
        let r = sys.post_order(product, 1).await;
        assert_eq!(r.status(), 400, "{product:?}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("control"),
            "{body}"
        );
    }
    let addr = sys.orders.as_ref().unwrap().grpc_addr;
    let mut client =
        proto::order_service_client::OrderServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
    let refused = client
        .create_order(proto::OrderRequest {
            product: "Lap\u{0}top".into(),
            quantity: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(sys.all_orders().await.is_empty(), "nothing was written");
    sys.stop().await;
}

support::both_backends!(control_characters_in_names_are_400);
