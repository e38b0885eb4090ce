//! The headers every SockJS answer needs: the origin check and CORS,
//! caching (never for session data, a year for the static answers), the
//! `JSESSIONID` cookie, and preflights.

use std::time::{Duration, SystemTime};

use axum::{
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::transport::TransportConfig;

/// Session data must never be cached: iOS caches POSTs, and eventsource
/// and htmlfile are GETs. `no-transform` keeps proxies from buffering or
/// compressing a stream (the exact value the protocol tests expect).
const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";

/// Static answers (preflights, the iframe page) are cached for a year.
const ONE_YEAR: Duration = Duration::from_secs(31_536_000);
const CACHE_ONE_YEAR: &str = "public, max-age=31536000";

/// Longest `JSESSIONID` value echoed back; longer ones become `dummy`.
const MAX_COOKIE_VALUE: usize = 128;

/// A request from a refused origin; answered with 403.
#[derive(Debug)]
pub(super) struct Forbidden;

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        StatusCode::FORBIDDEN.into_response()
    }
}

/// The CORS headers of an answer to a request with these `headers`, or
/// [`Forbidden`] when its origin is refused. An allowed origin is echoed
/// exactly with credentials (SockJS sends cookies), never `*`.
pub(super) fn cors(config: &TransportConfig, headers: &HeaderMap) -> Result<HeaderMap, Forbidden> {
    if !config.allowed_origins.allows(headers) {
        return Err(Forbidden);
    }
    let mut out = HeaderMap::new();
    if let Some(origin) = headers.get(header::ORIGIN) {
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(out)
}

/// Adds a header with a static value.
pub(super) fn set(out: &mut HeaderMap, name: HeaderName, value: &'static str) {
    out.insert(name, HeaderValue::from_static(value));
}

/// Marks an answer as never cacheable.
pub(super) fn no_cache(out: &mut HeaderMap) {
    set(out, header::CACHE_CONTROL, NO_CACHE);
}

/// Marks an answer as cacheable for a year (`Cache-Control` and, for old
/// caches, `Expires`).
pub(super) fn cache_one_year(out: &mut HeaderMap) {
    set(out, header::CACHE_CONTROL, CACHE_ONE_YEAR);
    let expires = httpdate::fmt_http_date(SystemTime::now() + ONE_YEAR);
    if let Ok(value) = HeaderValue::from_str(&expires) {
        out.insert(header::EXPIRES, value);
    }
}

/// The `JSESSIONID` cookie, as SockJS servers set it when `/info` says
/// `cookie_needed` (load balancers use it for sticky sessions): the
/// client's own value echoed back, else `dummy`, for the whole site.
pub(super) fn session_cookie(request: &HeaderMap, out: &mut HeaderMap) {
    let value = request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("JSESSIONID="))
        .find(|v| valid_cookie_value(v))
        .unwrap_or("dummy");
    if let Ok(cookie) = HeaderValue::from_str(&format!("JSESSIONID={value};path=/")) {
        out.insert(header::SET_COOKIE, cookie);
    }
}

/// RFC 6265 `cookie-octet`s only, so an echoed value cannot add
/// attributes to our cookie.
fn valid_cookie_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_COOKIE_VALUE
        && v.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e))
}

/// The answer to a CORS preflight (`OPTIONS`) of a resource allowing
/// `methods`: 204, cacheable, the requested headers allowed.
pub(super) fn preflight(
    config: &TransportConfig,
    headers: &HeaderMap,
    methods: &'static str,
) -> Response {
    let mut out = match cors(config, headers) {
        Ok(out) => out,
        Err(refused) => return refused.into_response(),
    };
    set(&mut out, header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(ONE_YEAR.as_secs()),
    );
    cache_one_year(&mut out);
    if let Some(requested) = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .filter(|v| !v.is_empty())
    {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
    }
    (StatusCode::NO_CONTENT, out).into_response()
}

/// 405 with `Allow`, no body and no content type (what the protocol tests
/// expect of a transport asked with the wrong method).
pub(super) fn method_not_allowed(allow: &'static str) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, HeaderValue::from_static(allow))],
    )
        .into_response()
}

#[cfg(test)]
mod tests;
