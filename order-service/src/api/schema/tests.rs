//! The published schemas describe the JSON the domain types serialise to.

use std::collections::BTreeSet;

use serde_json::Value;
use utoipa::PartialSchema;

use crate::{
    domain::{self, Status},
    inventory,
};

/// The property names of a schema and those it requires.
fn properties<S: PartialSchema>() -> (BTreeSet<String>, BTreeSet<String>) {
    let schema = serde_json::to_value(S::schema()).expect("schema as JSON");
    let names = schema["properties"]
        .as_object()
        .expect("an object schema")
        .keys()
        .cloned()
        .collect();
    let required = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (names, required)
}

fn keys(json: &Value) -> BTreeSet<String> {
    json.as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn order(status: Status, reason: Option<&str>) -> domain::Order {
    domain::Order {
        id: 7,
        product: "Laptop".into(),
        quantity: 2,
        status,
        reason: reason.map(String::from),
        created_at: domain::from_ms(1_700_000_000_123),
        key: "k".into(),
        release_pending: false,
        release_attempts: 0,
    }
}

#[test]
fn the_order_schema_has_exactly_the_fields_an_order_serialises() {
    let (names, required) = properties::<super::Order>();
    let rejected = serde_json::to_value(order(Status::Rejected, Some("Unknown product"))).unwrap();
    assert_eq!(keys(&rejected), names);
    let created = serde_json::to_value(order(Status::Created, None)).unwrap();
    assert_eq!(
        keys(&created),
        required,
        "every field but `reason` is always there"
    );
}

#[test]
fn the_status_schema_lists_every_status() {
    let schema = serde_json::to_value(super::Status::schema()).unwrap();
    let listed: Vec<Value> = schema["enum"].as_array().unwrap().clone();
    let all = [
        Status::Pending,
        Status::Created,
        Status::Rejected,
        Status::Cancelled,
    ];
    let serialised: Vec<Value> = all
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    assert_eq!(listed, serialised);
}

#[test]
fn the_product_schema_has_exactly_the_fields_a_product_serialises() {
    let (names, required) = properties::<super::Product>();
    let product = inventory::Product {
        id: 1,
        name: "Laptop".into(),
        stock_quantity: 10,
    };
    let json = serde_json::to_value(product).unwrap();
    assert_eq!(keys(&json), names);
    assert_eq!(names, required);
}
