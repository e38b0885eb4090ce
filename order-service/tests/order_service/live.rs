//! `/ws-orders` over real sockets: raw WebSocket, SockJS's websocket and
//! xhr_streaming transports each deliver exactly one MESSAGE per order; a
//! client that stops reading is dropped without slowing the others; the
//! service's origin policy reaches the upgrade. (What the transports
//! refuse is tested with the transports, without a database.)

use std::time::Duration;

use futures::SinkExt;
use serde_json::Value;
use support::testing::{
    Backend,
    ws::{self, PROTOCOLS, STOMP_CONNECT as CONNECT},
};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{TestSystem, wait_until};

/// A SUBSCRIBE to order events, asking for a receipt.
fn subscribe() -> String {
    ws::stomp_subscribe_frame("/topic/orders")
}

fn body_of(frame: &str) -> Value {
    let body = &frame[frame.find("\n\n").unwrap() + 2..frame.len() - 1];
    serde_json::from_str(body).unwrap()
}

async fn raw_websocket_gets_exactly_one_message(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    let url = format!("ws://{}/ws-orders", sys.orders.as_ref().unwrap().http_addr);
    let offer = [(PROTOCOLS, "v10.stomp, v11.stomp, v12.stomp")];
    let (mut socket, chosen) = ws::connect(&url, &offer).await.unwrap();
    assert_eq!(chosen.as_deref(), Some("v12.stomp"));
    socket.send(Message::text(CONNECT)).await.unwrap();
    assert!(
        ws::next_frame(&mut socket)
            .await
            .starts_with("CONNECTED\nversion:1.2")
    );
    socket.send(Message::text(subscribe())).await.unwrap();
    assert!(ws::next_frame(&mut socket).await.starts_with("RECEIPT"));
    let order = sys.order("Laptop", 1).await;
    let message = ws::next_frame(&mut socket).await;
    assert!(message.starts_with("MESSAGE\n"));
    assert_eq!(body_of(&message), order);
    // Exactly one: the next frame is the next order's.
    let second = sys.order("Phone", 1).await;
    assert_eq!(body_of(&ws::next_frame(&mut socket).await), second);
    // No subprotocol asked: accepted without one.
    let (_, none) = ws::connect(&url, &[]).await.unwrap();
    assert_eq!(none, None);
    sys.stop().await;
}

async fn sockjs_websocket_gets_exactly_one_message(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    let url = format!(
        "ws://{}/ws-orders/123/abcdef/websocket",
        sys.orders.as_ref().unwrap().http_addr
    );
    let (mut socket, _) = ws::connect(&url, &[]).await.unwrap();
    assert_eq!(ws::next_frame(&mut socket).await, "o");
    let send = |frame: &str| Message::text(serde_json::to_string(&[frame]).unwrap());
    socket.send(send(CONNECT)).await.unwrap();
    assert!(
        ws::next_frame(&mut socket)
            .await
            .starts_with("a[\"CONNECTED")
    );
    socket.send(send(&subscribe())).await.unwrap();
    assert!(ws::next_frame(&mut socket).await.starts_with("a[\"RECEIPT"));
    let order = sys.order("Laptop", 1).await;
    let frame = ws::next_frame(&mut socket).await;
    let messages: Vec<String> = serde_json::from_str(frame.strip_prefix('a').unwrap()).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(body_of(&messages[0]), order);
    // Invalid JSON from the client closes the session.
    socket.send(Message::text("[not json")).await.unwrap();
    assert!(ws::ends_within(&mut socket, Duration::from_secs(5)).await);
    sys.stop().await;
}

