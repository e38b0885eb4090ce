//! Orders and the validated input that creates them. The transports parse
//! into [`NewOrder`]; below them nothing re-checks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Largest quantity one order may ask for: far above any real basket, far
/// below anything that could overflow stock arithmetic.
pub(crate) const MAX_QUANTITY: i64 = 1000;
/// Longest product name, in bytes (inventory enforces the same limit).
pub(crate) const MAX_PRODUCT_NAME: usize = 100;
/// Longest `Idempotency-Key` header value accepted.
pub(crate) const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

    /// Parses a stored status; `None` for a value this version does not know.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PENDING" => Self::Pending,
            "CREATED" => Self::Created,
            "REJECTED" => Self::Rejected,
            "CANCELLED" => Self::Cancelled,
            _ => return None,
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
/// Its published schema is `api::schema::Order`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Order {
    /// Increasing id; pages of `GET /orders` are cut by it.
    pub id: i64,
    /// Product name.
    pub product: String,
    /// Units ordered.
    pub quantity: i64,
    /// Where it stands.
    pub status: Status,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was placed.
    #[serde(serialize_with = "rfc3339")]
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

/// Why a request's input is refused; each message is what the client reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    /// No `product`.
    #[error("product is required")]
    ProductMissing,
    /// A blank `product`.
    #[error("product must not be empty")]
    ProductEmpty,
    /// Over [`MAX_PRODUCT_NAME`] bytes.
    #[error("product must be at most {} bytes", MAX_PRODUCT_NAME)]
    ProductTooLong,
    /// A control character anywhere in `product`.
    #[error("product must not contain control characters")]
    ProductControlCharacter,
    /// No `quantity`.
    #[error("quantity is required")]
    QuantityMissing,
    /// Below 1 or over [`MAX_QUANTITY`].
    #[error("quantity must be between 1 and {}", MAX_QUANTITY)]
    QuantityOutOfRange,
    /// Not 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters.
    #[error(
        "Idempotency-Key must be 1 to {} visible ASCII characters",
        MAX_IDEMPOTENCY_KEY
    )]
    IdempotencyKey,
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
    pub(crate) fn parse(product: Option<String>, quantity: Option<i64>) -> Result<Self, Invalid> {
        let product = product.ok_or(Invalid::ProductMissing)?;
        if product.trim().is_empty() {
            return Err(Invalid::ProductEmpty);
        }
        if product.len() > MAX_PRODUCT_NAME {
            return Err(Invalid::ProductTooLong);
        }
        // PostgreSQL cannot store NUL, and no product name needs a control
        // character: refused here, the same on every backend.
        if product.chars().any(char::is_control) {
            return Err(Invalid::ProductControlCharacter);
        }
        let quantity = quantity.ok_or(Invalid::QuantityMissing)?;
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(Invalid::QuantityOutOfRange);
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
    pub(crate) fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY || !s.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Invalid::IdempotencyKey);
        }
        Ok(Self(s.to_owned()))
    }

    /// The key.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests;
