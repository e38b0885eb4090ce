//! Statuses and headers of the error answers.

use axum::{
    http::{StatusCode, header},
    response::IntoResponse,
};

use super::ApiError;
use crate::{
    domain::{Invalid, Status},
    error::Error,
};

#[test]
fn an_unreachable_database_is_503_with_retry_after() {
    for e in [sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
        let response = ApiError::from(Error::Database(e)).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
    let bug = ApiError::from(Error::Database(sqlx::Error::RowNotFound)).into_response();
    assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn a_batch_failure_answers_as_its_cause() {
    let shared = std::sync::Arc::new(Error::Database(sqlx::Error::PoolTimedOut));
    let response = ApiError::from(Error::Batch(shared)).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn each_flow_error_has_its_status() {
    let cases = [
        (
            Error::Invalid(Invalid::QuantityMissing),
            StatusCode::BAD_REQUEST,
        ),
        (Error::OrderNotFound(7), StatusCode::NOT_FOUND),
        (
            Error::NotCancellable {
                id: 7,
                status: Status::Rejected,
            },
            StatusCode::CONFLICT,
        ),
        (Error::KeyInFlight, StatusCode::CONFLICT),
        (Error::KeyReused, StatusCode::UNPROCESSABLE_ENTITY),
        (Error::InventoryUnavailable, StatusCode::SERVICE_UNAVAILABLE),
    ];
    for (error, status) in cases {
        assert_eq!(ApiError::from(error).into_response().status(), status);
    }
}

#[test]
fn an_unread_body_closes_the_connection() {
    for e in [ApiError::BodyTooLarge, ApiError::BodyTimeout] {
        let response = e.into_response();
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }
}
