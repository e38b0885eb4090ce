//! The SockJS protocol under `/ws-orders/` as Spring serves it: greeting,
//! `/info`, `/iframe.html`, and per session `/{server}/{session}/{transport}`
//! with the websocket, xhr + xhr_send, xhr_streaming, eventsource and
//! htmlfile transports (no JSONP: Spring dropped it). The official
//! sockjs-protocol test suite is the reference for the details.

pub mod frames;
mod session;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::{Body, Bytes, to_bytes},
    extract::{ConnectInfo, Path, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::stream;
pub use session::Sessions;
use session::{Attach, Session};

use super::{Shared, websocket};
use frames::Wrapper;

const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";
const ONE_YEAR: &str = "public, max-age=31536000";
const IFRAME_ETAG: &str = "\"sockjs-iframe-1.6.1\"";

/// `GET /ws-orders/`: the greeting.
pub async fn greeting() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        "Welcome to SockJS!\n",
    )
}

/// Access-Control headers for an allowed origin (echoed with credentials,
/// never `*`), or `Err(403)` for a refused one.
fn cors(
    shared: &Shared,
    headers: &HeaderMap,
) -> Result<Vec<(header::HeaderName, HeaderValue)>, StatusCode> {
    if !shared.config.allowed_origins.allows(headers) {
        return Err(StatusCode::FORBIDDEN);
    }
    let mut out = Vec::new();
    if let Some(origin) = headers.get(header::ORIGIN) {
        out.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()));
        out.push((
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        ));
        out.push((header::VARY, HeaderValue::from_static("Origin")));
    }
    Ok(out)
}

fn with(mut response: Response, headers: Vec<(header::HeaderName, HeaderValue)>) -> Response {
    response.headers_mut().extend(headers);
    response
}

/// `GET /ws-orders/info`.
pub async fn info(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let cors = match cors(&shared, &headers) {
        Ok(c) => c,
        Err(status) => return status.into_response(),
    };
    let entropy = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        h.finish() as u32
    };
    let body = serde_json::json!({"entropy": entropy, "origins": ["*:*"], "cookie_needed": false, "websocket": true});
    let response = (
        [
            (header::CONTENT_TYPE, "application/json;charset=UTF-8"),
            (header::CACHE_CONTROL, NO_CACHE),
        ],
        body.to_string(),
    )
        .into_response();
    with(response, cors)
}

/// `OPTIONS /ws-orders/info`.
pub async fn info_options(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    preflight(&shared, &headers, "OPTIONS, GET")
}

fn preflight(shared: &Shared, headers: &HeaderMap, methods: &'static str) -> Response {
    let mut cors = match cors(shared, headers) {
        Ok(c) => c,
        Err(status) => return status.into_response(),
    };
    cors.push((
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    ));
    cors.push((
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("31536000"),
    ));
    cors.push((header::CACHE_CONTROL, HeaderValue::from_static(ONE_YEAR)));
    if let Some(requested) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        cors.push((header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone()));
    }
    with(StatusCode::NO_CONTENT.into_response(), cors)
}

/// `GET /ws-orders/iframe.html` (and `iframe-<version>.html`).
pub async fn iframe(
    State(shared): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !(name.starts_with("iframe") && name.ends_with(".html")) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if !shared.config.allowed_origins.allows(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == IFRAME_ETAG)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let page = "<!DOCTYPE html>\n<html>\n<head>\n  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
        <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  <script>\n    \
        document.domain = document.domain;\n    _sockjs_onload = function(){SockJS.bootstrap_iframe();};\n  </script>\n  \
        <script src=\"https://cdn.jsdelivr.net/sockjs/1.0.0/sockjs.min.js\"></script>\n</head>\n<body>\n  \
        <h2>Don't panic!</h2>\n  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n</body>\n</html>";
    (
        [
            (header::CONTENT_TYPE, "text/html;charset=UTF-8"),
            (header::CACHE_CONTROL, ONE_YEAR),
            (header::ETAG, IFRAME_ETAG),
        ],
        page,
    )
        .into_response()
}

