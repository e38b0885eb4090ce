//! Stopping without losing a request: while draining every HTTP/1 answer
//! closes its connection and serving goes on; at shutdown, connections
//! the kernel already completed, and fresh ones whose request is on its
//! way, are answered rather than reset.

use super::*;

/// Whether an answer's head says `connection: close`.
fn closes(answer: &str) -> bool {
    answer
        .to_ascii_lowercase()
        .lines()
        .any(|line| line.trim() == "connection: close")
}

#[tokio::test]
async fn while_draining_answers_close_their_connection_and_serving_goes_on() {
    let server = spawn(limits(60_000, 60_000, 60_000, 16)).await;
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    let before = request(&mut kept, "/").await;
    assert!(
        before.starts_with("HTTP/1.1 200") && !closes(&before),
        "{before}"
    );

    server.stopping.draining.cancel();
    // The kept-alive connection gets its answer, marked as the last one,
    // and is then closed by the server.
    let last = request(&mut kept, "/").await;
    assert!(last.starts_with("HTTP/1.1 200") && closes(&last), "{last}");
    assert_eq!(read_to_close(&mut kept).await, "");
    // The listener is still open: new connections are served, once each.
    let mut fresh = TcpStream::connect(server.addr).await.unwrap();
    let answer = request(&mut fresh, "/").await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && closes(&answer),
        "{answer}"
    );

    server.stopping.shutdown.cancel();
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn connections_queued_on_the_listener_at_shutdown_are_answered() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Completed by the kernel, requests sent, never accepted yet: what a
    // proxy has in flight at the moment the listener closes.
    let mut queued = Vec::new();
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        queued.push(tcp);
    }
    let stopping = stopping();
    stopping.draining.cancel();
    stopping.shutdown.cancel();
    let server = spawn_on(listener, limits(60_000, 60_000, 60_000, 16), stopping);
    for mut tcp in queued {
        let answer = read_to_close(&mut tcp).await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && closes(&answer),
            "{answer:?}"
        );
    }
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
    // Closed: connecting is refused now, which a proxy retries elsewhere.
    let refused = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn a_fresh_connection_may_finish_sending_its_request_after_shutdown() {
    let server = spawn(limits(60_000, 60_000, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HT").await.unwrap();
    server.stopping.draining.cancel();
    server.stopping.shutdown.cancel();
    // The rest of the head arrives after the shutdown began (a proxy's
    // request split across packets): it is still answered.
    tcp.write_all(b"TP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && closes(&answer),
        "{answer:?}"
    );
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
}
