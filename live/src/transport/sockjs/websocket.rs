//! SockJS's websocket transport, `{path}/{server}/{session}/websocket`:
//! the transport's WebSocket pump with SockJS framing (`o`, `a[…]`, `h`,
//! `c[…]`). It keeps no session: the socket is the session.

use axum::{extract::Request, response::Response};

use super::frames;
use crate::transport::{
    Shared,
    websocket::{self, Framing},
};

/// SockJS frames around JSON arrays of messages.
const SOCKJS: Framing = Framing {
    open: Some(frames::OPEN),
    heartbeat: Some(frames::HEARTBEAT),
    encode: frames::batch,
    decode,
    goodbye: Some((frames::GO_AWAY, 3000, "Go away!")),
    restart: Some(frames::RESTART),
};

/// An empty SockJS message carries nothing; broken JSON ends the
/// connection, as the protocol asks.
fn decode(text: String) -> Result<Vec<String>, &'static str> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    frames::parse_client(&text).ok_or("Broken JSON encoding")
}

/// `GET {path}/{server}/{session}/websocket`.
pub(super) async fn upgrade(shared: Shared, request: Request) -> Response {
    websocket::upgrade(shared, request, &SOCKJS).await
}
