//! Who a request comes from, for the budgets shared per client (see
//! `crate::budget`).
//!
//! Directly, the client is the TCP peer. Behind a proxy (nginx in the
//! compose file) every request comes from the proxy's address, so the
//! proxy's forwarding headers are believed, but only when the peer is one
//! of the `TRUSTED_PROXIES`: anyone else could write any address there.
//! The client is then the rightmost address of `X-Forwarded-For` (or, when
//! there is none, of `Forwarded`'s `for=`) that is not itself a trusted
//! proxy: each proxy appends the address it received the request from, so
//! that one was written by a proxy we trust, and everything to its left was
//! written by the client and may be invented. A proxy that sets only
//! `Forwarded` must therefore drop a client's own `X-Forwarded-For`.

use std::{fmt, net::IpAddr, str::FromStr};

use http::{HeaderMap, HeaderName, header::FORWARDED};
use ipnet::IpNet;

use crate::budget::{Claim, ClientKey};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies whose forwarding headers name the client (`TRUSTED_PROXIES`:
/// comma-separated addresses or networks, e.g. `172.28.0.0/16,10.0.0.5`).
/// Empty by default: the client is the peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Whether `addr` is a trusted proxy.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An entry of `TRUSTED_PROXIES` that is neither an address nor a network.
#[derive(Debug, thiserror::Error)]
#[error(
    "TRUSTED_PROXIES entry {0:?} is not an IP address or network (e.g. 10.0.0.5 or 172.28.0.0/16)"
)]
pub struct InvalidProxy(String);

impl FromStr for TrustedProxies {
    type Err = InvalidProxy;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidProxy(entry.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&list.join(","))
    }
}

/// The client of a request (an extension of every request served by
/// `crate::http::serve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the peer's, or the one a trusted proxy named.
    pub addr: IpAddr,
    /// The peer is a trusted proxy that named no client: `addr` is the
    /// proxy's, standing for all the clients behind it.
    pub proxy: bool,
}

impl Client {
    /// The client of a request from `peer` with `headers`.
    pub fn of(peer: IpAddr, headers: &HeaderMap, proxies: &TrustedProxies) -> Self {
        if !proxies.contains(peer) {
            return Self::direct(peer);
        }
        match forwarded_client(headers, proxies) {
            Some(addr) => Self { addr, proxy: false },
            None => Self {
                addr: peer,
                proxy: true,
            },
        }
    }

    /// A client connected directly (no headers consulted).
    pub fn direct(peer: IpAddr) -> Self {
        Self {
            addr: peer,
            proxy: false,
        }
    }

    /// The client of a connection from `peer`, before any request: a
    /// trusted proxy's connections serve many clients, so they are
    /// exempt from the per-client share.
    pub fn of_connection(peer: IpAddr, proxies: &TrustedProxies) -> Self {
        Self {
            addr: peer,
            proxy: proxies.contains(peer),
        }
    }

    /// What this client claims a seat as.
    pub fn claim(&self) -> Claim {
        Claim {
            client: ClientKey::of(self.addr),
            exempt: self.proxy,
        }
    }
}

/// The rightmost forwarded address that is not a trusted proxy.
fn forwarded_client(headers: &HeaderMap, proxies: &TrustedProxies) -> Option<IpAddr> {
    let hops: Vec<Option<IpAddr>> = if headers.contains_key(&X_FORWARDED_FOR) {
        list(headers, &X_FORWARDED_FOR).map(parse_hop).collect()
    } else {
        list(headers, &FORWARDED).map(forwarded_for).collect()
    };
    for hop in hops.into_iter().rev() {
        // An entry we cannot read ("unknown", garbage) was written by a
        // trusted proxy if we got this far: nothing further left is safer.
        let addr = hop?;
        if !proxies.contains(addr) {
            return Some(addr);
        }
    }
    None
}

/// The comma-separated elements of every `name` header, in order.
fn list<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`
/// or `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim_matches('"');
    if let Ok(addr) = hop.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    hop.rsplit_once(':')?.0.parse().ok()
}

/// The `for=` of one `Forwarded` element (RFC 7239), e.g.
/// `for="[2001:db8::1]:80";proto=https`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_hop(value.trim()))
            .flatten()
    })
}

#[cfg(test)]
mod tests;