/// `/ws-orders/{server}/{session}/{transport}`.
pub async fn transport(
    State(shared): State<Shared>,
    Path((server, session, transport)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    if server.is_empty() || session.is_empty() || server.contains('.') || session.contains('.') {
        return StatusCode::NOT_FOUND.into_response();
    }
    let method = request.method().clone();
    // Receivers need only these; a &Request would make the future !Send.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let headers = request.headers().clone();
    match (transport.as_str(), method) {
        ("websocket", Method::GET) => websocket::sockjs(shared, request).await,
        ("xhr" | "xhr_send" | "xhr_streaming", Method::OPTIONS) => {
            preflight(&shared, request.headers(), "OPTIONS, POST")
        }
        ("xhr_send", Method::POST) => xhr_send(&shared, &session, request).await,
        ("xhr", Method::POST) => receive(&shared, &session, &headers, peer, Kind::Polling).await,
        ("xhr_streaming", Method::POST) => {
            receive(&shared, &session, &headers, peer, Kind::Streaming).await
        }
        ("eventsource", Method::GET) => {
            receive(&shared, &session, &headers, peer, Kind::EventSource).await
        }
        ("htmlfile", Method::GET) => {
            let callback = request
                .uri()
                .query()
                .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
                .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "c").map(|(_, v)| v));
            match callback {
                Some(c)
                    if !c.is_empty()
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') =>
                {
                    receive(&shared, &session, &headers, peer, Kind::HtmlFile(c)).await
                }
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "\"callback\" parameter required",
                )
                    .into_response(),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The receiving transports.
#[derive(Clone, Debug)]
enum Kind {
    Polling,
    Streaming,
    EventSource,
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
            // Some browsers only start delivering a streamed XHR after 2 KiB.
            Kind::Streaming => format!("{}\n", "h".repeat(2048)),
            Kind::EventSource => "\r\n".to_owned(),
            Kind::HtmlFile(callback) => frames::htmlfile_prelude(callback),
        }
    }
}

/// Detaches the receiver when its response ends or the client goes away.
struct Receiver {
    session: Arc<Session>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.session.detach();
    }
}

async fn receive(
    shared: &Shared,
    id: &str,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    kind: Kind,
) -> Response {
    let cors = match cors(shared, headers) {
        Ok(c) => c,
        Err(status) => return status.into_response(),
    };
    let wrapper = kind.wrapper();
    let head = [
        (header::CONTENT_TYPE, kind.content_type()),
        (header::CACHE_CONTROL, NO_CACHE),
    ];
    let (session, fresh) = match shared.sessions.attach(id, shared, peer) {
        Attach::Receiver { session, fresh } => (session, fresh),
        Attach::Refused(frame) => {
            let body = format!("{}{}", kind.prelude(), wrapper.wrap(frame));
            return with((head, body).into_response(), cors);
        }
        Attach::Full => {
            return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
        }
    };
    let heartbeat = shared.config.sockjs_heartbeat;
    let shutdown = shared.shutdown.clone();
    let limit = shared.config.streaming_bytes_limit;
    let polling = matches!(kind, Kind::Polling);
    let prelude = kind.prelude();
    // The response body: prelude, `o` for a new session, then frames until a
    // poll has its one frame, a stream reaches its byte limit, or the
    // session closes.
    let state = (Some(prelude), fresh, Some(Receiver { session }), 0usize);
    let body = stream::unfold(state, move |(prelude, fresh, receiver, sent)| {
        let shutdown = shutdown.clone();
        async move {
            if let Some(p) = prelude
                && !p.is_empty()
            {
                return Some((
                    Ok::<_, std::io::Error>(Bytes::from(p)),
                    (None, fresh, receiver, sent),
                ));
            }
            let receiver = receiver?;
            if fresh {
                let open = wrapper.wrap("o");
                let next = if polling { None } else { Some(receiver) };
                return Some((Ok(Bytes::from(open)), (None, false, next, sent + 1)));
            }
            let (frame, closed) = tokio::select! {
                next = receiver.session.next_frame(heartbeat) => next,
                () = shutdown.cancelled() => {
                    receiver.session.close();
                    (frames::GO_AWAY.to_owned(), true)
                }
            };
            let chunk = wrapper.wrap(&frame);
            let sent = sent + chunk.len();
            let done = closed || polling || sent >= limit;
            Some((
                Ok(Bytes::from(chunk)),
                (None, false, (!done).then_some(receiver), sent),
            ))
        }
    });
    with((head, Body::from_stream(body)).into_response(), cors)
}

async fn xhr_send(shared: &Shared, id: &str, request: Request) -> Response {
    let cors = match cors(shared, request.headers()) {
        Ok(c) => c,
        Err(status) => return status.into_response(),
    };
    let Some(to_app) = shared.sessions.get(id).and_then(|s| s.to_app()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let limit = shared.config.max_message_bytes;
    let body = match to_bytes(request.into_body(), limit).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "message too large").into_response(),
    };
    if body.is_empty() {
        return with(
            (StatusCode::INTERNAL_SERVER_ERROR, "Payload expected.").into_response(),
            cors,
        );
    }
    let Some(messages) = std::str::from_utf8(&body)
        .ok()
        .and_then(frames::parse_client)
    else {
        return with(
            (StatusCode::INTERNAL_SERVER_ERROR, "Broken JSON encoding.").into_response(),
            cors,
        );
    };
    for m in messages {
        if to_app.send(m).await.is_err() {
            return StatusCode::NOT_FOUND.into_response();
        }
    }
    let head = [
        (header::CONTENT_TYPE, "text/plain;charset=UTF-8"),
        (header::CACHE_CONTROL, NO_CACHE),
    ];
    with((StatusCode::NO_CONTENT, head).into_response(), cors)
}
