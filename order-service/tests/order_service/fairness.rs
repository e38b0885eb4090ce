//! One client cannot use up what the others need. Floods from one address
//! (127.0.0.1) against clients on another (127.0.0.2; every 127.x address
//! is this host, but a different client to the server): renewed half-sent
//! request heads, WebSockets that never say CONNECT, silent sockets on the
//! gRPC port until the process would run out of files. And behind a
//! trusted proxy, each client it names has its own share.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use futures::SinkExt;
use proto::{OrderRequest, order_service_client::OrderServiceClient};
use support::testing::{
    Backend, TestDatabase, tcp_from,
    ws::{self, STOMP_CONNECT, Ws},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::Notify,
    task::JoinSet,
};
use tokio_tungstenite::tungstenite::Message;
use tonic::transport::Channel;

use crate::common::{self, TestSystem, wait_until};

const FLOODER: [u8; 4] = [127, 0, 0, 1];
const SOMEONE_ELSE: [u8; 4] = [127, 0, 0, 2];

/// An HTTP client whose connections come from `from`.
fn http_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

/// Keeps `n` connections from the flooder's address sending half a request
/// head each, as the probe did (its heads were renewed before the header
/// timeout ran out): one the server closes is replaced at once; one it
/// refuses tries again as soon as the server closes another of the flood's
/// (a seat is free). Dropping the flood ends it.
fn flood_half_sent_heads(n: usize, to: SocketAddr) -> JoinSet<()> {
    let freed = Arc::new(Notify::new());
    let mut flood = JoinSet::new();
    for _ in 0..n {
        let freed = freed.clone();
        flood.spawn(async move {
            loop {
                // Listening before trying: a seat freed meanwhile counts.
                let seat = freed.notified();
                tokio::pin!(seat);
                seat.as_mut().enable();
                // A connection that fails ends its part of the flood, which
                // the test sees: the budget is never filled.
                let Ok(mut tcp) = tcp_from(FLOODER, to).await else {
                    return;
                };
                let _ = tcp.write_all(b"POST /orders HTTP/1.1\r\nhost: x\r\n").await;
                let mut byte = [0u8; 1];
                match tcp.read(&mut byte).await {
                    // Closed (timed out, or shed for someone else).
                    Ok(0) => freed.notify_waiters(),
                    // Refused: its 503, or a reset.
                    Ok(_) | Err(_) => seat.await,
                }
            }
        });
    }
    flood
}

#[tokio::test]
async fn renewed_half_sent_heads_from_one_address_cannot_fail_anyone_elses_orders() {
    // The share is the whole cap here, so only shedding protects the others.
    let sys = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.http.max_http_connections = 64;
        c.http.http_header_timeout_ms = 2_000;
    })
    .await;
    let addr = sys.orders.as_ref().unwrap().http_addr;
    let mut flood = flood_half_sent_heads(200, addr);
    // Until the flood has filled the budget: the flooder itself is refused.
    wait_until(
        "the flood filled the budget",
        Duration::from_secs(15),
        async || {
            let Ok(mut tcp) = tcp_from(FLOODER, addr).await else {
                return false;
            };
            let _ = tcp
                .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
                .await;
            let mut head = [0u8; 12];
            tcp.read_exact(&mut head).await.is_ok() && head.ends_with(b"503")
        },
    )
    .await;
    let client = http_from(SOMEONE_ELSE);
    let mut statuses = Vec::new();
    for i in 0..100 {
        let product = ["Headphones", "Phone", "Tablet", "Laptop", "Monitor"][i % 5];
        let response = client
            .post(sys.url("/orders"))
            .json(&serde_json::json!({ "product": product, "quantity": 1 }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    flood.shutdown().await;
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!(ok, 100, "statuses: {statuses:?}");
    // The test's own client shares the flooder's address: wait until the
    // server has seen the flood's sockets close.
    wait_until(
        "the flood's seats were given back",
        Duration::from_secs(15),
        async || matches!(sys.http.get(sys.url("/health/live")).send().await, Ok(r) if r.status() == 200),
    )
    .await;
    sys.settle().await;
    sys.assert_invariant().await;
    sys.stop().await;
}

/// A WebSocket to `/ws-orders` from `from`, or the refused upgrade's status.
async fn live_from(sys: &TestSystem, from: [u8; 4], headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let url = format!("ws://{}/ws-orders", sys.orders.as_ref().unwrap().http_addr);
    ws::connect_from(Some(IpAddr::from(from)), &url, headers)
        .await
        .map(|(socket, _)| socket)
}

#[tokio::test]
async fn websockets_that_never_connect_from_one_address_cannot_keep_others_out() {
    // The handshake share is the whole budget: only shedding protects.
    let sys = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.max_live_handshakes = 16;
    })
    .await;
    // Until the budget is full (16, or less where the open-file limit made
    // the service lower its caps).
    let mut silent = Vec::new();
    while let Ok(socket) = live_from(&sys, FLOODER, &[]).await {
        silent.push(socket);
        assert!(silent.len() <= 16, "more handshakes than the budget");
    }
    assert!(!silent.is_empty());
    // Another client gets in, and its events.
    let mut socket = live_from(&sys, SOMEONE_ELSE, &[]).await.expect("a seat");
    ws::connect_and_subscribe(&mut socket, "/topic/orders").await;
    sys.order("Laptop", 1).await;
    assert!(ws::next_frame(&mut socket).await.starts_with("MESSAGE"));
    // The flooder's newest silent socket made room, and was told why.
    let newest = silent.last_mut().unwrap();
    assert_eq!(u16::from(ws::close_code(newest).await), 1013);
    sys.stop().await;
}

