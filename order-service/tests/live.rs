//! `/ws-orders` over real sockets: raw WebSocket, SockJS's websocket and
//! xhr_streaming transports each deliver exactly one MESSAGE per order; bad
//! origins and bad input are refused; a client that stops reading is dropped
//! without slowing the others.

// Test helpers unwrap: a panic is a failed test with its backtrace.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::TestSystem;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use support::testing::Backend;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(
    url: &str,
    protocols: Option<&str>,
    origin: Option<&str>,
) -> Result<(Ws, Option<String>), u16> {
    let mut request = url.into_client_request().unwrap();
    if let Some(p) = protocols {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
    }
    if let Some(o) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(o).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, response)) => {
            let chosen = response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_owned());
            Ok((socket, chosen))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn next_text(socket: &mut Ws) -> String {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("in time");
        match msg.expect("open").expect("ok") {
            Message::Text(t) if t.as_str() != "\n" && t.as_str() != "h" => return t.to_string(),
            _ => {}
        }
    }
}

const CONNECT: &str = "CONNECT\naccept-version:1.2\nhost:localhost\n\n\0";
const SUBSCRIBE: &str = "SUBSCRIBE\nid:0\ndestination:/topic/orders\nreceipt:ok\n\n\0";

fn body_of(frame: &str) -> Value {
    let body = &frame[frame.find("\n\n").unwrap() + 2..frame.len() - 1];
    serde_json::from_str(body).unwrap()
}

async fn raw_websocket_gets_exactly_one_message(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let url = format!("ws://{}/ws-orders", sys.orders.as_ref().unwrap().http_addr);
    let (mut socket, chosen) = ws(&url, Some("v10.stomp, v11.stomp, v12.stomp"), None)
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some("v12.stomp"));
    socket.send(Message::text(CONNECT)).await.unwrap();
    assert!(
        next_text(&mut socket)
            .await
            .starts_with("CONNECTED\nversion:1.2")
    );
    socket.send(Message::text(SUBSCRIBE)).await.unwrap();
    assert!(next_text(&mut socket).await.starts_with("RECEIPT"));
    let order = sys.order("Laptop", 1).await;
    let message = next_text(&mut socket).await;
    assert!(message.starts_with("MESSAGE\n"));
    assert_eq!(body_of(&message), order);
    // Exactly one: the next frame is the next order's.
    let second = sys.order("Phone", 1).await;
    assert_eq!(body_of(&next_text(&mut socket).await), second);
    // No subprotocol asked: accepted without one.
    let (_, none) = ws(&url, None, None).await.unwrap();
    assert_eq!(none, None);
    sys.stop().await;
}

async fn sockjs_websocket_gets_exactly_one_message(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let url = format!(
        "ws://{}/ws-orders/123/abcdef/websocket",
        sys.orders.as_ref().unwrap().http_addr
    );
    let (mut socket, _) = ws(&url, None, None).await.unwrap();
    assert_eq!(next_text(&mut socket).await, "o");
    let send = |frame: &str| Message::text(serde_json::to_string(&[frame]).unwrap());
    socket.send(send(CONNECT)).await.unwrap();
    assert!(next_text(&mut socket).await.starts_with("a[\"CONNECTED"));
    socket.send(send(SUBSCRIBE)).await.unwrap();
    assert!(next_text(&mut socket).await.starts_with("a[\"RECEIPT"));
    let order = sys.order("Laptop", 1).await;
    let frame = next_text(&mut socket).await;
    let messages: Vec<String> = serde_json::from_str(frame.strip_prefix('a').unwrap()).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(body_of(&messages[0]), order);
    // Invalid JSON from the client closes the session.
    socket.send(Message::text("[not json")).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok());
    sys.stop().await;
}

