//! One STOMP session over a [`Connection`], from CONNECT to the end.
//!
//! One future per connection runs a `select!` over the client's frames,
//! the broker's events (only while subscribed), and the heart-beat timers.
//! The transport polls it inside the socket's task (WebSocket) or as a task
//! of its own (SockJS HTTP sessions), and may drop it at any await: nothing
//! here relies on running to the end.
//! Every write to the client goes through the connection's queue, bounded
//! in bytes: a client whose queue would pass its budget is not reading and
//! is dropped at once (so is one that falls behind the broker), and the
//! transport drops one whose writes stay stuck for `send_timeout`; in no
//! case does anyone else wait.
//!
//! Every MESSAGE of a logged event carries its `seq`. A `SUBSCRIBE` with
//! `from-seq: N` resumes: the session first replays what the history holds
//! after N, page by page, then goes live, skipping the live events it
//! already replayed. It subscribes to the broker before reading the history,
//! so every event is in one or the other: no gap, nothing twice. Live
//! delivery waits while a replay runs (the broker buffers it), so events
//! arrive in seq order. A replay goes at the pace the client reads (see
//! `replay`). When the history no longer reaches back to N, or the replay
//! would pass its bounds, the subscription is sent `resync: required` and
//! live delivery follows.

use std::{
    collections::{HashMap, VecDeque},
    pin::pin,
    sync::Arc,
    time::Duration,
};

use tokio::{sync::broadcast, time::Instant};

use super::{
    broker::{Broker, Event},
    frame::{self, Frame, FrameError, Item, Limits, Version},
};
use crate::transport::{Connection, outgoing::Refused};

mod connect;
mod replay;
mod subscribe;

use replay::{Fetch, next_step};

/// Session limits and timings.
#[derive(Clone, Debug)]
pub struct StompConfig {
    /// Largest inbound frame (Spring's default message size limit, 64 KiB).
    pub max_frame_bytes: usize,
    /// Most headers per frame (real clients send fewer than 10).
    pub max_headers: usize,
    /// Longest header line.
    pub max_header_bytes: usize,
    /// Subscriptions per connection (a page needs two).
    pub max_subscriptions: usize,
    /// How often we offer to send heart-beats.
    pub server_heartbeat: Duration,
    /// The shortest client heart-beat interval we accept to check.
    pub min_client_heartbeat: Duration,
    /// How long a write to the client may wait for room in the queue's
    /// message count (its byte budget is never waited for).
    pub send_timeout: Duration,
    /// How long a new connection has to send CONNECT (Spring's
    /// `timeToFirstMessage`, 60 s): a SockJS client may take a while over
    /// its fallbacks, and its transport's heart-beats keep it open
    /// meanwhile. Such connections sit in the transport's small handshake
    /// budget, so waiting this long for them costs little.
    pub connect_timeout: Duration,
    /// The `server` header of CONNECTED: the application's name and
    /// version, as the spec suggests (`name/version`).
    pub server: String,
}

