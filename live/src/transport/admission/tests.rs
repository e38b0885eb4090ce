use std::net::IpAddr;

use super::*;

fn client(last: u8) -> Client {
    Client::direct(IpAddr::from([10, 0, 0, last]))
}

fn budgets(handshakes: (usize, usize), connected: (usize, usize)) -> Budgets {
    Budgets::new(Caps {
        handshakes,
        connected,
    })
}

#[test]
fn handshakes_cannot_take_connected_seats() {
    let budgets = budgets((2, 2), (1, 1));
    let a = budgets.enter(client(1)).expect("a handshake seat");
    let b = budgets.enter(client(1)).expect("a second one");
    assert!(budgets.enter(client(1)).is_none(), "handshake budget full");
    assert!(a.admit(), "a moves to the connected budget");
    assert!(a.admit(), "admitting again is harmless");
    // a's handshake seat is free again; the connected budget is full.
    let c = budgets.enter(client(1)).expect("a's old seat");
    assert!(!b.admit() && !c.admit(), "no connected seat left");
    drop(a);
    assert!(b.admit(), "a's connected seat went back");
    drop(c);
}

#[test]
fn clones_share_one_seat() {
    let budgets = budgets((1, 1), (1, 1));
    let a = budgets.enter(client(1)).unwrap();
    let a2 = a.clone();
    drop(a);
    assert!(
        budgets.enter(client(1)).is_none(),
        "still held by the clone"
    );
    drop(a2);
    assert!(budgets.enter(client(1)).is_some());
}

#[test]
fn a_flood_of_handshakes_gives_way_to_another_client() {
    let budgets = budgets((4, 4), (8, 2));
    let flood: Vec<_> = (0..4).map(|_| budgets.enter(client(1)).unwrap()).collect();
    assert!(
        budgets.enter(client(1)).is_none(),
        "the flooder gets no more"
    );
    let newcomer = budgets.enter(client(2)).expect("another client gets in");
    let shed: Vec<bool> = flood.iter().map(|a| a.shed().is_cancelled()).collect();
    assert_eq!(shed, [false, false, false, true], "the newest was shed");
    assert!(newcomer.admit());
    // Connected seats are shared per client too, and never shed.
    assert!(flood[0].admit() && flood[1].admit());
    assert!(!flood[2].admit(), "the flooder's connected share is 2");
}
