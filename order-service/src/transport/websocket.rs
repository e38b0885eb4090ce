//! WebSocket at `/ws-orders` (raw: one STOMP frame per message) and at
//! `/ws-orders/{server}/{session}/websocket` (SockJS framing: `o`, `a[…]`,
//! `h`, `c[…]`). A reader task and a writer loop are joined with `select!`,
//! so whichever side ends tears the connection down.

use std::net::SocketAddr;

use axum::{
    body::Body,
    extract::{
        ConnectInfo, FromRequestParts, Request, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::{Connection, Shared, sockjs};

/// Messages buffered from a client before the session takes them; the
/// client waits (TCP back-pressure) when the session is busy.
const INCOMING_CAPACITY: usize = 32;

/// How a WebSocket carries messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// One text message per STOMP frame.
    Raw,
    /// SockJS frames around JSON arrays of messages.
    SockJs,
}

/// `GET /ws-orders`: a WebSocket upgrade, or the SockJS greeting.
pub(super) async fn raw_or_greeting(state: State<Shared>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        raw(state, request).await
    } else {
        sockjs::greeting().await.into_response()
    }
}

/// `GET /ws-orders` and `/ws-orders/websocket` with an upgrade: raw STOMP.
pub(super) async fn raw(State(shared): State<Shared>, request: Request) -> Response {
    upgrade(shared, request, Framing::Raw).await
}

/// Checks the origin and the connection limit, then upgrades.
pub(super) async fn upgrade(shared: Shared, request: Request, framing: Framing) -> Response {
    if !shared.config.allowed_origins.allows(request.headers()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (mut parts, _) = request.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let config = shared.config.clone();
    ws.protocols(["v12.stomp", "v11.stomp", "v10.stomp"])
        .read_buffer_size(config.websocket_read_buffer)
        .max_message_size(config.max_message_bytes)
        .max_frame_size(config.max_message_bytes)
        .on_upgrade(move |socket| run(socket, shared, peer, framing, permit))
}

async fn run(
    socket: WebSocket,
    shared: Shared,
    peer: Option<SocketAddr>,
    framing: Framing,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let config = shared.config.clone();
    let (to_app, incoming) = mpsc::channel(INCOMING_CAPACITY);
    let (outgoing, mut from_app) = mpsc::channel(config.outgoing_capacity);
    tokio::spawn((shared.handler)(Connection {
        incoming,
        outgoing,
        peer,
    }));
    let (mut sink, mut stream) = socket.split();

    let writer = async {
        let send = |text: String| Message::Text(text.into());
        if framing == Framing::SockJs && sink.send(send("o".into())).await.is_err() {
            return;
        }
        let mut beat = tokio::time::interval_at(
            tokio::time::Instant::now() + config.sockjs_heartbeat,
            config.sockjs_heartbeat,
        );
        loop {
            let text = tokio::select! {
                message = from_app.recv() => match (message, framing) {
                    (Some(m), Framing::Raw) => m,
                    (Some(m), Framing::SockJs) => {
                        // Batch whatever else is already queued into one frame.
                        let mut batch = vec![m];
                        while batch.len() < 64 {
                            match from_app.try_recv() {
                                Ok(m) => batch.push(m),
                                Err(_) => break,
                            }
                        }
                        sockjs::frames::messages(&batch)
                    }
                    (None, Framing::SockJs) => {
                        let _ = sink.send(send(sockjs::frames::GO_AWAY.into())).await;
                        let _ = sink.close().await;
                        return;
                    }
                    (None, Framing::Raw) => {
                        let _ = sink.close().await;
                        return;
                    }
                },
                _ = beat.tick(), if framing == Framing::SockJs => "h".to_owned(),
            };
            match tokio::time::timeout(config.send_timeout, sink.send(send(text))).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    };
    let reader = async {
        while let Some(Ok(message)) = stream.next().await {
            let text = match message {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => match String::from_utf8(b.to_vec()) {
                    Ok(t) => t,
                    Err(_) => return,
                },
                Message::Close(_) => return,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            let messages = match framing {
                Framing::Raw => vec![text],
                // An empty SockJS message is nothing; invalid JSON ends it.
                Framing::SockJs if text.is_empty() => continue,
                Framing::SockJs => match sockjs::frames::parse_client(&text) {
                    Some(m) => m,
                    None => return,
                },
            };
            for m in messages {
                if to_app.send(m).await.is_err() {
                    return;
                }
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
        () = shared.shutdown.cancelled() => {}
    }
}

/// Used by SockJS's `websocket` transport.
pub(super) async fn sockjs(shared: Shared, request: Request<Body>) -> Response {
    upgrade(shared, request, Framing::SockJs).await
}
