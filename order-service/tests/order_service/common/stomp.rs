//! A STOMP subscriber over `/ws-orders`, for tests of live events.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use support::testing::ws::{self, STOMP_CONNECT, Ws};
use tokio_tungstenite::tungstenite::Message;

use super::wait_until;

/// A STOMP client of `addr`'s `/ws-orders`, subscribed to `destination`
/// (resuming after `from_seq` when given).
pub(crate) async fn subscriber(addr: &str, destination: &str, from_seq: Option<i64>) -> Ws {
    let (mut socket, _) = ws::connect(&format!("ws://{addr}/ws-orders"), &[])
        .await
        .unwrap();
    socket.send(Message::text(STOMP_CONNECT)).await.unwrap();
    assert!(ws::next_frame(&mut socket).await.starts_with("CONNECTED"));
    let from = from_seq
        .map(|s| format!("from-seq:{s}\n"))
        .unwrap_or_default();
    let subscribe = format!("SUBSCRIBE\nid:0\ndestination:{destination}\n{from}receipt:ok\n\n\0");
    socket.send(Message::text(subscribe)).await.unwrap();
    assert!(ws::next_frame(&mut socket).await.starts_with("RECEIPT"));
    socket
}

/// A header of a STOMP frame.
pub(crate) fn header<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    let head = &frame[..frame.find("\n\n").unwrap()];
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
}

/// The next MESSAGE's seq and JSON body.
pub(crate) async fn next_event(socket: &mut Ws) -> (i64, Value) {
    let frame = ws::next_frame(socket).await;
    assert!(frame.starts_with("MESSAGE\n"), "{frame}");
    let seq = header(&frame, "seq")
        .expect("a seq header")
        .parse()
        .unwrap();
    let body = &frame[frame.find("\n\n").unwrap() + 2..frame.len() - 1];
    (seq, serde_json::from_str(body).unwrap())
}

/// The `Event-Seq` of a `GET` (`/orders` or `/products`), if it has one.
pub(crate) async fn event_seq(http: &reqwest::Client, url: &str) -> Option<i64> {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let seq = response.headers().get("event-seq")?;
    Some(seq.to_str().unwrap().parse().unwrap())
}

/// Waits until `addr`'s `/topic/products` has relayed up to `seq`.
pub(crate) async fn products_reach(http: &reqwest::Client, addr: &str, seq: i64) {
    let url = format!("http://{addr}/products");
    wait_until(
        "the stock relay catches up",
        Duration::from_secs(20),
        async || event_seq(http, &url).await >= Some(seq),
    )
    .await;
}

/// Whether the socket closes without a MESSAGE before (heart-beats and
/// other frames aside).
pub(crate) async fn no_message_before_close(socket: &mut Ws) -> bool {
    loop {
        match tokio::time::timeout(ws::PATIENCE, socket.next()).await {
            Err(_) => panic!("the socket stays open"),
            Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(Message::Text(text)))) if text.starts_with("MESSAGE") => return false,
            Ok(Some(Ok(_))) => {}
        }
    }
}
