//! Budgets that clients share fairly: connections, handshakes, streams.
//!
//! A global cap alone lets one client lock everyone out: 3,800 half-sent
//! request heads from one address, renewed every few seconds, gave every
//! other client a 503; 1,024 WebSockets that never said CONNECT did the same
//! to new live clients for a minute. A [`Budget`] adds two rules:
//!
//! - **a share per client**: one client (see [`ClientKey`]) holds at most
//!   `per_client` seats; beyond it its new connections are refused, whoever
//!   else is connected;
//! - **shedding when full**: when every seat is taken, a newcomer takes the
//!   seat of the *newest sheddable* occupant (an idle keep-alive connection,
//!   a half-sent head, a connection that has not identified itself yet) of
//!   the client holding the most seats, provided that client then still
//!   holds at least as many as the newcomer. Only when no such seat exists
//!   is the newcomer refused.
//!
//! So a flood from one address can take its share and no more, and even a
//! flood from many addresses cannot keep a new client out while the
//! flooders hold seats that nothing is using. Occupants that are working
//! (a request in flight, a CONNECTed subscriber, a stream) are never shed.
//!
//! Behind a trusted proxy every client arrives from the proxy's address;
//! such seats are exempt from the share ([`Claim::exempt`]), and the
//! budgets that can see the real client (live events, through
//! `X-Forwarded-For`) key them by it instead (see `crate::http::client`).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
};

/// Who is asking for a seat: the key seats are counted by.
///
/// An IPv4 address, or an IPv6 address's /64 network: a single IPv6 host
/// is usually given a whole /64, so counting its addresses one by one would
/// let it take any number of shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of a client at `addr` (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(addr: IpAddr) -> Self {
        match addr.to_canonical() {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(network.into()))
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// A request for a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Whom the seat is counted against.
    pub client: ClientKey,
    /// The share does not apply: the seat is a trusted proxy's, used on
    /// behalf of many clients. The global cap still does.
    pub exempt: bool,
}

impl Claim {
    /// A claim by the client at `addr`, subject to its share.
    pub fn from(addr: IpAddr) -> Self {
        Self {
            client: ClientKey::of(addr),
            exempt: false,
        }
    }
}

/// What holds a seat, as far as shedding is concerned.
pub trait Occupant: Send + Sync + 'static {
    /// Whether it may be shed now: it holds the seat without using it (idle
    /// between requests, a head still arriving, not yet identified).
    fn sheddable(&self) -> bool;
    /// Closes it: its seat has been given to someone else already.
    fn shed(&self);
}

/// An occupant that is never shed (a CONNECTed client, a stream).
#[derive(Debug)]
struct Fixed;

impl Occupant for Fixed {
    fn sheddable(&self) -> bool {
        false
    }

    fn shed(&self) {}
}

/// Why no seat was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The client holds its whole share.
    #[error("at most {0} per client")]
    ClientShare(usize),
    /// Every seat is taken and none could be shed.
    #[error("at most {0} in all")]
    Full(usize),
}

/// How many holders are looked at, most seats first, for a seat to shed:
/// bounds the work a refused connection costs under a flood from many
/// addresses.
const SHED_CANDIDATES: usize = 8;

/// A budget of seats shared fairly by clients. Cheap to clone: clones share
/// the budget.
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    per_client: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    held: usize,
    next_id: u64,
    holders: HashMap<ClientKey, Holder>,
    /// `(seats held, client)`: the holders in order, most seats last.
    ranking: BTreeSet<(usize, ClientKey)>,
}

#[derive(Default)]
struct Holder {
    /// By id, so newest last.
    seats: BTreeMap<u64, Arc<dyn Occupant>>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("capacity", &self.inner.capacity)
            .field("per_client", &self.inner.per_client)
            .field("held", &self.held())
            .finish()
    }
}

