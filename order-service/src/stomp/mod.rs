//! STOMP 1.0–1.2, server side, as Spring's simple broker offered it to the
//! original's clients (and, where Spring falls short, as the spec says):
//! - [`frame`]: the codec (no I/O);
//! - [`session`]: one connection's protocol (CONNECT, SUBSCRIBE, RECEIPT,
//!   heart-beats, errors), over any [`crate::transport::Connection`];
//! - [`broker`]: the `/topic/…` hub the order flow publishes into.
//!
//! Why our own codec rather than a crate: the STOMP crates on crates.io are
//! clients, or unmaintained, and none parses incrementally under size limits
//! with the 1.0/1.1/1.2 escaping differences; the codec is ~400 lines without
//! I/O, with exhaustive tests.

pub(crate) mod broker;
pub(crate) mod frame;
pub(crate) mod session;

pub(crate) use broker::Broker;
pub(crate) use session::{StompConfig, serve};
