//! Which phase a connection is in, and so which timeout applies:
//! - **head**: bytes of a request have arrived (or the connection is new)
//!   and its head is not complete yet: the header timeout;
//! - **busy**: a request is being handled or its response written: none
//!   (the body has its own deadline; a response that cannot be written is
//!   the handler's business, e.g. the live-event send timeout);
//! - **idle**: between requests: the idle timeout.
//!
//! The socket wrapper [`Watched`] notices the first bytes of a new request;
//! the service marks a request's start, and its response body's end (a
//! [`InFlight`] guard, dropped by hyper once the response is written or
//! abandoned). Each transition wakes the connection's task to move its one
//! timer.
//!
//! gRPC connections (HTTP/2 only) have phases of their own: **handshake**
//! until the client's preface and first SETTINGS frame have arrived (the
//! header timeout), then **busy** while a stream is open and **idle** when
//! none is (the idle timeout, counted from the last stream's end: pings and
//! window updates do not make a connection busy).
//!
//! An [`Activity`] is also the connection's [`Occupant`] in its budget:
//! sheddable when nothing is in flight, and shed by waking its task.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Notify,
};

use crate::budget::Occupant;

mod handshake;
mod refusal;

use handshake::Handshake;
use refusal::{Refusal, Write};

/// One connection's activity. Shared by its socket, its service and its task.
#[derive(Debug)]
pub(super) struct Activity {
    origin: Instant,
    /// Requests whose response is not finished.
    in_flight: AtomicUsize,
    /// Requests hyper has handed to the service.
    requests: AtomicU64,
    /// Bytes of a request arrived while idle (or the connection is new).
    reading_head: AtomicBool,
    /// When the current phase began, in µs after `origin`.
    since_us: AtomicU64,
    /// Its seat was given to another client: close at once.
    shed: AtomicBool,
    changed: Notify,
}

impl Activity {
    /// A new connection: waiting for its first request's head.
    pub(super) fn new(now: Instant) -> Self {
        Self {
            origin: now,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            reading_head: AtomicBool::new(true),
            since_us: AtomicU64::new(0),
            shed: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    /// An HTTP/2 connection's handshake arrived: idle until a stream opens.
    fn handshake_done(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.reading_head.swap(false, Ordering::AcqRel)
        {
            self.mark(Instant::now());
        }
    }

    /// Whether its seat was shed (the connection must close).
    pub(super) fn is_shed(&self) -> bool {
        self.shed.load(Ordering::Acquire)
    }

    fn mark(&self, now: Instant) {
        let us = u64::try_from(now.duration_since(self.origin).as_micros()).unwrap_or(u64::MAX);
        self.since_us.store(us, Ordering::Release);
        // A stored permit if the task is not waiting: no lost wake-up.
        self.changed.notify_one();
    }

    fn since(&self) -> Instant {
        self.origin + Duration::from_micros(self.since_us.load(Ordering::Acquire))
    }

    /// Bytes arrived from the client.
    fn received(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && !self.reading_head.swap(true, Ordering::AcqRel)
        {
            self.mark(Instant::now());
        }
    }

    /// hyper has a request's head: the connection is busy until the guard
    /// (moved into the response body) is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.reading_head.store(false, Ordering::Release);
        InFlight(self.clone())
    }

    /// Whether hyper has handed the service a request (a stream, on gRPC).
    pub(super) fn served_any(&self) -> bool {
        self.requests.load(Ordering::Acquire) > 0
    }

    /// When the current phase's timeout expires; `None` while busy.
    pub(super) fn deadline(&self, header: Duration, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let limit = if self.reading_head.load(Ordering::Acquire) {
            header
        } else {
            idle
        };
        Some(self.since() + limit)
    }

    /// Whether the phase's timeout has passed at `now` (rechecked when the
    /// timer fires, as the phase may have moved meanwhile).
    pub(super) fn expired(&self, now: Instant, header: Duration, idle: Duration) -> bool {
        self.deadline(header, idle).is_some_and(|at| at <= now)
    }

    /// Resolves after the next phase change.
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }
}

impl Occupant for Activity {
    fn sheddable(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    fn shed(&self) {
        self.shed.store(true, Ordering::Release);
        self.changed.notify_one();
    }
}

/// A request in flight; dropping it may make the connection idle.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.mark(Instant::now());
        }
    }
}

/// A socket that reports arriving bytes to its connection's [`Activity`].
#[derive(Debug)]
pub(super) struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
    protocol: Watch,
}

/// What the socket watches for, by protocol.
#[derive(Debug)]
enum Watch {
    /// HTTP/1 (or HTTP/2 on the REST port): arriving bytes start a head;
    /// hyper's own answers to heads it cannot parse become JSON errors.
    Requests(Refusal),
    /// gRPC: the handshake, then nothing (streams are counted by requests).
    Streams(Handshake),
}

impl<T> Watched<T> {
    /// A REST connection's socket.
    pub(super) fn requests(inner: T, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            protocol: Watch::Requests(Refusal::default()),
        }
    }

    /// A gRPC connection's socket.
    pub(super) fn streams(inner: T, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity,
            protocol: Watch::Streams(Handshake::default()),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let this = &mut *self;
            match &mut this.protocol {
                Watch::Requests(_) => this.activity.received(),
                Watch::Streams(handshake) => {
                    if handshake.feed(&buf.filled()[before..]) {
                        this.activity.handshake_done();
                    }
                }
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> Watched<T> {
    /// Writes `bytes` (whose first non-empty part is `first`) with `write`,
    /// unless they are hyper's answer to a head it could not parse, which
    /// is swallowed and replaced (`refusal`).
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        (first, total): (&[u8], usize),
        write: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<std::io::Result<usize>>,
    ) -> Poll<std::io::Result<usize>> {
        let Watch::Requests(refusal) = &mut self.protocol else {
            return write(Pin::new(&mut self.inner), cx);
        };
        if refusal.is_active() {
            // hyper's own answer is being replaced: swallow the rest of it.
            return Poll::Ready(Ok(total));
        }
        let requests = self.activity.requests.load(Ordering::Acquire);
        let kind = refusal.classify(first, requests);
        if kind == Write::HypersRefusal {
            refusal.start(first);
            return Poll::Ready(Ok(total));
        }
        let written = write(Pin::new(&mut self.inner), cx);
        // Counted once its first bytes are out: a write that is retried
        // after `Pending` would otherwise count twice.
        if kind == Write::Response && matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            refusal.responded();
        }
        written
    }

    /// Writes what is left of a substituted answer; ready once it is all out.
    fn poll_substitute(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let Watch::Requests(refusal) = &mut self.protocol else {
            return Poll::Ready(Ok(()));
        };
        refusal.poll_write_out(&mut self.inner, cx)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_write_with(cx, (buf, buf.len()), |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let total = bufs.iter().map(|b| b.len()).sum();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        self.poll_write_with(cx, (first, total), |io, cx| {
            io.poll_write_vectored(cx, bufs)
        })
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_substitute(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_substitute(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
