//! The status code of each of the flow's errors.

use tonic::Code;

use super::status;
use crate::{domain::Invalid, error::Error};

#[test]
fn flow_errors_map_to_their_codes() {
    let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
    let cases = [
        (Error::Database(io), Code::Unavailable),
        (Error::Database(sqlx::Error::RowNotFound), Code::Internal),
        (Error::Invalid(Invalid::ProductEmpty), Code::InvalidArgument),
        (Error::InventoryUnavailable, Code::Unavailable),
        (Error::KeyReused, Code::FailedPrecondition),
        (Error::OrderNotFound(1), Code::NotFound),
    ];
    for (error, code) in cases {
        assert_eq!(status(error).code(), code);
    }
    let invalid = status(Error::Invalid(Invalid::QuantityOutOfRange));
    assert_eq!(invalid.message(), "quantity must be between 1 and 1000");
}
