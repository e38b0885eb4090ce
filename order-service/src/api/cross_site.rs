//! Cross-origin requests to the REST API, as Spring's CORS support answers
//! them, and the rule that keeps other sites from changing state.
//!
//! - An allowed origin (see [`AllowedOrigins`]) gets CORS headers: its own
//!   value echoed (never `*`), the methods, whatever request headers its
//!   preflight asks for (Spring's default `allowedHeaders("*")`, so an
//!   Angular interceptor adding `Authorization` just works), and `Link`,
//!   `Retry-After` and `Event-Seq` exposed. No credentials: nothing here uses cookies.
//! - A refused origin gets 403 on a preflight (Spring: "Invalid CORS
//!   request") and on any state-changing request, before the handler runs:
//!   a browser sends some cross-site POSTs without a preflight (an HTML
//!   form, `fetch` with `mode: 'no-cors'`), and a CORS failure only stops
//!   the page reading the answer, not the server acting on it. A refused
//!   origin's GET is answered without CORS headers (it learns nothing).
//! - No `Origin` is a client that is not a browser (curl, servers) and is
//!   allowed; but a browser that says `Sec-Fetch-Site: cross-site` without
//!   an `Origin` is treated as a refused origin.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use live::AllowedOrigins;

use super::error::ApiError;

/// How long a browser may cache a preflight answer (Spring's default).
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(1800);

/// CORS headers for the allowed origins.
pub(super) fn cors(origins: AllowedOrigins) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, parts| {
                origins.allows_origin(origin, parts.headers.get(header::HOST))
            },
        ))
        .allow_methods([Method::GET, Method::HEAD, Method::POST])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            header::LINK,
            header::RETRY_AFTER,
            HeaderName::from_static(super::EVENT_SEQ),
        ])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Refuses what a refused origin may not do, and strips the CORS headers
/// tower-http adds to answers for origins it refused.
pub(super) async fn guard(
    State(origins): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let allowed = match headers.get(header::ORIGIN) {
        Some(origin) => origins.allows_origin(origin, headers.get(header::HOST)),
        None => headers
            .get(HeaderName::from_static("sec-fetch-site"))
            .is_none_or(|site| site != "cross-site"),
    };
    if !allowed {
        let preflight = request.method() == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            return ApiError::PreflightRefused.into_response();
        }
        if !request.method().is_safe() {
            return ApiError::CrossSite.into_response();
        }
    }
    let mut response = next.run(request).await;
    if !allowed {
        let headers = response.headers_mut();
        let cors: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            headers.remove(name);
        }
    }
    response
}
