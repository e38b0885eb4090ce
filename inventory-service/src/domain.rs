//! Validated inputs. Requests are parsed into these at the edge (gRPC, REST);
//! below the edge nothing re-checks.

use crate::error::Error;

/// Longest product name accepted, in bytes: generous for real names, small
/// enough that a client cannot make us store or log megabytes.
const MAX_PRODUCT_NAME: usize = 100;
/// Longest reservation key, in bytes (order-service sends a UUID).
const MAX_RESERVATION_KEY: usize = 128;
/// Largest quantity one call may add by restocking.
const MAX_RESTOCK: i32 = 1_000_000;

/// Refuses control characters (C0 including NUL, DEL, C1). PostgreSQL
/// cannot store NUL at all while SQLite can, so without this the same
/// request would be stored on one backend and fail on the other; and a name
/// or key with line breaks or escapes forges log lines and confuses terminals.
fn reject_control(field: &str, s: &str) -> Result<(), Error> {
    if s.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// A non-empty product name of bounded length, without control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProductName(String);

impl ProductName {
    /// Accepts a non-empty name of at most [`MAX_PRODUCT_NAME`] bytes and no
    /// control characters.
    pub(crate) fn parse(s: String) -> Result<Self, Error> {
        reject_control("product", &s)?;
        if s.trim().is_empty() {
            return Err(Error::InvalidArgument("product must not be empty".into()));
        }
        if s.len() > MAX_PRODUCT_NAME {
            return Err(Error::InvalidArgument(format!(
                "product must be at most {MAX_PRODUCT_NAME} bytes"
            )));
        }
        Ok(Self(s))
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A quantity of at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Quantity(i32);

impl Quantity {
    /// Accepts 1 and more.
    pub(crate) fn parse(q: i32) -> Result<Self, Error> {
        if q < 1 {
            return Err(Error::InvalidArgument("quantity must be at least 1".into()));
        }
        Ok(Self(q))
    }

    /// Accepts 1 to [`MAX_RESTOCK`].
    pub(crate) fn parse_restock(q: i32) -> Result<Self, Error> {
        let q = Self::parse(q)?;
        if q.0 > MAX_RESTOCK {
            return Err(Error::InvalidArgument(format!(
                "quantity must be at most {MAX_RESTOCK}"
            )));
        }
        Ok(q)
    }

    /// The quantity, widened for SQL.
    pub(crate) fn get(self) -> i64 {
        i64::from(self.0)
    }
}

/// The caller's unique key of a reservation (order-service uses the order's
/// key); non-empty, bounded, without control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReservationKey(String);

impl ReservationKey {
    /// Accepts a non-empty key of at most [`MAX_RESERVATION_KEY`] bytes and
    /// no control characters.
    pub(crate) fn parse(s: String) -> Result<Self, Error> {
        reject_control("reservation_key", &s)?;
        if s.is_empty() {
            return Err(Error::InvalidArgument(
                "reservation_key must not be empty".into(),
            ));
        }
        if s.len() > MAX_RESERVATION_KEY {
            return Err(Error::InvalidArgument(format!(
                "reservation_key must be at most {MAX_RESERVATION_KEY} bytes"
            )));
        }
        Ok(Self(s))
    }

    /// The key.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Product {
    /// Database id.
    #[schema(minimum = 1)]
    pub(crate) id: i64,
    /// Unique name.
    #[schema(schema_with = name_schema)]
    pub(crate) name: String,
    /// Units in stock.
    #[schema(schema_with = stock_schema)]
    pub(crate) stock_quantity: i64,
}

/// A product name as [`ProductName::parse`] accepts it, for the OpenAPI
/// document.
fn name_schema() -> utoipa::openapi::Object {
    /// What `char::is_control` (Unicode category Cc) matches, as a regex
    /// class body; ECMA-262 and Python read it the same way.
    const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_PRODUCT_NAME))
        .pattern(Some(format!(r"^[^{CONTROL}]*[^\s{CONTROL}][^{CONTROL}]*$")))
        .description(Some(format!(
            "Unique; at most {MAX_PRODUCT_NAME} bytes of UTF-8, not blank, without \
             control characters."
        )))
        .build()
}

/// Stock as the `products` table's CHECK keeps it: 0 to `i32::MAX` (the
/// gRPC API's range).
fn stock_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(0))
        .maximum(Some(i32::MAX))
        .description(Some("Units in stock."))
        .build()
}

/// A committed stock change, published to watchers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StockChange {
    /// Product name.
    pub(crate) product: String,
    /// Stock after the change.
    pub(crate) stock: i64,
    /// The product's version after the change.
    pub(crate) version: i64,
}

/// What a reservation key ended up as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReservationState {
    /// The stock is held.
    Reserved,
    /// There was not enough stock when the key was first seen.
    InsufficientStock,
    /// Released (or released before it was reserved).
    Released,
}

impl ReservationState {
    /// Parses a stored state; anything else is a corrupt row.
    pub(crate) fn from_db(s: &str) -> Result<Self, Error> {
        match s {
            "RESERVED" => Ok(Self::Reserved),
            "INSUFFICIENT_STOCK" => Ok(Self::InsufficientStock),
            "RELEASED" => Ok(Self::Released),
            other => Err(Error::Internal(format!(
                "unknown reservation state {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
