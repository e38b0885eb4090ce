use super::*;

#[test]
fn product_names_are_bounded_and_non_empty() {
    assert!(ProductName::parse(String::new()).is_err());
    assert!(ProductName::parse("  ".into()).is_err());
    assert!(ProductName::parse("x".repeat(MAX_PRODUCT_NAME + 1)).is_err());
    assert_eq!(
        ProductName::parse("Laptop".into()).unwrap().as_str(),
        "Laptop"
    );
}

#[test]
fn control_characters_are_refused_in_names_and_keys() {
    for bad in ["Lap\0top", "Laptop\n", "\u{7f}", "a\u{85}b", "\u{9f}", "\t"] {
        assert!(ProductName::parse(bad.into()).is_err(), "{bad:?}");
        assert!(ReservationKey::parse(bad.into()).is_err(), "{bad:?}");
    }
    // Non-ASCII text that is not a control character stays valid.
    assert!(ProductName::parse("Café Überzug 日本".into()).is_ok());
    assert!(ReservationKey::parse("clé-1".into()).is_ok());
}

#[test]
fn quantities_start_at_one() {
    assert!(Quantity::parse(0).is_err());
    assert!(Quantity::parse(-5).is_err());
    assert_eq!(Quantity::parse(3).unwrap().get(), 3);
    assert!(Quantity::parse_restock(MAX_RESTOCK + 1).is_err());
}

#[test]
fn stored_states_parse() {
    // The values the store's SQL writes into `reservations.state`.
    for (stored, s) in [
        ("RESERVED", ReservationState::Reserved),
        ("INSUFFICIENT_STOCK", ReservationState::InsufficientStock),
        ("RELEASED", ReservationState::Released),
    ] {
        assert_eq!(ReservationState::from_db(stored).unwrap(), s);
    }
    assert!(ReservationState::from_db("nope").is_err());
}
