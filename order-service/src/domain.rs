//! Orders and the validated input that creates them. The transports parse
//! into [`NewOrder`]; below them nothing re-checks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::Error;

/// Largest quantity one order may ask for: far above any real basket, far
/// below anything that could overflow stock arithmetic.
pub(crate) const MAX_QUANTITY: i64 = 1000;
/// Longest product name, in bytes (inventory enforces the same limit).
pub(crate) const MAX_PRODUCT_NAME: usize = 100;
/// Longest `Idempotency-Key` header value accepted.
pub(crate) const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Status {
    /// Recorded; its reservation is under way.
    Pending,
    /// Stock is reserved for it.
    Created,
    /// Not placed; `reason` says why.
    Rejected,
    /// Cancelled after it was created; its stock was given back.
    Cancelled,
}

impl Status {
    /// The value stored in `orders.status` (and sent in JSON).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Created => "CREATED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses a stored status.
    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "PENDING" => Self::Pending,
            "CREATED" => Self::Created,
            "REJECTED" => Self::Rejected,
            "CANCELLED" => Self::Cancelled,
            other => return Err(Error::Internal(format!("unknown order status {other:?}"))),
        })
    }
}

/// Human reasons for a rejection, shown to users as they are.
pub(crate) mod reason {
    /// Inventory had less than the quantity.
    pub(crate) const INSUFFICIENT_STOCK: &str = "Insufficient stock";
    /// Inventory does not know the product.
    pub(crate) const UNKNOWN_PRODUCT: &str = "Unknown product";
    /// Inventory could not be reached or did not answer in time.
    pub(crate) const INVENTORY_UNAVAILABLE: &str = "Inventory unavailable";
    /// The service stopped before the order was confirmed; it was rolled back.
    pub(crate) const INTERRUPTED: &str = "Interrupted before confirmation";
}

/// An order as clients see it: `{"id","product","quantity","status"}` as the
/// original, plus `reason` (rejections) and `createdAt` (RFC 3339, UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Order {
    /// Increasing id; pages of `GET /orders` are cut by it.
    #[schema(minimum = 1)]
    pub id: i64,
    /// Product name.
    #[schema(schema_with = schema::product)]
    pub product: String,
    /// Units ordered.
    #[schema(schema_with = schema::quantity)]
    pub quantity: i64,
    /// Where it stands.
    pub status: Status,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::reason)]
    pub reason: Option<String>,
    /// When it was placed.
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: SystemTime,
    /// The unique key (also the reservation key at inventory); not shown.
    #[serde(skip)]
    pub key: String,
    /// Inventory may still hold its stock; not shown.
    #[serde(skip)]
    pub release_pending: bool,
    /// Failed attempts to release its stock (for the back-off); not shown.
    #[serde(skip)]
    pub release_attempts: i64,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

/// Milliseconds since the epoch, as stored.
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The inverse of [`to_ms`].
pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A valid order request: a non-empty product of bounded length and a
/// quantity from 1 to [`MAX_QUANTITY`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewOrder {
    product: String,
    quantity: i64,
}

impl NewOrder {
    /// Validates raw input; the error says what is wrong, for the client.
    pub(crate) fn parse(product: Option<String>, quantity: Option<i64>) -> Result<Self, Error> {
        let product = product.ok_or_else(|| Error::BadRequest("product is required".into()))?;
        if product.trim().is_empty() {
            return Err(Error::BadRequest("product must not be empty".into()));
        }
        if product.len() > MAX_PRODUCT_NAME {
            return Err(Error::BadRequest(format!(
                "product must be at most {MAX_PRODUCT_NAME} bytes"
            )));
        }
        // PostgreSQL cannot store NUL, and no product name needs a control
        // character: refused here, the same on every backend.
        if product.chars().any(char::is_control) {
            return Err(Error::BadRequest(
                "product must not contain control characters".into(),
            ));
        }
        let quantity = quantity.ok_or_else(|| Error::BadRequest("quantity is required".into()))?;
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(Error::BadRequest(format!(
                "quantity must be between 1 and {MAX_QUANTITY}"
            )));
        }
        Ok(Self { product, quantity })
    }

    /// The product name.
    pub(crate) fn product(&self) -> &str {
        &self.product
    }

    /// The quantity, 1..=[`MAX_QUANTITY`].
    pub(crate) fn quantity(&self) -> i64 {
        self.quantity
    }

    /// A fingerprint of the request, to tell a retry from a different request
    /// reusing the same `Idempotency-Key`.
    pub(crate) fn fingerprint(&self) -> String {
        format!("{}\u{1f}{}", self.quantity, self.product)
    }
}

/// A client's `Idempotency-Key`: printable ASCII, bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Accepts 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters.
    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY || !s.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// The key.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::IntoParams for IdempotencyKey {
    /// The optional request header, with the rules of [`IdempotencyKey::parse`].
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::{
            Required,
            path::{ParameterBuilder, ParameterIn},
        };
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes a retry safe: a retry with the same key and body returns the \
                     first answer instead of placing a second order; the same key with \
                     another body is 422, a retry while the first is in flight 409.",
                ))
                .schema(Some(schema::idempotency_key()))
                .build(),
        ]
    }
}

/// The OpenAPI schemas of what this module validates, made from its limits
/// so that the published contract cannot drift from the checks.
pub(crate) mod schema {
    use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

    use super::{MAX_IDEMPOTENCY_KEY, MAX_PRODUCT_NAME, MAX_QUANTITY, reason};

    /// What `char::is_control` (Unicode category Cc) matches, as a regex
    /// class body; both ECMA-262 and Python read it the same way.
    const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

    /// A product name as [`super::NewOrder::parse`] accepts it.
    pub(crate) fn product() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_PRODUCT_NAME))
            // Not blank, no control character anywhere.
            .pattern(Some(format!(r"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$")))
            .description(Some(format!(
                "At most {MAX_PRODUCT_NAME} bytes of UTF-8 (`maxLength` counts \
                 characters, so a name of multi-byte characters is refused sooner), \
                 not blank, without control characters."
            )))
            .examples(["Laptop"])
            .build()
    }

    /// A quantity as [`super::NewOrder::parse`] accepts it.
    pub(crate) fn quantity() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(1))
            .maximum(Some(MAX_QUANTITY))
            .examples([2])
            .build()
    }

    /// Every reason a rejection is given.
    pub(crate) fn reason() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([
                reason::INSUFFICIENT_STOCK,
                reason::UNKNOWN_PRODUCT,
                reason::INVENTORY_UNAVAILABLE,
                reason::INTERRUPTED,
            ]))
            .description(Some(
                "Why the order was rejected; only on `REJECTED` orders.",
            ))
            .build()
    }

    /// An `Idempotency-Key` as [`super::IdempotencyKey::parse`] accepts it.
    pub(crate) fn idempotency_key() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_IDEMPOTENCY_KEY))
            // `u8::is_ascii_graphic`: `!` to `~`.
            .pattern(Some(r"^[!-~]+$"))
            .examples(["3f2a9c1e-7b7d-4f4e-9d2b-1c0a8e6f5d4c"])
            .build()
    }
}

#[cfg(test)]
mod tests {
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
}
