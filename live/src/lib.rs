//! # live
//!
//! Live events for browsers: a STOMP 1.0–1.2 server over WebSocket and
//! SockJS, as Spring's simple broker with `addEndpoint(…).withSockJS()`
//! serves it, mounted at one path of any axum app. Clients subscribe to
//! `/topic/…` destinations; the application publishes JSON events into a
//! [`Broker`], which fans them out to every subscriber without ever
//! waiting for one. A client that reconnects resumes where it left off
//! (`SUBSCRIBE` with `from-seq`), served from the application's
//! [`History`].
//!
//! ```text
//!  application ── Publish ──► Broker ──► one STOMP session per connection
//!  event sources ◄── History ─┘               │ (stomp: codec, sessions)
//!                                             ▼
//!  {path} ── transport (WebSocket, SockJS) ── Connection ── Handler
//!            origins (403), budgets (503), bounded queues
//! ```
//!
//! Modules:
//! - `events`: the traits the application implements or calls ([`Publish`],
//!   [`History`]) and what they carry ([`Retained`], [`Replay`]);
//! - `stomp`: the frame codec (no I/O), one session's protocol
//!   ([`serve`]: CONNECT, SUBSCRIBE with replay, RECEIPT, heart-beats,
//!   ERROR), and the [`Broker`];
//! - `transport`: [`router`] for the raw WebSocket and every SockJS
//!   transport (websocket, xhr, xhr_streaming, eventsource, htmlfile),
//!   each client reaching the [`Handler`] as a [`Connection`]; the
//!   connection budgets (a small one for connections that have not said
//!   CONNECT yet, a large one for those that have, shared fairly by client
//!   address) and each connection's queue, bounded in bytes;
//! - `origins`: [`AllowedOrigins`], the one origin policy of the upgrade
//!   and every SockJS request (and of an app's REST CORS, if it likes);
//! - `error`: [`Error`].
//!
//! Why its own STOMP codec rather than a crate: the STOMP crates on
//! crates.io are clients, or unmaintained, and none parses incrementally
//! under size limits with the 1.0/1.1/1.2 escaping differences; the codec
//! is ~400 lines without I/O, with exhaustive tests.
//!
//! Everything a client can grow is bounded (connections, queues in bytes,
//! frame and message sizes, subscriptions, replays), and a client that
//! stops reading is dropped rather than slowing anyone else down: see
//! [`TransportConfig`] and [`StompConfig`] for the limits and their
//! reasons. `README.md` shows how to mount it.

#![warn(missing_docs)]

mod error;
mod events;
mod origins;
mod stomp;
mod transport;

pub use error::{Error, Result};
pub use events::{History, Publish, Replay, Retained};
pub use origins::AllowedOrigins;
pub use stomp::{Broker, StompConfig, serve};
pub use transport::{Connection, Handler, TransportConfig, router};

/// The README's example, compiled as a doctest so that it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
