//! What the transport tests share: the router served on 127.0.0.1:0 with a
//! test handler, talked to as clients do (`support::testing::ws` for
//! WebSockets, reqwest for the SockJS HTTP transports).

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Connection, Handler, TransportConfig, router};
use crate::origins::AllowedOrigins;

/// The one origin [`config`] allows besides the same origin.
pub(super) const ALLOWED: &str = "http://allowed.example";
/// An origin [`config`] refuses.
pub(super) const EVIL: &str = "http://evil.example";

/// How long a test handler waits for room in its queue's message count:
/// longer than any test, so it is the transport that gives up on a client.
const PATIENCE: Duration = Duration::from_secs(3600);

/// Fails the test instead of hanging when something never arrives.
pub(super) async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

/// The defaults, allowing [`ALLOWED`].
pub(super) fn config() -> TransportConfig {
    TransportConfig {
        allowed_origins: AllowedOrigins::new([ALLOWED]).unwrap(),
        ..Default::default()
    }
}

/// Sends every message back.
pub(super) fn echo() -> Handler {
    Arc::new(|mut c: Connection| {
        Box::pin(async move {
            while let Some(m) = c.incoming.recv().await {
                if c.outgoing.send(m, PATIENCE).await.is_err() {
                    break;
                }
            }
        })
    })
}

/// Echoes, and reports on `ended` when `incoming` yields `None`.
pub(super) fn echo_reporting_end(ended: mpsc::Sender<()>) -> Handler {
    Arc::new(move |mut c: Connection| {
        let ended = ended.clone();
        Box::pin(async move {
            while let Some(m) = c.incoming.recv().await {
                let _ = c.outgoing.send(m, PATIENCE).await;
            }
            let _ = ended.send(()).await;
        })
    })
}

/// Drops the connection at once.
pub(super) fn hang_up() -> Handler {
    Arc::new(|c| Box::pin(async move { drop(c) }))
}

/// Reports on its channel when dropped.
struct OnDrop(mpsc::Sender<()>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

/// Sends big messages until the transport drops the connection, then
/// reports on `dropped`: when its sender fails (SockJS HTTP), or when the
/// transport drops the handler itself (WebSocket).
pub(super) fn flood(dropped: mpsc::Sender<()>) -> Handler {
    Arc::new(move |c: Connection| {
        let guard = OnDrop(dropped.clone());
        Box::pin(async move {
            let _guard = guard;
            let message = "x".repeat(60 * 1024);
            while c.outgoing.send(message.clone(), PATIENCE).await.is_ok() {}
        })
    })
}

/// [`flood`], once the client has sent a first message.
pub(super) fn flood_when_asked(dropped: mpsc::Sender<()>) -> Handler {
    Arc::new(move |mut c: Connection| {
        let guard = OnDrop(dropped.clone());
        Box::pin(async move {
            let _guard = guard;
            if c.incoming.recv().await.is_none() {
                return;
            }
            let message = "x".repeat(60 * 1024);
            while c.outgoing.send(message.clone(), PATIENCE).await.is_ok() {}
        })
    })
}

/// The router, served until dropped.
pub(super) struct App {
    pub(super) addr: SocketAddr,
    pub(super) http: reqwest::Client,
    _shutdown: tokio_util::sync::DropGuard,
}

impl App {
    pub(super) async fn spawn(config: TransportConfig, handler: Handler) -> App {
        let shutdown = CancellationToken::new();
        let app: axum::Router = router("/ws-orders", config, handler, shutdown.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        App {
            addr,
            http: reqwest::Client::new(),
            _shutdown: shutdown.drop_guard(),
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://{}/ws-orders{path}", self.addr)
    }

    pub(super) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}/ws-orders{path}", self.addr)
    }

    pub(super) async fn post(&self, path: &str, body: &str) -> reqwest::Response {
        within(self.http.post(self.url(path)).body(body.to_owned()).send())
            .await
            .unwrap()
    }

    /// Status and body of a POST.
    pub(super) async fn text(&self, path: &str, body: &str) -> (u16, String) {
        let r = self.post(path, body).await;
        (r.status().as_u16(), within(r.text()).await.unwrap())
    }
}

/// Reads a streaming body until `buffer` holds `needle`; returns what came
/// before and including it, keeping the rest.
pub(super) async fn read_until(
    response: &mut reqwest::Response,
    buffer: &mut String,
    needle: &str,
) -> String {
    while !buffer.contains(needle) {
        let chunk = within(response.chunk())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("stream ended before {needle:?}; got {buffer:?}"));
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let end = buffer.find(needle).unwrap() + needle.len();
    buffer.drain(..end).collect()
}

/// Reads a body to its end; returns it with what `buffer` held.
pub(super) async fn rest_of_body(response: &mut reqwest::Response, buffer: &mut String) -> String {
    while let Some(chunk) = within(response.chunk()).await.unwrap() {
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    std::mem::take(buffer)
}
