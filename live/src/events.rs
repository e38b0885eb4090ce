//! What the application and this crate exchange: events published live
//! ([`Publish`], implemented by the [`Broker`](crate::Broker)), and the
//! retained events a resuming client is served from ([`History`],
//! implemented by the application's event sources).
//!
//! Every event may carry a `seq`, its place in its destination's log. A
//! client that saw seq N and reconnects subscribes with `from-seq: N`; the
//! session replays what the history retains after N, then goes live with
//! no gap and nothing twice (see `stomp::session`). A destination whose
//! events have no seq is simply never resumed.

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::error::Result;

/// Something that delivers a JSON body to a destination's subscribers
/// without blocking.
pub trait Publish: Send + Sync + 'static {
    /// Delivers `body` to every subscriber of `destination`; `seq` is its
    /// place in the destination's log (`None` for values that are state
    /// rather than logged changes, such as a snapshot's), `trace_id` the
    /// trace of the request that caused it, if known (sent as the
    /// `trace_id` header).
    fn publish_traced(
        &self,
        destination: &'static str,
        seq: Option<i64>,
        body: Bytes,
        trace_id: Option<String>,
    );

    /// [`Publish::publish_traced`] of an event no request caused.
    fn publish(&self, destination: &'static str, seq: Option<i64>, body: Bytes) {
        self.publish_traced(destination, seq, body, None);
    }
}

/// One retained event of a destination's log, as a resuming client is sent
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retained {
    /// Its place in the log.
    pub seq: i64,
    /// JSON.
    pub body: Bytes,
    /// The trace of the request that caused it, if known.
    pub trace_id: Option<String>,
}

impl Retained {
    /// An event no request caused.
    pub fn untraced(seq: i64, body: Bytes) -> Self {
        Self {
            seq,
            body,
            trace_id: None,
        }
    }
}

/// The retained events of a destination after some seq.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay {
    /// The events that follow, in order, with consecutive seqs (at most
    /// the limit asked for; fewer means the end of what is retained was
    /// reached).
    Events(Vec<Retained>),
    /// The log no longer reaches back that far (or the seq is not one it
    /// ever handed out): the client is told to reload (`resync: required`).
    Resync,
}

/// Where resuming clients are served from: the application's event
/// sources.
pub trait History: Send + Sync + 'static {
    /// What `destination` published after `seq`, at most `limit` events.
    /// A failure ends the resuming client's session with an ERROR frame
    /// (it reconnects to retry); wrap the source's error with
    /// [`Error::history`](crate::Error::history).
    fn after(
        &self,
        destination: &str,
        seq: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Replay>>;
}