impl Default for StompConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            max_headers: 32,
            max_header_bytes: 4096,
            max_subscriptions: 32,
            server_heartbeat: Duration::from_secs(10),
            min_client_heartbeat: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(60),
            server: concat!("live/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// The ERROR frame's `message` when the service stops.
const RESTARTING: &str = "Server restarting, please reconnect";

/// Its body.
const RESTARTING_DETAIL: &str = "This server is shutting down. Reconnect (another server, or this \
     one once restarted, will answer) and resume each subscription with from-seq set to the \
     last seq received.";

/// Why a session ends.
enum End {
    /// Normally (DISCONNECT, client gone).
    Quietly,
    /// With an ERROR frame: (message header, body).
    Error(String, String),
}

/// One subscription.
struct Subscription {
    destination: String,
    /// For a resuming subscription, the seq of the newest event it was sent:
    /// live events up to it were replayed already.
    delivered: Option<i64>,
    /// Events replayed so far.
    replayed: u64,
}

struct Session {
    conn: Connection,
    broker: Broker,
    config: StompConfig,
    id: String,
    version: Option<Version>,
    subscriptions: HashMap<String, Subscription>,
    /// Resuming subscriptions waiting for their replay, in SUBSCRIBE order.
    replays: VecDeque<String>,
    /// The replay under way.
    fetch: Option<Fetch>,
    /// Events replayed so far, all subscriptions together.
    replayed: u64,
    /// Bytes and count of the replayed messages, to size pages by the
    /// room the client has.
    replayed_bytes: usize,
    replayed_messages: usize,
    events: Option<broadcast::Receiver<Arc<Event>>>,
    sent: u64,
    send_every: Option<Duration>,
    expect_every: Option<Duration>,
    last_received: Instant,
}

/// Runs one STOMP session on `conn` until either side ends it: what a
/// [`Handler`](crate::Handler) does with each connection, subscribing it
/// to `broker`'s events.
pub async fn serve(conn: Connection, broker: Broker, config: StompConfig) {
    let peer = conn.peer;
    let mut session = Session {
        conn,
        broker,
        config,
        id: uuid::Uuid::new_v4().simple().to_string(),
        version: None,
        subscriptions: HashMap::new(),
        replays: VecDeque::new(),
        fetch: None,
        replayed: 0,
        replayed_bytes: 0,
        replayed_messages: 0,
        events: None,
        sent: 0,
        send_every: None,
        expect_every: None,
        last_received: Instant::now(),
    };
    let end = session.run().await;
    if let End::Error(message, detail) = end {
        tracing::debug!(?peer, %message, "closing STOMP session with an error");
        let version = session.version.unwrap_or(Version::V1_2);
        let error = Frame::new("ERROR")
            .header("message", message)
            .header("content-type", "text/plain")
            .body(detail);
        // Best effort, within the byte budget: the client may be the reason
        // we are closing.
        let _ = session
            .conn
            .outgoing
            .try_send(frame::encode(&error, version));
    }
}

impl Session {
    async fn run(&mut self) -> End {
        let limits = Limits {
            max_frame_bytes: self.config.max_frame_bytes,
            max_headers: self.config.max_headers,
            max_header_bytes: self.config.max_header_bytes,
        };
        let mut decoder = frame::Decoder::new(limits);
        let connect_deadline = Instant::now() + self.config.connect_timeout;
        let mut beat = tokio::time::interval(Duration::from_secs(3600));
        // One timer for the session's life, moved only when its deadline
        // moves: a timer made per loop would be registered and cancelled
        // once per delivered event, on every session of a fan-out.
        let mut watchdog = pin!(tokio::time::sleep_until(connect_deadline));
        // Made once, for the same reason.
        let mut stopping = pin!(self.conn.stopping.clone().cancelled_owned());
        loop {
            let due = match (self.version, self.expect_every) {
                (None, _) => Some(connect_deadline),
                // The spec's tolerance: twice the agreed interval.
                (Some(_), Some(every)) => Some(self.last_received + every * 2),
                (Some(_), None) => None,
            };
            if let Some(at) = due
                && at != watchdog.deadline()
            {
                watchdog.as_mut().reset(at);
            }
            tokio::select! {
                message = self.conn.incoming.recv() => {
                    let Some(text) = message else { return End::Quietly };
                    self.last_received = Instant::now();
                    decoder.extend(text.as_bytes());
                    loop {
                        let version = self.version.unwrap_or(Version::V1_2);
                        match decoder.next(version) {
                            Ok(Some(Item::Heartbeat)) => {}
                            Ok(Some(Item::Frame(f))) => {
                                if let Some(end) = self.handle(f, &mut beat).await {
                                    return end;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => return malformed(&e),
                        }
                    }
                }
                ready = next_step(&mut self.fetch, &self.conn.outgoing) => {
                    if let Some(end) = self.replay(ready).await {
                        return end;
                    }
                }
                // Live events wait while a replay runs, so they follow it.
                event = next_event(&mut self.events), if self.fetch.is_none() => match event {
                    Ok(event) => {
                        if let Some(end) = self.deliver(&event).await {
                            return end;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::info!(peer = ?self.conn.peer, missed, "dropping a slow STOMP consumer");
                        return End::Error("slow consumer".into(), format!("fell {missed} messages behind"));
                    }
                    Err(broadcast::error::RecvError::Closed) => return End::Quietly,
                },
                _ = beat.tick(), if self.send_every.is_some() => {
                    if !self.send("\n".to_owned()).await {
                        return End::Quietly;
                    }
                }
                // Told before the connection closes, so that a client knows
                // to reconnect (and resume with from-seq) rather than why not.
                () = &mut stopping => {
                    return End::Error(RESTARTING.into(), RESTARTING_DETAIL.into());
                }
                () = &mut watchdog, if due.is_some() => {
                    return if self.version.is_none() {
                        End::Error("no CONNECT frame".into(), "CONNECT was not received in time".into())
                    } else {
                        End::Error("heart-beat timeout".into(), "nothing received within twice the agreed interval".into())
                    };
                }
            }
        }
    }

    /// Queues a message for the client; `false` when the session is to
    /// end: the client is gone, or too slow (past the byte budget at once,
    /// or the message count full for `send_timeout`).
    async fn send(&mut self, text: String) -> bool {
        let refused = match self
            .conn
            .outgoing
            .send(text, self.config.send_timeout)
            .await
        {
            Ok(()) => return true,
            Err(refused) => refused,
        };
        if refused != Refused::Closed {
            tracing::info!(
                peer = ?self.conn.peer,
                queued = self.conn.outgoing.queued(),
                ?refused,
                "dropping a STOMP client that stopped reading"
            );
        }
        false
    }

    async fn send_frame(&mut self, frame: Frame) -> bool {
        let text = frame::encode(&frame, self.version.unwrap_or(Version::V1_2));
        self.send(text).await
    }

    /// Handles one client frame; `Some` ends the session.
    async fn handle(&mut self, f: Frame, beat: &mut tokio::time::Interval) -> Option<End> {
        let Some(version) = self.version else {
            return match f.command.as_str() {
                "CONNECT" | "STOMP" => self.connect(&f, beat).await,
                other => Some(End::Error(
                    "not connected".into(),
                    format!("expected CONNECT, got {other}"),
                )),
            };
        };
        let end = match f.command.as_str() {
            "SUBSCRIBE" => self.subscribe(&f, version),
            "UNSUBSCRIBE" => self.unsubscribe(&f, version),
            "SEND" => {
                let dest = f.get("destination").unwrap_or("");
                Some(End::Error(
                    "clients cannot publish".into(),
                    format!(
                        "SEND to {dest:?} refused: destinations are published by the server only"
                    ),
                ))
            }
            // Auto acknowledgement only and no server-side effects, so these
            // are accepted and do nothing (their receipts still come back).
            "ACK" | "NACK" | "BEGIN" | "COMMIT" | "ABORT" | "DISCONNECT" => None,
            "CONNECT" | "STOMP" => Some(End::Error(
                "already connected".into(),
                "CONNECT sent twice".into(),
            )),
            other => Some(End::Error(
                "unknown command".into(),
                format!("unknown command {other}"),
            )),
        };
        if end.is_some() {
            return end;
        }
        if let Some(receipt) = f.get("receipt") {
            let receipt = Frame::new("RECEIPT").header("receipt-id", receipt);
            if !self.send_frame(receipt).await {
                return Some(End::Quietly);
            }
        }
        (f.command == "DISCONNECT").then_some(End::Quietly)
    }

    async fn deliver(&mut self, event: &Event) -> Option<End> {
        let version = self.version.unwrap_or(Version::V1_2);
        let body = String::from_utf8_lossy(&event.body);
        // Encoded before sending so the subscriptions are not borrowed
        // across an await; a page has one subscription per topic.
        let mut messages = Vec::new();
        for (id, sub) in &mut self.subscriptions {
            if sub.destination != event.destination {
                continue;
            }
            if let (Some(seq), Some(delivered)) = (event.seq, sub.delivered) {
                if seq <= delivered {
                    continue; // replayed already
                }
                sub.delivered = Some(seq);
            }
            self.sent += 1;
            messages.push(frame::encode_message(
                &sub.destination,
                id,
                (&self.id, self.sent),
                (event.seq, event.trace_id.as_deref()),
                &body,
                version,
            ));
        }
        for message in messages {
            if !self.send(message).await {
                return Some(End::Quietly);
            }
        }
        None
    }
}

/// The next broker event, or never when not subscribed.
async fn next_event(
    events: &mut Option<broadcast::Receiver<Arc<Event>>>,
) -> Result<Arc<Event>, broadcast::error::RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn malformed(e: &FrameError) -> End {
    End::Error("malformed frame".into(), e.to_string())
}

#[cfg(test)]
mod tests;