async fn sockjs_xhr_streaming_gets_exactly_one_message(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
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
    let send = |frame: &str| {
        let body = serde_json::to_string(&[frame]).unwrap();
        sys.http
            .post(format!("{base}/xhr_send"))
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };
    assert_eq!(send(CONNECT).await.unwrap().status(), 204);
    read_until("CONNECTED", &mut received).await;
    assert_eq!(send(&subscribe()).await.unwrap().status(), 204);
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

/// A client that stops reading is dropped while another gets every event;
/// `configure` says what drops it (the send timeout, or the bytes queued).
async fn a_client_that_stops_reading_is_dropped_and_slows_nobody(
    backend: Backend,
    configure: impl FnOnce(&mut order_service::Config),
) {
    let sys = TestSystem::spawn_with(backend, configure).await;
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
    for frame in [CONNECT.to_owned(), subscribe()] {
        stalled.send(Message::text(frame)).await.unwrap();
        ws::next_frame(&mut stalled).await;
    }
    let (mut reader, _) = ws::connect(&url, &[]).await.unwrap();
    for frame in [CONNECT.to_owned(), subscribe()] {
        reader.send(Message::text(frame)).await.unwrap();
        ws::next_frame(&mut reader).await;
    }
    // The reader gets every order, in order, while the stalled client backs up.
    for _ in 0..400 {
        let order = sys.order("Headphones", 1).await;
        assert_eq!(body_of(&ws::next_frame(&mut reader).await), order);
        let _ = sys
            .http
            .post(sys.url(&format!("/orders/{}/cancel", order["id"])))
            .send()
            .await
            .unwrap();
        assert_eq!(
            body_of(&ws::next_frame(&mut reader).await)["status"],
            "CANCELLED"
        );
    }
    let dropped = ws::ends_within(&mut stalled, Duration::from_secs(30)).await;
    assert!(dropped, "the stalled client was disconnected");
    sys.stop().await;
}

support::both_backends!(
    raw_websocket_gets_exactly_one_message,
    sockjs_websocket_gets_exactly_one_message,
    sockjs_xhr_streaming_gets_exactly_one_message,
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
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let url = format!("ws://{}/ws-orders", sys.orders.as_ref().unwrap().http_addr);
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let (mut socket, _) = ws::connect(&url, &[]).await.unwrap();
        socket.send(Message::text(CONNECT)).await.unwrap();
        ws::next_frame(&mut socket).await;
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
    assert!(
        ws::next_frame(&mut disconnecting)
            .await
            .starts_with("RECEIPT")
    );
    // Dropped without a close frame: the TCP connection just ends.
    drop(vanished);
    wait_until(
        "the gauge back to zero",
        Duration::from_secs(10),
        async || live_connections(&sys).await == 0,
    )
    .await;
    sys.stop().await;
}

/// The service hands its own origin policy to `/ws-orders`. What a policy
/// allows is tested with `origins` and the transports; this is the wiring,
/// so one backend will do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_get_the_services_origin_policy() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let addr = sys.orders.as_ref().unwrap().http_addr;
    let url = format!("ws://{addr}/ws-orders");
    let refused = ws::connect(&url, &[("origin", "http://evil.example")]).await;
    assert_eq!(refused.err(), Some(403));
    for origin in ["http://localhost:4200".to_owned(), format!("http://{addr}")] {
        let accepted = ws::connect(&url, &[("origin", &origin)]).await;
        assert!(accepted.is_ok(), "{origin}");
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer() {
    a_client_that_stops_reading_is_dropped_and_slows_nobody(Backend::Sqlite, |c| {
        c.send_timeout_ms = 300;
        // Only the time budget here.
        c.live_send_buffer_bytes = usize::MAX;
    })
    .await;
}

/// The byte budget drops a client that stops reading long before any send
/// timeout would (an hour here), while the reader still gets every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_by_bytes() {
    a_client_that_stops_reading_is_dropped_and_slows_nobody(Backend::Sqlite, |c| {
        c.send_timeout_ms = 3_600_000;
        c.live_send_buffer_bytes = 16 * 1024;
    })
    .await;
}

/// Two order-service replicas on one PostgreSQL database: a client of either
/// sees the orders placed through the other (the shared order log), exactly
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL, run with --include-ignored (scripts/test-all does)"]
async fn replicas_share_order_events_on_postgres() {
    let sys = TestSystem::spawn(Backend::Postgres).await;
    let replica = order_service::Server::start(&sys.order_config)
        .await
        .unwrap();
    let subscribe = async |addr: std::net::SocketAddr| {
        let (mut socket, _) = ws::connect(&format!("ws://{addr}/ws-orders"), &[])
            .await
            .unwrap();
        for frame in [CONNECT.to_owned(), subscribe()] {
            socket.send(Message::text(frame)).await.unwrap();
            ws::next_frame(&mut socket).await;
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
    // One log numbers both replicas' events: each client gets both, once
    // each, in the order they were committed.
    for socket in [&mut on_a, &mut on_b] {
        let got = [
            body_of(&ws::next_frame(socket).await),
            body_of(&ws::next_frame(socket).await),
        ];
        assert_eq!(got, [via_b.clone(), via_a.clone()]);
    }
    replica.stop().await.unwrap();
    sys.stop().await;
}
