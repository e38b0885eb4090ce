//! A WebSocket and STOMP client for tests of live events: connect with the
//! headers a test cares about (or learn the status of a refused upgrade),
//! read the next text message, STOMP frame or close code, and subscribe.
//! Everything waits at most [`PATIENCE`], so a test fails instead of
//! hanging.

use std::{net::IpAddr, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        Error, Message,
        client::IntoClientRequest,
        http::{HeaderName, HeaderValue},
        protocol::frame::coding::CloseCode,
    },
};

/// A client WebSocket over plain TCP.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Upper bound for anything that must arrive.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The request header offering subprotocols, comma-separated.
pub const PROTOCOLS: &str = "sec-websocket-protocol";

/// A STOMP 1.2 CONNECT frame.
pub const STOMP_CONNECT: &str = "CONNECT\naccept-version:1.2\nhost:localhost\n\n\0";

/// Opens a WebSocket to `url`, sending `headers` with the upgrade (e.g.
/// `origin`, [`PROTOCOLS`]). Returns the socket and the subprotocol the
/// server chose, or the HTTP status of a refused upgrade; panics on any
/// other failure.
pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<(Ws, Option<String>), u16> {
    connect_from(None, url, headers).await
}

/// [`connect`] from the local address `from` (e.g. `127.0.0.2`: another
/// client to a server on loopback), or any when `None`.
pub async fn connect_from(
    from: Option<IpAddr>,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, Option<String>), u16> {
    let mut request = url.into_client_request().expect("a WebSocket URL");
    for &(name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    let connected = tokio::time::timeout(PATIENCE, async {
        let Some(from) = from else {
            return tokio_tungstenite::connect_async(request).await;
        };
        let host = request.uri().host().expect("a host").to_owned();
        let port = request.uri().port_u16().unwrap_or(80);
        let to = tokio::net::lookup_host((host.as_str(), port))
            .await
            .expect("the server's address")
            .find(|a| a.is_ipv4() == from.is_ipv4())
            .expect("an address of the same family");
        let socket = match from {
            IpAddr::V4(_) => TcpSocket::new_v4(),
            IpAddr::V6(_) => TcpSocket::new_v6(),
        }
        .expect("a socket");
        socket.bind((from, 0).into()).expect("the local address");
        let tcp = socket.connect(to).await.expect("TCP connects");
        tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await
    })
    .await
    .expect("the WebSocket handshake in time");
    match connected {
        Ok((ws, response)) => {
            let chosen = response
                .headers()
                .get(PROTOCOLS)
                .map(|v| v.to_str().expect("an ASCII subprotocol").to_owned());
            Ok((ws, chosen))
        }
        Err(Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("WebSocket to {url}: {e}"),
    }
}

/// The next message, skipping pings and pongs.
async fn next_message(ws: &mut Ws) -> Option<Result<Message, Error>> {
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a message in time");
        if !matches!(message, Some(Ok(Message::Ping(_) | Message::Pong(_)))) {
            return message;
        }
    }
}

/// The next text message; panics on anything else (a close, binary, an
/// error, the end of the stream).
pub async fn next_text(ws: &mut Ws) -> String {
    match next_message(ws).await {
        Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The next text message that is not a heart-beat (STOMP's `\n`, SockJS's
/// `h`).
pub async fn next_frame(ws: &mut Ws) -> String {
    loop {
        let text = next_text(ws).await;
        if text != "\n" && text != "h" {
            return text;
        }
    }
}

/// The code of the next close frame, skipping messages before it; panics
/// when the socket ends without one.
pub async fn close_code(ws: &mut Ws) -> CloseCode {
    loop {
        match next_message(ws).await {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code,
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("error before close: {e}"),
        }
    }
}

/// Whether the socket ends (a close frame, an error or the end of the
/// stream) within `limit`, skipping messages before.
pub async fn ends_within(ws: &mut Ws, limit: Duration) -> bool {
    let end = async {
        loop {
            match ws.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(limit, end).await.is_ok()
}

/// A STOMP SUBSCRIBE frame to `destination` (subscription id `0`) asking
/// for a receipt.
pub fn stomp_subscribe_frame(destination: &str) -> String {
    format!("SUBSCRIBE\nid:0\ndestination:{destination}\nreceipt:ok\n\n\0")
}

async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("socket open");
}

/// CONNECTs over a raw STOMP WebSocket and subscribes to `destination`,
/// checking that the server answers CONNECTED and RECEIPT.
pub async fn connect_and_subscribe(ws: &mut Ws, destination: &str) {
    send_text(ws, STOMP_CONNECT).await;
    let connected = next_frame(ws).await;
    assert!(connected.starts_with("CONNECTED"), "{connected}");
    send_text(ws, &stomp_subscribe_frame(destination)).await;
    let receipt = next_frame(ws).await;
    assert!(receipt.starts_with("RECEIPT"), "{receipt}");
}

#[cfg(test)]
mod tests;
