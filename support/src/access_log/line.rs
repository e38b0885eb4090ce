//! One access log line: what the request said (its [`Head`]), what the
//! response said, and [`Line::write`].

use std::{fmt, net::IpAddr, time::Instant};

use axum::extract::MatchedPath;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use tracing::Span;

use super::{MAX_LOGGED_PATH, Protocol, TARGET};
use crate::http::Client;

/// nginx's status for a request whose client closed the connection before
/// the answer: not HTTP's, but what operators know from their proxies'
/// logs. Valid (three digits), so `StatusCode` holds it.
const CLIENT_CLOSED_REQUEST: StatusCode = match StatusCode::from_u16(499) {
    Ok(code) => code,
    Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
};

/// What a line takes from the request: cheap clones (the URI and route
/// share their bytes), formatted only when written.
#[derive(Debug)]
pub(super) struct Head {
    protocol: Protocol,
    method: Method,
    route: Option<MatchedPath>,
    uri: Uri,
    client: Option<IpAddr>,
}

impl Head {
    pub(super) fn of<B>(request: &Request<B>, protocol: Protocol) -> Self {
        Self {
            protocol,
            method: request.method().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            uri: request.uri().clone(),
            client: request.extensions().get::<Client>().map(|c| c.addr),
        }
    }
}

/// A line waiting for its response to be sent.
#[derive(Debug)]
pub(super) struct Line {
    head: Head,
    span: Span,
    started: Instant,
    status: StatusCode,
    /// gRPC's status, once known (headers of a trailers-only answer, or
    /// the trailers).
    grpc_status: Option<tonic::Code>,
    /// Response body bytes sent so far.
    pub(super) bytes: u64,
}

impl Line {
    /// The line of `head`'s request, answered with `response`'s head; it is
    /// logged in `span`.
    pub(super) fn new<B>(head: Head, span: Span, started: Instant, response: &Response<B>) -> Self {
        let mut line = Self {
            grpc_status: None,
            span,
            started,
            status: response.status(),
            bytes: 0,
            head,
        };
        line.read_grpc_status(response.headers());
        line
    }

    /// The line of a request whose client went away before the answer:
    /// status 499, as nginx logs it (and gRPC's `Cancelled`).
    pub(super) fn unanswered(head: Head, span: Span, started: Instant) -> Self {
        Self {
            grpc_status: (head.protocol == Protocol::Grpc).then_some(tonic::Code::Cancelled),
            span,
            started,
            status: CLIENT_CLOSED_REQUEST,
            bytes: 0,
            head,
        }
    }

    /// Takes gRPC's status from `headers` (a trailers-only answer's, or the
    /// trailers), if they carry one.
    pub(super) fn read_grpc_status(&mut self, headers: &HeaderMap) {
        if self.head.protocol != Protocol::Grpc {
            return;
        }
        if let Some(code) = headers.get("grpc-status") {
            self.grpc_status = Some(tonic::Code::from_bytes(code.as_bytes()));
        }
    }

    /// Writes the line.
    pub(super) fn write(self) {
        let Self {
            head,
            span,
            started,
            status,
            grpc_status,
            bytes,
        } = self;
        // µs precision: finer is noise, coarser hides fast requests.
        let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
        let path = Bounded(head.uri.path());
        let client = head.client.map(tracing::field::display);
        match head.protocol {
            Protocol::Http => tracing::info!(
                target: TARGET,
                parent: &span,
                method = %Bounded(head.method.as_str()),
                route = head.route.as_ref().map(MatchedPath::as_str),
                path = %path,
                status = status.as_u16(),
                duration_ms,
                bytes,
                client,
                "request",
            ),
            Protocol::Grpc => tracing::info!(
                target: TARGET,
                parent: &span,
                rpc = %path,
                grpc_status = grpc_status.map(|c| tracing::field::display(CodeName(c))),
                status = status.as_u16(),
                duration_ms,
                bytes,
                client,
                "call",
            ),
        }
    }
}

/// A client-chosen string as a log line shows it: at most
/// [`MAX_LOGGED_PATH`] characters (then `…`), control characters escaped
/// so that no line can be split or forged. (A URI holds none today, but
/// that is the `http` crate's rule, not this log's.)
struct Bounded<'a>(&'a str);

impl fmt::Display for Bounded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(MAX_LOGGED_PATH) {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        if chars.next().is_some() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// A gRPC status code by the name gRPC's own tools print (`OK`,
/// `NotFound`, `Unavailable`, …; the metrics' `grpc_code` label).
struct CodeName(tonic::Code);

impl fmt::Display for CodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            tonic::Code::Ok => f.write_str("OK"),
            other => fmt::Debug::fmt(&other, f),
        }
    }
}

#[cfg(test)]
mod tests;
