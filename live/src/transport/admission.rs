//! The live-event connection budgets, shared fairly by clients.
//!
//! Every WebSocket and SockJS session holds a seat. A new connection sits
//! in the small **handshake** budget until the application admits it (the
//! STOMP session does on CONNECT); it then moves to the large
//! **connected** budget. So connections that never say anything (a flood
//! of one-request SockJS polls, sockets opened and left) can fill only the
//! handshake seats: they cannot take a CONNECTed client's seat, and the
//! clients already connected are never disturbed. A seat is given back
//! when the last holder (the transport's task, the SockJS session, the
//! handler) lets go.
//!
//! Both are `support::budget` budgets, keyed by the client's address (the
//! one a trusted proxy names, behind nginx): one address may hold only its
//! share of each, and when every handshake seat is taken a new client
//! takes the newest one of the address holding the most, whose connection
//! is then closed (it had not said CONNECT yet). A CONNECTed client's seat
//! is never taken.

use std::sync::{Arc, Mutex, PoisonError};

use support::{
    budget::{Budget, Claim, Occupant, Seat},
    http::Client,
};
use tokio_util::sync::CancellationToken;

/// Both budgets. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Budgets {
    handshakes: Budget,
    connected: Budget,
}

/// The caps of [`Budgets`]: (in all, per client) for each.
#[derive(Clone, Copy, Debug)]
pub(super) struct Caps {
    pub(super) handshakes: (usize, usize),
    pub(super) connected: (usize, usize),
}

impl Budgets {
    pub(super) fn new(caps: Caps) -> Self {
        Self {
            handshakes: Budget::new(caps.handshakes.0, caps.handshakes.1),
            connected: Budget::new(caps.connected.0, caps.connected.1),
        }
    }

    /// A handshake seat for a new connection from `client`, or `None` when
    /// the client's share is taken, or all are and none can be freed.
    pub(super) fn enter(&self, client: Client) -> Option<Admission> {
        let shed = CancellationToken::new();
        let claim = client.claim();
        let seat = self
            .handshakes
            .enter(claim, Arc::new(Handshaking(shed.clone())))
            .ok()?;
        Some(Admission {
            inner: Arc::new(Inner {
                seat: Mutex::new(Held {
                    _seat: seat,
                    connected: false,
                }),
                connected: self.connected.clone(),
                claim,
                shed,
            }),
        })
    }
}

/// A connection in its handshake seat: sheddable until admitted (its seat
/// is then a connected one), and shed by cancelling its token.
struct Handshaking(CancellationToken);

impl Occupant for Handshaking {
    fn sheddable(&self) -> bool {
        true
    }

    fn shed(&self) {
        self.0.cancel();
    }
}

/// The seat held, from the budget `connected` says.
#[derive(Debug)]
struct Held {
    /// Held for its `Drop`, which gives the seat back.
    _seat: Seat,
    connected: bool,
}

/// One connection's seat. Clones share it.
#[derive(Clone, Debug)]
pub(crate) struct Admission {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    seat: Mutex<Held>,
    connected: Budget,
    claim: Claim,
    /// Cancelled when the handshake seat was given to another client: the
    /// transport closes the connection.
    shed: CancellationToken,
}

impl Admission {
    /// A seat outside any budget, for tests that drive a handler directly.
    #[cfg(test)]
    pub(crate) fn unlimited() -> Self {
        let connected = Budget::new(1, 1);
        let claim = Client::direct(std::net::IpAddr::from([127, 0, 0, 1])).claim();
        let seat = connected
            .enter_fixed(claim)
            .unwrap_or_else(|_| unreachable!("a fresh budget has a seat"));
        Self {
            inner: Arc::new(Inner {
                seat: Mutex::new(Held {
                    _seat: seat,
                    connected: true,
                }),
                connected,
                claim,
                shed: CancellationToken::new(),
            }),
        }
    }

    /// Moves the connection to the connected budget; false when that is
    /// full or the client holds its share of it (the caller should refuse
    /// the client). Admitting twice is fine.
    pub(crate) fn admit(&self) -> bool {
        let mut seat = self
            .inner
            .seat
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if seat.connected {
            return true;
        }
        match self.inner.connected.enter_fixed(self.inner.claim) {
            // Replacing the handshake seat gives it back.
            Ok(connected) => {
                *seat = Held {
                    _seat: connected,
                    connected: true,
                };
                true
            }
            Err(_) => false,
        }
    }

    /// Cancelled when this connection's handshake seat was given to another
    /// client: the transport must close it.
    pub(super) fn shed(&self) -> CancellationToken {
        self.inner.shed.clone()
    }
}

#[cfg(test)]
mod tests;
