//! The receiving transports: xhr (polling), xhr_streaming, eventsource and
//! htmlfile. They differ only in content type, prelude, how a frame is
//! wrapped, and whether the response ends after one frame; so one writer
//! serves them all.
//!
//! Each request attaches to its session ([`Lease`]) and spawns a writer task
//! that feeds the response body through a one-slot channel. Writing there
//! is how we see the client: a send that does not complete within
//! `send_timeout` means the client stopped reading (the session is closed);
//! a closed channel means the client went away (the lease drops unfinished
//! and the session is closed as interrupted).

use std::{convert::Infallible, net::SocketAddr};

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use support::http::Client;
use tokio::{sync::mpsc, time::timeout};

use super::{
    frames::{self, Wrapper},
    headers::{self, set},
    session::{Attach, Lease, Next},
};
use crate::transport::Shared;

/// Bytes of `h` that start an xhr_streaming response: some browsers hand a
/// streamed XHR to the page only after the first 2 KiB.
const STREAMING_PRELUDE: usize = 2048;

/// A receiving transport.
#[derive(Clone, Debug)]
pub(super) enum Kind {
    /// xhr: one frame per request.
    Polling,
    /// xhr_streaming.
    Streaming,
    /// eventsource.
    EventSource,
    /// htmlfile, with its (checked) JavaScript callback name.
    HtmlFile(String),
}

impl Kind {
    fn wrapper(&self) -> Wrapper {
        match self {
            Kind::Polling | Kind::Streaming => Wrapper::Newline,
            Kind::EventSource => Wrapper::EventSource,
            Kind::HtmlFile(_) => Wrapper::HtmlFile,
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Kind::Polling | Kind::Streaming => "application/javascript;charset=UTF-8",
            Kind::EventSource => "text/event-stream;charset=UTF-8",
            Kind::HtmlFile(_) => "text/html;charset=UTF-8",
        }
    }

    fn prelude(&self) -> String {
        match self {
            Kind::Polling => String::new(),
            Kind::Streaming => format!("{}\n", "h".repeat(STREAMING_PRELUDE)),
            // Opera needed a line before the first event.
            Kind::EventSource => "\r\n".to_owned(),
            Kind::HtmlFile(callback) => frames::htmlfile_prelude(callback),
        }
    }
}

/// Answers a receiving request on session `id`.
pub(super) async fn receive(
    shared: &Shared,
    id: &str,
    request: &HeaderMap,
    (peer, client): (Option<SocketAddr>, Client),
    kind: Kind,
) -> Response {
    let mut out = match headers::cors(&shared.config, request) {
        Ok(out) => out,
        Err(refused) => return refused.into_response(),
    };
    set(&mut out, header::CONTENT_TYPE, kind.content_type());
    headers::no_cache(&mut out);
    headers::session_cookie(request, &mut out);
    let (lease, fresh) = match shared.sessions.attach(id, shared, (peer, client)) {
        Attach::Receiver { lease, fresh } => (lease, fresh),
        Attach::Refused(frame) => {
            // Prelude and frame as separate chunks, as a live stream sends
            // them; clients read them one by one.
            let chunks = [kind.prelude(), kind.wrapper().wrap(frame)]
                .into_iter()
                .filter(|c| !c.is_empty())
                .map(|c| Ok::<_, Infallible>(Bytes::from(c)));
            return (out, Body::from_stream(futures::stream::iter(chunks))).into_response();
        }
        Attach::Full => return crate::transport::too_many_connections(),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    tokio::spawn(write(lease, fresh, kind, tx, shared.clone()));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, Infallible>(chunk), rx))
    });
    (out, Body::from_stream(body)).into_response()
}

/// What a write to the response found.
enum Wrote {
    Ok,
    /// The client went away (the body was dropped).
    Gone,
    /// The client did not take the bytes within `send_timeout`, or its
    /// queue overflowed meanwhile.
    Stalled,
}

/// Writes the prelude and frames of one receiving request, then ends the
/// response: after one frame when polling, after `streaming_bytes_limit`
/// bytes of frames when streaming, at once when the session closes.
async fn write(mut lease: Lease, fresh: bool, kind: Kind, tx: mpsc::Sender<Bytes>, shared: Shared) {
    let config = &shared.config;
    let wrapper = kind.wrapper();
    let polling = matches!(kind, Kind::Polling);
    // A write stuck at a full response is abandoned as soon as the queue
    // behind it overflows, not after the whole send timeout.
    let overflowed = lease.overflowed();
    let send = async |bytes: String| {
        tokio::select! {
            biased;
            () = overflowed.cancelled() => Wrote::Stalled,
            sent = timeout(config.send_timeout, tx.send(bytes.into())) => match sent {
                Ok(Ok(())) => Wrote::Ok,
                Ok(Err(_)) => Wrote::Gone,
                Err(_) => Wrote::Stalled,
            },
        }
    };
    let prelude = kind.prelude();
    if !prelude.is_empty() && !proceed(send(prelude).await, &lease) {
        return;
    }
    // The protocol counts frames, not the prelude, against the limit.
    let mut sent = 0;
    if fresh {
        let open = wrapper.wrap(frames::OPEN);
        sent += open.len();
        if !proceed(send(open).await, &lease) {
            return;
        }
        // A new session's first poll answers just `o`.
        if polling {
            return lease.finish();
        }
    }
    loop {
        let next = tokio::select! {
            next = lease.next(config.sockjs_heartbeat) => next,
            // The client went away: the lease, dropped unfinished, closes
            // the session as interrupted. At shutdown the session's reaper
            // closes it once the handler said goodbye: the lease then
            // yields the handler's last messages and the restart frame.
            () = tx.closed() => return,
        };
        let (frame, last) = match next {
            Next::Messages(frame) => (frame, polling),
            Next::Heartbeat => (frames::HEARTBEAT.to_owned(), polling),
            Next::Closed(frame) => (frame.to_owned(), true),
        };
        let wrapped = wrapper.wrap(&frame);
        sent += wrapped.len();
        if !proceed(send(wrapped).await, &lease) {
            return;
        }
        if last || sent >= config.streaming_bytes_limit {
            return lease.finish();
        }
    }
}

/// Whether to go on after a write; a stalled client's session is closed
/// (a gone client's lease closes it as interrupted when dropped).
fn proceed(wrote: Wrote, lease: &Lease) -> bool {
    match wrote {
        Wrote::Ok => true,
        Wrote::Gone => false,
        Wrote::Stalled => {
            lease.end_session(frames::GO_AWAY);
            false
        }
    }
}

#[cfg(test)]
mod tests;