async fn sockjs_xhr_streaming_gets_exactly_one_message(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let base = sys.url("/ws-orders/7/s1");
    let mut stream = sys
        .http
        .post(format!("{base}/xhr_streaming"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream.headers()["content-type"],
        "application/javascript;charset=UTF-8"
    );
    let mut received = String::new();
    let mut read_until = async |needle: &str, received: &mut String| {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !received.contains(needle) {
                let chunk = stream.chunk().await.unwrap().expect("stream open");
                received.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("in time");
    };
    read_until("\no\n", &mut received).await;
    assert!(received.starts_with(&"h".repeat(2048)));
    let send = |frame: &'static str| {
        let body = serde_json::to_string(&[frame]).unwrap();
        sys.http
            .post(format!("{base}/xhr_send"))
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };
    assert_eq!(send(CONNECT).await.unwrap().status(), 204);
    read_until("CONNECTED", &mut received).await;
    assert_eq!(send(SUBSCRIBE).await.unwrap().status(), 204);
    read_until("RECEIPT", &mut received).await;
    let order = sys.order("Tablet", 2).await;
    read_until("MESSAGE", &mut received).await;
    read_until("\\u0000\"]\n", &mut received).await;
    let line = received.lines().find(|l| l.contains("MESSAGE")).unwrap();
    let messages: Vec<String> = serde_json::from_str(line.strip_prefix('a').unwrap()).unwrap();
    assert_eq!(
        messages.iter().filter(|m| m.starts_with("MESSAGE")).count(),
        1
    );
    assert_eq!(
        body_of(messages.iter().find(|m| m.starts_with("MESSAGE")).unwrap()),
        order
    );
    // A second receiver on the same session is refused.
    let second = sys
        .http
        .post(format!("{base}/xhr"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(second, "c[2010,\"Another connection still open\"]\n");
    sys.stop().await;
}

async fn bad_origins_and_bad_input_are_refused(backend: Backend) {
    let Some(sys) = TestSystem::spawn(backend).await else {
        return;
    };
    let addr = sys.orders.as_ref().unwrap().http_addr;
    assert_eq!(
        ws(
            &format!("ws://{addr}/ws-orders"),
            None,
            Some("http://evil.example")
        )
        .await
        .err(),
        Some(403)
    );
    let (_, _) = ws(
        &format!("ws://{addr}/ws-orders"),
        None,
        Some("http://localhost:4200"),
    )
    .await
    .unwrap();
    let (_, _) = ws(
        &format!("ws://{addr}/ws-orders"),
        None,
        Some(&format!("http://{addr}")),
    )
    .await
    .unwrap();
    let info = |origin: &'static str| {
        sys.http
            .get(sys.url("/ws-orders/info"))
            .header("Origin", origin)
            .send()
    };
    assert_eq!(info("http://evil.example").await.unwrap().status(), 403);
    let allowed = info("http://localhost:4200").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:4200"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let info: Value = allowed.json().await.unwrap();
    assert_eq!(info["websocket"], true);
    let evil_xhr = sys
        .http
        .post(sys.url("/ws-orders/1/x/xhr"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil_xhr.status(), 403);

    // xhr_send to an unknown session, empty and broken bodies, oversized body.
    assert_eq!(
        sys.http
            .post(sys.url("/ws-orders/1/nobody/xhr_send"))
            .body("[\"x\"]")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        sys.http
            .post(sys.url("/ws-orders/1/s2/xhr"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "o\n"
    );
    let post = |body: Vec<u8>| {
        sys.http
            .post(sys.url("/ws-orders/1/s2/xhr_send"))
            .body(body)
            .send()
    };
    let empty = post(Vec::new()).await.unwrap();
    assert_eq!(
        (empty.status().as_u16(), empty.text().await.unwrap()),
        (500, "Payload expected.".to_owned())
    );
    let broken = post(b"[\"x".to_vec()).await.unwrap();
    assert_eq!(
        (broken.status().as_u16(), broken.text().await.unwrap()),
        (500, "Broken JSON encoding.".to_owned())
    );
    let oversized = post(vec![b'x'; 100_000]).await.unwrap();
    assert_eq!(oversized.status(), 413);
    // The body is left unread, so the server says it closes the connection
    // and the next request (below) goes on a fresh one.
    assert_eq!(oversized.headers()["connection"], "close");
    // Paths with dots and unknown transports do not exist; no JSONP.
    for path in [
        "/ws-orders/1/a.b/xhr",
        "/ws-orders/1/s/jsonp",
        "/ws-orders/1/s/nothing",
    ] {
        assert_eq!(
            sys.http.post(sys.url(path)).send().await.unwrap().status(),
            404,
            "{path}"
        );
    }
    let htmlfile = sys
        .http
        .get(sys.url("/ws-orders/1/s3/htmlfile?c=%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(htmlfile.status(), 500);
    assert_eq!(
        sys.http
            .get(sys.url("/ws-orders"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Welcome to SockJS!\n"
    );
    sys.stop().await;
}

async fn a_client_that_stops_reading_is_dropped_and_slows_nobody(backend: Backend) {
    let Some(sys) = TestSystem::spawn_with(backend, |c| c.send_timeout_ms = 300).await else {
        return;
    };
    let addr = sys.orders.as_ref().unwrap().http_addr;
    let url = format!("ws://{addr}/ws-orders");
    // The stalled client's kernel buffer is tiny, so a few hundred events
    // back it up to the server; it never reads after subscribing.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(2048).unwrap();
    let tcp = tcp.connect(addr).await.unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(
        url.as_str(),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .unwrap();
    for frame in [CONNECT, SUBSCRIBE] {
        stalled.send(Message::text(frame)).await.unwrap();
        next_text(&mut stalled).await;
    }
    let (mut reader, _) = ws(&url, None, None).await.unwrap();
    for frame in [CONNECT, SUBSCRIBE] {
        reader.send(Message::text(frame)).await.unwrap();
        next_text(&mut reader).await;
    }
    // The reader gets every order, in order, while the stalled client backs up.
    for _ in 0..400 {
        let order = sys.order("Headphones", 1).await;
        assert_eq!(body_of(&next_text(&mut reader).await), order);
        let _ = sys
            .http
            .post(sys.url(&format!("/orders/{}/cancel", order["id"])))
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_of(&next_text(&mut reader).await)["status"],
            "CANCELLED"
        );
    }
    let dropped = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stalled.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(dropped, "the stalled client was disconnected");
    sys.stop().await;
}

support::both_backends!(
    raw_websocket_gets_exactly_one_message,
    sockjs_websocket_gets_exactly_one_message,
    sockjs_xhr_streaming_gets_exactly_one_message,
    bad_origins_and_bad_input_are_refused,
);

/// `order_service_live_connections` as `/metrics` reports it.
async fn live_connections(sys: &TestSystem) -> i64 {
    let text = sys.get_text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix("order_service_live_connections "))
        .unwrap_or_else(|| panic!("no live_connections in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The gauge follows sockets however they end: a WebSocket's session is
/// dropped with its socket, so a decrement after the session would never run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_connections_gauge_returns_to_zero() {
    let Some(sys) = TestSystem::spawn(Backend::Sqlite).await else {
        return;
    };
    let url = format!("ws://{}/ws-orders", sys.orders.as_ref().unwrap().http_addr);
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let (mut socket, _) = ws(&url, None, None).await.unwrap();
        socket.send(Message::text(CONNECT)).await.unwrap();
        next_text(&mut socket).await;
        sockets.push(socket);
    }
    assert_eq!(live_connections(&sys).await, 3);
    // One closes cleanly, one disconnects in STOMP, one just vanishes.
    let vanished = sockets.pop().unwrap();
    let mut disconnecting = sockets.pop().unwrap();
    let mut closing = sockets.pop().unwrap();
    closing.close(None).await.unwrap();
    disconnecting
        .send(Message::text("DISCONNECT\nreceipt:bye\n\n\0"))
        .await
        .unwrap();
    assert!(next_text(&mut disconnecting).await.starts_with("RECEIPT"));
    // Dropped without a close frame: the TCP connection just ends.
    drop(vanished);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while live_connections(&sys).await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gauge stayed up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer() {
    a_client_that_stops_reading_is_dropped_and_slows_nobody(Backend::Sqlite).await;
}

/// Two order-service replicas on one PostgreSQL database: a client of either
/// sees the orders placed through the other (LISTEN/NOTIFY), exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_order_events_on_postgres() {
    let Some(sys) = TestSystem::spawn(Backend::Postgres).await else {
        return;
    };
    let replica = order_service::Server::start(&sys.order_config)
        .await
        .unwrap();
    let subscribe = async |addr: std::net::SocketAddr| {
        let (mut socket, _) = ws(&format!("ws://{addr}/ws-orders"), None, None)
            .await
            .unwrap();
        for frame in [CONNECT, SUBSCRIBE] {
            socket.send(Message::text(frame)).await.unwrap();
            next_text(&mut socket).await;
        }
        socket
    };
    let mut on_a = subscribe(sys.orders.as_ref().unwrap().http_addr).await;
    let mut on_b = subscribe(replica.http_addr).await;
    let via_b: Value = sys
        .http
        .post(format!("http://{}/orders", replica.http_addr))
        .json(&serde_json::json!({"product": "Laptop", "quantity": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let via_a = sys.order("Phone", 1).await;
    // Two replicas notify independently, so their events have no order
    // between them: each client gets both, once each, in either order.
    let by_id = |o: &Value| o["id"].as_i64();
    for socket in [&mut on_a, &mut on_b] {
        let mut got = vec![
            body_of(&next_text(socket).await),
            body_of(&next_text(socket).await),
        ];
        got.sort_by_key(by_id);
        let mut want = vec![via_b.clone(), via_a.clone()];
        want.sort_by_key(by_id);
        assert_eq!(got, want);
    }
    replica.stop().await.unwrap();
    sys.stop().await;
}