#[tokio::test]
async fn one_address_gets_its_share_of_live_handshakes() {
    let sys = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.max_live_handshakes = 64;
        c.max_live_handshakes_per_client = 4;
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(live_from(&sys, FLOODER, &[]).await.unwrap());
    }
    assert_eq!(live_from(&sys, FLOODER, &[]).await.err(), Some(503));
    let mut socket = live_from(&sys, SOMEONE_ELSE, &[]).await.unwrap();
    socket.send(Message::text(STOMP_CONNECT)).await.unwrap();
    assert!(ws::next_frame(&mut socket).await.starts_with("CONNECTED"));
    sys.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_it_names_has_its_own_share() {
    let sys = TestSystem::spawn_with(Backend::Sqlite, |c| {
        c.http.trusted_proxies = "127.0.0.1".parse().unwrap();
        c.max_live_handshakes_per_client = 2;
        c.max_live_connections_per_client = 3;
    })
    .await;
    let behind = |client: &'static str| [("x-forwarded-for", client)];
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(
            live_from(&sys, FLOODER, &behind("203.0.113.1"))
                .await
                .unwrap(),
        );
    }
    // That client's share is taken; another behind the same proxy is fine.
    assert_eq!(
        live_from(&sys, FLOODER, &behind("203.0.113.1")).await.err(),
        Some(503)
    );
    held.push(
        live_from(&sys, FLOODER, &behind("203.0.113.2"))
            .await
            .unwrap(),
    );
    // Someone who is not a trusted proxy cannot pick an address.
    let spoofed = behind("203.0.113.3");
    held.push(live_from(&sys, SOMEONE_ELSE, &spoofed).await.unwrap());
    held.push(live_from(&sys, SOMEONE_ELSE, &spoofed).await.unwrap());
    assert_eq!(
        live_from(&sys, SOMEONE_ELSE, &spoofed).await.err(),
        Some(503)
    );
    // The connected budget is shared per named client as well.
    let mut connected = Vec::new();
    for i in 0..4 {
        let mut socket = live_from(&sys, FLOODER, &behind("203.0.113.9"))
            .await
            .unwrap();
        socket.send(Message::text(STOMP_CONNECT)).await.unwrap();
        let frame = ws::next_frame(&mut socket).await;
        if i < 3 {
            assert!(frame.starts_with("CONNECTED"), "{frame}");
        } else {
            assert!(
                frame.starts_with("ERROR") && frame.contains("too many connections"),
                "{frame}"
            );
        }
        connected.push(socket);
    }
    sys.stop().await;
}

#[tokio::test]
async fn silent_sockets_on_the_grpc_port_never_run_the_process_out_of_files() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    // A database of its own: the in-process order-service holds its file.
    let own_db = TestDatabase::create(Backend::Sqlite, "file_limit").await;
    let config = order_service::Config {
        database_url: own_db.url.clone(),
        ..sys.order_config.clone()
    };
    // 400 files: the connection caps are fitted under it (a few for gRPC).
    let (mut child, http, grpc) = common::process::spawn_with_file_limit(&config, 400).await;
    let mut silent = Vec::new();
    for _ in 0..600 {
        // A server out of files stops accepting, and connecting then hangs.
        match tokio::time::timeout(Duration::from_secs(2), tcp_from(FLOODER, grpc)).await {
            Ok(Ok(tcp)) => silent.push(tcp),
            Ok(Err(_)) => {}
            Err(_) => break,
        }
    }
    // REST still answers and takes orders...
    let client = http_from(SOMEONE_ELSE);
    let live = client
        .get(format!("http://{http}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let order = client
        .post(format!("http://{http}/orders"))
        .json(&serde_json::json!({ "product": "Phone", "quantity": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 200);
    // ...and so does gRPC, for someone else.
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .local_address(Some(IpAddr::from(SOMEONE_ELSE)))
        .connect()
        .await
        .expect("gRPC connects");
    let answer = OrderServiceClient::new(channel)
        .create_order(OrderRequest {
            product: "Phone".into(),
            quantity: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status, "CREATED");
    drop(silent);
    child.kill().await.unwrap();
    sys.stop().await;
    own_db.cleanup().await;
}
