//! One STOMP session over a [`Connection`], from CONNECT to the end.
//!
//! One future per connection runs a `select!` over the client's frames,
//! the broker's events (only while subscribed), and the heart-beat timers.
//! The transport polls it inside the socket's task (WebSocket) or as a task
//! of its own (SockJS HTTP sessions), and may drop it at any await: nothing
//! here relies on running to the end.
//! Every write to the client goes through the connection's bounded queue
//! with a timeout: a client that does not read is dropped after
//! `send_timeout`, and one that falls behind the broker is dropped at once;
//! in neither case does anyone else wait.
//!
//! Every MESSAGE of a logged event carries its `seq`. A `SUBSCRIBE` with
//! `from-seq: N` resumes: the session first replays what the history holds
//! after N, page by page, then goes live, skipping the live events it
//! already replayed. It subscribes to the broker before reading the history,
//! so every event is in one or the other: no gap, nothing twice. Live
//! delivery waits while a replay runs (the broker buffers it), so events
//! arrive in seq order. When the history no longer reaches back to N, the
//! first frame says `resync: required` and live delivery follows.

use std::{
    collections::{HashMap, VecDeque},
    pin::pin,
    sync::Arc,
    time::Duration,
};

use futures::future::BoxFuture;
use tokio::{sync::broadcast, time::Instant};

use super::{
    broker::{Broker, Event},
    frame::{self, Frame, FrameError, Item, Limits, VERSIONS, Version},
};
use crate::{error::Result, events::Replay, transport::Connection};

/// Events fetched from the history per read.
const REPLAY_PAGE: usize = 256;
/// Most events one resuming subscription is replayed; a client further
/// behind is told to resync, since reloading costs it (and us) less.
const MAX_REPLAY: u64 = 10_000;

/// Session limits and timings.
#[derive(Clone, Debug)]
pub(crate) struct StompConfig {
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
    /// How long a write to the client may wait for queue space.
    pub send_timeout: Duration,
    /// How long a new connection has to send CONNECT (Spring's
    /// `timeToFirstMessage`, 60 s): a SockJS client may take a while over
    /// its fallbacks, and its transport's heart-beats keep it open
    /// meanwhile. Such connections sit in the transport's small handshake
    /// budget, so waiting this long for them costs little.
    pub connect_timeout: Duration,
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
        }
    }
}

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

/// A page of history being read for a resuming subscription.
struct Fetch {
    subscription: String,
    page: BoxFuture<'static, Result<Replay>>,
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
    events: Option<broadcast::Receiver<Arc<Event>>>,
    sent: u64,
    send_every: Option<Duration>,
    expect_every: Option<Duration>,
    last_received: Instant,
}

