//! The gRPC contract over a real socket, on SQLite and PostgreSQL.

mod reads;
mod validation;
mod writes;

use proto::{ReleaseStockRequest, ReserveStockRequest};

fn reserve(key: &str, product: &str, quantity: i32) -> ReserveStockRequest {
    ReserveStockRequest {
        reservation_key: key.into(),
        product: product.into(),
        quantity,
    }
}

fn release(key: &str) -> ReleaseStockRequest {
    ReleaseStockRequest {
        reservation_key: key.into(),
    }
}
