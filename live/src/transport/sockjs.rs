//! The SockJS protocol under `{path}/` as Spring serves it: the
//! greeting, `/info`, `/iframe.html`, and per session
//! `/{server}/{session}/{transport}` with the websocket, xhr + xhr_send,
//! xhr_streaming, eventsource and htmlfile transports. No JSONP: Spring
//! dropped it, so `jsonp` and `jsonp_send` are 404. The official
//! sockjs-protocol test suite (0.3.3) is the reference for the details.
//!
//! - [`frames`]: framing and JSON quoting (pure);
//! - `headers`: origin check, CORS, caching, cookie, preflight;
//! - `pages`: greeting, info, iframe;
//! - `session`: the session registry, leases and timeouts;
//! - `receive`: the receiving transports; `send`: xhr_send;
//! - `websocket`: the websocket transport (the raw WebSocket's pump with
//!   SockJS framing).

mod frames;
mod headers;
mod pages;
mod receive;
mod send;
mod session;
mod websocket;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Path, Request, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
pub(super) use pages::{greeting, iframe, info, info_options};
use receive::Kind;
pub(super) use session::Sessions;

use super::Shared;

/// `{path}/{server}/{session}/{transport}`. The server part is for
/// load balancers and ignored; sessions are known by their id alone.
pub(super) async fn transport(
    State(shared): State<Shared>,
    Path((server, session, transport)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let valid = |part: &str| !part.is_empty() && !part.contains('.');
    if !valid(&server) || !valid(&session) || session.len() > session::MAX_SESSION_ID {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Receivers need only these; holding the `Request` itself across the
    // await would make the future `!Send`.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let method = request.method().clone();
    let (parts, body) = request.into_parts();
    let peer = (peer, crate::transport::client_of(&parts));
    let headers = &parts.headers;
    let config = &shared.config;
    let id = session.as_str();
    match (transport.as_str(), method) {
        ("websocket", Method::GET) => {
            websocket::upgrade(shared.clone(), Request::from_parts(parts, body)).await
        }
        ("xhr" | "xhr_send" | "xhr_streaming", Method::OPTIONS) => {
            headers::preflight(config, headers, "OPTIONS, POST")
        }
        ("xhr", Method::POST) => receive::receive(&shared, id, headers, peer, Kind::Polling).await,
        ("xhr_streaming", Method::POST) => {
            receive::receive(&shared, id, headers, peer, Kind::Streaming).await
        }
        ("xhr_send", Method::POST) => send::xhr_send(&shared, id, headers, body).await,
        ("xhr" | "xhr_send" | "xhr_streaming", _) => headers::method_not_allowed("OPTIONS, POST"),
        ("eventsource", Method::GET) => {
            receive::receive(&shared, id, headers, peer, Kind::EventSource).await
        }
        ("websocket" | "eventsource", _) => headers::method_not_allowed("GET"),
        ("htmlfile", Method::GET) => match htmlfile_callback(parts.uri.query()) {
            Ok(callback) => {
                receive::receive(&shared, id, headers, peer, Kind::HtmlFile(callback)).await
            }
            Err(message) => (StatusCode::INTERNAL_SERVER_ERROR, message).into_response(),
        },
        ("htmlfile", Method::OPTIONS) => headers::preflight(config, headers, "OPTIONS, GET"),
        ("htmlfile", _) => headers::method_not_allowed("OPTIONS, GET"),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The htmlfile callback `?c=`: it is written into a script, so only
/// `[a-zA-Z0-9_.]+` is accepted (Spring's rule).
fn htmlfile_callback(query: Option<&str>) -> Result<String, &'static str> {
    let callback = query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "c"))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .ok_or("\"callback\" parameter required")?;
    let valid = callback
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    // Worded as the protocol tests expect.
    valid
        .then_some(callback)
        .ok_or("invalid \"callback\" parameter")
}

#[cfg(test)]
mod tests;
