//! Slow, silent and surplus connections: cut off or refused, while the
//! clients already served go on.

use std::time::Duration;

use futures::SinkExt;
use serde_json::Value;
use support::testing::{
    Backend, assert_spring_error,
    ws::{self, STOMP_CONNECT as CONNECT},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::Message;

use super::{PATIENCE, exchange, parse, post_order, read_to_close, stomp_client, subscriber};
use crate::common::TestSystem;

#[tokio::test]
async fn slow_requests_are_cut_off() {
    let sys = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.http.http_header_timeout_ms = 300;
        c.http.http_body_timeout_ms = 500;
    })
    .await;
    let addr = sys.orders.as_ref().unwrap().http_addr;
    // Half a head, dripped: a header line whenever the server has kept it
    // open another 100 ms (the drip's pace), until the server closes it.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"POST /orders HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, async {
        let mut byte = [0u8; 1];
        while tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut byte))
            .await
            .is_err()
        {
            let _ = tcp.write_all(b"x-drip: 1\r\n").await;
        }
    })
    .await
    .expect("the dripping head is cut off");
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
    assert_spring_error(&body, 408, "/orders");
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
    let sys = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.http.max_http_connections = 6;
    })
    .await;
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
    // Refused before its request was read: no path.
    assert_spring_error(&body, 503, "");
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
    let sys = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.max_live_handshakes = 3;
        c.max_live_connections = 5;
    })
    .await;
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
    // The live transport's own answer, completed like every other.
    assert_spring_error(&body, 503, &format!("/ws-orders/000/flood{polls}/xhr"));
    assert_eq!(stomp_client(&sys).await.err(), Some(503));
    // The connected clients never noticed.
    sys.order("Laptop", 1).await;
    for socket in &mut subscribers {
        assert!(ws::next_frame(socket).await.starts_with("MESSAGE"));
    }
    sys.stop().await;
}
