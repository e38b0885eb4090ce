//! hyper answers a request head it cannot parse (a control character in a
//! header, a head over the size limit, a URI too long) itself, with an
//! empty body, before any handler runs. Every other error of the services
//! is JSON (`crate::error_body`), and clients are written to expect that; so
//! the socket replaces hyper's answer with the same status and a JSON body.
//! hyper closes the connection after it either way.
//!
//! hyper's answer is recognisable on the way out: a final response head
//! (`HTTP/1.1 400`, `414` or `431`, the only ones it makes) when every
//! request hyper has handed to the service has had its response already,
//! so this one answers no request. Responses are counted as their heads
//! are written (interim `1xx` ones excepted).

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::AsyncWrite;

/// Responses seen, and the replacement answer being written, if any.
#[derive(Debug, Default)]
pub(super) struct Refusal {
    /// Final response heads written so far.
    responses: u64,
    answer: Option<(Vec<u8>, usize)>,
}

/// What a write that starts with `bytes` is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Write {
    /// hyper's own answer to a head it could not parse: replace it.
    HypersRefusal,
    /// A final response's head.
    Response,
    /// Anything else (a body, an interim response).
    Other,
}

impl Refusal {
    /// Whether hyper's answer is being replaced.
    pub(super) fn is_active(&self) -> bool {
        self.answer.is_some()
    }

    /// What a write of `bytes` is, when hyper has handed `requests`
    /// requests to the service on this connection.
    pub(super) fn classify(&self, bytes: &[u8], requests: u64) -> Write {
        let Some(status) = status(bytes) else {
            return Write::Other;
        };
        if status < 200 {
            Write::Other
        } else if self.responses >= requests && matches!(status, 400 | 414 | 431) {
            Write::HypersRefusal
        } else {
            Write::Response
        }
    }

    /// A final response's head was written.
    pub(super) fn responded(&mut self) {
        self.responses += 1;
    }

    /// Replaces hyper's answer, whose first bytes are `head`.
    pub(super) fn start(&mut self, head: &[u8]) {
        let status = status(head).unwrap_or(400);
        self.answer = Some((answer(status).into_bytes(), 0));
    }

    /// Writes what is left of the replacement; ready once all of it is out.
    pub(super) fn poll_write_out<T: AsyncWrite + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let Some((bytes, written)) = &mut self.answer else {
            return Poll::Ready(Ok(()));
        };
        while *written < bytes.len() {
            let n = std::task::ready!(Pin::new(&mut *io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// The status of a response head at the start of `bytes`.
fn status(bytes: &[u8]) -> Option<u16> {
    if !bytes.starts_with(b"HTTP/1.") || bytes.get(12) != Some(&b' ') {
        return None;
    }
    std::str::from_utf8(bytes.get(9..12)?).ok()?.parse().ok()
}

/// The JSON answer for one of hyper's refusals, with its status.
fn answer(status: u16) -> String {
    let status = http::StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(http::StatusCode::BAD_REQUEST);
    let message = match status.as_u16() {
        400 => "Malformed request head",
        414 => "Request URI too long",
        431 => "Request header fields too large",
        _ => status.canonical_reason().unwrap_or("Bad request"),
    };
    let body = crate::error_body::ErrorBody::new(status, "", message).to_line();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
}

#[cfg(test)]
mod tests;
