//! The SockJS answers that belong to no session: the greeting, `/info`
//! (which the client asks first, to learn what the server offers and to
//! measure the round trip) and the iframe page of the iframe-based
//! transports.

use std::hash::{BuildHasher, Hasher};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::headers::{self, set};
use crate::transport::Shared;

/// Where the iframe page loads the SockJS client from: Spring's default
/// (only a string to us; browsers fetch it). A macro so `concat!` can use it.
macro_rules! sockjs_client_url {
    () => {
        "https://cdn.jsdelivr.net/npm/sockjs-client@1.5.0/dist/sockjs.min.js"
    };
}

/// `GET {path}` (without an upgrade) and `GET {path}/`.
pub(in crate::transport) async fn greeting(
    State(shared): State<Shared>,
    headers: HeaderMap,
) -> Response {
    if !shared.config.allowed_origins.allows(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        "Welcome to SockJS!\n",
    )
        .into_response()
}

/// `GET {path}/info`. `cookie_needed` is true, as in Spring: the
/// session transports then set `JSESSIONID`, which sticky load balancers
/// need, and IE-era clients prefer transports that carry cookies.
pub(in crate::transport) async fn info(
    State(shared): State<Shared>,
    request: HeaderMap,
) -> Response {
    let mut out = match headers::cors(&shared.config, &request) {
        Ok(out) => out,
        Err(refused) => return refused.into_response(),
    };
    set(
        &mut out,
        header::CONTENT_TYPE,
        "application/json;charset=UTF-8",
    );
    headers::no_cache(&mut out);
    let body = serde_json::json!({
        "entropy": entropy(),
        "origins": ["*:*"],
        "cookie_needed": true,
        "websocket": true,
    });
    (out, body.to_string()).into_response()
}

/// A fresh unpredictable `u32` for the client's random number generator.
/// `RandomState` is seeded from the OS once per thread and stepped for each
/// new instance, and SipHash makes the outputs unpredictable from each
/// other, which is all the client needs (no `rand` dependency).
fn entropy() -> u32 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() as u32
}

/// `OPTIONS {path}/info`.
pub(in crate::transport) async fn info_options(
    State(shared): State<Shared>,
    request: HeaderMap,
) -> Response {
    headers::preflight(&shared.config, &request, "OPTIONS, GET")
}

/// The iframe page (the layout the protocol tests expect); the client's
/// script then bootstraps the iframe side.
const IFRAME_PAGE: &str = concat!(
    "<!DOCTYPE html>\n<html>\n<head>\n",
    "  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n",
    "  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n",
    "  <script src=\"",
    sockjs_client_url!(),
    "\"></script>\n",
    "  <script>\n    document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  </script>\n",
    "</head>\n<body>\n  <h2>Don't panic!</h2>\n",
    "  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n",
    "</body>\n</html>"
);

/// The page's ETag: a hash of its content (FNV-1a), so it changes exactly
/// when the page does.
const IFRAME_ETAG: &str = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const BYTES: [u8; 18] = {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let page = IFRAME_PAGE.as_bytes();
        let mut i = 0;
        while i < page.len() {
            hash = (hash ^ page[i] as u64).wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        let mut out = [b'"'; 18];
        let mut j = 0;
        while j < 16 {
            out[1 + j] = HEX[((hash >> (60 - 4 * j)) & 0xf) as usize];
            j += 1;
        }
        out
    };
    match std::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("hex is ASCII"),
    }
};

/// `GET {path}/iframe.html`, and the versioned names clients use to
/// bust caches (`iframe-1.6.1.html`): `iframe[0-9a-z._-]*.html`.
pub(in crate::transport) async fn iframe(
    State(shared): State<Shared>,
    Path(page): Path<String>,
    request: HeaderMap,
) -> Response {
    let versioned = page
        .strip_prefix("iframe")
        .and_then(|rest| rest.strip_suffix(".html"))
        .is_some_and(|v| {
            v.bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'.' | b'_' | b'-'))
        });
    if !versioned {
        return StatusCode::NOT_FOUND.into_response();
    }
    if !shared.config.allowed_origins.allows(&request) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut out = HeaderMap::new();
    out.insert(header::ETAG, HeaderValue::from_static(IFRAME_ETAG));
    if request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == IFRAME_ETAG.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    set(&mut out, header::CONTENT_TYPE, "text/html;charset=UTF-8");
    headers::cache_one_year(&mut out);
    (out, IFRAME_PAGE).into_response()
}

#[cfg(test)]
mod tests;
