//! Body wrappers: a request body that must arrive by a deadline, and a
//! response body that keeps its connection counted as busy until hyper
//! drops it (written in full, or abandoned).

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::watch::InFlight;

/// A request body did not arrive within the body timeout. Handlers that
/// read bodies find it in the error's source chain and answer 408.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within the body timeout")]
pub struct BodyTimeout;

impl BodyTimeout {
    /// True when `error`, or anything in its source chain, is a [`BodyTimeout`].
    pub fn caused(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(e) = next {
            if e.is::<Self>() {
                return true;
            }
            next = e.source();
        }
        false
    }
}

/// `incoming` as an axum body that fails with [`BodyTimeout`] if it has not
/// ended by `deadline`. An empty body (most GETs) needs no timer.
pub(super) fn with_deadline(incoming: Incoming, deadline: Instant) -> Body {
    if http_body::Body::is_end_stream(&incoming) {
        return Body::new(incoming);
    }
    Body::new(Deadline {
        inner: incoming,
        timer: Box::pin(tokio::time::sleep_until(deadline)),
    })
}

struct Deadline {
    inner: Incoming,
    timer: Pin<Box<Sleep>>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body holding its request's [`InFlight`] guard.
pub(super) struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl Tracked {
    pub(super) fn new(inner: Body, in_flight: InFlight) -> Self {
        Self {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
