//! STOMP 1.0–1.2, server side, as Spring's simple broker offers it to its
//! clients (and, where Spring falls short, as the spec says):
//! - [`frame`]: the codec (no I/O);
//! - [`session`]: one connection's protocol (CONNECT, SUBSCRIBE, RECEIPT,
//!   heart-beats, errors), over any [`crate::transport::Connection`];
//! - [`broker`]: the `/topic/…` hub the application publishes into.
//!
//! Why our own codec rather than a crate: see the crate's documentation.

pub(crate) mod broker;
pub(crate) mod frame;
pub(crate) mod session;

pub use broker::Broker;
pub use session::{StompConfig, serve};
