//! Which browser origins may call us: one policy for REST CORS, the WebSocket
//! upgrade and the SockJS transports, so they can never disagree.
//!
//! The rule is on [`AllowedOrigins`].

use std::fmt;

use http::{HeaderMap, HeaderValue, header};

use crate::error::{Error, Result};

/// One entry of `ALLOWED_ORIGINS`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    /// `*`.
    Any,
    /// `scheme://host[:port]` with `*` in the host, and a port rule.
    Pattern {
        scheme: String,
        host: String,
        port: Port,
    },
}

/// What an entry says about the port.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Port {
    /// Exactly this (`None`: no port in the origin).
    Exactly(Option<u16>),
    /// `[*]`: any port, or none.
    Any,
    /// `[a,b,…]`.
    OneOf(Vec<u16>),
}

/// An origin as browsers send it: `scheme://host[:port]`.
struct Origin<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
}

impl<'a> Origin<'a> {
    fn parse(origin: &'a str) -> Option<Self> {
        let (scheme, rest) = origin.split_once("://")?;
        // An IPv6 host is bracketed and full of colons.
        let (host, port) = if rest.starts_with('[') {
            let (host, tail) = rest.split_at(rest.find(']')? + 1);
            match tail {
                "" => (host, None),
                tail => (host, Some(tail.strip_prefix(':')?.parse().ok()?)),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port.parse().ok()?)),
                None => (rest, None),
            }
        };
        (is_scheme(scheme) && !host.is_empty() && !host.contains(['/', '?', '#', '@']))
            .then_some(Self { scheme, host, port })
    }
}

impl Entry {
    fn parse(entry: &str) -> Result<Self> {
        let invalid = |why| Error::InvalidOrigin {
            entry: entry.to_owned(),
            why,
        };
        if entry == "*" {
            return Ok(Self::Any);
        }
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| invalid("no scheme"))?;
        if !is_scheme(scheme) {
            return Err(invalid("bad scheme"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, "[*]")) => (host, Port::Any),
            Some((host, list)) if list.starts_with('[') && list.ends_with(']') => {
                let ports = list[1..list.len() - 1]
                    .split(',')
                    .map(|p| p.trim().parse::<u16>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| invalid("bad port list"))?;
                (host, Port::OneOf(ports))
            }
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                let port = port.parse().map_err(|_| invalid("bad port"))?;
                (host, Port::Exactly(Some(port)))
            }
            _ => (rest, Port::Exactly(None)),
        };
        let host_chars = |b: u8| b.is_ascii_alphanumeric() || b"-.*".contains(&b);
        if host.is_empty() || !host.bytes().all(host_chars) {
            return Err(invalid("bad host"));
        }
        // `*` alone, or as the whole first label of a host that goes on:
        // anywhere else it would match into a label (`*example.org`
        // allowing `evilexample.org`) or say something nobody means.
        let leading = host == "*"
            || host
                .strip_prefix("*.")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('*'));
        if host.contains('*') && !leading {
            return Err(invalid(
                "`*` must be the whole host or its whole first label, as in https://*.example.com",
            ));
        }
        Ok(Self::Pattern {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, origin: &Origin<'_>) -> bool {
        let Self::Pattern { scheme, host, port } = self else {
            return true;
        };
        let port_ok = match port {
            Port::Exactly(p) => *p == origin.port,
            Port::Any => true,
            Port::OneOf(ports) => origin.port.is_some_and(|p| ports.contains(&p)),
        };
        port_ok
            && origin.scheme.eq_ignore_ascii_case(scheme)
            && glob(host.as_bytes(), origin.host.to_ascii_lowercase().as_bytes())
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Any => f.write_str("*"),
            Entry::Pattern { scheme, host, port } => {
                write!(f, "{scheme}://{host}")?;
                match port {
                    Port::Exactly(None) => Ok(()),
                    Port::Exactly(Some(p)) => write!(f, ":{p}"),
                    Port::Any => f.write_str(":[*]"),
                    Port::OneOf(ports) => {
                        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                        write!(f, ":[{}]", list.join(","))
                    }
                }
            }
        }
    }
}

