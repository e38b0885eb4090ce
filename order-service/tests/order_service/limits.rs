//! What a hostile or careless client can reach, over real sockets: slow and
//! silent connections, connection floods, live-event connections that
//! never say CONNECT, odd methods and paths, odd bytes in names. Each gets
//! a clear answer (or a closed socket), writes nothing, and leaves the
//! service serving everyone else.

mod connections;
mod requests;

use std::time::Duration;

use serde_json::Value;
use support::testing::ws::{self, Ws};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::common::TestSystem;

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
