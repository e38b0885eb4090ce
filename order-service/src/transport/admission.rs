//! The live-event connection budgets.
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

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Both budgets. Cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Budgets {
    handshakes: Arc<Semaphore>,
    connected: Arc<Semaphore>,
}

impl Budgets {
    pub(super) fn new(max_handshakes: usize, max_connected: usize) -> Self {
        Self {
            handshakes: Arc::new(Semaphore::new(max_handshakes)),
            connected: Arc::new(Semaphore::new(max_connected)),
        }
    }

    /// A handshake seat for a new connection, or `None` when all are taken.
    pub(super) fn enter(&self) -> Option<Admission> {
        let permit = self.handshakes.clone().try_acquire_owned().ok()?;
        Some(Admission {
            seat: Arc::new(Mutex::new(Seat {
                _permit: permit,
                connected: false,
            })),
            connected: self.connected.clone(),
        })
    }
}

/// The permit held, from the budget `connected` says.
#[derive(Debug)]
struct Seat {
    _permit: OwnedSemaphorePermit,
    connected: bool,
}

/// One connection's seat. Clones share it.
#[derive(Clone, Debug)]
pub(crate) struct Admission {
    seat: Arc<Mutex<Seat>>,
    connected: Arc<Semaphore>,
}

impl Admission {
    /// A seat outside any budget, for tests that drive a handler directly.
    #[cfg(test)]
    pub(crate) fn unlimited() -> Self {
        let connected = Arc::new(Semaphore::new(1));
        let permit = connected
            .clone()
            .try_acquire_owned()
            .unwrap_or_else(|_| unreachable!("a fresh semaphore has a permit"));
        Self {
            seat: Arc::new(Mutex::new(Seat {
                _permit: permit,
                connected: true,
            })),
            connected,
        }
    }

    /// Moves the connection to the connected budget; false when that is
    /// full (the caller should refuse the client). Admitting twice is fine.
    pub(crate) fn admit(&self) -> bool {
        let mut seat = self.seat.lock().unwrap_or_else(PoisonError::into_inner);
        if seat.connected {
            return true;
        }
        match self.connected.clone().try_acquire_owned() {
            // Replacing the handshake seat gives its permit back.
            Ok(permit) => {
                *seat = Seat {
                    _permit: permit,
                    connected: true,
                };
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshakes_cannot_take_connected_seats() {
        let budgets = Budgets::new(2, 1);
        let a = budgets.enter().expect("a handshake seat");
        let b = budgets.enter().expect("a second one");
        assert!(budgets.enter().is_none(), "handshake budget full");
        assert!(a.admit(), "a moves to the connected budget");
        assert!(a.admit(), "admitting again is harmless");
        // a's handshake seat is free again; the connected budget is full.
        let c = budgets.enter().expect("a's old seat");
        assert!(!b.admit() && !c.admit(), "no connected seat left");
        drop(a);
        assert!(b.admit(), "a's connected seat went back");
        drop(c);
    }

    #[test]
    fn clones_share_one_seat() {
        let budgets = Budgets::new(1, 1);
        let a = budgets.enter().unwrap();
        let a2 = a.clone();
        drop(a);
        assert!(budgets.enter().is_none(), "still held by the clone");
        drop(a2);
        assert!(budgets.enter().is_some());
    }
}
