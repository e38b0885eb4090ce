use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use super::*;

/// An occupant whose use the test decides, and that records being shed.
#[derive(Default)]
struct Probe {
    busy: AtomicBool,
    shed: AtomicBool,
}

impl Occupant for Probe {
    fn sheddable(&self) -> bool {
        !self.busy.load(Ordering::SeqCst)
    }

    fn shed(&self) {
        self.shed.store(true, Ordering::SeqCst);
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn claim(s: &str) -> Claim {
    Claim::from(ip(s))
}

fn enter(budget: &Budget, who: &str) -> (Result<Seat, Refused>, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    (budget.enter(claim(who), probe.clone()), probe)
}

#[test]
fn one_client_gets_its_share_and_no_more() {
    let budget = Budget::new(10, 3);
    let seats: Vec<_> = (0..3)
        .map(|_| enter(&budget, "10.0.0.1").0.unwrap())
        .collect();
    assert_eq!(
        enter(&budget, "10.0.0.1").0.unwrap_err(),
        Refused::ClientShare(3)
    );
    // Someone else is not affected.
    assert!(enter(&budget, "10.0.0.2").0.is_ok());
    drop(seats);
    assert!(enter(&budget, "10.0.0.1").0.is_ok(), "seats are given back");
}

#[test]
fn when_full_the_largest_holders_newest_idle_seat_is_shed() {
    let budget = Budget::new(4, 4);
    let flood: Vec<_> = (0..4).map(|_| enter(&budget, "10.0.0.1")).collect();
    // The newest is working: the next newest idle one goes.
    flood[3].1.busy.store(true, Ordering::SeqCst);
    let (newcomer, _) = enter(&budget, "10.0.0.2");
    let newcomer = newcomer.expect("a seat for another client");
    let shed: Vec<bool> = flood
        .iter()
        .map(|(_, p)| p.shed.load(Ordering::SeqCst))
        .collect();
    assert_eq!(shed, [false, false, true, false]);
    assert_eq!(budget.held(), 4);
    // The flooder itself is refused when full: it holds the most.
    assert_eq!(enter(&budget, "10.0.0.1").0.unwrap_err(), Refused::Full(4));
    // Dropping the shed seat's handle does not free a second seat.
    drop(flood);
    assert_eq!(budget.held(), 1);
    drop(newcomer);
    assert_eq!(budget.held(), 0);
}

#[test]
fn nothing_is_shed_when_nothing_is_idle_or_the_holders_are_even() {
    let budget = Budget::new(2, 2);
    let a = enter(&budget, "10.0.0.1");
    let b = enter(&budget, "10.0.0.2");
    // Each holds one: taking one's seat would make the newcomer no better off.
    assert_eq!(enter(&budget, "10.0.0.3").0.unwrap_err(), Refused::Full(2));
    assert!(!a.1.shed.load(Ordering::SeqCst) && !b.1.shed.load(Ordering::SeqCst));
    drop((a, b));
    let busy: Vec<_> = (0..2).map(|_| enter(&budget, "10.0.0.1")).collect();
    for (_, probe) in &busy {
        probe.busy.store(true, Ordering::SeqCst);
    }
    assert_eq!(enter(&budget, "10.0.0.3").0.unwrap_err(), Refused::Full(2));
    assert!(budget.enter_fixed(claim("10.0.0.4")).is_err());
}

#[test]
fn fixed_seats_are_never_shed() {
    let budget = Budget::new(2, 2);
    let _a = budget.enter_fixed(claim("10.0.0.1")).unwrap();
    let _b = budget.enter_fixed(claim("10.0.0.1")).unwrap();
    assert_eq!(
        budget.enter_fixed(claim("10.0.0.2")).unwrap_err(),
        Refused::Full(2)
    );
}

#[test]
fn exempt_claims_skip_the_share_but_not_the_cap() {
    let budget = Budget::new(3, 1);
    let proxy = Claim {
        exempt: true,
        ..claim("10.0.0.9")
    };
    let seats: Vec<_> = (0..3)
        .map(|_| budget.enter(proxy, Arc::new(Probe::default())).unwrap())
        .collect();
    assert_eq!(
        budget.enter(proxy, Arc::new(Probe::default())).unwrap_err(),
        Refused::Full(3)
    );
    // A direct client can still shed one of the proxy's idle connections.
    assert!(enter(&budget, "10.0.0.2").0.is_ok());
    drop(seats);
}

#[test]
fn ipv6_clients_are_counted_by_their_64() {
    assert_eq!(
        ClientKey::of(ip("2001:db8:1:2:aaaa::1")),
        ClientKey::of(ip("2001:db8:1:2:bbbb::2"))
    );
    assert_ne!(
        ClientKey::of(ip("2001:db8:1:2::1")),
        ClientKey::of(ip("2001:db8:1:3::1"))
    );
    assert_eq!(
        ClientKey::of(ip("::ffff:10.0.0.1")),
        ClientKey::of(ip("10.0.0.1"))
    );
    assert_eq!(
        ClientKey::of(ip("2001:db8:1:2::1")).to_string(),
        "2001:db8:1:2::/64"
    );
    let budget = Budget::new(10, 1);
    let _seat = enter(&budget, "2001:db8::1").0.unwrap();
    assert!(
        enter(&budget, "2001:db8::2").0.is_err(),
        "same /64, same share"
    );
}
