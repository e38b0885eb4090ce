//! The raw WebSocket at `/ws-orders` and `/ws-orders/websocket`, over real
//! sockets: subprotocols, echo, close codes, a stalled reader.

use std::{net::SocketAddr, time::Duration};

use futures::SinkExt;
use support::testing::ws::{self, PROTOCOLS};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

use crate::transport::{
    TransportConfig,
    testing::{App, config, echo, flood, hang_up, within},
};

#[tokio::test]
async fn raw_websocket_echoes_and_negotiates_the_highest_stomp_version() {
    let app = App::spawn(config(), echo()).await;
    let offer = [(PROTOCOLS, "v10.stomp, v11.stomp, v12.stomp")];
    let (mut ws, chosen) = ws::connect(&app.ws_url(""), &offer).await.unwrap();
    assert_eq!(chosen.as_deref(), Some("v12.stomp"));
    ws.send(Message::text("CONNECT\n\n\0")).await.unwrap();
    assert_eq!(ws::next_text(&mut ws).await, "CONNECT\n\n\0");
    // Binary that is UTF-8 is a text message too.
    ws.send(Message::binary(b"SEND".to_vec())).await.unwrap();
    assert_eq!(ws::next_text(&mut ws).await, "SEND");

    let offer = [(PROTOCOLS, "v10.stomp, v11.stomp")];
    let (_, chosen) = ws::connect(&app.ws_url("/websocket"), &offer)
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some("v11.stomp"));
    let (mut ws, chosen) = ws::connect(&app.ws_url("/websocket"), &[]).await.unwrap();
    assert_eq!(chosen, None);
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(ws::next_text(&mut ws).await, "hi");
    // tungstenite's client refuses an answer without the protocol it
    // asked for, so this one is checked on the raw handshake.
    let head = raw_handshake(app.addr, "mqtt").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
}

/// Sends a WebSocket upgrade offering `protocols` over plain TCP and
/// returns the response head.
async fn raw_handshake(addr: SocketAddr, protocols: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    let request = format!(
        "GET /ws-orders HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {protocols}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within(tcp.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn raw_websocket_refuses_bad_input_with_close_codes() {
    let app = App::spawn(config(), echo()).await;
    let (mut ws, _) = ws::connect(&app.ws_url(""), &[]).await.unwrap();
    ws.send(Message::binary(vec![0xff, 0xfe])).await.unwrap();
    assert_eq!(ws::close_code(&mut ws).await, CloseCode::Invalid);

    let (mut ws, _) = ws::connect(&app.ws_url(""), &[]).await.unwrap();
    let big = "x".repeat(config().max_message_bytes + 1);
    ws.send(Message::text(big)).await.unwrap();
    assert_eq!(ws::close_code(&mut ws).await, CloseCode::Size);
}

#[tokio::test]
async fn raw_websocket_closes_when_the_handler_drops_its_sender() {
    let app = App::spawn(config(), hang_up()).await;
    let (mut ws, _) = ws::connect(&app.ws_url(""), &[]).await.unwrap();
    assert_eq!(ws::close_code(&mut ws).await, CloseCode::Normal);
}

#[tokio::test]
async fn a_stalled_websocket_reader_is_dropped_after_the_send_timeout() {
    let (dropped_tx, mut dropped) = mpsc::channel(1);
    let config = TransportConfig {
        send_timeout: Duration::from_millis(300),
        // Only the time budget here: the bytes never run out.
        send_buffer_bytes: usize::MAX,
        ..config()
    };
    let app = App::spawn(config, flood(dropped_tx)).await;
    let (_ws, _) = ws::connect(&app.ws_url(""), &[]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), dropped.recv())
        .await
        .expect("a stalled client was never dropped");
}

#[tokio::test]
async fn a_stalled_websocket_reader_is_dropped_by_bytes_before_the_send_timeout() {
    let (dropped_tx, mut dropped) = mpsc::channel(1);
    let config = TransportConfig {
        send_timeout: Duration::from_secs(3600),
        ..config()
    };
    let app = App::spawn(config, flood(dropped_tx)).await;
    let (mut ws, _) = ws::connect(&app.ws_url(""), &[]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), dropped.recv())
        .await
        .expect("a stalled client was kept for the send timeout");
    // The socket is dropped without a close handshake: reading now finds
    // what was in flight, then its end.
    assert!(ws::ends_within(&mut ws, Duration::from_secs(30)).await);
}
