//! One HTTP/1.1 request written byte for byte: the request target exactly
//! as given (HTTP clients normalise `..` and some escapes away, which is
//! what a test of path handling must not let them do).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `method target` to `addr` on a fresh connection and returns the
/// status, the head and the body of the answer (read until the server
/// closes; the request asks it to).
pub async fn raw_request(addr: SocketAddr, method: &str, target: &str) -> (u16, String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("{method} {target} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a head: {answer}"));
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    (status, head.to_owned(), body.to_owned())
}