impl Budget {
    /// `capacity` seats in all, at most `per_client` for any one client
    /// (both at least 1).
    pub fn new(capacity: usize, per_client: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Inner {
                capacity,
                per_client: per_client.clamp(1, capacity),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The cap on seats in all.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The cap on one client's seats.
    pub fn per_client(&self) -> usize {
        self.inner.per_client
    }

    /// Seats taken now.
    pub fn held(&self) -> usize {
        self.inner.lock().held
    }

    /// A seat for `occupant`, shedding another client's unused seat when
    /// the budget is full (see the module doc). The seat is given back
    /// when the returned [`Seat`] is dropped.
    pub fn enter(&self, claim: Claim, occupant: Arc<dyn Occupant>) -> Result<Seat, Refused> {
        let (seat, shed) = {
            let mut state = self.inner.lock();
            let held_by_claimant = state
                .holders
                .get(&claim.client)
                .map_or(0, |h| h.seats.len());
            if !claim.exempt && held_by_claimant >= self.inner.per_client {
                return Err(Refused::ClientShare(self.inner.per_client));
            }
            let shed = if state.held >= self.inner.capacity {
                let shed = state
                    .shed_for(claim.client, held_by_claimant)
                    .ok_or(Refused::Full(self.inner.capacity))?;
                Some(shed)
            } else {
                None
            };
            (state.take(claim.client, occupant), shed)
        };
        // Outside the lock: shedding wakes another connection's task.
        if let Some(victim) = shed {
            victim.shed();
        }
        Ok(Seat {
            inner: self.inner.clone(),
            client: claim.client,
            id: seat,
        })
    }

    /// A seat for an occupant that is never shed.
    pub fn enter_fixed(&self, claim: Claim) -> Result<Seat, Refused> {
        self.enter(claim, Arc::new(Fixed))
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update below completes before it can panic (none do), so a
        // poisoned lock still guards consistent counts.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Frees a seat for `claimant` (who holds `holds` seats) from the
    /// largest holders' newest sheddable occupants; returns the one shed.
    fn shed_for(&mut self, claimant: ClientKey, holds: usize) -> Option<Arc<dyn Occupant>> {
        let candidates: Vec<(usize, ClientKey)> = self
            .ranking
            .iter()
            .rev()
            .take(SHED_CANDIDATES)
            .copied()
            .collect();
        for (count, client) in candidates {
            // Taking a seat from someone no larger than the claimant would
            // then be would only move the unfairness around.
            if client == claimant || count <= holds + 1 {
                break;
            }
            let holder = self.holders.get(&client)?;
            let victim = holder
                .seats
                .iter()
                .rev()
                .find(|(_, o)| o.sheddable())
                .map(|(id, _)| *id);
            if let Some(id) = victim {
                return self.release(client, id);
            }
        }
        None
    }

    fn take(&mut self, client: ClientKey, occupant: Arc<dyn Occupant>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let holder = self.holders.entry(client).or_default();
        let before = holder.seats.len();
        holder.seats.insert(id, occupant);
        self.ranking.remove(&(before, client));
        self.ranking.insert((before + 1, client));
        self.held += 1;
        id
    }

    /// Gives seat `id` back; `None` when it was given back already (shed).
    fn release(&mut self, client: ClientKey, id: u64) -> Option<Arc<dyn Occupant>> {
        let holder = self.holders.get_mut(&client)?;
        let before = holder.seats.len();
        let occupant = holder.seats.remove(&id)?;
        self.ranking.remove(&(before, client));
        if before > 1 {
            self.ranking.insert((before - 1, client));
        } else {
            self.holders.remove(&client);
        }
        self.held -= 1;
        Some(occupant)
    }
}

/// A seat held; dropping it gives the seat back.
pub struct Seat {
    inner: Arc<Inner>,
    client: ClientKey,
    id: u64,
}

impl Seat {
    /// Whom the seat is counted against.
    pub fn client(&self) -> ClientKey {
        self.client
    }
}

impl fmt::Debug for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seat")
            .field("client", &self.client)
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        // Dropped outside the lock: the occupant may own this very seat.
        let occupant = self.inner.lock().release(self.client, self.id);
        drop(occupant);
    }
}

#[cfg(test)]
mod tests;