/// A URI scheme: letters, digits, `+`, `-`, `.` (RFC 3986).
fn is_scheme(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// `*` matches one or more host characters (letters, digits, `.`, `-`).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (1..=text.len())
            .take_while(|&n| {
                let b = text[n - 1];
                b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
            })
            .any(|n| glob(rest, &text[n..])),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// The entries of a comma-separated list, where a comma between brackets
/// (`https://*.example.com:[8443,9443]`) separates ports, not entries.
fn split_list(list: &str) -> impl Iterator<Item = &str> {
    let mut depth = 0_u32;
    list.split(move |c| {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        c == ',' && depth == 0
    })
}

/// Origins allowed besides the same origin; the default allows the same
/// origin only.
///
/// The rule: a request without `Origin` is not from a browser and is
/// allowed; the page's own origin (the request's `Host`) is always allowed;
/// anything else must match one of the entries given to
/// [`AllowedOrigins::new`] (an application's `ALLOWED_ORIGINS`
/// setting, say). Entries are
/// exact origins or patterns, as Spring's `allowedOriginPatterns`:
///
/// | entry | allows |
/// |---|---|
/// | `http://localhost:4200` | exactly that origin (scheme, host, port; case-insensitive) |
/// | `https://*.example.com` | `https` on any subdomain of example.com, at any depth, default port only; not `example.com` itself |
/// | `http://localhost:[*]` | `http://localhost` on any port, or none |
/// | `https://*.example.com:[8443,9443]` | subdomains on either port |
/// | `*` | any origin of the form `scheme://host[:port]` (never `null`, the origin of sandboxed and `file:` pages) |
///
/// `*` in a host matches one or more letters, digits, dots or hyphens, so
/// it can never reach into another part of the origin. It must be the whole
/// host or its whole first label: `https://*example.org` (which would allow
/// `https://evilexample.org`), `https://a*.b.com` and `https://x.*.com` are
/// refused at start-up like any other entry that is not understood. An
/// allowed origin is always echoed back exactly, never as `*`, which
/// browsers reject together with credentials (SockJS sends them).
///
/// The entries come as comma-separated lists; a comma inside a port list's
/// brackets belongs to the port list.
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins {
    entries: Vec<Entry>,
}

impl AllowedOrigins {
    /// Parses the allowed entries: each of `lists` is a comma-separated list
    /// of entries (commas inside a port list's brackets excepted; blank
    /// entries are ignored, a trailing slash too); an entry that is neither
    /// an origin nor a pattern is an error, so a typo cannot silently allow
    /// nothing (or everything).
    pub fn new<I, S>(lists: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut entries = Vec::new();
        for list in lists {
            for entry in split_list(list.as_ref()) {
                let entry = entry.trim().trim_end_matches('/');
                if !entry.is_empty() {
                    entries.push(Entry::parse(entry)?);
                }
            }
        }
        Ok(Self { entries })
    }

    /// True when `origin` matches an entry or is the same origin as the
    /// request's `Host` (the page served by this service, or by a proxy in
    /// front of it that keeps the Host header).
    pub fn allows_origin(&self, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
        let Some(parsed) = origin.to_str().ok().and_then(Origin::parse) else {
            return false;
        };
        if self.entries.iter().any(|e| e.matches(&parsed)) {
            return true;
        }
        let Some(Ok(host)) = host.map(|h| h.to_str()) else {
            return false;
        };
        let authority = match parsed.port {
            Some(port) => format!("{}:{port}", parsed.host),
            None => parsed.host.to_owned(),
        };
        matches!(parsed.scheme, "http" | "https") && authority.eq_ignore_ascii_case(host)
    }

    /// Applies the whole rule to a request's headers: no `Origin` is allowed.
    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN) {
            None => true,
            Some(origin) => self.allows_origin(origin, headers.get(header::HOST)),
        }
    }
}

impl fmt::Display for AllowedOrigins {
    /// The effective policy, for the start-up log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("requests without Origin, the same origin")?;
        for entry in &self.entries {
            write!(f, ", {entry}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
