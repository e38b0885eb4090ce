//! Validation, JSON shape and stored statuses.

use super::*;

#[test]
fn new_orders_are_validated() {
    assert!(NewOrder::parse(None, Some(1)).is_err());
    assert!(NewOrder::parse(Some(" ".into()), Some(1)).is_err());
    assert!(NewOrder::parse(Some("x".repeat(MAX_PRODUCT_NAME + 1)), Some(1)).is_err());
    for control in ["Lap\0top", "Laptop\n", "\u{7f}", "a\u{85}b"] {
        assert!(
            NewOrder::parse(Some(control.into()), Some(1)).is_err(),
            "{control:?}"
        );
    }
    assert!(NewOrder::parse(Some("Laptop".into()), None).is_err());
    assert!(NewOrder::parse(Some("Laptop".into()), Some(0)).is_err());
    assert!(NewOrder::parse(Some("Laptop".into()), Some(MAX_QUANTITY + 1)).is_err());
    let ok = NewOrder::parse(Some("Laptop".into()), Some(2)).unwrap();
    assert_eq!((ok.product(), ok.quantity()), ("Laptop", 2));
}

#[test]
fn order_json_matches_the_original_shape() {
    let order = Order {
        id: 7,
        product: "Laptop".into(),
        quantity: 2,
        status: Status::Created,
        reason: None,
        created_at: from_ms(1_700_000_000_123),
        key: "k".into(),
        release_pending: false,
        release_attempts: 0,
    };
    let json = serde_json::to_value(&order).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"id": 7, "product": "Laptop", "quantity": 2, "status": "CREATED",
            "createdAt": "2023-11-14T22:13:20.123Z"})
    );
}

#[test]
fn idempotency_keys_are_bounded_ascii() {
    assert!(IdempotencyKey::parse("").is_err());
    assert!(IdempotencyKey::parse("a b").is_err());
    assert!(IdempotencyKey::parse(&"a".repeat(MAX_IDEMPOTENCY_KEY + 1)).is_err());
    assert!(IdempotencyKey::parse("3f2a-11").is_ok());
}

#[test]
fn statuses_round_trip() {
    for s in [
        Status::Pending,
        Status::Created,
        Status::Rejected,
        Status::Cancelled,
    ] {
        assert_eq!(Status::parse(s.as_str()).unwrap(), s);
    }
}
