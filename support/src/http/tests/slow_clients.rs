//! Slow, silent and idle clients meet the timeouts; a slow handler does
//! not; shutdown lets the request in flight finish.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{PATIENCE, limits, read_answer, read_to_close, request, spawn};

#[tokio::test]
async fn a_half_sent_head_is_cut_off() {
    let server = spawn(limits(200, 5_000, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    // Dripping more header bytes does not buy more time: a line whenever
    // the server has kept it open another 50 ms (the drip's pace), until
    // the server closes it.
    tokio::time::timeout(PATIENCE, async {
        let mut byte = [0u8; 1];
        while tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut byte))
            .await
            .is_err()
        {
            let _ = tcp.write_all(b"x-drip: 1\r\n").await;
        }
    })
    .await
    .expect("the dripping head is cut off");
    read_to_close(&mut tcp).await;
}

#[tokio::test]
async fn a_silent_connection_is_closed() {
    let server = spawn(limits(200, 5_000, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_to_close(&mut tcp).await, "");
}

#[tokio::test]
async fn keep_alive_outlives_the_header_timeout_then_ends_when_idle() {
    let server = spawn(limits(200, 5_000, 1_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
    // Idle longer than the header timeout (until a connection opened now,
    // and silent, is closed by it): still usable.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    assert!(request(&mut tcp, "/").await.starts_with("HTTP/1.1 200"));
    // Then the idle timeout closes it.
    assert_eq!(read_to_close(&mut tcp).await, "");
}

#[tokio::test]
async fn a_slow_handler_is_not_a_slow_client() {
    // The request's handling takes longer than the timeouts: it ends only
    // once a connection opened after it started, and silent, is cut off.
    let server = spawn(limits(100, 100, 100, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, server.slow_started.notified())
        .await
        .expect("/slow was called");
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    server.slow_release.add_permits(1);
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_a_408() {
    let server = spawn(limits(5_000, 200, 60_000, 16)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A body that arrives in time is fine.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 4\r\n\r\nabcd")
        .await
        .unwrap();
    let answer = read_answer(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    let server = spawn(limits(60_000, 60_000, 60_000, 16)).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    assert!(request(&mut idle, "/").await.starts_with("HTTP/1.1 200"));
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    // Shut down only once the request is being handled.
    tokio::time::timeout(PATIENCE, server.slow_started.notified())
        .await
        .expect("/slow was called");
    server.stopping.shutdown.cancel();
    // The idle connection is closed while the request is still in flight;
    // then the request finishes, and is answered.
    assert_eq!(read_to_close(&mut idle).await, "");
    server.slow_release.add_permits(1);
    let answer = read_to_close(&mut busy).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"),
        "{answer}"
    );
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
}