/// Runs one STOMP session until either side ends it.
pub(crate) async fn serve(conn: Connection, broker: Broker, config: StompConfig) {
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
        // Best effort: the client may be the reason we are closing.
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
                page = next_page(&mut self.fetch) => {
                    if let Some(end) = self.replay(page).await {
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

    /// Writes to the client, waiting at most `send_timeout` for room.
    async fn send(&mut self, text: String) -> bool {
        self.conn
            .outgoing
            .send_timeout(text, self.config.send_timeout)
            .await
            .is_ok()
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
            "UNSUBSCRIBE" => {
                let id = f.get("id").or(if version == Version::V1_0 {
                    f.get("destination")
                } else {
                    None
                });
                match id {
                    Some(id) => {
                        self.subscriptions.remove(id);
                        if self.subscriptions.is_empty() {
                            self.events = None;
                        }
                        // A replay under way for it is dropped with it.
                        if self.fetch.as_ref().is_some_and(|f| f.subscription == id) {
                            self.fetch = None;
                            self.next_replay();
                        }
                        None
                    }
                    None => Some(End::Error(
                        "missing id".into(),
                        "UNSUBSCRIBE needs an id header".into(),
                    )),
                }
            }
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

    async fn connect(&mut self, f: &Frame, beat: &mut tokio::time::Interval) -> Option<End> {
        let offered = f.get("accept-version").unwrap_or("1.0");
        let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
        let Some(version) = VERSIONS.into_iter().find(|v| offered.contains(&v.as_str())) else {
            let _ = self
                .send_frame(
                    Frame::new("ERROR")
                        .header("version", "1.0,1.1,1.2")
                        .header("message", "unsupported version"),
                )
                .await;
            return Some(End::Quietly);
        };
        if !self.conn.admission.admit() {
            tracing::info!(peer = ?self.conn.peer, "refusing a STOMP client: connection limit reached");
            return Some(End::Error(
                "too many connections".into(),
                "the server has no room for another client; retry later".into(),
            ));
        }
        self.version = Some(version);
        let (cx, cy) = parse_heartbeat(f.get("heart-beat"));
        let sx = self.config.server_heartbeat;
        let sy = self.config.min_client_heartbeat;
        // Per the spec: we send every max(sx, cy) if both are set, and
        // expect something every max(cx, sy) if both are set.
        self.send_every = (!cy.is_zero() && !sx.is_zero()).then(|| cy.max(sx));
        self.expect_every = (!cx.is_zero() && !sy.is_zero()).then(|| cx.max(sy));
        if let Some(every) = self.send_every {
            *beat = tokio::time::interval_at(Instant::now() + every, every);
        }
        let connected = Frame::new("CONNECTED")
            .header("version", version.as_str())
            .header(
                "heart-beat",
                format!("{},{}", sx.as_millis(), sy.as_millis()),
            )
            .header("session", self.id.clone())
            .header(
                "server",
                concat!("order-service/", env!("CARGO_PKG_VERSION")),
            );
        if !self.send_frame(connected).await {
            return Some(End::Quietly);
        }
        if let Some(receipt) = f.get("receipt") {
            let _ = self
                .send_frame(Frame::new("RECEIPT").header("receipt-id", receipt))
                .await;
        }
        None
    }

    fn subscribe(&mut self, f: &Frame, version: Version) -> Option<End> {
        let Some(destination) = f.get("destination") else {
            return Some(End::Error(
                "missing destination".into(),
                "SUBSCRIBE needs a destination".into(),
            ));
        };
        let id = match (f.get("id"), version) {
            (Some(id), _) => id,
            // 1.0 makes the id optional; the destination names it then.
            (None, Version::V1_0) => destination,
            (None, _) => {
                return Some(End::Error(
                    "missing id".into(),
                    "SUBSCRIBE needs an id header".into(),
                ));
            }
        };
        if !destination.starts_with("/topic/") {
            return Some(End::Error(
                "unknown destination".into(),
                format!("{destination:?}: only /topic/… exists"),
            ));
        }
        if self.subscriptions.contains_key(id) {
            return Some(End::Error(
                "duplicate subscription".into(),
                format!("subscription id {id:?} is in use"),
            ));
        }
        if self.subscriptions.len() >= self.config.max_subscriptions {
            return Some(End::Error(
                "too many subscriptions".into(),
                format!("at most {} per connection", self.config.max_subscriptions),
            ));
        }
        let from_seq = match f.get("from-seq").map(str::parse::<i64>) {
            None => None,
            Some(Ok(seq)) if seq >= 0 => Some(seq),
            Some(_) => {
                return Some(End::Error(
                    "invalid from-seq".into(),
                    "from-seq must be the seq header of a message received earlier".into(),
                ));
            }
        };
        // Before the history is read, so every event is in one or the other.
        if self.events.is_none() {
            self.events = Some(self.broker.subscribe());
        }
        self.subscriptions.insert(
            id.to_owned(),
            Subscription {
                destination: destination.to_owned(),
                delivered: from_seq,
                replayed: 0,
            },
        );
        if from_seq.is_some() {
            self.replays.push_back(id.to_owned());
            if self.fetch.is_none() {
                self.next_replay();
            }
        }
        None
    }

    /// Starts reading the next waiting replay's first page, if any.
    fn next_replay(&mut self) {
        while let Some(id) = self.replays.pop_front() {
            if let Some(sub) = self.subscriptions.get(&id) {
                let after = sub.delivered.unwrap_or(0);
                self.fetch = Some(Fetch {
                    page: self.read_history(&sub.destination, after),
                    subscription: id,
                });
                return;
            }
        }
    }

    fn read_history(&self, destination: &str, after: i64) -> BoxFuture<'static, Result<Replay>> {
        match self.broker.history() {
            Some(history) => history.after(destination, after, REPLAY_PAGE),
            None => Box::pin(async { Ok(Replay::Resync) }),
        }
    }

    /// Sends a page of history; reads the next one, or moves on to the
    /// next replay when this one is complete.
    async fn replay(&mut self, page: (String, Result<Replay>)) -> Option<End> {
        let (id, page) = page;
        self.fetch = None;
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the event history for a resuming client");
                return Some(End::Error(
                    "history unavailable".into(),
                    "the events to resume from cannot be read now; reconnect to retry".into(),
                ));
            }
        };
        let version = self.version.unwrap_or(Version::V1_2);
        let Some(sub) = self.subscriptions.get_mut(&id) else {
            self.next_replay();
            return None;
        };
        let events = match page {
            Replay::Events(events) if sub.replayed + (events.len() as u64) <= MAX_REPLAY => events,
            Replay::Events(_) | Replay::Resync => {
                sub.delivered = None;
                self.sent += 1;
                let resync = Frame::new("MESSAGE")
                    .header("destination", sub.destination.clone())
                    .header("subscription", id.clone())
                    .header("message-id", format!("{}-{}", self.id, self.sent))
                    .header("resync", "required");
                if !self.send_frame(resync).await {
                    return Some(End::Quietly);
                }
                self.next_replay();
                return None;
            }
        };
        let complete = events.len() < REPLAY_PAGE;
        sub.replayed += events.len() as u64;
        let mut messages = Vec::with_capacity(events.len());
        for (seq, body) in &events {
            self.sent += 1;
            messages.push(frame::encode_message(
                &sub.destination,
                &id,
                (&self.id, self.sent),
                Some(*seq),
                &String::from_utf8_lossy(body),
                version,
            ));
            sub.delivered = Some(*seq);
        }
        let (destination, after) = (sub.destination.clone(), sub.delivered.unwrap_or(0));
        for message in messages {
            if !self.send(message).await {
                return Some(End::Quietly);
            }
        }
        if complete {
            self.next_replay();
        } else {
            self.fetch = Some(Fetch {
                page: self.read_history(&destination, after),
                subscription: id,
            });
        }
        None
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
                event.seq,
                &body,
                version,
            ));
        }
        for message in messages {
            if !self.send(message).await {
                tracing::info!(peer = ?self.conn.peer, "dropping a STOMP client that stopped reading");
                return Some(End::Quietly);
            }
        }
        None
    }
}

/// The next page of the replay under way, or never when there is none.
async fn next_page(fetch: &mut Option<Fetch>) -> (String, Result<Replay>) {
    match fetch {
        Some(f) => {
            let page = f.page.as_mut().await;
            (f.subscription.clone(), page)
        }
        None => std::future::pending().await,
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

fn parse_heartbeat(value: Option<&str>) -> (Duration, Duration) {
    let mut parts = value
        .unwrap_or("0,0")
        .split(',')
        .map(|p| p.trim().parse::<u64>().unwrap_or(0));
    let cx = parts.next().unwrap_or(0);
    let cy = parts.next().unwrap_or(0);
    (Duration::from_millis(cx), Duration::from_millis(cy))
}

fn malformed(e: &FrameError) -> End {
    End::Error("malformed frame".into(), e.to_string())
}

#[cfg(test)]
mod tests;
