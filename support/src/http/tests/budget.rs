//! The connection budget: a cap, each client's share, shedding the
//! largest holder's newest unused connection, upgraded sockets leaving the
//! budget, a trusted proxy's clients each with a share of their own.

use futures::{SinkExt, StreamExt};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use super::{
    FLOODER, HttpLimits, PATIENCE, SOMEONE_ELSE, TrustedProxies, connect_from, eventually,
    half_sent_heads, limits, read_answer, read_to_close, request, spawn,
};

#[tokio::test]
async fn beyond_the_cap_new_connections_get_503_and_served_ones_go_on() {
    let server = spawn(limits(60_000, 60_000, 60_000, 4)).await;
    // One served connection, and three that sit there.
    let mut served = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut served, "/").await.starts_with("HTTP/1.1 200"));
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // The cap is reached: the next is refused at once, with a JSON 503.
    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    let _ = refused
        .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .await;
    let answer = read_to_close(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.ends_with(",\"message\":\"Too many connections\"}\n"),
        "{answer}"
    );
    assert!(
        answer.contains(r#""status":503,"error":"Service Unavailable","path":"","#),
        "{answer}"
    );
    // The connection already served is not starved.
    assert!(request(&mut served, "/").await.starts_with("HTTP/1.1 200"));
    // Room again once one goes.
    drop(idle.pop());
    eventually("a slot freed", async || {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        let served = request(&mut tcp, "/").await.starts_with("HTTP/1.1 200");
        served.then_some(tcp)
    })
    .await;
}

#[tokio::test]
async fn websockets_leave_the_http_budget() {
    let server = spawn(limits(60_000, 60_000, 60_000, 2)).await;
    let url = format!("ws://{}/ws", server.addr);
    let mut sockets = Vec::new();
    for i in 0..5 {
        // An upgraded connection releases its slot just after the upgrade.
        let what = format!("websocket {i} accepted");
        let mut ws = eventually(&what, async || {
            let connected = tokio_tungstenite::connect_async(&url).await;
            connected.ok().map(|(ws, _)| ws)
        })
        .await;
        ws.send(tokio_tungstenite::tungstenite::Message::text("hi"))
            .await
            .unwrap();
        let echoed = tokio::time::timeout(PATIENCE, ws.next()).await.unwrap();
        assert!(matches!(echoed, Some(Ok(m)) if m.is_text()));
        sockets.push(ws);
    }
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn one_address_gets_its_share_and_others_are_served() {
    let server = spawn(HttpLimits {
        max_http_connections_per_client: 4,
        ..limits(60_000, 60_000, 60_000, 16)
    })
    .await;
    let _heads = half_sent_heads(4, FLOODER, server.addr).await;
    // The flooder's share is taken: it is refused...
    let mut refused = connect_from(FLOODER, server.addr).await;
    let answer = read_to_close(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // ...while the budget has room for everyone else.
    let mut tcp = connect_from(SOMEONE_ELSE, server.addr).await;
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn when_full_a_newcomer_takes_the_largest_holders_newest_unused_connection() {
    // A share as large as the cap: only shedding protects the others.
    let server = spawn(limits(60_000, 60_000, 60_000, 4)).await;
    let mut heads = half_sent_heads(4, FLOODER, server.addr).await;
    let mut tcp = connect_from(SOMEONE_ELSE, server.addr).await;
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
    // The flooder's newest half-sent head paid for it, and nothing else.
    let newest = heads.pop().unwrap();
    let mut newest = newest;
    assert_eq!(read_to_close(&mut newest).await, "");
    // The flooder holds the most: its own new connections are refused.
    let mut refused = connect_from(FLOODER, server.addr).await;
    assert!(
        read_to_close(&mut refused)
            .await
            .starts_with("HTTP/1.1 503")
    );
    // Its older heads are still open: finishing one gets an answer.
    heads[0].write_all(b"st\r\n\r\n").await.unwrap();
    assert!(read_answer(&mut heads[0]).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn requests_in_flight_are_never_shed() {
    let server = spawn(limits(60_000, 60_000, 60_000, 2)).await;
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect_from(FLOODER, server.addr).await;
        tcp.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        tokio::time::timeout(PATIENCE, server.slow_started.notified())
            .await
            .expect("/slow was called");
        busy.push(tcp);
    }
    let mut refused = connect_from(SOMEONE_ELSE, server.addr).await;
    assert!(
        read_to_close(&mut refused)
            .await
            .starts_with("HTTP/1.1 503")
    );
    server.slow_release.add_permits(busy.len());
    for tcp in &mut busy {
        assert!(read_answer(tcp).await.starts_with("HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_is_exempt_from_the_share() {
    let proxies: TrustedProxies = "127.0.0.1".parse().unwrap();
    let server = spawn(HttpLimits {
        max_http_connections_per_client: 1,
        trusted_proxies: proxies,
        ..limits(60_000, 60_000, 60_000, 16)
    })
    .await;
    // The proxy carries many clients: more connections than one's share.
    let mut connections = Vec::new();
    for _ in 0..3 {
        connections.push(connect_from(FLOODER, server.addr).await);
    }
    let ask = |forwarded: &str| {
        format!("GET /client HTTP/1.1\r\nhost: test\r\nx-forwarded-for: {forwarded}\r\n\r\n")
    };
    connections[2]
        .write_all(ask("198.51.100.7, 203.0.113.9").as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut connections[2]).await;
    assert!(answer.ends_with("203.0.113.9 proxy=false"), "{answer}");
    // Anyone else's forwarding headers are not believed, and the share holds.
    let mut direct = connect_from(SOMEONE_ELSE, server.addr).await;
    direct
        .write_all(ask("203.0.113.9").as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut direct).await;
    assert!(answer.ends_with("127.0.0.2 proxy=false"), "{answer}");
    let mut second = connect_from(SOMEONE_ELSE, server.addr).await;
    assert!(read_to_close(&mut second).await.starts_with("HTTP/1.1 503"));
}
