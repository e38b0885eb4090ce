//! The session driven through an in-memory connection: frames in, frames out.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::*;
use crate::{
    events::Publish,
    transport::outgoing::{self, Queued},
};

mod replay;

struct Client {
    to_server: mpsc::Sender<String>,
    from_server: Queued,
    task: tokio::task::JoinHandle<()>,
}

/// The transports' default byte budget per connection.
const BUDGET: usize = 64 * 1024;

fn start(broker: &Broker, config: StompConfig, queue: usize) -> Client {
    start_with_budget(broker, config, queue, BUDGET)
}

/// A session whose connection queues at most `queue` messages and `bytes`
/// bytes.
fn start_with_budget(broker: &Broker, config: StompConfig, queue: usize, bytes: usize) -> Client {
    let (to_server, incoming) = mpsc::channel(16);
    let (outgoing, from_server) = outgoing::channel(queue, bytes);
    let task = tokio::spawn(serve(
        Connection {
            incoming,
            outgoing,
            peer: None,
            admission: crate::transport::Admission::unlimited(),
            stopping: tokio_util::sync::CancellationToken::new(),
        },
        broker.clone(),
        config,
    ));
    Client {
        to_server,
        from_server,
        task,
    }
}

impl Client {
    async fn send(&self, frame: &str) {
        self.to_server.send(frame.to_owned()).await.unwrap();
    }

    async fn recv(&mut self) -> String {
        // Long enough for a heart-beat when the test's clock is paused.
        tokio::time::timeout(Duration::from_secs(60), self.from_server.recv())
            .await
            .expect("a frame in time")
            .expect("connection open")
    }

    /// The next frame that is not a heart-beat.
    async fn frame(&mut self) -> String {
        loop {
            let f = self.recv().await;
            if f != "\n" {
                return f;
            }
        }
    }

    async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.from_server.recv()).await {
                Ok(None) => return true,
                Ok(Some(_)) => {}
                Err(_) => return false,
            }
        }
    }

    async fn connect(&mut self) {
        self.send("CONNECT\naccept-version:1.1,1.2\nhost:x\n\n\0")
            .await;
        assert!(self.frame().await.starts_with("CONNECTED\nversion:1.2\n"));
    }

    async fn subscribe(&mut self, id: &str, destination: &str) {
        self.send(&format!(
            "SUBSCRIBE\nid:{id}\ndestination:{destination}\nreceipt:subscribed\n\n\0"
        ))
        .await;
        assert_eq!(self.frame().await, "RECEIPT\nreceipt-id:subscribed\n\n\0");
    }
}

fn header<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    frame
        .split("\n\n")
        .next()?
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
}

#[tokio::test]
async fn negotiates_the_best_common_version() {
    let broker = Broker::default();
    for (offered, chosen) in [("1.0,1.1,1.2", "1.2"), ("1.1", "1.1"), ("", "1.0")] {
        let mut c = start(&broker, StompConfig::default(), 8);
        let accept = if offered.is_empty() {
            String::new()
        } else {
            format!("accept-version:{offered}\n")
        };
        c.send(&format!("STOMP\n{accept}host:x\n\n\0")).await;
        let connected = c.frame().await;
        assert_eq!(header(&connected, "version"), Some(chosen), "{connected}");
        assert!(header(&connected, "session").is_some());
        assert_eq!(header(&connected, "heart-beat"), Some("10000,10000"));
    }
    let mut c = start(&broker, StompConfig::default(), 8);
    c.send("CONNECT\naccept-version:2.0\n\n\0").await;
    let error = c.frame().await;
    assert!(error.starts_with("ERROR\n"));
    assert_eq!(header(&error, "version"), Some("1.0,1.1,1.2"));
    assert!(c.closed().await);
}

