//! WebSocket at `{path}` and `{path}/websocket` (raw: one text
//! message per application message), and the pump every WebSocket runs,
//! whatever its [`Framing`] (SockJS's websocket transport brings its own).
//!
//! One task per socket: the handler (the STOMP session), a reader future and
//! a writer future joined with `select!`, so whichever side ends tears the
//! connection down. Each returns why it ended ([`End`]) and the closing
//! frame is then sent from one place, with the same send timeout as every
//! other write.
//!
//! What a socket holds for its client is bounded in bytes at each level:
//! the connection's queue (`send_buffer_bytes`, see [`super::outgoing`]),
//! tungstenite's write buffer (one write at a time, each flushed before the
//! next, under [`MAX_WRITE_BUFFER_FACTOR`] times the budget) and the
//! kernel's send buffer (order-service sets 64 KiB: `SOCKET_SEND_BUFFER`).

use std::{convert::Infallible, net::SocketAddr, pin::pin};

use axum::{
    extract::{
        ConnectInfo, FromRequestParts, Request, State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use futures::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use tokio::{
    sync::mpsc,
    time::{Instant, sleep_until, timeout},
};

use super::{
    Admission, Connection, INCOMING_CAPACITY, RESTART_CODE, RESTART_REASON, SHUTDOWN_GOODBYE,
    Shared, outgoing::Queued,
};

/// tungstenite's write buffer may hold this many times the byte budget
/// before it refuses a write. The writer awaits each write to the socket
/// before taking the next, so the buffer only ever holds one: a raw
/// message, or a SockJS batch, which stops at the budget before JSON
/// quoting; quoting at worst (every character as `\uXXXX`) makes it 6
/// times longer, and 8 leaves room for the frame header. Never reached in
/// practice; it keeps the buffer bounded if that ever changes.
const MAX_WRITE_BUFFER_FACTOR: usize = 8;

/// The STOMP subprotocols, best first: axum picks the first of these that
/// the client offered, so a client offering v10, v11 and v12 gets v12. An
/// upgrade offering none of them is accepted without a subprotocol.
const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// How a WebSocket carries application messages: what the pump writes
/// around them and how it reads the client's text. Function pointers and
/// constants, so a framing is a `const` and the pump knows no protocol.
#[derive(Debug)]
pub(super) struct Framing {
    /// Written before anything else.
    pub(super) open: Option<&'static str>,
    /// Written after `sockjs_heartbeat` without another write.
    pub(super) heartbeat: Option<&'static str>,
    /// One write: the first queued message, and any more it takes from the
    /// queue.
    pub(super) encode: fn(String, &mut Queued) -> String,
    /// The client's messages in one text message, or the reason to close
    /// the socket with 1007.
    pub(super) decode: fn(String) -> Result<Vec<String>, &'static str>,
    /// When the handler ends the socket: a last text message and the
    /// close code and reason, in place of 1000.
    pub(super) goodbye: Option<(&'static str, u16, &'static str)>,
    /// When the service stops: a last text message before the close with
    /// [`RESTART_CODE`].
    pub(super) restart: Option<&'static str>,
}

/// One text message per application message.
const RAW: Framing = Framing {
    open: None,
    heartbeat: None,
    encode: |message, _| message,
    decode: |text| Ok(vec![text]),
    goodbye: None,
    restart: None,
};

/// Why a connection ended, which decides how it is closed.
#[derive(Debug)]
enum End {
    /// The client closed or vanished: nothing left to say.
    ClientGone,
    /// A write did not finish within `send_timeout`: drop without a
    /// handshake, the socket is not draining.
    Stalled,
    /// The handler's queue passed its byte budget: the client is not
    /// reading, drop it as for `Stalled`, now, with what is queued.
    SlowConsumer,
    /// The handler dropped its sender.
    HandlerDone,
    /// The service is shutting down.
    Shutdown,
    /// The client broke the protocol: close with this code.
    Refused(u16, &'static str),
    /// Its seat went to another client before it sent CONNECT.
    Shed,
}

/// `GET {path}` and `{path}/websocket` with an upgrade.
pub(super) async fn raw(State(shared): State<Shared>, request: Request) -> Response {
    upgrade(shared, request, &RAW).await
}

/// Checks the origin and the connection limit, then upgrades.
pub(super) async fn upgrade(
    shared: Shared,
    request: Request,
    framing: &'static Framing,
) -> Response {
    if !shared.config.allowed_origins.allows(request.headers()) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (mut parts, _) = request.into_parts();
    let client = super::client_of(&parts);
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    // Taken after the upgrade headers were checked, so a plain GET does
    // not count against the limit.
    let Some(admission) = shared.budgets.enter(client) else {
        return super::too_many_connections();
    };
    let config = &shared.config;
    ws.protocols(SUBPROTOCOLS)
        .read_buffer_size(config.websocket_read_buffer)
        // Each message is written out as it comes, nothing kept to
        // coalesce: what waits, waits in the byte-bounded queue.
        .write_buffer_size(0)
        .max_write_buffer_size(
            config
                .send_buffer_bytes
                .saturating_mul(MAX_WRITE_BUFFER_FACTOR),
        )
        .max_message_size(config.max_message_bytes)
        .max_frame_size(config.max_message_bytes)
        .on_upgrade(move |socket| run(socket, shared, peer, framing, admission))
}

/// Serves one socket until either side ends, then closes it.
async fn run(
    socket: WebSocket,
    shared: Shared,
    peer: Option<SocketAddr>,
    framing: &'static Framing,
    admission: Admission,
) {
    let (to_app, incoming) = mpsc::channel(INCOMING_CAPACITY);
    let (outgoing, from_app) = shared.outgoing();
    let shed = admission.shed();
    let handler = (shared.handler)(Connection {
        incoming,
        outgoing,
        peer,
        admission,
        stopping: shared.shutdown.clone(),
    });
    // When the handler ends it drops its sender; the writer then sends what
    // is still queued (an ERROR frame, say) and returns `HandlerDone`.
    let handler = async {
        handler.await;
        std::future::pending::<Infallible>().await
    };
    let (mut sink, mut stream) = socket.split();
    let end = {
        let mut handler = pin!(handler);
        let mut writer = pin!(write(&mut sink, from_app, &shared, framing));
        // The handler runs in this task rather than a task of its own, and is
        // polled just before the writer: a broadcast event it turns into a
        // message is written in the same wake-up. A fan-out to N sockets then
        // costs N task wake-ups, not 2N (the workspace README, Performance).
        let end = tokio::select! {
            biased;
            () = shed.cancelled() => End::Shed,
            never = &mut handler => match never {},
            end = &mut writer => end,
            end = read(&mut stream, to_app, framing) => end,
            () = shared.shutdown.cancelled() => End::Shutdown,
        };
        match end {
            // The handler saw the shutdown too: its goodbye (a STOMP ERROR)
            // is written before the close.
            End::Shutdown => goodbye(handler, writer).await,
            End::HandlerDone if shared.shutdown.is_cancelled() => End::Shutdown,
            end => end,
        }
    };
    tracing::debug!(?peer, ?end, "websocket ended");
    close(sink, stream, end, &shared, framing).await;
}

/// At shutdown, lets the handler queue its goodbye and end, and the writer
/// send it, for at most [`SHUTDOWN_GOODBYE`].
async fn goodbye(
    handler: impl Future<Output = Infallible>,
    writer: impl Future<Output = End>,
) -> End {
    let finished = timeout(SHUTDOWN_GOODBYE, async {
        tokio::select! {
            never = handler => match never {},
            end = writer => end,
        }
    });
    match finished.await {
        Ok(End::HandlerDone) | Err(_) => End::Shutdown,
        Ok(end) => end,
    }
}

/// Sends the handler's messages (and the framing's heart-beats) until the handler
/// is done, a write fails or stalls, or the queue overflows.
async fn write(
    sink: &mut SplitSink<WebSocket, Message>,
    mut from_app: Queued,
    shared: &Shared,
    framing: &Framing,
) -> End {
    let config = &shared.config;
    let send_timeout = config.send_timeout;
    let mut send =
        async |text: String| match timeout(send_timeout, sink.send(text_message(text))).await {
            Ok(Ok(())) => None,
            Ok(Err(_)) => Some(End::ClientGone),
            Err(_) => Some(End::Stalled),
        };
    if let Some(open) = framing.open
        && let Some(end) = send(open.to_owned()).await
    {
        return end;
    }
    // One future for the connection's life, not one per message: each
    // new one registers with the token (a lock) and unregisters when
    // dropped, twice per message on every session of a fan-out.
    let overflowed = from_app.overflow();
    let mut overflow = pin!(overflowed.cancelled());
    let heartbeat = config.sockjs_heartbeat;
    let mut beat = pin!(sleep_until(Instant::now() + heartbeat));
    loop {
        let text = tokio::select! {
            // Before the queue: an overflowed queue is not drained.
            biased;
            () = &mut overflow => return End::SlowConsumer,
            message = from_app.recv() => match message {
                None => return End::HandlerDone,
                Some(m) => (framing.encode)(m, &mut from_app),
            },
            // Raw sockets never arm the timer.
            () = &mut beat, if framing.heartbeat.is_some() => {
                framing.heartbeat.unwrap_or_default().to_owned()
            }
        };
        // A write stuck at a full socket is abandoned as soon as the queue
        // behind it overflows, not after the whole send timeout.
        let sent = tokio::select! {
            biased;
            () = &mut overflow => Some(End::SlowConsumer),
            end = send(text) => end,
        };
        if let Some(end) = sent {
            return end;
        }
        // A heart-beat is due after `heartbeat` of silence, not on a clock.
        beat.as_mut().reset(Instant::now() + heartbeat);
    }
}

/// Hands the client's messages to the handler until the client closes or
/// breaks the protocol.
async fn read(
    stream: &mut SplitStream<WebSocket>,
    to_app: mpsc::Sender<String>,
    framing: &Framing,
) -> End {
    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(Message::Text(t)) => t.as_str().to_owned(),
            Ok(Message::Binary(b)) => match String::from_utf8(b.to_vec()) {
                Ok(t) => t,
                Err(_) => return End::Refused(close_code::INVALID, "Text must be UTF-8"),
            },
            Ok(Message::Close(_)) => return End::ClientGone,
            // axum answers pings itself.
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            // tungstenite reports an oversized message as a capacity error
            // ("Space limit exceeded: Message too long"); axum does not
            // expose its type, so the message is the only way to tell it
            // from a broken connection (a test pins this down).
            Err(e) if e.to_string().contains("Space limit exceeded") => {
                return End::Refused(close_code::SIZE, "Message too big");
            }
            Err(_) => return End::ClientGone,
        };
        let messages = match (framing.decode)(text) {
            Ok(messages) => messages,
            Err(reason) => return End::Refused(close_code::INVALID, reason),
        };
        for m in messages {
            if to_app.send(m).await.is_err() {
                // The handler stopped reading; the writer sees it end too.
                return End::HandlerDone;
            }
        }
    }
    End::ClientGone
}

/// Sends the closing frames `end` calls for, then waits (briefly) for the
/// client's close so the TCP connection ends cleanly rather than by reset.
async fn close(
    mut sink: SplitSink<WebSocket, Message>,
    mut stream: SplitStream<WebSocket>,
    end: End,
    shared: &Shared,
    framing: &Framing,
) {
    // A framing's goodbye (SockJS's `c[…]` frame) tells the client why; a
    // refused client gets only the close code.
    let (last, code, reason) = match (end, framing.goodbye) {
        (End::ClientGone | End::Stalled | End::SlowConsumer, _) => return,
        (End::HandlerDone, Some((last, code, reason))) => (Some(last), code, reason),
        (End::HandlerDone, None) => (None, close_code::NORMAL, "Go away!"),
        (End::Shutdown, _) => (framing.restart, RESTART_CODE, RESTART_REASON),
        (End::Refused(code, reason), _) => (None, code, reason),
        (End::Shed, _) => (None, close_code::AGAIN, "Too many connections"),
    };
    let send_timeout = shared.config.send_timeout;
    let handshake = async {
        if let Some(last) = last {
            sink.send(text_message(last.to_owned())).await?;
        }
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        sink.send(Message::Close(Some(frame))).await?;
        while let Some(Ok(_)) = stream.next().await {}
        Ok::<_, axum::Error>(())
    };
    let _ = timeout(send_timeout, handshake).await;
}

fn text_message(text: String) -> Message {
    Message::Text(text.into())
}

#[cfg(test)]
mod tests;
