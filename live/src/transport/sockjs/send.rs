//! `xhr_send`: the client's messages on the HTTP transports, a JSON array
//! of strings per POST. The body is read whatever its content type
//! (browsers send `text/plain` to avoid a preflight, some clients none),
//! and never beyond `max_message_bytes`.

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use tokio::time::timeout;

use super::{
    frames,
    headers::{self, set},
};
use crate::transport::Shared;

/// Answers `POST …/{session}/xhr_send`.
pub(super) async fn xhr_send(
    shared: &Shared,
    id: &str,
    request: &HeaderMap,
    body: Body,
) -> Response {
    let mut out = match headers::cors(&shared.config, request) {
        Ok(out) => out,
        Err(refused) => return refused.into_response(),
    };
    headers::no_cache(&mut out);
    headers::session_cookie(request, &mut out);
    let Some((session, to_app)) = shared
        .sessions
        .get(id)
        .and_then(|s| s.to_app().map(|to_app| (s, to_app)))
    else {
        return (StatusCode::NOT_FOUND, out).into_response();
    };
    let error = |status: StatusCode, message: &'static str, mut out: HeaderMap| {
        set(&mut out, header::CONTENT_TYPE, "text/plain;charset=UTF-8");
        (status, out, message).into_response()
    };
    let limit = shared.config.max_message_bytes;
    let body = match read_body(request, body, limit).await {
        Ok(body) => body,
        Err(Unread::TooLarge) => {
            // The rest is unread: this connection ends (see `Error`'s 413).
            set(&mut out, header::CONNECTION, "close");
            return error(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large.", out);
        }
        Err(Unread::Failed) => return error(StatusCode::BAD_REQUEST, "Body unreadable.", out),
    };
    if body.is_empty() {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Payload expected.", out);
    }
    let Some(messages) = std::str::from_utf8(&body)
        .ok()
        .and_then(frames::parse_client)
    else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Broken JSON encoding.",
            out,
        );
    };
    for m in messages {
        match timeout(shared.config.send_timeout, to_app.send(m)).await {
            Ok(Ok(())) => {}
            // Closed meanwhile.
            Ok(Err(_)) => return (StatusCode::NOT_FOUND, out).into_response(),
            // The handler has not taken a message for `send_timeout`: it is
            // stuck, and a batch half delivered cannot be retried safely.
            Err(_) => {
                session.close(frames::GO_AWAY);
                return error(StatusCode::SERVICE_UNAVAILABLE, "Session stuck.", out);
            }
        }
    }
    // A 204 with `text/plain`: Firefox otherwise takes the empty body for
    // XML and complains.
    set(&mut out, header::CONTENT_TYPE, "text/plain;charset=UTF-8");
    (StatusCode::NO_CONTENT, out).into_response()
}

/// Why a body was not read.
enum Unread {
    TooLarge,
    Failed,
}

/// Reads a body of at most `limit` bytes; a larger `Content-Length` is
/// refused before reading anything.
async fn read_body(request: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, Unread> {
    let declared = request
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Unread::TooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Unread::Failed)?;
        if out.len() + chunk.len() > limit {
            return Err(Unread::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
