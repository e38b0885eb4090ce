//! The response body, counted as it streams; its line is written at its
//! end.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::line::Line;

/// `inner`, counting its bytes into `line`, which it writes at the end of
/// the stream, on an error, or when dropped before either (the client
/// went away, or hyper never polls it: a `HEAD`'s body, say).
pub(super) struct Counted {
    inner: Body,
    line: Option<Line>,
}

impl Counted {
    pub(super) fn new(inner: Body, line: Line) -> Self {
        Self {
            inner,
            line: Some(line),
        }
    }

    fn finish(&mut self) {
        if let Some(line) = self.line.take() {
            line.write();
        }
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(line), Some(data)) = (&mut self.line, frame.data_ref()) {
                    line.bytes += data.len() as u64;
                }
                if let (Some(line), Some(trailers)) = (&mut self.line, frame.trailers_ref()) {
                    line.read_grpc_status(trailers);
                }
                // hyper stops polling a body that says it has ended (one
                // of known length, once it is all sent): this is its end.
                if frame.is_trailers() || self.inner.is_end_stream() {
                    self.finish();
                }
            }
            None | Some(Err(_)) => self.finish(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.finish();
    }
}