#[tokio::test]
async fn delivers_one_message_per_subscription_with_every_header() {
    let broker = Broker::default();
    let mut c = start(&broker, StompConfig::default(), 8);
    c.connect().await;
    c.subscribe("sub:1", "/topic/orders").await;
    c.subscribe("p", "/topic/products").await;
    broker.publish("/topic/orders", None, Bytes::from_static(br#"{"id":1}"#));
    let message = c.frame().await;
    assert!(message.starts_with("MESSAGE\n"));
    assert_eq!(header(&message, "destination"), Some("/topic/orders"));
    assert_eq!(
        header(&message, "subscription"),
        Some("sub\\c1"),
        "escaped as 1.2 requires"
    );
    assert_eq!(header(&message, "content-type"), Some("application/json"));
    assert_eq!(header(&message, "content-length"), Some("8"));
    assert!(header(&message, "message-id").is_some());
    assert!(message.ends_with("\n\n{\"id\":1}\0"));
    // Unsubscribed topics stay quiet; unsubscribing stops delivery.
    // With a receipt, so the events below cannot overtake it.
    c.send("UNSUBSCRIBE\nid:sub\\c1\nreceipt:u\n\n\0").await;
    assert_eq!(c.frame().await, "RECEIPT\nreceipt-id:u\n\n\0");
    broker.publish("/topic/orders", None, Bytes::from_static(b"{}"));
    broker.publish(
        "/topic/products",
        None,
        Bytes::from_static(br#"{"name":"x"}"#),
    );
    let next = c.frame().await;
    assert_eq!(header(&next, "destination"), Some("/topic/products"));
}

#[tokio::test]
async fn receipts_for_any_frame_and_disconnect_closes() {
    let broker = Broker::default();
    let mut c = start(&broker, StompConfig::default(), 8);
    c.connect().await;
    c.send("BEGIN\ntransaction:t\nreceipt:77\n\n\0").await;
    assert_eq!(c.frame().await, "RECEIPT\nreceipt-id:77\n\n\0");
    c.send("DISCONNECT\nreceipt:bye\n\n\0").await;
    assert_eq!(c.frame().await, "RECEIPT\nreceipt-id:bye\n\n\0");
    assert!(c.closed().await);
}

#[tokio::test]
async fn protocol_violations_get_an_error_then_close() {
    let broker = Broker::default();
    let cases = [
        (
            "SEND\ndestination:/topic/orders\n\n{}\0",
            "clients cannot publish",
        ),
        (
            "SUBSCRIBE\nid:1\ndestination:/queue/x\n\n\0",
            "unknown destination",
        ),
        ("SUBSCRIBE\ndestination:/topic/orders\n\n\0", "missing id"),
        ("FROB\n\n\0", "unknown command"),
        (
            "SUBSCRIBE\nid:1\ndestination:/topic/a\\tb\n\n\0",
            "malformed frame",
        ),
        ("CONNECT\n\n\0", "already connected"),
    ];
    for (frame, message) in cases {
        let mut c = start(&broker, StompConfig::default(), 8);
        c.connect().await;
        c.send(frame).await;
        let error = c.frame().await;
        assert!(error.starts_with("ERROR\n"), "{frame:?}: {error}");
        assert_eq!(header(&error, "message"), Some(message), "{frame:?}");
        assert!(c.closed().await, "{frame:?}");
        assert!(c.task.await.is_ok(), "no panic");
    }
    let mut c = start(&broker, StompConfig::default(), 8);
    c.send("SUBSCRIBE\nid:1\ndestination:/topic/orders\n\n\0")
        .await;
    assert_eq!(header(&c.frame().await, "message"), Some("not connected"));
}

#[tokio::test]
async fn oversized_frames_and_too_many_subscriptions_are_refused() {
    let broker = Broker::default();
    let config = StompConfig {
        max_frame_bytes: 1024,
        max_subscriptions: 2,
        ..StompConfig::default()
    };
    let mut c = start(&broker, config.clone(), 8);
    c.connect().await;
    c.send(&format!(
        "SUBSCRIBE\nid:1\ndestination:/topic/orders\n\n{}",
        "x".repeat(2000)
    ))
    .await;
    assert_eq!(header(&c.frame().await, "message"), Some("malformed frame"));
    assert!(c.closed().await);

    let mut c = start(&broker, config, 8);
    c.connect().await;
    c.subscribe("a", "/topic/orders").await;
    c.subscribe("b", "/topic/products").await;
    c.send("SUBSCRIBE\nid:c\ndestination:/topic/x\n\n\0").await;
    assert_eq!(
        header(&c.frame().await, "message"),
        Some("too many subscriptions")
    );
}

#[tokio::test(start_paused = true)]
async fn heart_beats_are_sent_and_silence_is_detected() {
    let broker = Broker::default();
    let mut c = start(&broker, StompConfig::default(), 8);
    c.send("CONNECT\naccept-version:1.2\nheart-beat:15000,20000\n\n\0")
        .await;
    assert!(c.recv().await.starts_with("CONNECTED"));
    // We send every max(10 s, 20 s) = 20 s.
    let start = tokio::time::Instant::now();
    assert_eq!(c.recv().await, "\n");
    assert_eq!(start.elapsed().as_secs(), 20);
    // The client said it sends every 15 s (we accept ≥10 s); silence for
    // twice that ends the session.
    let error = c.frame().await;
    assert_eq!(header(&error, "message"), Some("heart-beat timeout"));
    assert!(start.elapsed() >= Duration::from_secs(30));
    assert!(c.closed().await);
}

#[tokio::test]
async fn a_slow_consumer_is_dropped_and_others_get_everything() {
    let broker = Broker::default();
    // The slow client's queue holds 1 message and it never reads.
    let config = StompConfig {
        send_timeout: Duration::from_millis(200),
        ..StompConfig::default()
    };
    let mut slow = start(&broker, config.clone(), 2);
    slow.connect().await;
    slow.subscribe("0", "/topic/orders").await;
    let mut fast = start(&broker, config, 256);
    fast.connect().await;
    fast.subscribe("0", "/topic/orders").await;
    for i in 0..100 {
        broker.publish(
            "/topic/orders",
            None,
            Bytes::from(format!("{{\"id\":{i}}}")),
        );
        let m = fast.frame().await;
        assert!(m.ends_with(&format!("{{\"id\":{i}}}\0")), "{m}");
    }
    // Wait for the slow session to give up (without reading its queue,
    // which would make room and let it go on).
    tokio::time::timeout(Duration::from_secs(5), &mut slow.task)
        .await
        .expect("the slow consumer is dropped")
        .expect("its session ends without panicking");
    assert!(slow.closed().await, "its connection is closed");
    assert!(!fast.task.is_finished(), "the fast consumer stays");
}

#[tokio::test(start_paused = true)]
async fn the_first_frame_may_take_a_minute_as_in_spring() {
    let broker = Broker::default();
    // Spring's timeToFirstMessage: 60 s (a SockJS client may be slow to
    // settle on a transport; its heart-beats keep the connection open).
    // The clock is paused: each sleep below lets the sessions run until
    // they wait, then jumps to the next timer, so it measures the session's
    // deadline rather than standing in for synchronisation.
    let mut patient = start(&broker, StompConfig::default(), 8);
    tokio::time::sleep(Duration::from_secs(59)).await;
    patient.connect().await;
    let mut silent = start(&broker, StompConfig::default(), 8);
    tokio::time::sleep(Duration::from_secs(61)).await;
    let error = silent.frame().await;
    assert!(error.starts_with("ERROR\n"), "{error}");
    assert_eq!(header(&error, "message"), Some("no CONNECT frame"));
    assert!(silent.closed().await);
}

/// A client that never reads is dropped as soon as its queued bytes would
/// pass the budget, long before the send timeout, and no more than the
/// budget was ever queued for it.
#[tokio::test]
async fn a_client_that_never_reads_is_dropped_by_bytes_not_time() {
    const SMALL_BUDGET: usize = 4096;
    let broker = Broker::default();
    let config = StompConfig {
        send_timeout: Duration::from_secs(3600),
        ..StompConfig::default()
    };
    let mut c = start_with_budget(&broker, config, 1024, SMALL_BUDGET);
    c.connect().await;
    c.subscribe("0", "/topic/orders").await;
    let body = format!("{{\"id\":1,\"pad\":\"{}\"}}", "x".repeat(200));
    for _ in 0..100 {
        broker.publish("/topic/orders", None, Bytes::from(body.clone()));
    }
    tokio::time::timeout(Duration::from_secs(5), &mut c.task)
        .await
        .expect("dropped without waiting for the send timeout")
        .expect("its session ends without panicking");
    let mut queued = 0;
    while let Some(m) = c.from_server.try_recv() {
        queued += m.len();
    }
    assert!(queued <= SMALL_BUDGET, "{queued} bytes were queued");
    assert!(c.closed().await);
}
