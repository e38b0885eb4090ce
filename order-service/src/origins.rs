//! Which browser origins may call us: one policy for REST CORS, the WebSocket
//! upgrade and the SockJS transports, so they can never disagree.
//!
//! The rule (DESIGN.md, "Origins"): a request without `Origin` is not from a
//! browser and is allowed; the page's own origin (same host) is always
//! allowed; anything else must be listed in `ALLOWED_ORIGINS` exactly.

use http::{HeaderMap, HeaderValue, header};

/// Origins allowed besides the same origin, compared exactly
/// (scheme, host and port), as browsers send them.
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins {
    listed: Vec<HeaderValue>,
}

impl AllowedOrigins {
    /// Builds the policy from origins such as `http://localhost:4200`;
    /// a trailing slash is ignored, `*` is not a wildcard (credentials are
    /// sent by SockJS, and `*` cannot be combined with them).
    pub fn new<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let listed = origins
            .into_iter()
            .filter_map(|o| {
                let o = o.as_ref().trim().trim_end_matches('/');
                (!o.is_empty())
                    .then(|| HeaderValue::from_str(o).ok())
                    .flatten()
            })
            .collect();
        Self { listed }
    }

    /// The configured origins, for the CORS layer.
    pub fn listed(&self) -> &[HeaderValue] {
        &self.listed
    }

    /// True when `origin` is listed or is the same origin as the request's
    /// `Host` (the page served by this service, or by a proxy in front of it
    /// that keeps the Host header).
    pub fn allows_origin(&self, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
        if self.listed.iter().any(|o| o == origin) {
            return true;
        }
        let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(|h| h.to_str())) else {
            return false;
        };
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
    }

    /// Applies the whole rule to a request's headers: no `Origin` is allowed.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN) {
            None => true,
            Some(origin) => self.allows_origin(origin, headers.get(header::HOST)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        h
    }

    #[test]
    fn no_origin_is_allowed() {
        assert!(AllowedOrigins::default().allows(&headers(None, "localhost:8080")));
    }

    #[test]
    fn same_origin_is_allowed() {
        let p = AllowedOrigins::default();
        assert!(p.allows(&headers(Some("http://localhost:8080"), "localhost:8080")));
        assert!(!p.allows(&headers(Some("http://localhost:8081"), "localhost:8080")));
    }

    #[test]
    fn listed_origins_match_exactly() {
        let p = AllowedOrigins::new(["http://localhost:4200/", "http://localhost"]);
        assert!(p.allows(&headers(Some("http://localhost:4200"), "api:8080")));
        assert!(p.allows(&headers(Some("http://localhost"), "api:8080")));
        assert!(!p.allows(&headers(Some("http://evil.example"), "api:8080")));
        assert!(!p.allows(&headers(Some("http://localhost:4200.evil"), "api:8080")));
    }
}
